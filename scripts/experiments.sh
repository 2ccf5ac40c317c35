#!/usr/bin/env bash
# Reproduces every table and plot of docs/EXPERIMENTS.md (issue 4, item 8):
#   (a) same task: LeNet-300-100 and LeNet-5, MNIST seed 1 x seed 2, fully zipped;
#   (b) different tasks: LeNet-5 MNIST x Fashion-MNIST at 50/75/100 % of neurons shared per layer,
#       and the automatic mode with a 0.5 pp budget;
#   (c) at 50 % and 100 %, the same retraining budget: mtz, mtz-no-update, euclidean, random, mtz
#       without retraining (plus mtz with a second seed, to show the run-to-run noise), and the
#       two-head network trained from scratch (iterations to reach the zipped model's errors);
#       the same comparison with other retraining options (learning rate, momentum, seeds) and
#       budgets from 59 to 2,591 iterations (docs/experiments/retraining.md);
#   (d) three networks (LeNet-5 MNIST seed 1 + seed 2 + Fashion-MNIST) and two residual CNNs;
#   (k) retraining distilled from the original networks (the default since 2026-11-28): every
#       method at budgets from 59 to 2,591 iterations, from scratch with the same teachers, weights,
#       temperatures, merge damping, residual CNNs (docs/experiments/distillation.md);
#   (t), (s) task and shared batch norms for residual networks (and half sharing on a second seed);
#   (ra) the automatic mode on the residual CNNs; (pb) shared batch norms on partly shared layers;
#   (r) residual CNNs: MTZ against the baselines and a two-head residual network from scratch;
#   (p) MTZ against each baseline image by image (McNemar's test, mtz eval --against).
# About 14 h on two busy cores (the k runs ~1.2 h of it, the residual t and s runs ~3 h, the r runs ~2 h, the p runs ~25 min,
# the residual automatic mode ~3-4 h, the pb runs ~2.5 h).
# Usage: scripts/experiments.sh [SCRATCH_DIR]   (default /tmp/mtz-experiments)
# Needs the datasets (scripts/fetch-datasets.sh) and the shipped single-task models
# (scripts/train-models.sh). Zipped models, logs, reports and evaluations go to SCRATCH_DIR; a run
# whose report and evaluation are already there is reused unless MTZ_EXP_FORCE=1. The collected
# results go to docs/experiments/results.json, the plots to docs/experiments/*.svg, and the
# Markdown tables are printed on stdout (and written to docs/experiments/tables.md; the retraining
# and budget tables to docs/experiments/retraining.md, the distillation tables to
# docs/experiments/distillation.md, the residual ones to residual.md, the paired ones to paired.md).
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
# mtz zip's defaults until 2026-11-28, when distillation from the original networks and a merge
# damping of 1 became the defaults: retraining on the labels alone, damping 1e-4. The runs (a)-(d)
# and cr/cb/cd/cx below were made before and pass them first (an option a run names itself comes
# later and wins), so that they still reproduce the tables; the k runs use the new defaults or name
# their settings. Residual networks retrain with task batch norms since 2026-11-28 (the t runs);
# the older residual runs name --no-task-batch-norms (a no-op for the LeNets).
labels="--distill 0 --damping 1e-4 --no-task-batch-norms"

# (a) same task, fully zipped (as in the paper), mtz zip's defaults.
run a-lenet300-mnist-s1xs2 a lenet300-mnist-s1,lenet300-mnist-s2 $labels --share 1
run a-lenet5-mnist-s1xs2 a lenet5-mnist-s1,lenet5-mnist-s2 $labels --share 1

# (b) different tasks at 50/75/100 % of the neurons of every hidden layer shared, and the
# automatic mode with a 0.5 pp budget per task (up to 5 candidates, each a whole zip: ~11 min alone);
# mtz zip's defaults.
for s in 0.5 0.75 1; do
  run "b-lenet5-mnistxfashion-share$s" b "$mf" $labels --share "$s"
done
run b-lenet5-mnistxfashion-auto0.5 b-auto "$mf" $labels --max-error-increase 0.5

# (c) every method at the same sharing and the same retraining budget (the per-layer budgets,
# 591 iterations), and MTZ without retraining.
for s in 0.5 1; do
  for method in mtz mtz-no-update euclidean random; do
    run "c-lenet5-mnistxfashion-share$s-$method" c "$mf" $labels --share "$s" --method "$method" $equal
  done
  run "c-lenet5-mnistxfashion-share$s-mtz-no-retraining" c "$mf" $labels --share "$s" --method mtz --iteration-scale 0
done
run c-lenet5-mnistxfashion-share1-mtz-seed2 c "$mf" $labels --share 1 --method mtz --seed 2 $equal
# (c) smaller equal budgets, fully zipped: no retraining at all, and a quarter of the per-layer budgets.
for scale in 0 0.25; do
  for method in mtz mtz-no-update euclidean random; do
    run "cb-lenet5-mnistxfashion-share1-$method-scale$scale" cb "$mf" $labels --share 1 --method "$method" --iteration-scale "$scale" $equal
  done
done

