#!/usr/bin/env bash
# One LeNet-5 training epoch on MNIST: PyTorch (CPU wheel) vs `mtz train`, side by side.
#
# Usage: scripts/bench-train.sh [--threads N] [--batch N] [--reps N] [--markdown] [--no-build]
#
#   --threads N   intra-op threads for both runtimes (default 1; PyTorch inter-op threads = 1)
#   --batch N     mini-batch size (default 64)
#   --reps N      epochs per runtime, alternating PyTorch / mtz (default 3)
#   --markdown    also print a Markdown block for docs/BENCHMARKS.md
#   --no-build    skip `swift build -c release --product mtz`
#
# Creates .venv-bench (once) with the PyTorch CPU wheel from /opt/wheels and numpy; never
# installs torch from PyPI (that build pulls the CUDA libraries). Needs data/mnist/ (IDX files,
# scripts/fetch-datasets.sh). PyTorch is a peer to measure against, not a dependency of mtz.
#
# Each run is a fresh process that loads the data, warms up, then times one epoch of the
# training pass only (no evaluation): PyTorch reports it itself (scripts/bench_train_pytorch.py),
# mtz in its --json output as epochs[0].seconds. Runs alternate, and the order flips every
# repetition, so slow drift of the shared machine's load hits both sides alike.
set -euo pipefail

THREADS=1
BATCH=64
REPS=3
MARKDOWN=0
BUILD=1
LR=0.01
SEED=1
ORIGINAL_ARGS="$*"

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --threads) THREADS="${2:?--threads needs a value}"; shift 2 ;;
        --batch) BATCH="${2:?--batch needs a value}"; shift 2 ;;
        --reps) REPS="${2:?--reps needs a value}"; shift 2 ;;
        --markdown) MARKDOWN=1; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-train: unknown option $1" >&2; usage >&2; exit 64 ;;
    esac
done
for value in "$THREADS" "$BATCH" "$REPS"; do
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "bench-train: '$value' is not a positive integer" >&2; exit 64; }
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-bench"
PY="$VENV/bin/python"
MTZ="${MTZ_BIN:-$ROOT/.build/release/mtz}"  # MTZ_BIN: another binary, e.g. a stub for testing
MTZ_OUT=/tmp/bench-lenet5.mtz

# --- data -------------------------------------------------------------------------------
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [[ ! -f "data/mnist/$f" && ! -f "data/mnist/$f.gz" ]]; then
        echo "bench-train: data/mnist/$f is missing; run scripts/fetch-datasets.sh first" >&2
        exit 65
    fi
done

