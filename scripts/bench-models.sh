#!/bin/sh
# Latency of the benchmark networks (scripts/make-bench-models.sh) under `mtz bench`, before and after
# Winograd (--convolutions gemm-only vs automatic; the GEMM path is the pre-Winograd runtime), at 1 and
# 2 threads. Configurations alternate within each round; prints a Markdown table of the median over
# rounds of each run's median latency, with the min and max of those medians, and the process CPU time
# per run (all threads; on a machine shared with other jobs the wall clock includes waiting for a core).
# Usage: scripts/bench-models.sh [ROUNDS] [ITERATIONS]    (MTZ=path/to/mtz, MODELS=dir to override)
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-3}
iterations=${2:-10}
models=${MODELS:-bench-models}
if [ -z "${MTZ:-}" ]; then
    swift build -c release --product mtz >/dev/null
    MTZ="$(swift build -c release --show-bin-path)/mtz"
fi
[ -f "$models/vgg16.mtz" ] || MTZ="$MTZ" scripts/make-bench-models.sh "$models" >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)  nproc $(nproc)  $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
for r in $(seq "$rounds"); do
    for model in vgg16 vgg16-2task vgg16-head resnet18; do
        for threads in 1 2; do
            for policy in gemm-only automatic; do
                "$MTZ" bench "$models/$model.mtz" --threads "$threads" --iterations "$iterations" --warmup 2 \
                    --convolutions "$policy" --json > "$out/$model.$threads.$policy.$r.json"
            done
        done
    done
    echo "round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
python3 - "$out" <<'PY'
import glob, json, os, statistics, sys
runs = {}
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    model, threads, policy, _, _ = os.path.basename(path).split(".")
    with open(path) as f:
        r = json.load(f)
    runs.setdefault((model, int(threads), policy), []).append(r)
print("| model | threads | convolutions | median ms | min–max of round medians | CPU ms per run | load ms | packed weights MiB | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for (model, threads, policy) in sorted(runs, key=lambda k: (k[0], k[1], k[2] != "gemm-only")):
    rs = runs[(model, threads, policy)]
    med = [1000 * r["latency"]["medianSeconds"] for r in rs]
    cpu = statistics.median(1000 * r["latency"]["cpuSecondsPerRun"] for r in rs)
    print(f"| {model} | {threads} | {policy} | {statistics.median(med):.1f} | {min(med):.1f}–{max(med):.1f} | {cpu:.1f} | "
          f"{1000 * statistics.median(r['loadSeconds'] for r in rs):.0f} | {rs[0]['packedWeightBytes'] / 2**20:.0f} | "
          f"{max(r['peakRSSBytes'] for r in rs) / 2**20:.0f} |")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