# (c) added for issue 4's targets T1/T2 (tables in docs/experiments/retraining.md, "The retraining
# step and the budget" in EXPERIMENTS.md): every method with the same retraining options at the
# 591-iteration budget — learning rate 0.02 / 0.003 / 0.001 instead of 0.01, momentum 0.5 instead of
# 0.9, second and third seeds — fully zipped and at 50 %; MTZ's own merge options (damping, raw
# Hessians); and more equal budgets, from 59 iterations to the defaults' 2,591 (59 and 296
# iterations in cb, 2,591 in cd); damping 0.1 on (a) and (d) in cx. About 65 min alone on one core.
for method in mtz mtz-no-update euclidean random; do
  for lr in 0.02 0.003 0.001; do
    run "cr-lenet5-mnistxfashion-share1-$method-lr$lr" cr "$mf" $labels --share 1 --method "$method" --lr "$lr" $equal
  done
  run "cr-lenet5-mnistxfashion-share1-$method-momentum0.5" cr "$mf" $labels --share 1 --method "$method" --momentum 0.5 $equal
  run "cr-lenet5-mnistxfashion-share1-$method-lr0.001-seed2" cr "$mf" $labels --share 1 --method "$method" --lr 0.001 --seed 2 $equal
  if [ "$method" != mtz ]; then   # mtz with seed 2 is c-lenet5-mnistxfashion-share1-mtz-seed2
    run "cr-lenet5-mnistxfashion-share1-$method-seed2" cr "$mf" $labels --share 1 --method "$method" --seed 2 $equal
  fi
  for lr in 0.003 0.001; do
    run "cr-lenet5-mnistxfashion-share0.5-$method-lr$lr" cr "$mf" $labels --share 0.5 --method "$method" --lr "$lr" $equal
  done
  run "cr-lenet5-mnistxfashion-share0.5-$method-lr0.001-seed2" cr "$mf" $labels --share 0.5 --method "$method" --lr 0.001 --seed 2 $equal
  for scale in 0.1 0.5; do
    run "cb-lenet5-mnistxfashion-share1-$method-scale$scale" cb "$mf" $labels --share 1 --method "$method" --iteration-scale "$scale" $equal
  done
  for scale in 0.1 0.25 0.5; do
    run "cr-lenet5-mnistxfashion-share1-$method-scale$scale-seed2" cr "$mf" $labels --share 1 --method "$method" --iteration-scale "$scale" --seed 2 $equal
  done
  if [ "$method" != mtz ]; then   # mtz with the defaults is b-lenet5-mnistxfashion-share1
    run "cd-lenet5-mnistxfashion-share1-$method" cd "$mf" $labels --share 1 --method "$method"
  fi
  run "cd-lenet5-mnistxfashion-share1-$method-seed2" cd "$mf" $labels --share 1 --method "$method" --seed 2
done
run cr-lenet5-mnistxfashion-share1-mtz-damping0.001 cr "$mf" $labels --share 1 --method mtz --damping 0.001 $equal
run cr-lenet5-mnistxfashion-share1-mtz-damping0.001-seed2 cr "$mf" $labels --share 1 --method mtz --damping 0.001 --seed 2 $equal
run cr-lenet5-mnistxfashion-share1-mtz-damping0.01 cr "$mf" $labels --share 1 --method mtz --damping 0.01 $equal
run cr-lenet5-mnistxfashion-share1-mtz-damping0.01-seed2 cr "$mf" $labels --share 1 --method mtz --damping 0.01 --seed 2 $equal
run cr-lenet5-mnistxfashion-share1-mtz-damping0.1 cr "$mf" $labels --share 1 --method mtz --damping 0.1 $equal
run cr-lenet5-mnistxfashion-share1-mtz-damping0.1-seed2 cr "$mf" $labels --share 1 --method mtz --damping 0.1 --seed 2 $equal
run cr-lenet5-mnistxfashion-share1-mtz-damping0.1-seed3 cr "$mf" $labels --share 1 --method mtz --damping 0.1 --seed 3 $equal
run cr-lenet5-mnistxfashion-share1-mtz-damping1 cr "$mf" $labels --share 1 --method mtz --damping 1 $equal
run cr-lenet5-mnistxfashion-share1-mtz-damping1-seed2 cr "$mf" $labels --share 1 --method mtz --damping 1 --seed 2 $equal
for method in mtz mtz-no-update euclidean random; do   # a third seed at the 591-iteration budget
  run "cr-lenet5-mnistxfashion-share1-$method-seed3" cr "$mf" $labels --share 1 --method "$method" --seed 3 $equal
done
run cr-lenet5-mnistxfashion-share1-mtz-raw-hessians cr "$mf" $labels --share 1 --method mtz --no-balance-hessians $equal
# MTZ with damping 0.1 at the defaults' budget, and on the other LeNet experiments (a) and (d).
run cd-lenet5-mnistxfashion-share1-mtz-damping0.1 cd "$mf" $labels --share 1 --method mtz --damping 0.1
run cd-lenet5-mnistxfashion-share1-mtz-damping0.1-seed2 cd "$mf" $labels --share 1 --method mtz --damping 0.1 --seed 2
run cx-a-lenet300-mnist-s1xs2-damping0.1 cx lenet300-mnist-s1,lenet300-mnist-s2 $labels --share 1 --damping 0.1
run cx-a-lenet5-mnist-s1xs2-damping0.1 cx lenet5-mnist-s1,lenet5-mnist-s2 $labels --share 1 --damping 0.1
run cx-d-lenet5-mnist2xfashion-share1-damping0.1 cx lenet5-mnist-s1,lenet5-mnist-s2,lenet5-fashion-s1 $labels --share 1 --damping 0.1

