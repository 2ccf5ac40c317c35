#!/bin/sh
# Writes the benchmark networks of issue 6 (seeded random weights, 224x224 RGB input) into
# bench-models/ (gitignored; ~60 MB each for the VGG-16 ones) or the folder given as $1.
#   vgg16.mtz        VGG-16 convolution trunk, one task (output: pool5)
#   vgg16-head.mtz   the trunk plus one small head (GAP, FC 512->10, softmax)
#   vgg16-2task.mtz  one shared trunk, two such heads (the zipped two-task form)
#   resnet18.mtz     ResNet-18-style network with batch norm, FC 512->1000
# Usage: scripts/make-bench-models.sh [DIR]   (MTZ=path/to/mtz to use a prebuilt binary)
set -eu
cd "$(dirname "$0")/.."
dir=${1:-bench-models}
if [ -z "${MTZ:-}" ]; then
    swift build -c release --product mtz >/dev/null
    MTZ="$(swift build -c release --show-bin-path)/mtz"
fi
mkdir -p "$dir"
for arch in vgg16 vgg16-head vgg16-2task resnet18; do
    "$MTZ" bench-model "$arch" -o "$dir/$arch.mtz"
done
