#!/usr/bin/env bash
# Reproduces every table and plot of docs/EXPERIMENTS.md (issue 4, item 8):
#   (a) same task: LeNet-300-100 and LeNet-5, MNIST seed 1 x seed 2, fully zipped;
#   (b) different tasks: LeNet-5 MNIST x Fashion-MNIST at 50/75/100 % of neurons shared per layer,
#       and the automatic mode with a 0.5 pp budget;
#   (c) at 50 % and 100 %, the same retraining budget: mtz, mtz-no-update, euclidean, random, mtz
#       without retraining (plus mtz with a second seed, to show the run-to-run noise), and the
#       two-head network trained from scratch (iterations to reach the zipped model's errors);
#   (d) three networks (LeNet-5 MNIST seed 1 + seed 2 + Fashion-MNIST) and two residual CNNs.
# Usage: scripts/experiments.sh [SCRATCH_DIR]   (default /tmp/mtz-experiments)
# Needs the datasets (scripts/fetch-datasets.sh) and the shipped single-task models
# (scripts/train-models.sh). Zipped models, logs, reports and evaluations go to SCRATCH_DIR; a run
# whose report and evaluation are already there is reused unless MTZ_EXP_FORCE=1. The collected
# results go to docs/experiments/results.json, the plots to docs/experiments/*.svg, and the
# Markdown tables are printed on stdout (and written to docs/experiments/tables.md).
# Plots use matplotlib from PyPI in a venv (.venv-exp, git-ignored), created on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/mtz-experiments}
force=${MTZ_EXP_FORCE:-0}
mkdir -p "$out" docs/experiments

echo "== building mtz (release)" >&2
swift build -c release --scratch-path .build-exp --product mtz >&2
mtz=.build-exp/release/mtz
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- Sources Package.swift 2>/dev/null | wc -l | tr -d ' ')

for m in lenet300-mnist-s1 lenet300-mnist-s2 lenet5-mnist-s1 lenet5-mnist-s2 lenet5-fashion-s1 resnet-mnist-s1 resnet-fashion-s1; do
  [ -f "Models/$m.mtz" ] || { echo "missing Models/$m.mtz: run scripts/train-models.sh $m" >&2; exit 1; }
done

start=$(date +%s)
manifest="$out/manifest.tsv"
: > "$manifest"

# The single-task originals: test error and parameters.
for m in lenet300-mnist-s1 lenet300-mnist-s2 lenet5-mnist-s1 lenet5-mnist-s2 lenet5-fashion-s1 resnet-mnist-s1 resnet-fashion-s1; do
  "$mtz" eval "Models/$m.mtz" --json > "$out/orig-$m.eval.json"
  "$mtz" inspect "Models/$m.mtz" --json > "$out/orig-$m.inspect.json"
done

# run NAME EXPERIMENT MODELS [mtz zip options...]: zip the comma-separated MODELS (names under
# Models/), evaluate and inspect the result.
run() {
  local name=$1 experiment=$2 models=$3
  shift 3
  printf '%s\t%s\t%s\t%s\n' "$name" "$experiment" "$models" "$*" >> "$manifest"
  if [ "$force" != 1 ] && [ -s "$out/$name.report.json" ] && [ -s "$out/$name.eval.json" ]; then
    echo "== $name: reusing $out/$name.*" >&2
    return
  fi
  local paths=() m
  IFS=, read -ra names <<< "$models"
  for m in "${names[@]}"; do paths+=("Models/$m.mtz"); done
  echo "== $name: mtz zip ${paths[*]} $* -o $out/$name.mtz" >&2
  local t0 t1
  t0=$(date +%s.%N)
  "$mtz" zip "${paths[@]}" "$@" --report "$out/$name.report.json" -o "$out/$name.mtz" > "$out/$name.log"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' > "$out/$name.wall"
  sed 's/^/   /' "$out/$name.log" >&2
  "$mtz" eval "$out/$name.mtz" --json > "$out/$name.eval.json"
  "$mtz" inspect "$out/$name.mtz" --json > "$out/$name.inspect.json"
}

