#!/usr/bin/env python3
"""One LeNet-5 training epoch on MNIST in PyTorch: the peer side of `scripts/bench-train.sh`.

Benchmark script only: PyTorch is a peer to measure against, never a dependency of mtz.
Run it with the interpreter of the `.venv-bench` venv that `scripts/bench-train.sh` creates.

Architecture (the one both sides use; `mtz train --arch lenet5`): the Caffe LeNet-5 variant
with a ReLU after each convolution as well as after the first fully connected layer:

    input 1x28x28
    conv 20@5x5, stride 1, no padding -> ReLU -> max-pool 2x2 stride 2   (20x12x12)
    conv 50@5x5, stride 1, no padding -> ReLU -> max-pool 2x2 stride 2   (50x4x4)
    flatten (800) -> FC 800->500 -> ReLU -> FC 500->10
    softmax cross-entropy (mean over the batch)

Training: SGD, lr 0.01, momentum 0.9, weight decay 5e-4 (PyTorch style: added to the gradient
of every parameter, biases included, before the momentum update), batch 64 by default.
Initialisation: PyTorch's defaults for Conv2d/Linear, seeded with --seed.

Data: the IDX files in data/mnist/ (train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; `.gz` versions are read too), scaled to
[0, 1] and normalised with mean 0.1307, std 0.3081. The whole set is decoded and normalised
into one float32 tensor before any timing.

Timing: one warm-up of a few batches on a throw-away copy of the model and optimiser (so the
timed epoch starts from the seeded initialisation), then one full epoch timed with
time.perf_counter: 60000 images shuffled with a fixed seed, batches gathered from the
preloaded tensor inside the loop (forward, loss, backward, SGD step, running loss/accuracy).
The last partial batch is KEPT: with batch 64 that is 937 full batches and one of 32 images,
938 steps. The test set (t10k) is evaluated after the epoch, outside the timing.

Output: one JSON object on stdout:
    seconds            wall time of the epoch's training pass
    cpu_seconds        CPU time of this process over the same pass (all threads; on a loaded
                       machine, with 1 thread, the part of `seconds` it actually ran)
    images_per_second  60000 / seconds
    final_loss         mean cross-entropy over the epoch's training pass (per image)
    train_accuracy     fraction of training images classified right during that pass
    test_error         fraction of t10k images misclassified after the epoch (not timed)
plus the settings (threads, batch, steps, ...) for the record.
"""

import argparse
import copy
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = 0.1307
STD = 0.3081


def read_idx(path):
    """Reads an IDX file (unsigned bytes) into a numpy array of its declared shape."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path = path + ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    count = int(np.prod(dims))
    payload = np.frombuffer(data, dtype=np.uint8, count=count, offset=4 + 4 * ndim)
    return payload.reshape(dims)


def load_split(directory, prefix):
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{prefix}: images {images.shape} and labels {labels.shape} disagree")
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    x = ((x - MEAN) / STD).unsqueeze(1).contiguous()  # N x 1 x 28 x 28
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, kernel_size=5)
        self.conv2 = nn.Conv2d(20, 50, kernel_size=5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def make_optimizer(model, args):
    return torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                           weight_decay=args.weight_decay)


def train_step(model, optimizer, xb, yb):
    optimizer.zero_grad(set_to_none=True)
    logits = model(xb)
    loss = F.cross_entropy(logits, yb)
    loss.backward()
    optimizer.step()
    return logits, loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/mnist", help="directory of the MNIST IDX files")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up batches")
    args = parser.parse_args()

    # Before any parallel work, or PyTorch refuses to change the inter-op pool.
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)

    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        path = os.path.join(args.data, name)
        if not (os.path.exists(path) or os.path.exists(path + ".gz")):
            sys.exit(f"bench_train_pytorch: {path} is missing; run scripts/fetch-datasets.sh first")

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    n = x_train.shape[0]

    torch.manual_seed(args.seed)
    model = LeNet5()
    optimizer = make_optimizer(model, args)
    shuffle = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(n, generator=shuffle)

    # Warm-up on a copy: allocator, oneDNN primitives, thread pool. Both batch shapes of the
    # epoch (full and the last partial one) are exercised.
    warm_model = copy.deepcopy(model)
    warm_optimizer = make_optimizer(warm_model, args)
    warm_sizes = [args.batch] * max(args.warmup - 1, 0) + [n % args.batch or args.batch]
    for i, size in enumerate(warm_sizes):
        idx = order[i * args.batch: i * args.batch + size]
        train_step(warm_model, warm_optimizer, x_train[idx], y_train[idx])
    del warm_model, warm_optimizer

    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.int64)
    steps = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    for begin in range(0, n, args.batch):  # keeps the last partial batch
        idx = order[begin: begin + args.batch]
        xb = x_train[idx]
        yb = y_train[idx]
        logits, loss = train_step(model, optimizer, xb, yb)
        with torch.no_grad():
            loss_sum += loss.detach().double() * yb.shape[0]
            correct += (logits.argmax(1) == yb).sum()
        steps += 1
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start

    model.eval()
    test_wrong = 0
    test_loss = 0.0
    with torch.no_grad():
        for begin in range(0, x_test.shape[0], 1000):
            logits = model(x_test[begin: begin + 1000])
            labels = y_test[begin: begin + 1000]
            test_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            test_wrong += int((logits.argmax(1) != labels).sum())

    result = {
        "runtime": f"pytorch {torch.__version__}",
        "seconds": seconds,
        "images_per_second": n / seconds,
        "cpu_seconds": cpu_seconds,
        "final_loss": loss_sum.item() / n,
        "train_accuracy": correct.item() / n,
        "test_error": test_wrong / x_test.shape[0],
        "test_loss": test_loss / x_test.shape[0],
        "images": n,
        "steps": steps,
        "last_batch": n - (steps - 1) * args.batch,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "lr": args.lr,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "seed": args.seed,
        "warmup_batches": len(warm_sizes),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