# (k) Retraining with distillation from the original networks (--distill 0.5 --temperature 4, the
# default since 2026-11-28): every method fully zipped at equal budgets of 59, 148, 296 and 591
# iterations (per-layer budgets only) and the defaults' 2,591, with second and third retraining
# seeds; other weights and temperatures at 591; MTZ with merge damping 1 (the default since then)
# and 0.1 besides 1e-4; the other LeNet zips with damping 1e-4 and 1. Every run names its damping
# (options later on a line win). Tables: docs/experiments/distillation.md.
kd="--distill 0.5 --temperature 4 --damping 1e-4"
for method in mtz mtz-no-update euclidean random; do
  for scale in 0.1 0.25 0.5 1; do
    run "k-lenet5-mnistxfashion-share1-$method-scale$scale" k "$mf" $kd --share 1 --method "$method" --iteration-scale "$scale" $equal
  done
  run "k-lenet5-mnistxfashion-share1-$method-defaults" k "$mf" $kd --share 1 --method "$method"
done
for method in mtz mtz-no-update euclidean; do
  for scale in 0.1 0.25 0.5 1; do
    run "k-lenet5-mnistxfashion-share1-$method-scale$scale-seed2" k "$mf" $kd --share 1 --method "$method" --iteration-scale "$scale" --seed 2 $equal
  done
  for scale in 0.5 1; do
    run "k-lenet5-mnistxfashion-share1-$method-scale$scale-seed3" k "$mf" $kd --share 1 --method "$method" --iteration-scale "$scale" --seed 3 $equal
  done
  run "k-lenet5-mnistxfashion-share1-$method-defaults-seed2" k "$mf" $kd --share 1 --method "$method" --seed 2
  run "k-lenet5-mnistxfashion-share1-$method-defaults-seed3" k "$mf" $kd --share 1 --method "$method" --seed 3
  run "k-lenet5-mnistxfashion-share1-$method-t2" k "$mf" $kd --share 1 --method "$method" $equal --temperature 2
  run "k-lenet5-mnistxfashion-share1-$method-w0.9" k "$mf" $kd --share 1 --method "$method" $equal --distill 0.9
done
run k-lenet5-mnistxfashion-share1-random-scale0.5-seed2 k "$mf" $kd --share 1 --method random --iteration-scale 0.5 --seed 2 $equal
run k-lenet5-mnistxfashion-share1-random-t2 k "$mf" $kd --share 1 --method random $equal --temperature 2
for method in mtz euclidean; do
  run "k-lenet5-mnistxfashion-share1-$method-t8" k "$mf" $kd --share 1 --method "$method" $equal --temperature 8
  run "k-lenet5-mnistxfashion-share1-$method-w1" k "$mf" $kd --share 1 --method "$method" $equal --distill 1
done
# MTZ and MTZ without the weight update (whose pairing depends on the damping too) with a merge
# damping of 1 (times trace/dimension) at every budget; MTZ with 0.1.
for seed in 1 2 3; do
  for method in mtz mtz-no-update; do
    for scale in 0.1 0.25 0.5 1; do
      if [ "$seed" = 3 ] && [ "$scale" != 0.5 ] && [ "$scale" != 1 ]; then continue; fi
      run "k-lenet5-mnistxfashion-share1-$method-damping1-scale$scale-seed$seed" k "$mf" $kd --share 1 --method "$method" --damping 1 --iteration-scale "$scale" --seed "$seed" $equal
    done
    run "k-lenet5-mnistxfashion-share1-$method-damping1-defaults-seed$seed" k "$mf" $kd --share 1 --method "$method" --damping 1 --seed "$seed"
  done
  run "k-lenet5-mnistxfashion-share1-mtz-damping0.1-seed$seed" k "$mf" $kd --share 1 --method mtz --damping 0.1 --seed "$seed" $equal
  if [ "$seed" != 3 ]; then
    run "k-lenet5-mnistxfashion-share1-mtz-damping0.1-defaults-seed$seed" k "$mf" $kd --share 1 --method mtz --damping 0.1 --seed "$seed"
  fi
done
# Damping 1 on the other LeNet zips (same task (a), three networks (d)), distilled, against 1e-4.
for damping in 1e-4 1; do
  run "k-a-lenet300-mnist-s1xs2-damping$damping" k lenet300-mnist-s1,lenet300-mnist-s2 $kd --share 1 --damping "$damping"
  run "k-a-lenet5-mnist-s1xs2-damping$damping" k lenet5-mnist-s1,lenet5-mnist-s2 $kd --share 1 --damping "$damping"
  run "k-d-lenet5-mnist2xfashion-share1-damping$damping" k lenet5-mnist-s1,lenet5-mnist-s2,lenet5-fashion-s1 $kd --share 1 --damping "$damping"
