#!/usr/bin/env bash
# Reproduces every table and plot of docs/EXPERIMENTS.md (issue 4, item 8):
#   (a) same task: LeNet-300-100 and LeNet-5, MNIST seed 1 x seed 2, fully zipped;
#   (b) different tasks: LeNet-5 MNIST x Fashion-MNIST at 25/50/75/100 % of neurons shared per layer;
#   (c) baselines at 50 % and 100 %: mtz, mtz-no-update, euclidean, random, mtz without retraining
#       (plus mtz with a second seed, to show the run-to-run noise);
#   (x) budget sensitivity: mtz and euclidean fully zipped with 4x the default retraining iterations.
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

for m in lenet300-mnist-s1 lenet300-mnist-s2 lenet5-mnist-s1 lenet5-mnist-s2 lenet5-fashion-s1; do
  [ -f "Models/$m.mtz" ] || { echo "missing Models/$m.mtz: run scripts/train-models.sh $m" >&2; exit 1; }
done

start=$(date +%s)
manifest="$out/manifest.tsv"
: > "$manifest"

# The single-task originals: test error and parameters.
for m in lenet300-mnist-s1 lenet300-mnist-s2 lenet5-mnist-s1 lenet5-mnist-s2 lenet5-fashion-s1; do
  "$mtz" eval "Models/$m.mtz" --json > "$out/orig-$m.eval.json"
  "$mtz" inspect "Models/$m.mtz" --json > "$out/orig-$m.inspect.json"
done

# run NAME EXPERIMENT A B [mtz zip options...]: zip A and B, evaluate and inspect the result.
run() {
  local name=$1 experiment=$2 a=$3 b=$4
  shift 4
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$experiment" "$a" "$b" "$*" >> "$manifest"
  if [ "$force" != 1 ] && [ -s "$out/$name.report.json" ] && [ -s "$out/$name.eval.json" ]; then
    echo "== $name: reusing $out/$name.*" >&2
    return
  fi
  echo "== $name: mtz zip Models/$a.mtz Models/$b.mtz $* -o $out/$name.mtz" >&2
  local t0 t1
  t0=$(date +%s.%N)
  "$mtz" zip "Models/$a.mtz" "Models/$b.mtz" "$@" --report "$out/$name.report.json" -o "$out/$name.mtz" \
    > "$out/$name.log"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' > "$out/$name.wall"
  sed 's/^/   /' "$out/$name.log" >&2
  "$mtz" eval "$out/$name.mtz" --json > "$out/$name.eval.json"
  "$mtz" inspect "$out/$name.mtz" --json > "$out/$name.inspect.json"
}

# (a) same task, fully zipped (as in the paper).
run a-lenet300-mnist-s1xs2 a lenet300-mnist-s1 lenet300-mnist-s2 --share 1
run a-lenet5-mnist-s1xs2 a lenet5-mnist-s1 lenet5-mnist-s2 --share 1

# (b) different tasks at 25/50/75/100 % of the neurons of every hidden layer shared.
for s in 0.25 0.5 0.75 1; do
  run "b-lenet5-mnistxfashion-share$s" b lenet5-mnist-s1 lenet5-fashion-s1 --share "$s" --method mtz
done

# (c) baselines at the same sharing and the same retraining budget (the default budgets).
for s in 0.5 1; do
  for method in mtz-no-update euclidean random; do
    run "c-lenet5-mnistxfashion-share$s-$method" c lenet5-mnist-s1 lenet5-fashion-s1 --share "$s" --method "$method"
  done
  run "c-lenet5-mnistxfashion-share$s-mtz-no-retraining" c lenet5-mnist-s1 lenet5-fashion-s1 --share "$s" --method mtz --iteration-scale 0
  run "c-lenet5-mnistxfashion-share$s-mtz-seed2" c lenet5-mnist-s1 lenet5-fashion-s1 --share "$s" --method mtz --seed 2
done

# Budget sensitivity (not an equal-budget comparison): 4x the default retraining iterations.
for method in mtz euclidean; do
  run "x-lenet5-mnistxfashion-share1-$method-iter4" x lenet5-mnist-s1 lenet5-fashion-s1 --share 1 --method "$method" --iteration-scale 4
done

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
