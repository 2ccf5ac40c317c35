#!/bin/sh
# ONNX conformance of `mtz import` + the runtime on the onnx wheel's backend test data
# (pytorch-converted/ and light/). Usage: scripts/onnx-conformance.sh [--markdown FILE] [--only NAME]
# Needs python3 and pip (a venv .venv-onnx with onnx==1.23.2 is created if missing) and builds mtz
# in release mode. Prints one line per case and the pass count (recorded in docs/ONNX.md).
set -eu
cd "$(dirname "$0")/.."
VENV=${MTZ_ONNX_VENV:-.venv-onnx}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import onnx, numpy' 2>/dev/null || "$VENV/bin/pip" install -q onnx==1.23.2 numpy
DATA=$("$VENV/bin/python" -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data"))')
SCRATCH=${MTZ_SCRATCH:-.build-onnx}
swift build -c release --scratch-path "$SCRATCH" --product mtz >&2
exec "$VENV/bin/python" scripts/onnx_conformance.py --mtz "$SCRATCH/release/mtz" --data "$DATA" "$@"
