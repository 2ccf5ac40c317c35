#!/usr/bin/env python3
"""Checks `mtz export` against onnxruntime (see scripts/onnx-export-check.sh).

For each .mtz model: exports it with `mtz export`, checks the ONNX file with onnx.checker, runs a
batch of inputs through onnxruntime and through the mtz runtime (`mtz run-tensor` on the .mtz), and
compares every task's outputs: |mtz - ort| <= 1e-4 * |ort| + 1e-7 per element. Inputs are the first
test images of the model's datasets (MNIST / Fashion-MNIST from data/, normalised as the model's input
spec says) when present, and seeded random tensors otherwise. Also reports how many initializers the
file has and that each of the model's weight tensors is stored once.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

RTOL, ATOL = 1e-4, 1e-7


def dataset_images(data_dir, count):
    images = []
    for name in ("mnist", "fashion-mnist"):
        for candidate in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
            path = os.path.join(data_dir, name, candidate)
            if os.path.exists(path):
                raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
                n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
                pixels = np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows, cols)
                images.append(pixels[:count])
                break
    return np.concatenate(images) if images else None


def meta(model):
    return {p.key: p.value for p in model.metadata_props}


def inputs_for(onnx_model, data_dir, count):
    shape = [d.dim_value for d in onnx_model.graph.input[0].type.tensor_type.shape.dim]
    props = meta(onnx_model)
    mean = np.array([float(v) for v in props["mtz.input.mean"].split(",")], np.float32)
    std = np.array([float(v) for v in props["mtz.input.std"].split(",")], np.float32)
    pixels = dataset_images(data_dir, count) if shape[1] == 1 else None
    if pixels is not None and pixels.shape[1:] == (shape[2], shape[3]):
        x = (pixels.astype(np.float32)[:, None, :, :] / 255 - mean[None, :, None, None]) / std[None, :, None, None]
        return x.astype(np.float32), f"{len(x)} dataset test images"
    rng = np.random.default_rng(1)
    return rng.standard_normal((count, *shape[1:])).astype(np.float32), f"{count} seeded random tensors"


def check(mtz, path, work, data_dir, count):
    name = os.path.splitext(os.path.basename(path))[0]
    out_onnx = os.path.join(work, name + ".onnx")
    subprocess.run([mtz, "export", path, "-o", out_onnx], check=True, capture_output=True)
    m = onnx.load(out_onnx)
    onnx.checker.check_model(m)
    x, what = inputs_for(m, data_dir, count)
    session = ort.InferenceSession(out_onnx, providers=["CPUExecutionProvider"])
    in_file = os.path.join(work, name + ".in.f32")
    x.astype("<f4").tofile(in_file)
    out_dir = os.path.join(work, name + ".out")
    subprocess.run([mtz, "run-tensor", path, "--input", in_file, "--output-dir", out_dir], check=True)
    ok = True
    report = []
    for k in range(len(x)):
        outs = session.run(None, {"input": x[k:k + 1]})
        for o, want in zip(session.get_outputs(), outs):
            got = np.fromfile(os.path.join(out_dir, o.name + ".f32"), "<f4").reshape(len(x), -1)[k].reshape(want.shape)
            if np.any(np.abs(got - want) > RTOL * np.abs(want) + ATOL):
                ok = False
            report.append((o.name, float(np.max(np.abs(got - want))),
                           float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-6)))))
    tasks = sorted({r[0] for r in report})
    floats = [t for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and not t.name.startswith("const.")]
    print(f"{'ok  ' if ok else 'FAIL'} {path}: {what}, outputs {', '.join(tasks)}; "
          f"max |diff| {max(r[1] for r in report):.3g}, max rel (|ort| >= 1e-6) {max(r[2] for r in report):.3g}; "
          f"{len(floats)} weight initializers, {os.path.getsize(out_onnx)} bytes")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtz", required=True)
    ap.add_argument("--data", default=os.environ.get("MTZ_DATA_DIR", "data"))
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        results = [check(args.mtz, p, work, args.data, args.count) for p in args.models]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
