#!/bin/sh
# Two networks trained elsewhere (PyTorch LeNet-5s on MNIST and Fashion-MNIST, exported to ONNX)
# imported with `mtz import`, zipped by `mtz zip` into one .mtz that `mtz run` and `mtz eval` execute.
# Usage: scripts/onnx-zip-demo.sh [OUTDIR]   (default /tmp/mtz-onnx-zip-demo; needs data/ from
# scripts/fetch-datasets.sh and the venv of scripts/make-onnx-fixtures.py)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/mtz-onnx-zip-demo}
DATA=${MTZ_DATA_DIR:-data}
PY=${MTZ_ONNX_VENV:-.venv-onnx}/bin/python
SCRATCH=${MTZ_SCRATCH:-.build-onnx}
MTZ=${MTZ_BIN:-$SCRATCH/release/mtz}
[ -n "${MTZ_BIN:-}" ] || swift build -c release --scratch-path "$SCRATCH" --product mtz >&2
mkdir -p "$OUT"
printf '%s\n' 0 1 2 3 4 5 6 7 8 9 > "$OUT/digits.txt"
printf '%s\n' T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag "Ankle boot" > "$OUT/fashion.txt"
"$PY" scripts/onnx_train_lenet5.py "$DATA/mnist" "$OUT/mnist.onnx"
"$PY" scripts/onnx_train_lenet5.py "$DATA/fashion-mnist" "$OUT/fashion.onnx"
for task in mnist fashion; do
    labels=$OUT/digits.txt; [ $task = fashion ] && labels=$OUT/fashion.txt
    "$MTZ" import "$OUT/$task.onnx" -o "$OUT/$task.mtz" --task $task --labels "$labels" --input-spec mean=0.5,std=0.5 \
        --metadata task.$task.dataset=$task --metadata task.$task.holdout=5000 --metadata architecture=lenet5
    "$MTZ" eval "$OUT/$task.mtz"
done
"$MTZ" zip "$OUT/mnist.mtz" "$OUT/fashion.mtz" -o "$OUT/zipped.mtz" ${ZIP_OPTIONS:-}
"$MTZ" eval "$OUT/zipped.mtz"
"$MTZ" inspect "$OUT/zipped.mtz"
"$MTZ" run "$OUT/zipped.mtz" Samples/mnist/*.png Samples/fashion/*.jpg --top-k 1
