#!/bin/sh
# `mtz export` against onnxruntime: exports models (default: every shipped model, the zipped default
# model first), runs them in onnxruntime 1.32.0 and through the mtz runtime, and compares every task's
# outputs (<= 1e-4 relative). Usage: scripts/onnx-export-check.sh [MODEL.mtz ...]
set -eu
cd "$(dirname "$0")/.."
VENV=${MTZ_ONNX_VENV:-.venv-onnx}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import onnx, onnxruntime, numpy' 2>/dev/null || "$VENV/bin/pip" install -q onnx==1.23.2 onnxruntime==1.32.0 numpy
SCRATCH=${MTZ_SCRATCH:-.build-onnx}
swift build -c release --scratch-path "$SCRATCH" --product mtz >&2
if [ $# -eq 0 ]; then
    set -- Models/lenet5-mnist-fashion-zipped.mtz $(ls Models/*.mtz | grep -v zipped)
fi
exec "$VENV/bin/python" scripts/onnx_export_check.py --mtz "$SCRATCH/release/mtz" "$@"