mf=lenet5-mnist-s1,lenet5-fashion-s1
# The retraining budget of the equal-budget comparisons in (c): the per-layer budgets only.
equal="--final-iterations 0"

# (a) same task, fully zipped (as in the paper), mtz zip's defaults.
run a-lenet300-mnist-s1xs2 a lenet300-mnist-s1,lenet300-mnist-s2 --share 1
run a-lenet5-mnist-s1xs2 a lenet5-mnist-s1,lenet5-mnist-s2 --share 1

# (b) different tasks at 50/75/100 % of the neurons of every hidden layer shared, and the
# automatic mode with a 0.5 pp budget per task (up to 5 candidates, each a whole zip: ~11 min alone);
# mtz zip's defaults.
for s in 0.5 0.75 1; do
  run "b-lenet5-mnistxfashion-share$s" b "$mf" --share "$s"
done
run b-lenet5-mnistxfashion-auto0.5 b-auto "$mf" --max-error-increase 0.5

# (c) every method at the same sharing and the same retraining budget (the per-layer budgets,
# 591 iterations), and MTZ without retraining.
for s in 0.5 1; do
  for method in mtz mtz-no-update euclidean random; do
    run "c-lenet5-mnistxfashion-share$s-$method" c "$mf" --share "$s" --method "$method" $equal
  done
  run "c-lenet5-mnistxfashion-share$s-mtz-no-retraining" c "$mf" --share "$s" --method mtz --iteration-scale 0
done
run c-lenet5-mnistxfashion-share1-mtz-seed2 c "$mf" --share 1 --method mtz --seed 2 $equal
# (c) smaller equal budgets, fully zipped: no retraining at all, and a quarter of the per-layer budgets.
for scale in 0 0.25; do
  for method in mtz mtz-no-update euclidean random; do
    run "cb-lenet5-mnistxfashion-share1-$method-scale$scale" cb "$mf" --share 1 --method "$method" --iteration-scale "$scale" $equal
  done
done

# (c) the two-head network of the fully zipped shape trained from scratch, validation errors every
# 200 iterations (the same held-out images mtz zip validates on), 10 epochs like the originals.
if [ "$force" = 1 ] || [ ! -s "$out/scratch-lenet5-mnist-fashion.train.json" ]; then
  echo "== scratch: mtz train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 200" >&2
  "$mtz" train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 200 --json \
    -o "$out/scratch-lenet5-mnist-fashion.mtz" > "$out/scratch-lenet5-mnist-fashion.train.json"
fi

# (d) three networks (MNIST seed 1, MNIST seed 2, Fashion-MNIST) and two residual CNNs, fully zipped.
run d-lenet5-mnist2xfashion-share1 d lenet5-mnist-s1,lenet5-mnist-s2,lenet5-fashion-s1 --share 1
run d-resnet-mnistxfashion-share1 d resnet-mnist-s1,resnet-fashion-s1 --share 1

elapsed=$(( $(date +%s) - start ))

# Machine and code version, for the record.
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
  echo "cores=$(nproc)"
  echo "kernel=$(uname -sr)"
  echo "swift=$(swift --version 2>&1 | head -1)"
  echo "commit=$commit"
  echo "dirty=$dirty"
  echo "elapsed=$elapsed"
} > "$out/machine.txt"

if [ ! -x .venv-exp/bin/python ]; then
  echo "== creating .venv-exp with matplotlib" >&2
  python3 -m venv .venv-exp
  .venv-exp/bin/pip install --quiet matplotlib
fi
.venv-exp/bin/python scripts/plot_experiments.py collect "$out" docs/experiments/results.json
.venv-exp/bin/python scripts/plot_experiments.py report docs/experiments/results.json docs/experiments \
  | tee docs/experiments/tables.md
echo "== done in ${elapsed} s of zipping and evaluation (scratch: $out)" >&2