done
run k-resnet-mnistxfashion-share1 k resnet-mnist-s1,resnet-fashion-s1 $kd --no-task-batch-norms --share 1
run k-resnet-mnistxfashion-share1-damping1 k resnet-mnist-s1,resnet-fashion-s1 --distill 0 --damping 1 --no-task-batch-norms --share 1

# (t) Task batch norms (the residual networks' default since 2026-11-28): the residual CNNs fully
# and half zipped with and without them (the defaults otherwise; fully zipped without them is
# k-resnet-mnistxfashion-share1-damping1), with no retraining and with 158 iterations, and LeNet-5
# MNIST x Fashion-MNIST at 148 iterations with them. Table: docs/EXPERIMENTS.md, (t). They were
# made before shared batch norms and lr 0.01 became the residual networks' defaults, and name the
# settings of that time ($tb; labels only: distillation became their default later still).
rs=resnet-mnist-s1,resnet-fashion-s1
tb="--no-shared-batch-norms --lr 0.001 --distill 0"
run t-resnet-mnistxfashion-share1 t "$rs" $tb --share 1
run t-resnet-mnistxfashion-share0.5 t "$rs" $tb --share 0.5
run t-resnet-mnistxfashion-share0.5-no-task-bn t "$rs" $tb --share 0.5 --no-task-batch-norms
for share in 1 0.5; do   # no retraining (the batch norms are only recalibrated), and 158 iterations
  run "t-resnet-mnistxfashion-share$share-scale0" t "$rs" $tb --share "$share" --iteration-scale 0
  run "t-resnet-mnistxfashion-share$share-scale0-no-task-bn" t "$rs" $tb --share "$share" --iteration-scale 0 --no-task-batch-norms
  run "t-resnet-mnistxfashion-share$share-scale0.1" t "$rs" $tb --share "$share" --iteration-scale 0.1 $equal
  run "t-resnet-mnistxfashion-share$share-scale0.1-no-task-bn" t "$rs" $tb --share "$share" --iteration-scale 0.1 $equal --no-task-batch-norms
done
run t-lenet5-mnistxfashion-share1-scale0.25 t "$mf" --share 1 --iteration-scale 0.25 $equal
run t-lenet5-mnistxfashion-share1-scale0.25-task-bn t "$mf" --share 1 --iteration-scale 0.25 $equal --task-batch-norms

# (s) Shared batch norms (with joint batches) for the fully shared residual trunk, and the learning
# rates they allow (lr 0.01 with shared batch norms became the residual networks' default on
# 2026-11-28). Table: docs/EXPERIMENTS.md, (s). Fully zipped with neither at lr 0.001 is
# t-resnet-mnistxfashion-share1. Labels only, as the residual default was then.
for lr in 0.001 0.003 0.01; do
  run "s-resnet-mnistxfashion-share1-lr$lr" s "$rs" --distill 0 --share 1 --lr "$lr" --shared-batch-norms
done
run s-resnet-mnistxfashion-share1-lr0.003-no-shared-bn s "$rs" --distill 0 --share 1 --lr 0.003 --no-shared-batch-norms
run s-resnet-mnistxfashion-share1-lr0.01-seed2 s "$rs" --distill 0 --share 1 --lr 0.01 --shared-batch-norms --seed 2
for lr in 0.003 0.01; do
  run "s-resnet-mnistxfashion-share0.5-lr$lr" s "$rs" --distill 0 --share 0.5 --lr "$lr" --shared-batch-norms
