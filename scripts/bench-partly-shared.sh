#!/bin/sh
# Inference time of partly shared zips: the split form (one convolution per block of neurons and
# inputs, what `mtz zip` wrote before weight assemblies) against one convolution per task and layer
# over assembled weights. BEFORE is an `mtz` from before the change (it writes the split form), AFTER
# the current one; both zip the same pairs without retraining (`--iteration-scale 0`: the graph and
# the time do not depend on it), and AFTER's runtime runs every file. The originals and the fully
# shared zip are timed beside them. Rounds alternate the models; prints a Markdown table of the median
# over rounds of each run's median latency (both tasks), packed weight bytes, peak RSS and file size.
# Usage: scripts/bench-partly-shared.sh BEFORE AFTER [ROUNDS] [ITERATIONS]
set -eu
cd "$(dirname "$0")/.."
before=$1 after=$2 rounds=${3:-3} iterations=${4:-2000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)  nproc $(nproc)  $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
models=""
for arch in resnet lenet5; do
    cp "Models/$arch-mnist-s1.mtz" "$out/$arch-original.mtz"
    models="$models $arch-original"
    "$after" zip "Models/$arch-mnist-s1.mtz" "Models/$arch-fashion-s1.mtz" --share 1 --iteration-scale 0 --hessian-images 100 \
        -o "$out/$arch-1-assembled.mtz" >/dev/null
    models="$models $arch-1-assembled"
    for share in 0.875 0.5; do
        for form in split assembled; do
            bin=$after
            [ "$form" = split ] && bin=$before
            "$bin" zip "Models/$arch-mnist-s1.mtz" "Models/$arch-fashion-s1.mtz" --share "$share" --iteration-scale 0 \
                --hessian-images 100 -o "$out/$arch-$share-$form.mtz" >/dev/null
            models="$models $arch-$share-$form"
        done
    done
done
for r in $(seq "$rounds"); do
    for m in $models; do
        "$after" bench "$out/$m.mtz" --iterations "$iterations" --json > "$out/$m.$r.json"
    done
    echo "round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$out" "$rounds" $models <<'EOF'
import json, os, statistics, sys
out, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def runs(m):
    return [json.load(open(f"{out}/{m}.{r}.json")) for r in range(1, rounds + 1)]
def median_ms(m):
    return statistics.median(d["latency"]["medianSeconds"] * 1e3 for d in runs(m))
print("| model | form | median ms, both tasks (min–max of rounds) | packed weights | peak RSS | file |")
print("|---|---|---|---|---|---|")
for m in models:
    ds = runs(m)
    meds = [d["latency"]["medianSeconds"] * 1e3 for d in ds]
    arch, rest = m.split("-", 1)
    share, form = rest.rsplit("-", 1) if rest != "original" else ("original", "one task")
    if share == "1":
        form = "one node per layer"

    label = {"original": "original (MNIST, one task)", "1": "zip, every layer shared", "0.875": "zip, 7/8 of every layer", "0.5": "zip, 1/2"}[share]
    print(f"| {arch} {label} | {form} | {statistics.median(meds):.3f} ({min(meds):.3f}–{max(meds):.3f}) | "
          f"{ds[0]['packedWeightBytes'] / 1024:.0f} KiB | {ds[0]['peakRSSBytes'] / 2**20:.1f} MiB | {os.path.getsize(f'{out}/{m}.mtz') / 1024:.0f} KiB |")
for arch in ("resnet", "lenet5"):
    two = 2 * median_ms(f"{arch}-original")
    for share in ("0.875", "0.5"):
        s, a = median_ms(f"{arch}-{share}-split"), median_ms(f"{arch}-{share}-assembled")
        print(f"\n{arch} {share}: split / assembled = {s / a:.2f}×; assembled / two originals = {a / two:.2f}×", end="")
print()
EOF
