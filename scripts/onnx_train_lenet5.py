#!/usr/bin/env python3
"""Trains a LeNet-5 (mtz's lenet5 architecture) in PyTorch on MNIST or Fashion-MNIST and exports it
to ONNX: a "pre-trained network from elsewhere" for scripts/onnx-zip-demo.sh.

Usage: onnx_train_lenet5.py DATASET_DIR OUT.onnx [--images N] [--epochs E] [--seed S]
DATASET_DIR holds the IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]); the
last 5000 training images are held out (not trained on), as `mtz train` does. Input normalisation:
(pixel/255 - 0.5) / 0.5, which `mtz import --input-spec mean=0.5,std=0.5` reproduces.
"""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn


def idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            dims = raw[3]
            shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise FileNotFoundError(path)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return torch.softmax(self.fc2(x), dim=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--images", type=int, default=55000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    images = idx(os.path.join(args.data, "train-images-idx3-ubyte"))[:-5000][:args.images]
    labels = idx(os.path.join(args.data, "train-labels-idx1-ubyte"))[:-5000][:args.images]
    x = (torch.tensor(images, dtype=torch.float32)[:, None] / 255 - 0.5) / 0.5
    y = torch.tensor(labels, dtype=torch.long)
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), 64):
            b = perm[i:i + 64]
            logits = model.fc2(torch.relu(model.fc1(torch.flatten(
                torch.max_pool2d(torch.relu(model.conv2(torch.max_pool2d(torch.relu(model.conv1(x[b])), 2))), 2), 1))))
            loss = nn.functional.cross_entropy(logits, y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        print(f"{args.out}: epoch {epoch + 1} loss {total / len(x):.4f}", flush=True)
    model.eval()
    torch.onnx.export(model, (x[:1],), args.out, input_names=["image"], output_names=["probabilities"],
                      opset_version=13, dynamo=False)


if __name__ == "__main__":
    main()