done
# Half shared with the residual defaults since the r runs below (distilled), for the (s) table.
run s-resnet-mnistxfashion-share0.5-distill s "$rs" --share 0.5
# Half shared, a second retraining seed, on the labels alone and distilled; compared image by image
# with each other and with the originals (mtz eval --against; EXPERIMENTS.md, "Residual CNNs: the
# automatic mode, and half sharing on a second seed").
run s-resnet-mnistxfashion-share0.5-lr0.01-seed2 s "$rs" --distill 0 --share 0.5 --lr 0.01 --shared-batch-norms --seed 2
run s-resnet-mnistxfashion-share0.5-distill-seed2 s "$rs" --share 0.5 --seed 2
# (ra) The automatic mode on the residual CNNs: a 0.5 pp budget per task, up to 5 candidates (the
# defaults otherwise; about 1.7 h on a busy core with session 10's code, where its 7/8 candidate
# diverged and ended the search; with the shared batch norms of session 11 every candidate trains,
# and the five take 3-4 h on busy cores).
run ra-resnet-mnistxfashion-auto0.5 ra "$rs" --max-error-increase 0.5
# Its fifth and last candidate as a fixed zip (the search's choice in session 12's run; ~30 min on a
# free core; its test errors against the originals: `mtz eval ZIP --against PACKED`, PACKED from
# `mtz pack Models/resnet-mnist-s1.mtz Models/resnet-fashion-s1.mtz`):
s78=0.875
run ra5-resnet-mnistxfashion ra5 "$rs" --share "stem/conv=$s78,block1.1/conv=$s78,block1.2/conv=$s78,block2.1/conv=$s78,block2.2/conv=$s78,block2.shortcut/conv=$s78,block3.1/conv=1,block3.2/conv=1,block3.shortcut/conv=1"
# Session 10's binary: its 7/8 candidate diverged at lr 0.01 (a fixed --share 0.875 ended in a numerical error); at 0.003:
run ra-resnet-mnistxfashion-share0.875-lr0.003 ra "$rs" --share 0.875 --lr 0.003
# (pb) Since session 11 (commit 6bf3a91) the shared neurons of every normalised layer keep one batch
# norm for all tasks while retraining, partly shared layers too (before, only once the whole trunk
# was shared; the residual runs above that share neurons were made with that code and no longer
# reproduce exactly). The defaults at 7/8 (which diverged at lr 0.01 before), 8/8 and 1/2.
# Since session 14 (assembled retraining, a task's own layers on its own images only) the pb and ra5
# partly shared zips end level with these runs but not bit for bit; the session 11-13 binaries give
# the tables' numbers (docs/EXPERIMENTS.md, "Retraining partly shared zips in the assembled form").
run pb-resnet-mnistxfashion-share0.875 pb "$rs" --share 0.875
run pb-resnet-mnistxfashion-share0.875-seed2 pb "$rs" --share 0.875 --seed 2
run pb-resnet-mnistxfashion-share1 pb "$rs" --share 1
run pb-resnet-mnistxfashion-share0.5 pb "$rs" --share 0.5
run pb-resnet-mnistxfashion-share1-seed2 pb "$rs" --share 1 --seed 2
run pb-resnet-mnistxfashion-share0.5-seed2 pb "$rs" --share 0.5 --seed 2

# (r) Two residual CNNs fully zipped with task and shared batch norms at lr 0.01: MTZ against the
# baselines of (c) at equal budgets — on the labels alone (the residual default until these runs)
# at the default 3,578 iterations (two seeds), at 158 (per-layer budgets / 10, no final phase) and
# at none (batch norms recalibrated only), and distilled (the residual default since; two seeds
# but for mtz-no-update) — and the two-head residual network trained from scratch (below). Tables:
# docs/experiments/residual.md (scripts/residual_tables.py).
for method in mtz mtz-no-update euclidean random; do
  run "r-resnet-mnistxfashion-share1-$method" r "$rs" --distill 0 --share 1 --method "$method"
  run "r-resnet-mnistxfashion-share1-$method-scale0.1" r "$rs" --distill 0 --share 1 --method "$method" --iteration-scale 0.1 $equal
  run "r-resnet-mnistxfashion-share1-$method-scale0" r "$rs" --distill 0 --share 1 --method "$method" --iteration-scale 0
  run "r-resnet-mnistxfashion-share1-$method-distill" r "$rs" --share 1 --method "$method" --distill 0.5 --temperature 4
done
for method in mtz euclidean random; do
  run "r-resnet-mnistxfashion-share1-$method-seed2" r "$rs" --distill 0 --share 1 --method "$method" --seed 2
done
for method in mtz euclidean random; do
  run "r-resnet-mnistxfashion-share1-$method-distill-seed2" r "$rs" --share 1 --method "$method" --distill 0.5 --temperature 4 --seed 2
done
# (p) MTZ against each baseline image by image (docs/experiments/paired.md, by
# scripts/paired_tables.py at the end): the k and r runs above, plus the seeds they lack, so that
# every baseline is paired with MTZ at 148, 296, 591 and 2,591 iterations on three retraining seeds.
for seed in 2 3; do
  for scale in 0.25 0.5 1; do
    if [ "$seed" = 2 ] && [ "$scale" = 0.5 ]; then continue; fi   # k-...-random-scale0.5-seed2 above
    run "k-lenet5-mnistxfashion-share1-random-scale$scale-seed$seed" p "$mf" $kd --share 1 --method random --iteration-scale "$scale" --seed "$seed" $equal
  done
  run "k-lenet5-mnistxfashion-share1-random-defaults-seed$seed" p "$mf" $kd --share 1 --method random --seed "$seed"
done
run k-lenet5-mnistxfashion-share1-euclidean-scale0.25-seed3 p "$mf" $kd --share 1 --method euclidean --iteration-scale 0.25 --seed 3 $equal
for method in mtz mtz-no-update; do
  run "k-lenet5-mnistxfashion-share1-$method-damping1-scale0.25-seed3" p "$mf" $kd --share 1 --method "$method" --damping 1 --iteration-scale 0.25 --seed 3 $equal
done

if [ "$force" = 1 ] || [ ! -s "$out/scratch-resnet-mnist-fashion.train.json" ]; then
  echo "== scratch: mtz train --arch resnet --dataset mnist,fashion --epochs 10 --eval-every 100" >&2
  "$mtz" train --arch resnet --dataset mnist,fashion --epochs 10 --eval-every 100 --json \
    -o "$out/scratch-resnet-mnist-fashion.mtz" > "$out/scratch-resnet-mnist-fashion.train.json"
