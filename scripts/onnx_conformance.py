#!/usr/bin/env python3
"""ONNX conformance of `mtz import` + the mtz runtime (see scripts/onnx-conformance.sh).

Runs every case of the onnx wheel's backend test data under `pytorch-converted/` and `light/`:
imports the model with `mtz import`, runs the test input through `mtz run-tensor` (batches are run
one image at a time) and compares with the expected outputs at the ONNX backend tests' tolerances
(rtol 1e-3, atol 1e-7; DenseNet-121 rtol 2e-3). A case whose operators are all in SUPPORTED_OPS is
"supported"; other cases are still tried and their import error is reported.

Prints one line per case and a summary; with --markdown FILE also writes the table for docs/ONNX.md.
Exits 1 when a case imports but its outputs differ (or it fails to run); refusals are reported only.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

SUPPORTED_OPS = {
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape",
    "Conv", "Div", "Dropout", "Flatten", "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
    "Identity", "MatMul", "MaxPool", "Mul", "Pad", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax",
    "Split", "Squeeze", "Sub", "Sum", "Tanh", "Transpose", "Unsqueeze",
}
RTOL = {"light_densenet121": 2e-3}


def load_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def cases(data_dir):
    for d in sorted(glob.glob(os.path.join(data_dir, "pytorch-converted", "test_*"))):
        model = os.path.join(d, "model.onnx")
        ins = sorted(glob.glob(os.path.join(d, "test_data_set_0", "input_*.pb")))
        outs = sorted(glob.glob(os.path.join(d, "test_data_set_0", "output_*.pb")))
        yield os.path.basename(d), model, lambda ins=ins: [load_tensor(p) for p in ins], [load_tensor(p) for p in outs]
    for model in sorted(glob.glob(os.path.join(data_dir, "light", "light_*.onnx"))):
        name = os.path.basename(model)[:-5]
        outs = sorted(glob.glob(model[:-5] + "_output_*.pb"))

        def inputs(model=model):
            # As onnx.backend.test.runner does for the light models: arange(n)/n in the input's shape.
            m = onnx.load(model, load_external_data=False)
            inits = {i.name for i in m.graph.initializer}
            result = []
            for i in m.graph.input:
                if i.name in inits:
                    continue
                shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in i.type.tensor_type.shape.dim)
                n = int(np.prod(shape))
                result.append((np.arange(n).reshape(shape) / n).astype(np.float32))
            return result
        yield name, model, inputs, [load_tensor(p) for p in outs]


def run_case(mtz, name, model, inputs, expected, work):
    m = onnx.load(model, load_external_data=False)
    ops = sorted({n.op_type for n in m.graph.node})
    unsupported = [o for o in ops if o not in SUPPORTED_OPS]
    out_mtz = os.path.join(work, name + ".mtz")
    tasks = ",".join(f"out{k}" for k in range(len(m.graph.output)))
    r = subprocess.run([mtz, "import", model, "-o", out_mtz, "--task", tasks], capture_output=True, text=True)
    if r.returncode != 0:
        line = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        return ops, unsupported, "refused", line.split(".onnx: ", 1)[-1], None
    xs = inputs()
    if len(xs) != 1:
        return ops, unsupported, "refused", f"{len(xs)} inputs", None
    x = xs[0]
    in_file = os.path.join(work, name + ".in.f32")
    x.astype("<f4").tofile(in_file)
    out_dir = os.path.join(work, name + ".out")
    r = subprocess.run([mtz, "run-tensor", out_mtz, "--input", in_file, "--output-dir", out_dir], capture_output=True, text=True)
    if r.returncode != 0:
        return ops, unsupported, "failed", r.stderr.strip().splitlines()[-1], None
    worst = 0.0
    rtol = RTOL.get(name, 1e-3)
    for k, want in enumerate(expected):
        got = np.fromfile(os.path.join(out_dir, f"out{k}.f32"), "<f4")
        if got.size != want.size:
            return ops, unsupported, "failed", f"output {k} has {got.size} values, expected {want.size}", None
        got = got.reshape(want.shape)
        excess = np.abs(got - want) - (1e-7 + rtol * np.abs(want))
        rel = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-30))
        worst = max(worst, float(np.max(np.abs(got - want))))
        if np.max(excess) > 0:
            return ops, unsupported, "failed", f"output {k}: max |diff| {np.max(np.abs(got - want)):.3g} beyond tolerance (max rel {rel:.3g})", worst
    return ops, unsupported, "passed", "", worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtz", required=True)
    ap.add_argument("--data", required=True, help="onnx/backend/test/data of the onnx wheel")
    ap.add_argument("--markdown")
    ap.add_argument("--only", help="substring of case names to run")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, model, inputs, expected in cases(args.data):
            if args.only and args.only not in name:
                continue
            ops, unsupported, status, detail, worst = run_case(args.mtz, name, model, inputs, expected, work)
            supported = not unsupported
            rows.append((name, ops, supported, status, detail, worst))
            print(f"{status:8} {'supported ' if supported else 'other ops '} {name:45} {detail}", flush=True)
    sup = [r for r in rows if r[2]]
    passed_sup = [r for r in sup if r[3] == "passed"]
    passed_all = [r for r in rows if r[3] == "passed"]
    print(f"\n{len(rows)} cases; {len(sup)} use only supported operators, of which {len(passed_sup)} pass; "
          f"{len(passed_all)} pass in all")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"{len(rows)} cases; **{len(sup)} use only supported operators, {len(passed_sup)} of them pass**; "
                    f"{len(passed_all)} pass in all.\n\n")
            f.write("| case | operators | result | note |\n|---|---|---|---|\n")
            for name, ops, supported, status, detail, worst in rows:
                note = detail.replace("|", "\\|") if detail else (f"max abs diff {worst:.2g}" if worst is not None else "")
                f.write(f"| {name} | {', '.join(ops)} | {status}{'' if supported else ' (unsupported ops)'} | {note} |\n")
    # Refusals are documented limits; a case that imports but computes something else is a bug.
    return 1 if any(r[3] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
