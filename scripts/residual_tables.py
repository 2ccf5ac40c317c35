"""Tables of the residual-network comparison (the `r` lines of scripts/experiments.sh) for
docs/experiments/residual.md: MTZ against the baselines at the residual defaults, and the two-head
residual network trained from scratch.

Usage: python3 scripts/residual_tables.py SCRATCH_DIR  (reads SCRATCH_DIR/manifest.tsv, each r run's
report, evaluation and wall time, the originals' evaluations and scratch-resnet-mnist-fashion.train.json;
writes Markdown on stdout).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_experiments import final_validation_error, iterations_to_reach  # noqa: E402

out = sys.argv[1]
ORIGINAL = {"mnist": "resnet-mnist-s1", "fashion": "resnet-fashion-s1"}


def load(path):
    with open(os.path.join(out, path)) as f:
        return json.load(f)


def pair(errors, digits=2):
    return " / ".join(f"{100 * errors[t]:.{digits}f}" for t in ORIGINAL)


orig = {t: load(f"orig-{m}.eval.json")["tasks"][0]["errorRate"] for t, m in ORIGINAL.items()}
runs = []
for line in open(os.path.join(out, "manifest.tsv")):
    name, exp, _, args = line.rstrip("\n").split("\t")
    if exp != "r":
        continue
    report = load(f"{name}.report.json")
    test = {t["task"]: t["errorRate"] for t in load(f"{name}.eval.json")["tasks"]}
    runs.append({
        "name": name, "args": args, "method": report["method"], "iterations": report["totalIterations"],
        "seed": args.split("--seed ")[1].split()[0] if "--seed " in args else "1",
        "distill": report.get("distillation") or 0, "test": test,
        "increase": sum(100 * (test[t] - orig[t]) for t in ORIGINAL) / len(ORIGINAL),
        "merged": report["layers"][-1]["errorBeforeRetraining"],
        "validation": final_validation_error(report),
        "seconds": float(open(os.path.join(out, f"{name}.wall")).read()),
    })

print("### (r) Two residual CNNs fully zipped (task and shared batch norms, lr 0.01): MTZ against the baselines at equal budgets\n")
print(f"Originals' test error: {pair(orig)} % (mnist / fashion). Validation: the 5,000 held-out training images; "
      "\"after the last merge\": before that layer's retraining (batch norms recalibrated). "
      "Lead: the best baseline's average test-error increase minus MTZ's, and the same for the mean validation "
      "error at the end (positive: MTZ better).\n")
print("| retraining iterations | seed | method (retraining) | validation % right after the last merge | validation % at the end | "
      "test error % | avg increase pp | lead pp (test, validation) | time s |")
print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
for key in sorted({(r["distill"], r["iterations"], r["seed"]) for r in runs}):
    group = [r for r in runs if (r["distill"], r["iterations"], r["seed"]) == key]
    seed = key[2]
    mtz = [r for r in group if r["method"] == "mtz"]
    baselines = [r for r in group if r["method"] != "mtz"]
    mean = lambda errors: 100 * sum(errors.values()) / len(errors)
    lead = None
    if mtz and baselines:
        lead = (min(b["increase"] for b in baselines) - mtz[0]["increase"],
                min(mean(b["validation"]) for b in baselines) - mean(mtz[0]["validation"]))
    for r in group:
        label = f"`{r['method']}`" + (f" (distilled, {r['distill']:g})" if r["distill"] else " (labels)")
        shown = f"{lead[0]:+.2f}, {lead[1]:+.2f}" if lead and r in mtz else ""
        print(f"| {r['iterations']:,} | {seed} | {label} | {pair(r['merged'])} | {pair(r['validation'])} | {pair(r['test'])} | "
              f"{r['increase']:+.2f} | {shown} | {r['seconds']:,.0f} |")

METHODS = ["mtz", "mtz-no-update", "euclidean", "random"]
print("\n### (r) Means over seeds: average test-error increase (pp), and MTZ's lead over the best baseline of each seed\n")
print("| retraining | iterations | " + " | ".join(f"`{m}`" for m in METHODS) + " | MTZ's lead (per seed) |")
print("|---|---:|" + "---:|" * len(METHODS) + "---:|")
for distill, budget in sorted({(r["distill"], r["iterations"]) for r in runs}):
    group = [r for r in runs if (r["distill"], r["iterations"]) == (distill, budget)]
    cells = []
    for m in METHODS:
        values = [r["increase"] for r in group if r["method"] == m]
        seeds = ", ".join(sorted(r["seed"] for r in group if r["method"] == m))
        cells.append(f"{sum(values) / len(values):+.2f} (seed {seeds})" if values else "–")
    leads = []
    for seed in sorted({r["seed"] for r in group}):
        mtz = [r["increase"] for r in group if r["seed"] == seed and r["method"] == "mtz"]
        others = [r["increase"] for r in group if r["seed"] == seed and r["method"] != "mtz"]
        if mtz and others:
            leads.append(min(others) - mtz[0])
    lead = f"{sum(leads) / len(leads):+.2f} ({', '.join(f'{x:+.2f}' for x in leads)})" if leads else "–"
    print(f"| {'distilled' if distill else 'labels'} | {budget:,} | " + " | ".join(cells) + f" | {lead} |")

scratch_path = os.path.join(out, "scratch-resnet-mnist-fashion.train.json")
if os.path.exists(scratch_path) and os.path.getsize(scratch_path) > 0:
    scratch = load("scratch-resnet-mnist-fashion.train.json")
    checkpoints = scratch["checkpoints"]
    every = checkpoints[0]["iteration"] if checkpoints else 0
    print("\n### (r) From scratch: iterations the two-head residual network needs to reach each MTZ zip's validation errors\n")
    last = scratch["epochs"][-1]
    print(f"`mtz train --arch resnet --dataset mnist,fashion --epochs 10 --eval-every {every}` (shared trunk with "
          f"batch norms, joint batches, labels only): {scratch['iterations']:,} iterations; test error at the end "
          f"{pair({t: last['tasks'][t]['testError'] for t in ORIGINAL})} %, validation at the end "
          f"{pair(checkpoints[-1]['validationError'])} %; best validation "
          f"{pair({t: min(c['validationError'][t] for c in checkpoints) for t in ORIGINAL})} %.\n")
    print("| zip | seed | iterations | its validation % | iterations from scratch to reach it (every task) | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in sorted((r for r in runs if r["iterations"] > 0 and r["method"] == "mtz"), key=lambda r: (r["iterations"], r["distill"], r["seed"])):
        reach = iterations_to_reach(checkpoints, r["validation"])
        label = f"`{r['method']}`" + (", distilled" if r["distill"] else "")
        ratio = f"{reach / r['iterations']:.1f}×" if reach else f"> {checkpoints[-1]['iteration'] / r['iterations']:.1f}×"
        print(f"| {label} | {r['seed']} | {r['iterations']:,} | {pair(r['validation'])} | {format(reach, ',') if reach else 'not within ' + format(checkpoints[-1]['iteration'], ',')} | {ratio} |")