# --- venv (once) --------------------------------------------------------------------------
if ! "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
    shopt -s nullglob
    wheels=(/opt/wheels/torch-*+cpu-cp311-cp311-manylinux*_x86_64.whl)
    shopt -u nullglob
    if [[ ${#wheels[@]} -eq 0 ]]; then
        echo "bench-train: no PyTorch CPU wheel in /opt/wheels (will not install torch from PyPI)" >&2
        exit 1
    fi
    echo "bench-train: creating .venv-bench with ${wheels[-1]##*/}" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "${wheels[-1]}" numpy >&2
fi
TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__)')"

# --- mtz ----------------------------------------------------------------------------------
MTZ_OK=1
MTZ_NOTE=""
if [[ $BUILD -eq 1 ]]; then
    echo "bench-train: swift build -c release --product mtz" >&2
    if ! swift build -c release --product mtz >&2; then
        MTZ_OK=0; MTZ_NOTE="the release build of mtz failed"
    fi
fi
if [[ $MTZ_OK -eq 1 && ! -x "$MTZ" ]]; then
    MTZ_OK=0; MTZ_NOTE="$MTZ does not exist"
fi
# An unknown subcommand makes swift-argument-parser print the top-level help and exit 0,
# so look for the subcommand's own usage line.
if [[ $MTZ_OK -eq 1 ]] && ! "$MTZ" train --help 2>&1 | grep -q 'USAGE: mtz train'; then
    MTZ_OK=0; MTZ_NOTE="this mtz binary has no 'train' subcommand yet"
fi
if [[ $MTZ_OK -eq 0 ]]; then
    echo "bench-train: NOTE: $MTZ_NOTE; measuring PyTorch only." >&2
fi

PYTORCH_CMD=(env OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
             "$PY" scripts/bench_train_pytorch.py --threads "$THREADS" --batch "$BATCH"
             --lr "$LR" --seed "$SEED")
MTZ_CMD=("$MTZ" train --arch lenet5 --dataset mnist --epochs 1 --batch "$BATCH" --lr "$LR"
         --seed "$SEED" --holdout 0)
if [[ $MTZ_OK -eq 1 ]]; then
    MTZ_HELP="$("$MTZ" train --help 2>&1)"
    # Same learning rate throughout, as in the PyTorch run (the rate does not change the cost
    # of a step, only the loss/accuracy figures compared next to the times).
    if grep -q -- '--schedule' <<<"$MTZ_HELP"; then MTZ_CMD+=(--schedule constant); fi
    if grep -q -- '--threads' <<<"$MTZ_HELP"; then
        MTZ_CMD+=(--threads "$THREADS")
    else
        # mtz train has no intra-op threading yet: it always runs on one thread.
        if [[ "$THREADS" != 1 ]]; then
            MTZ_NOTE="mtz train runs on one thread (no --threads option yet), PyTorch on $THREADS"
            echo "bench-train: NOTE: $MTZ_NOTE" >&2
        fi
    fi
fi
MTZ_CMD+=(--json -o "$MTZ_OUT")

RESULTS="$(mktemp -d /tmp/bench-train.XXXXXX)"
trap 'rm -rf "$RESULTS"' EXIT
LOAD_BEFORE="$(uptime | sed 's/.*load average: //')"

run_pytorch() {
    local rep=$1
    echo "bench-train: [$rep/$REPS] pytorch ..." >&2
    if "${PYTORCH_CMD[@]}" >"$RESULTS/pytorch.$rep.json" 2>"$RESULTS/pytorch.$rep.err"; then
        "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  %.3f s, test error %.2f %%" % (r["seconds"], 100 * r["test_error"]))' \
            "$RESULTS/pytorch.$rep.json" >&2
    else
        echo "bench-train: PyTorch run failed:" >&2; cat "$RESULTS/pytorch.$rep.err" >&2
        rm -f "$RESULTS/pytorch.$rep.json"
    fi
}

run_mtz() {
    local rep=$1
    [[ $MTZ_OK -eq 1 ]] || return 0
    echo "bench-train: [$rep/$REPS] mtz ..." >&2
    if "${MTZ_CMD[@]}" >"$RESULTS/mtz.$rep.out" 2>"$RESULTS/mtz.$rep.err"; then
        # The JSON object may be preceded by other lines; take the last parseable object.
        if "$PY" - "$RESULTS/mtz.$rep.out" >"$RESULTS/mtz.$rep.json" 2>"$RESULTS/mtz.$rep.perr" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
decoder = json.JSONDecoder()
found = None
pos = text.find("{")
while pos != -1:
    try:
        obj, end = decoder.raw_decode(text, pos)
        if isinstance(obj, dict) and "epochs" in obj:
            found = obj
        pos = text.find("{", end)
    except json.JSONDecodeError:
        pos = text.find("{", pos + 1)
if found is None:
    sys.exit("no JSON object with an 'epochs' array in mtz's output")
epoch = found["epochs"][0]
print(json.dumps({"seconds": float(epoch["seconds"]), "epoch": epoch}))
EOF
        then
            "$PY" -c 'import json,sys; print("  %.3f s" % json.load(open(sys.argv[1]))["seconds"])' \
                "$RESULTS/mtz.$rep.json" >&2
        else
            echo "bench-train: could not read epochs[0].seconds from mtz's output:" >&2
            cat "$RESULTS/mtz.$rep.perr" >&2; head -c 2000 "$RESULTS/mtz.$rep.out" >&2
            rm -f "$RESULTS/mtz.$rep.json"
        fi
    else
        echo "bench-train: mtz train failed (exit $?):" >&2; tail -n 20 "$RESULTS/mtz.$rep.err" >&2
    fi
}

for ((rep = 1; rep <= REPS; rep++)); do
    if (( rep % 2 == 1 )); then run_pytorch "$rep"; run_mtz "$rep"
    else run_mtz "$rep"; run_pytorch "$rep"; fi
done
LOAD_AFTER="$(uptime | sed 's/.*load average: //')"

# --- report -------------------------------------------------------------------------------
CPU_MODEL="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
NPROC="$(nproc)"
export RESULTS REPS THREADS BATCH MARKDOWN MTZ_OK MTZ_NOTE CPU_MODEL NPROC TORCH_VERSION \
       LOAD_BEFORE LOAD_AFTER
export COMMAND_LINE="scripts/bench-train.sh${ORIGINAL_ARGS:+ $ORIGINAL_ARGS}"
PYTORCH_LINE="python scripts/bench_train_pytorch.py --threads $THREADS --batch $BATCH --lr $LR --seed $SEED"
MTZ_LINE="${MTZ_CMD[*]}"
MTZ_LINE="${MTZ_LINE/#$ROOT\//}"
export PYTORCH_LINE MTZ_LINE

"$PY" - <<'EOF'
import glob, json, os, statistics, datetime

env = os.environ
images = 60000

def load(prefix):
    runs = []
    for path in sorted(glob.glob(os.path.join(env["RESULTS"], f"{prefix}.*.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    return runs

pytorch = load("pytorch")
mtz = load("mtz")

def stats(runs):
    s = [r["seconds"] for r in runs]
    return (statistics.median(s), min(s), max(s)) if s else None

rows = []
p = stats(pytorch)
m = stats(mtz)
if p:
    rows.append((f"PyTorch {env['TORCH_VERSION']}", len(pytorch), *p))
if m:
    rows.append(("mtz train", len(mtz), *m))
ratio = m[0] / p[0] if p and m else None
unavailable = env["MTZ_NOTE"] if env["MTZ_OK"] != "1" else "no successful mtz run"
test_errors = [r["test_error"] for r in pytorch]

header = (f"LeNet-5 (ReLU after conv1, conv2, fc1), MNIST 60000 images, 1 epoch, batch {env['BATCH']}, "
          f"SGD lr 0.01 momentum 0.9 wd 5e-4, {env['THREADS']} thread(s)")
machine = f"{env['CPU_MODEL']}, nproc {env['NPROC']}"
load = f"load average before {env['LOAD_BEFORE']}, after {env['LOAD_AFTER']}"

print()
print(header)
print(f"machine: {machine}; {load}")
print(f"command: {env['COMMAND_LINE']}")
print(f"  pytorch: {env['PYTORCH_LINE']}")
print(f"  mtz:     {env['MTZ_LINE']}")
print()
print(f"{'runtime':<24} {'runs':>4} {'median s':>9} {'min s':>8} {'max s':>8} {'images/s':>9}")
for name, n, med, lo, hi in rows:
    print(f"{name:<24} {n:>4} {med:>9.3f} {lo:>8.3f} {hi:>8.3f} {images / med:>9.0f}")
if ratio is not None:
    verdict = "meets" if ratio <= 1.5 else "MISSES"
    print(f"\nmtz / PyTorch (median): {ratio:.2f}  (target <= 1.5: {verdict})")
else:
    print(f"\nmtz / PyTorch: n/a ({unavailable})")
if test_errors:
    print(f"PyTorch test error after 1 epoch (t10k, untimed): "
          + ", ".join(f"{100 * e:.2f} %" for e in test_errors))
def mtz_field(*names):
    values = []
    for r in mtz:
        epoch = r.get("epoch") or {}
        value = next((epoch[k] for k in names if k in epoch), None)
        if isinstance(value, (int, float)):
            values.append(value)
    return values

mtz_test = mtz_field("testError", "test_error")
mtz_acc = mtz_field("trainAccuracy", "train_accuracy")
mtz_loss = mtz_field("trainLoss", "train_loss", "loss")
if mtz_test:
    print("mtz test error after 1 epoch (t10k, untimed): " + ", ".join(f"{100 * e:.2f} %" for e in mtz_test))
if pytorch:
    print("PyTorch train loss / accuracy (epoch): "
          + ", ".join(f"{r['final_loss']:.4f} / {100 * r['train_accuracy']:.2f} %" for r in pytorch))
if mtz_acc:
    print("mtz train loss / accuracy (epoch): "
          + ", ".join(f"{l:.4f} / {100 * a:.2f} %" for l, a in zip(mtz_loss or [float("nan")] * len(mtz_acc), mtz_acc)))
if env["MTZ_NOTE"] and env["MTZ_OK"] == "1":
    print(f"note: {env['MTZ_NOTE']}")
    print("PyTorch CPU seconds (process time, same pass): "
          + ", ".join(f"{r['cpu_seconds']:.2f}" for r in pytorch if "cpu_seconds" in r))

if env["MARKDOWN"] == "1":
    today = datetime.date.today().isoformat()
    print("\n----- Markdown for docs/BENCHMARKS.md -----\n")
    print("## Training: one LeNet-5 epoch on MNIST, mtz vs PyTorch\n")
    print(f"{header}. Each runtime in a fresh process: data decoded and normalised before the "
          f"timing, a few warm-up batches, then one timed epoch of the training pass "
          f"(last partial batch kept; evaluation not timed). Runs alternate between the two "
          f"runtimes; median of {env['REPS']} each, min and max next to it.\n")
    print(f"{today}, `{env['COMMAND_LINE']}` ({machine}; {load}):\n")
    print("| runtime | median s/epoch | min | max | images/s |")
    print("|---|---|---|---|---|")
    for name, n, med, lo, hi in rows:
        print(f"| {name} | {med:.2f} | {lo:.2f} | {hi:.2f} | {images / med:.0f} |")
    print()
    if ratio is not None:
        print(f"mtz / PyTorch: **{ratio:.2f}** (target ≤ 1.5: {'met' if ratio <= 1.5 else 'not met'}).")
    else:
        print(f"mtz / PyTorch: not measured ({unavailable}).")
    if test_errors:
        mtz_part = f"; mtz {100 * statistics.median(mtz_test):.2f} %" if mtz_test else ""
        print(f"Test error after the epoch (t10k, median): PyTorch "
              f"{100 * statistics.median(test_errors):.2f} %{mtz_part}.")
    if env["MTZ_NOTE"] and env["MTZ_OK"] == "1":
        print(f"Note: {env['MTZ_NOTE']}.")
    print(f"\nCommands: `{env['PYTORCH_LINE']}` (in `.venv-bench`) and `{env['MTZ_LINE']}`.")
EOF
