#!/bin/sh
# Peer harness of issue 6: times mtz, ONNX Runtime, ncnn and MNN on the same models, the same
# input shape and the same thread counts, in one run, and prints a Markdown table of medians and
# ratios (mtz / fastest peer). See docs/BENCHMARKS.md and ../shared/docs/PEERS.md.
#
#   scripts/bench-peers.sh [--write-doc] [bench_peers.py run options...]
#
#   --write-doc           also replace the peer section of docs/BENCHMARKS.md with the table
#   --threads 1,2         thread counts (default 1,2)
#   --rounds 3            fresh processes per runtime and cell, runtimes alternating (default 3)
#   --iterations 200      timed runs per process for LeNet-5 (default here 200)
#   --big-iterations 5    timed runs per process for the 224x224 networks (default 5)
#   --warmup 2            untimed runs per process
#   --only lenet5,vgg16,vgg16-2task,resnet18
#
# Steps: a venv .venv-peers (gitignored) with PEERS.md's pinned peers; `swift build -c release
# --scratch-path .build-peers --product mtz`; bench-models/ via scripts/make-bench-models.sh when
# missing; then scripts/bench_peers.py exports every model with `mtz export` into
# .build-peers/peer-models/, converts it (pnnx after setting ONNX IR version 8; mnnconvert) and
# times everything. A conversion or run that fails is reported in its table cell.
# Environment: MTZ=path/to/mtz skips the build; PYTHON=python3 for the venv's base interpreter.
set -eu
cd "$(dirname "$0")/.."
command_line="${MTZ:+MTZ=$MTZ }scripts/bench-peers.sh $*"

write_doc=""
if [ "${1:-}" = "--write-doc" ]; then
    write_doc="docs/BENCHMARKS.md"
    shift
fi

venv=.venv-peers
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
# (pnnx's Python module imports torch, so look for its binary instead of importing it)
if ! "$venv/bin/python" -c 'import onnx, onnxruntime, ncnn, MNN' >/dev/null 2>&1 ||
   ! ls "$venv"/lib/python3*/site-packages/pnnx/pnnx >/dev/null 2>&1; then
    echo "== installing the peers into $venv" >&2
    "$venv/bin/pip" install -q onnx==1.23.2 onnxruntime==1.32.0 ncnn==1.0.20261020 mnn==3.6.1
    "$venv/bin/pip" install -q --no-deps pnnx==20261020
fi

if [ -z "${MTZ:-}" ]; then
    echo "== building mtz (release)" >&2
    swift build -c release --scratch-path .build-peers --product mtz >&2
    MTZ="$(swift build -c release --scratch-path .build-peers --show-bin-path)/mtz"
fi

for m in vgg16 vgg16-head vgg16-2task resnet18; do
    if [ ! -f "bench-models/$m.mtz" ]; then
        echo "== making bench-models/ (scripts/make-bench-models.sh)" >&2
        MTZ="$MTZ" scripts/make-bench-models.sh bench-models >&2
        break
    fi
done

set -- --mtz "$MTZ" --models bench-models --work .build-peers/peer-models \
    --iterations 200 --command "$command_line" "$@"
if [ -n "$write_doc" ]; then
    set -- "$@" --write-doc "$write_doc"
fi
exec "$venv/bin/python" scripts/bench_peers.py run "$@"