fi

# (c) the two-head network of the fully zipped shape trained from scratch, validation errors every
# 200 iterations (the same held-out images mtz zip validates on), 10 epochs like the originals.
if [ "$force" = 1 ] || [ ! -s "$out/scratch-lenet5-mnist-fashion.train.json" ]; then
  echo "== scratch: mtz train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 200" >&2
  "$mtz" train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 200 --json \
    -o "$out/scratch-lenet5-mnist-fashion.mtz" > "$out/scratch-lenet5-mnist-fashion.train.json"
fi

# The same from-scratch training, validated every 50 iterations instead of 200 (the training is
# identical; finer checkpoints for the ratios at small budgets in docs/experiments/retraining.md).
if [ "$force" = 1 ] || [ ! -s "$out/scratch-lenet5-mnist-fashion-every50.train.json" ]; then
  echo "== scratch: mtz train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 50" >&2
  "$mtz" train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 50 --json \
    -o "$out/scratch-lenet5-mnist-fashion-every50.mtz" > "$out/scratch-lenet5-mnist-fashion-every50.train.json"
fi

# The same two-head network trained from scratch with the same distillation as the k runs: each
# head also learns its original network's outputs (a fairer baseline for the distilled zips).
if [ "$force" = 1 ] || [ ! -s "$out/scratch-kd-lenet5-mnist-fashion-every50.train.json" ]; then
  echo "== scratch with teachers: mtz train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 50 --teachers ..." >&2
  "$mtz" train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 50 \
    --teachers Models/lenet5-mnist-s1.mtz,Models/lenet5-fashion-s1.mtz --distill 0.5 --temperature 4 --json \
    -o "$out/scratch-kd-lenet5-mnist-fashion-every50.mtz" > "$out/scratch-kd-lenet5-mnist-fashion-every50.train.json"
fi

# (d) three networks (MNIST seed 1, MNIST seed 2, Fashion-MNIST) and two residual CNNs, fully zipped.
run d-lenet5-mnist2xfashion-share1 d lenet5-mnist-s1,lenet5-mnist-s2,lenet5-fashion-s1 $labels --share 1
run d-resnet-mnistxfashion-share1 d resnet-mnist-s1,resnet-fashion-s1 $labels --share 1

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
# The tables of the retraining-step and budget runs (cr, cb, cd, and c/b for the defaults) and the
# from-scratch ratios with 50-step checkpoints: docs/experiments/retraining.md.
python3 - "$out" > docs/experiments/retraining.md <<'PY'
import json, os, sys
out = sys.argv[1]
def load(p):
    with open(p) as f: return json.load(f)
def opts(args):
    o, parts = {}, args.split("--")[1:]
    for part in parts:
        k, _, v = part.strip().partition(" ")
        o[k] = v.strip() or True
    # $labels: the defaults these runs were made with, not a setting of their own.
    if o.get("distill") == "0": del o["distill"]
    if o.get("damping") == "1e-4": del o["damping"]
    return o
orig = {}
runs = []
for line in open(os.path.join(out, "manifest.tsv")):
    name, exp, models, args = line.rstrip("\n").split("\t")
    if models != "lenet5-mnist-s1,lenet5-fashion-s1" or exp not in ("b", "c", "cb", "cr", "cd"):
        continue
    for m in models.split(","):
        if m not in orig:
            ev = load(os.path.join(out, f"orig-{m}.eval.json"))
            orig[m] = ev["tasks"][0]["errorRate"]
    o = opts(args)
    if exp == "b" and o.get("share") not in ("1", "0.5"):
        continue
    ev = load(os.path.join(out, f"{name}.eval.json")); rep = load(os.path.join(out, f"{name}.report.json"))
    te = {t["task"]: t["errorRate"] for t in ev["tasks"]}
    before = dict(zip(rep["tasks"], (orig[m] for m in models.split(","))))
    fin = rep.get("finalRetraining")
    val = fin["errorAfter"] if fin else rep["layers"][-1]["errorAfterRetraining"]
    runs.append({"name": name, "exp": exp, "o": o, "method": rep["method"], "test": te, "val": val,
                 "inc": sum(100 * (te[t] - before[t]) for t in te) / len(te), "its": rep["totalIterations"],
                 "merge": rep["layers"][-1]["errorBeforeRetraining"]})
methods = ["mtz", "mtz-no-update", "euclidean", "random"]
def key(r):
    o = r["o"]
    return (o.get("share"), o.get("lr", "0.01"), o.get("momentum", "0.9"), o.get("seed", "1"),
            o.get("iteration-scale", "1"), o.get("final-iterations", "2000"), o.get("damping"), "no-balance-hessians" in o)
cells = {}
for r in runs:
    if "no-retraining" in r["name"]: continue
    cells[key(r) + (r["method"],)] = r
def fmt(r):
    return "" if r is None else f"{r['inc']:+.2f} ({100*r['test']['mnist']:.2f} / {100*r['test']['fashion']:.2f})"
