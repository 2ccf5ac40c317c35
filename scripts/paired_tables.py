#!/usr/bin/env python3
"""MTZ against each baseline of issue 4 (c), image by image, at equal sharing, budget and seed.

For every budget and retraining seed at which both were zipped by scripts/experiments.sh, runs
`mtz eval MTZ_MODEL --against BASELINE_MODEL --json` and tabulates the pooled comparison over both
tasks' test sets (20,000 images: the pooled difference is the difference of the average test error
the targets use) with McNemar's exact p-value, and each task's difference.

Usage: scripts/paired_tables.py MTZ_BINARY SCRATCH_DIR [OUT_MD]
       (default OUT_MD: docs/experiments/paired.md; the tables are also printed)
Statistics come from `mtz eval --against` (PairedComparison in Sources/MTZTraining); this script
only names the pairs and formats the tables.
"""
import json
import os
import subprocess
import sys

LENET = "k-lenet5-mnistxfashion-share1"
RESNET = "r-resnet-mnistxfashion-share1"
BASELINES = ["mtz-no-update", "euclidean", "random"]


def lenet_name(method, budget, seed):
    """The k run of `method` at `budget` (scale0.25 ... or defaults) and retraining `seed`."""
    if method in ("mtz", "mtz-no-update"):  # merge damping 1, the default
        return f"{LENET}-{method}-damping1-{budget}-seed{seed}"
    return f"{LENET}-{method}-{budget}" + ("" if seed == 1 else f"-seed{seed}")


def resnet_name(method, budget, seed):
    """The r run of `method`: `scale0.1` (158 iterations, labels only) or `distill` (the defaults)."""
    return f"{RESNET}-{method}-{budget}" + ("" if seed == 1 else f"-seed{seed}")


# (network, budget label, iterations, name function, seeds)
GROUPS = [
    ("LeNet-5", "scale0.25", 148, lenet_name, [1, 2, 3]),
    ("LeNet-5", "scale0.5", 296, lenet_name, [1, 2, 3]),
    ("LeNet-5", "scale1", 591, lenet_name, [1, 2, 3]),
    ("LeNet-5", "defaults", 2591, lenet_name, [1, 2, 3]),
    ("residual CNN", "scale0.1", 158, resnet_name, [1]),
    ("residual CNN", "distill", 3578, resnet_name, [1, 2]),
]


def compare(mtz, directory, a, b):
    """`mtz eval A --against B --json`, or None when either model is missing."""
    pa, pb = (os.path.join(directory, n + ".mtz") for n in (a, b))
    if not (os.path.exists(pa) and os.path.exists(pb)):
        return None
    out = subprocess.run([mtz, "eval", pa, "--against", pb, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def pp(x):
    return f"{100 * x:+.2f}"


def pvalue(p):
    return "< 0.0001" if p < 1e-4 else (f"{p:.4f}" if p < 0.01 else f"{p:.2f}")


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    mtz, directory = sys.argv[1], sys.argv[2]
    out_path = sys.argv[3] if len(sys.argv) == 4 else "docs/experiments/paired.md"
    rows, summary = [], {}
    for network, budget, iterations, name, seeds in GROUPS:
        for baseline in BASELINES:
            for seed in seeds:
                a, b = name("mtz", budget, seed), name(baseline, budget, seed)
                r = compare(mtz, directory, a, b)
                if r is None:
                    print(f"paired_tables: skipped {a} against {b} (not both zipped)", file=sys.stderr)
                    continue
                pooled = r["pooled"]
                tasks = {c["task"]: c["paired"] for c in r["comparisons"]}
                lead = -pooled["difference"]  # positive: MTZ makes fewer mistakes
                per_task = " · ".join(f"{t} {pp(-c['difference'])} (p {pvalue(c['pValue'])})" for t, c in tasks.items())
                rows.append(
                    f"| {network} | {iterations:,} | {seed} | {baseline} "
                    f"| {100 * pooled['errorsA'] / pooled['images']:.2f} | {100 * pooled['errorsB'] / pooled['images']:.2f} "
                    f"| **{pp(lead)}** ± {100 * pooled['halfWidth95']:.2f} | {pooled['onlyA']} / {pooled['onlyB']} "
                    f"| {pvalue(pooled['pValue'])} "
                    f"| {per_task} |")
                key = (network, iterations, baseline)
                s = summary.setdefault(key, {"better": 0, "worse": 0, "level": 0, "leads": []})
                s["leads"].append(lead)
                if pooled["pValue"] < 0.05:
                    s["better" if lead > 0 else "worse"] += 1
                else:
                    s["level"] += 1
    header = [
        "### (p) MTZ against each baseline, image by image (McNemar)",
        "",
        "Fully zipped, equal budget and retraining seed; MTZ and mtz-no-update with the default merge damping 1, "
        "everything distilled (`--distill 0.5 --temperature 4`) except the residual CNNs at 158 iterations "
        "(labels only, as in table (r)). *Lead*: the baseline's error minus MTZ's over both tasks' test images "
        "together (20,000: the difference of the average test errors), in pp, with its 95 % confidence interval; "
        "*discordant*: images only MTZ gets wrong / only the baseline gets wrong; *p*: McNemar's exact two-sided "
        "p-value of that split. Made by `scripts/paired_tables.py` from `mtz eval MTZ --against BASELINE --json`.",
        "",
        "| network | retraining iterations | seed | baseline | MTZ error % | baseline error % | MTZ lead pp (95 %) "
        "| discordant | p | per task: lead pp (p) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    lines = header + rows + [
        "",
        "### (p) Summary: seeds on which MTZ is significantly better / level / significantly worse (p < 0.05, both tasks pooled)",
        "",
        "| network | retraining iterations | baseline | seeds | better | level | worse | mean lead pp |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (network, iterations, baseline), s in summary.items():
        n = len(s["leads"])
        lines.append(f"| {network} | {iterations:,} | {baseline} | {n} | {s['better']} | {s['level']} | {s['worse']} "
                     f"| {pp(sum(s['leads']) / n)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(out_path + ".tmp", "w") as f:
        f.write(text)
    os.replace(out_path + ".tmp", out_path)


if __name__ == "__main__":
    main()
