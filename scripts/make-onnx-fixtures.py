#!/usr/bin/env python3
"""Exports the small CNNs used as ONNX import fixtures, with PyTorch's outputs on fixed inputs.

Run from the repository root (needs torch from /opt/wheels, onnx==1.23.2 and onnxruntime==1.32.0):

    python3 -m venv .venv-onnx
    .venv-onnx/bin/pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl \
        onnx==1.23.2 onnxruntime==1.32.0
    .venv-onnx/bin/python scripts/make-onnx-fixtures.py

Writes Tests/MTZONNXTests/Fixtures/<name>.onnx, <name>.input.f32 (NCHW, little-endian float32) and
<name>.output.f32 (PyTorch's output), and checks onnxruntime against PyTorch on the way.
Deterministic: fixed seeds, eval mode (batch norms use their running statistics).
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn

OUT = os.path.join("Tests", "MTZONNXTests", "Fixtures")


class LeNet5(nn.Module):
    """LeNet-5 on 28x28 gray images (conv 6, conv 16, fc 120, fc 84, fc 10); dynamic batch axis."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)          # with a dynamic batch: Shape/Gather/Unsqueeze/Concat + Reshape
        x = torch.tanh(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return torch.softmax(self.fc3(x), dim=1)


class ResidualNet(nn.Module):
    """conv-bn-relu stem, one residual block with batch norms, ceil-mode pooling, global pooling, FC."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.down = nn.Sequential(nn.Conv2d(16, 32, 1, stride=2, bias=False), nn.BatchNorm2d(32))
        self.conv3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.fc = nn.Linear(32, 7)

    def forward(self, x):
        x = self.stem(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        x = torch.relu(x + y)
        x = torch.relu(self.conv3(x) + self.down(x))
        x = self.pool(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class SeparableNet(nn.Module):
    """Depthwise-separable blocks (MobileNet style) with ReLU6, a dilated depthwise conv, Sigmoid/Tanh heads."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6())
        self.dw1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.pw1 = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.dw2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=2, dilation=2, groups=16), nn.Tanh())
        self.pool = nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False)
        self.fc = nn.Linear(32 * 5 * 5, 5)

    def forward(self, x):
        x = self.pw1(self.dw1(self.stem(x)))
        x = self.pool(self.dw2(x))
        return torch.sigmoid(self.fc(torch.flatten(x, 1)))


def randomize_batch_norms(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def export(name, model, shape, opset, dynamic_batch=False, keep_batch_norm=False):
    gen = torch.Generator().manual_seed(1234)
    randomize_batch_norms(model, gen)
    model.eval()
    x = torch.rand(shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    path = os.path.join(OUT, name + ".onnx")
    torch.onnx.export(model, (x,), path, input_names=["image"], output_names=["scores"],
                      opset_version=opset, dynamo=False,
                      dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}} if dynamic_batch else None,
                      training=torch.onnx.TrainingMode.PRESERVE if keep_batch_norm else torch.onnx.TrainingMode.EVAL,
                      do_constant_folding=not dynamic_batch)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    err = np.max(np.abs(got - y.numpy()))
    assert err < 1e-4, f"{name}: onnxruntime differs from PyTorch by {err}"
    x.numpy().astype("<f4").tofile(os.path.join(OUT, name + ".input.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(OUT, name + ".output.f32"))
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{name}: opset {opset}, {os.path.getsize(path)} bytes, ops {', '.join(ops)}")


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    export("lenet5", LeNet5(), (1, 1, 28, 28), 13, dynamic_batch=True)
    export("residual", ResidualNet(), (1, 3, 20, 20), 17, keep_batch_norm=True)
    export("separable", SeparableNet(), (1, 3, 16, 16), 11)
    return 0


if __name__ == "__main__":
    sys.exit(main())