def row(label, k):
    rs = [cells.get(k + (m,)) for m in methods]
    present = [r for r in rs if r]
    best = min(present, key=lambda r: r["inc"])["method"] if present else ""
    mtz = rs[0]
    lead = ""
    if mtz and len(present) > 1:
        others = [r["inc"] for r in rs[1:] if r]
        lead = f"{min(others) - mtz['inc']:+.2f}"
    return "| " + " | ".join([label] + [fmt(r) for r in rs] + [best, lead]) + " |"
hdr = "| setting | " + " | ".join(methods) + " | best | MTZ's lead over the best baseline pp |\n|---|" + "---:|" * 6
lines = []
lines.append("### (c) The retraining step at equal budget: fully zipped, 591 iterations (`--final-iterations 0`)\n")
lines.append("Average test-error increase in pp (MNIST / Fashion-MNIST test error %); every method with the same options.\n")
lines.append(hdr)
for label, lr, mom, seed in [("lr 0.02", "0.02", "0.9", "1"), ("lr 0.01 (default)", "0.01", "0.9", "1"), ("lr 0.01, seed 2", "0.01", "0.9", "2"), ("lr 0.01, seed 3", "0.01", "0.9", "3"),
                             ("lr 0.01, momentum 0.5", "0.01", "0.5", "1"), ("lr 0.003", "0.003", "0.9", "1"),
                             ("lr 0.001", "0.001", "0.9", "1"), ("lr 0.001, seed 2", "0.001", "0.9", "2")]:
    lines.append(row(label, ("1", lr, mom, seed, "1", "0", None, False)))
lines.append("")
lines.append("### (c) The retraining step at equal budget: 50 % of the neurons shared, 591 iterations\n")
lines.append(hdr)
for label, lr, seed in [("lr 0.01 (default)", "0.01", "1"), ("lr 0.003", "0.003", "1"), ("lr 0.001", "0.001", "1"), ("lr 0.001, seed 2", "0.001", "2")]:
    lines.append(row(label, ("0.5", lr, "0.9", seed, "1", "0", None, False)))
lines.append("")
lines.append("### (c) Equal budgets from 0 to 2,591 iterations, fully zipped, default retraining (lr 0.01, momentum 0.9)\n")
lines.append(hdr.replace("| setting |", "| retraining iterations |"))
for scale, final in [("0", "0"), ("0.1", "0"), ("0.25", "0"), ("0.5", "0"), ("1", "0"), ("1", "2000")]:
    for seed in ("1", "2", "3"):
        k = ("1", "0.01", "0.9", seed, scale, final, None, False)
        its = next((r["its"] for m in methods if (r := cells.get(k + (m,)))), None)
        if its is None: continue
        what = "the defaults" if final == "2000" else f"`--iteration-scale {scale}`"
        lines.append(row(f"{its} ({what}{', seed ' + seed if seed != '1' else ''})", k))
lines.append("")
# Means over the seeds every method ran with (where there are at least two).
mean_rows = []
for k in sorted({key(r)[:3] + key(r)[4:] for r in runs if r["o"].get("seed", "1") != "1"}, key=str):
    seeds = sorted({key(r)[3] for r in runs if key(r)[:3] + key(r)[4:] == k})
    seeds = [sd for sd in seeds if all(cells.get(k[:3] + (sd,) + k[3:] + (m,)) for m in methods)]
    if len(seeds) < 2: continue
    means = [sum(cells[k[:3] + (sd,) + k[3:] + (m,)]["inc"] for sd in seeds) / len(seeds) for m in methods]
    share, lr, mom, scale, final = k[:5]
    its = cells[k[:3] + (seeds[0],) + k[3:] + ("mtz",)]["its"]
    label = f"{100 * float(share):.0f} % shared, {its} iterations, lr {lr}" + (f", momentum {mom}" if mom != "0.9" else "") + f" (seeds {', '.join(seeds)})"
    lead = min(means[1:]) - means[0]
    best = methods[means.index(min(means))]
    mean_rows.append("| " + " | ".join([label] + [f"{x:+.2f}" for x in means] + [best, f"{lead:+.2f}"]) + " |")
if mean_rows:
    lines.append("### (c) Means over seeds (average test-error increase pp)\n")
    lines.append(hdr)
    lines += mean_rows
    lines.append("")
extra = [r for r in runs if r["o"].get("damping") or "no-balance-hessians" in r["o"]]
if extra:
    lines.append("### (c) MTZ's own merge options (damping, Hessian balance), fully zipped, lr 0.01\n")
    lines.append("| mtz zip option | retraining iterations | val. error right after merging fc1 % | val. error after retraining % | avg test increase pp (MNIST / Fashion %) |\n|---|---:|---:|---:|---:|")
    base = cells.get(("1", "0.01", "0.9", "1", "1", "0", None, False, "mtz"))
    def opt_label(o):
        return " ".join(f"`--{k}`" if v is True else f"`--{k} {v}`" for k, v in o.items() if k in ("damping", "no-balance-hessians", "seed"))
    seed2 = cells.get(("1", "0.01", "0.9", "2", "1", "0", None, False, "mtz"))
    extra.sort(key=lambda r: (r["its"], float(r["o"].get("damping", "0")), r["o"].get("seed", "1")))
    seed3 = cells.get(("1", "0.01", "0.9", "3", "1", "0", None, False, "mtz"))
    dflt = [cells.get(("1", "0.01", "0.9", sd, "1", "2000", None, False, "mtz")) for sd in ("1", "2")]
    for label, r in ([("(defaults: damping 1e-4, balanced Hessians)", base), ("(defaults) `--seed 2`", seed2), ("(defaults) `--seed 3`", seed3)]
                     + [(opt_label(r["o"]), r) for r in extra if r["its"] == 591]
                     + [("(defaults)", dflt[0]), ("(defaults) `--seed 2`", dflt[1])] + [(opt_label(r["o"]), r) for r in extra if r["its"] != 591]):
        if r:
            lines.append(f"| {label} | {r['its']} | {100*r['merge']['mnist']:.2f} / {100*r['merge']['fashion']:.2f} | {100*r['val']['mnist']:.2f} / {100*r['val']['fashion']:.2f} | {fmt(r)} |")
    lines.append("")
sp = os.path.join(out, "scratch-lenet5-mnist-fashion-every50.train.json")
if os.path.exists(sp):
    ck = load(sp)["checkpoints"]
    def reach(target, every):
        for c in ck:
            if c["iteration"] % every == 0 and all(c["validationError"][t] <= e + 1e-12 for t, e in target.items()):
                return c["iteration"]
        return None
    lines.append("### (c) From scratch vs MTZ at each budget: iterations the two-head network needs to reach the zipped model's validation errors\n")
    lines.append("`mtz train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 50` (the same training as the 200-step run; "
                 "checked: identical validation errors at every multiple of 200). Fully zipped, `mtz zip --method mtz`.\n")
    lines.append("| MTZ retraining | iterations | val. error % (mnist / fashion) | avg test increase pp | from scratch, 50-step checkpoints | ratio | 200-step checkpoints | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    last = ck[-1]["iteration"]
    sel = [r for r in runs if r["method"] == "mtz" and r["o"].get("share") == "1" and r["its"] > 0
           and not r["o"].get("damping") and "no-balance-hessians" not in r["o"]]
    sel.sort(key=lambda r: (r["o"].get("lr", "0.01") != "0.01", r["o"].get("momentum", "0.9") != "0.9", r["its"], r["o"].get("seed", "1")))
    for r in sel:
        o = r["o"]
        label = ", ".join(x for x in [f"lr {o.get('lr', '0.01')}", f"momentum {o['momentum']}" if "momentum" in o else "",
                                       f"seed {o['seed']}" if "seed" in o else ""] if x)
        cellsr = []
        for every in (50, 200):
            n = reach(r["val"], every)
            cellsr += [f"{n:,}" if n else f"not within {last:,}", f"{n / r['its']:.1f}×" if n else f"> {last / r['its']:.1f}×"]
        lines.append(f"| {label} | {r['its']} | {100*r['val']['mnist']:.2f} / {100*r['val']['fashion']:.2f} | {r['inc']:+.2f} | " + " | ".join(cellsr) + " |")
    lines.append("")
print("\n".join(lines))
# Damping 0.1 on the other LeNet experiments (cx runs), against the same zips with the defaults.
cx = []
for line in open(os.path.join(out, "manifest.tsv")):
    name, exp, models, args = line.rstrip("\n").split("\t")
    if exp != "cx": continue
    base = name[len("cx-"):].rsplit("-damping", 1)[0]
    rows = []
    for n in (base, name):
        ev = load(os.path.join(out, f"{n}.eval.json"))
        rows.append({t["task"]: t["errorRate"] for t in ev["tasks"]})
    origs = [load(os.path.join(out, f"orig-{m}.eval.json"))["tasks"][0]["errorRate"] for m in models.split(",")]
    cx.append((base, args, origs, rows))
if cx:
    print("### MTZ with `--damping 0.1` on the other LeNet experiments (defaults otherwise, the default budgets)\n")
    print("| run | originals' test error % | defaults (damping 1e-4) % | avg increase pp | `--damping 0.1` % | avg increase pp |\n|---|---:|---:|---:|---:|---:|")
    for base, args, origs, (d, x) in cx:
        tasks = list(d.keys())
        inc = lambda e: sum(100 * (e[t] - o) for t, o in zip(tasks, origs)) / len(tasks)
        print(f"| {base} | {' / '.join(f'{100*o:.2f}' for o in origs)} | {' / '.join(f'{100*d[t]:.2f}' for t in tasks)} | {inc(d):+.2f} | "
              f"{' / '.join(f'{100*x[t]:.2f}' for t in tasks)} | {inc(x):+.2f} |")
    print()
PY
# The distillation runs (k): docs/experiments/distillation.md.
python3 scripts/distillation_tables.py "$out" > docs/experiments/distillation.md
python3 scripts/residual_tables.py "$out" > docs/experiments/residual.md
python3 scripts/paired_tables.py "$mtz" "$out" docs/experiments/paired.md > /dev/null
echo "== done in ${elapsed} s of zipping and evaluation (scratch: $out)" >&2
