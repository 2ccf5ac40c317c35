#!/usr/bin/env python3
"""Collects and reports the experiments of scripts/experiments.sh (docs/EXPERIMENTS.md).

  plot_experiments.py collect SCRATCH_DIR RESULTS.json
      reads SCRATCH_DIR/manifest.tsv, the originals' and zipped models' `mtz eval --json` and
      `mtz inspect --json`, the `mtz zip --report` files and machine.txt into one JSON file;
  plot_experiments.py report RESULTS.json OUT_DIR
      writes the plots (SVG) into OUT_DIR and prints the Markdown tables on stdout.

Test errors (full test splits) come from `mtz eval`; the per-layer traces are validation errors
(the training images the originals never saw) from the zip reports.
"""
import json
import math
import os
import sys

MODELS_DIR = "Models"


def load(path):
    with open(path) as f:
        return json.load(f)


def test_errors(eval_json):
    return {t["task"]: t["errorRate"] for t in eval_json["tasks"]}


def head_layer(inspect_json):
    """Name of the output layer: the last layer with parameters."""
    layers = [l for l in inspect_json["statistics"]["layers"]
              if l["sharedParameters"] or any(l["taskParameters"].values())]
    return layers[-1]["name"]


def hidden_parameters(inspect_json):
    """Parameters of one single-task network's hidden layers (everything but the output layer)."""
    head = head_layer(inspect_json)
    return sum(l["sharedParameters"] + sum(l["taskParameters"].values())
               for l in inspect_json["statistics"]["layers"] if l["name"] != head)


def training_iterations(name):
    """Iterations the original was trained for (epochs x ceil(train images / batch)), if logged."""
    path = os.path.join(MODELS_DIR, "logs", name + ".json")
    try:
        log = load(path)
    except (OSError, ValueError):
        return None
    epochs = len(log.get("epochs", []))
    holdout = 5000
    # 60,000 training images in both datasets, the last `holdout` held out; batch 64 (train-models.sh).
    return epochs * math.ceil((60000 - holdout) / 64) if epochs else None


def collect(scratch, results_path):
    machine = {}
    with open(os.path.join(scratch, "machine.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            machine[key] = value
    originals = {}
    runs = []
    with open(os.path.join(scratch, "manifest.tsv")) as f:
        manifest = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for name, experiment, model_list, args in manifest:
        models = model_list.split(",")
        a = models[0]
        for m in models:
            if m in originals:
                continue
            ev = load(os.path.join(scratch, f"orig-{m}.eval.json"))
            ins = load(os.path.join(scratch, f"orig-{m}.inspect.json"))
            st = ins["statistics"]
            originals[m] = {
                "testError": list(test_errors(ev).values())[0],
                "dataset": ev["tasks"][0]["dataset"],
                "parameters": st["parameters"],
                "hiddenParameters": hidden_parameters(ins),
                "weightBytes": st["weightBytes"],
                "fileBytes": os.path.getsize(os.path.join(MODELS_DIR, m + ".mtz")),
                "trainingIterations": training_iterations(m),
                "trainingCommand": ins["metadata"].get("training.command"),
            }
        report = load(os.path.join(scratch, f"{name}.report.json"))
        ev = load(os.path.join(scratch, f"{name}.eval.json"))
        ins = load(os.path.join(scratch, f"{name}.inspect.json"))
        wall_path = os.path.join(scratch, f"{name}.wall")
        wall = float(open(wall_path).read()) if os.path.exists(wall_path) else None
        errors = test_errors(ev)
        source = dict(zip(report["tasks"], models))
        tasks = []
        for t in report["tasks"]:
            before = originals[source[t]]["testError"]
            tasks.append({"task": t, "model": source[t], "testErrorBefore": before, "testErrorAfter": errors[t],
                          "increasePP": 100 * (errors[t] - before),
                          "validationErrorOriginal": report["originalError"].get(t)})
        st = ins["statistics"]
        hidden = originals[a]["hiddenParameters"]
        runs.append({
            "name": name, "experiment": experiment, "models": models, "arguments": args,
            "command": "mtz zip " + " ".join(f"Models/{m}.mtz" for m in models) + f" {args} --report R.json -o {name}.mtz",
            "method": report["method"], "tasks": tasks,
            "averageIncreasePP": sum(t["increasePP"] for t in tasks) / len(tasks),
            "sharedParameters": report["sharedParameters"], "parameters": report["parameters"],
            "separateParameters": report["separateParameters"],
            "hiddenParametersPerNetwork": hidden,
            "sharedHiddenFraction": report["sharedParameters"] / hidden,
            "weightBytes": st["weightBytes"], "separateWeightBytes": st["separateWeightBytes"],
            "fileBytes": os.path.getsize(os.path.join(scratch, f"{name}.mtz")),
            "originalFileBytes": sum(originals[m]["fileBytes"] for m in models),
            "flopsTogether": st["flopsTogether"], "flopsSeparate": st["flopsSeparate"],
            "totalIterations": report["totalIterations"], "seconds": report["seconds"], "wallSeconds": wall,
            "layers": report["layers"], "finalRetraining": report.get("finalRetraining"),
            "validationErrorAfter": final_validation_error(report),
        })
    results = {"machine": machine, "originals": originals, "runs": runs}
    scratch_path = os.path.join(scratch, "scratch-lenet5-mnist-fashion.train.json")
    if os.path.exists(scratch_path):
        log = load(scratch_path)
        results["scratch"] = {"command": "mtz train --arch lenet5 --dataset mnist,fashion --epochs 10 --eval-every 200",
                              "iterations": log["iterations"], "checkpoints": log.get("checkpoints") or [],
                              "testError": {t: e["testError"] for t, e in (log["epochs"][-1].get("tasks") or {}).items()}}
    with open(results_path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {results_path} ({len(runs)} runs)", file=sys.stderr)


def final_validation_error(report):
    """Validation error per task of the finished zipped model (after the final retraining, if any)."""
    final = report.get("finalRetraining")
    if final:
        return final["errorAfter"]
    return report["layers"][-1]["errorAfterRetraining"] if report["layers"] else report["originalError"]


def iterations_to_reach(checkpoints, target):
    """First checkpoint iteration at which every task's validation error is at most `target`'s."""
    for c in checkpoints:
        if all(c["validationError"].get(t, 1.0) <= e + 1e-12 for t, e in target.items()):
            return c["iteration"]
    return None


# ---------------------------------------------------------------- report

def pct(x, digits=2):
    return f"{100 * x:.{digits}f}"


def pp(x):
    return f"{x:+.2f}"


def share_of(run):
    for part in run["arguments"].split("--")[1:]:
        key, _, value = part.strip().partition(" ")
        if key == "share":
            return float(value)
    return 1.0


def save_figure(plt, fig, path):
    """Writes `fig` as SVG (no date, so reruns give identical files) and frees it."""
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def label(run):
    name = run["name"]
    if run["experiment"] == "b":
        return "mtz, default budget"
    if name.endswith("mtz-no-retraining"):
        return "mtz, no retraining"
    if name.endswith("mtz-seed2"):
        return "mtz (seed 2)"
    return run["method"]


def report(results_path, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = "mtz-experiments"   # stable SVG ids between runs
    matplotlib.rcParams["svg.fonttype"] = "none"

    res = load(results_path)
    runs = res["runs"]
    orig = res["originals"]
    m = res["machine"]
    out = []
    out.append(f"Machine: {m.get('cpu')} ({m.get('cores')} cores), {m.get('kernel')}, {m.get('swift')}; "
               f"commit {m.get('commit')}{' + uncommitted Sources changes' if m.get('dirty', '0') != '0' else ''}; "
               f"{m.get('date')}; {m.get('elapsed')} s for all zips and evaluations.\n")

    # (a)
    rows = []
    for r in (r for r in runs if r["experiment"] == "a"):
        arch = r["models"][0].split("-")[0]
        for t in r["tasks"]:
            o = orig[t["model"]]
            rows.append([arch, f"{t['model']} ({t['task']})", pct(t["testErrorBefore"]), pct(t["testErrorAfter"]),
                         pp(t["increasePP"]), r["totalIterations"],
                         f"{o['trainingIterations']:,}" if o["trainingIterations"] else "?",
                         pct(r["sharedHiddenFraction"], 1), f"{r['seconds']:.0f}"])
    out.append("### (a) Same task: MNIST seed 1 × seed 2, fully zipped\n")
    out.append(table(["net", "model (task)", "test error before %", "after %", "increase pp", "retraining iterations",
                      "original's training iterations", "hidden params shared %", "zip time s"], rows))
    out.append("")

    # per-layer traces of (a) and the fully zipped (b)
    rows = []
    for r in runs:
        if not (r["experiment"] == "a" or r["name"] == "b-lenet5-mnistxfashion-share1"):
            continue
        tasks = [t["task"] for t in r["tasks"]]
        orig_val = " / ".join(pct(t["validationErrorOriginal"]) for t in r["tasks"])
        rows.append([r["name"], "(originals)", "", orig_val, "", "", ""])
        for l in r["layers"]:
            if l.get("retrainedWith"):
                continue
            before = " / ".join(pct(l["errorBeforeRetraining"][t]) for t in tasks)
            after = " / ".join(pct(l["errorAfterRetraining"][t]) for t in tasks)
            c = l.get("cost") or {}
            rows.append(["", l["name"], f"{l['shared']}/{l['neurons']}", before, after, l["iterations"],
                         f"{c.get('median', float('nan')):.3g} / {c.get('max', float('nan')):.3g}"])
        f = r.get("finalRetraining")
        if f:
            rows.append(["", "(final retraining)", "", " / ".join(pct(f["errorBefore"][t]) for t in tasks),
                         " / ".join(pct(f["errorAfter"][t]) for t in tasks), f["iterations"], ""])
    out.append("### Per-layer validation errors while zipping ((a) and (b) at 100 %)\n")
    out.append(table(["run", "layer", "shared", "val. error after merge % (task 1 / task 2)", "after retraining %",
                      "iterations", "pair cost median / max"], rows))
    out.append("")

    # (b)
    b = sorted((r for r in runs if r["experiment"] == "b"), key=share_of)
    auto = [r for r in runs if r["experiment"] == "b-auto"]
    rows = []
    for r in b + auto:
        shares = f"{100 * share_of(r):.0f} %" if r["experiment"] == "b" else \
            "automatic, ≤ 0.5 pp: " + ", ".join(f"{l['name']} {l['shared']}/{l['neurons']}" for l in r["layers"])
        cells = [shares, pct(r["sharedHiddenFraction"], 1)]
        for t in r["tasks"]:
            cells.append(f"{pct(t['testErrorBefore'])} → {pct(t['testErrorAfter'])} ({pp(t['increasePP'])})")
        cells += [pp(r["averageIncreasePP"]),
                  f"{r['weightBytes']:,} / {r['separateWeightBytes']:,} ({100 * r['weightBytes'] / r['separateWeightBytes']:.1f} %)",
                  f"{r['fileBytes']:,} / {r['originalFileBytes']:,}",
                  r["totalIterations"], f"{r['seconds']:.0f}"]
        rows.append(cells)
    if b:
        names = [f"{t['task']} test error % (pp)" for t in b[0]["tasks"]]
        out.append("### (b) Different tasks: LeNet-5 MNIST × Fashion-MNIST\n")
        out.append(table(["neurons shared per layer", "hidden params shared %"] + names +
                         ["avg increase pp", "weight bytes zipped / two originals", "file bytes zipped / two originals",
                          "retraining iterations", "zip time s"], rows))
        out.append("")
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [100 * r["sharedHiddenFraction"] for r in b]
        for i, t in enumerate(b[0]["tasks"]):
            ax.plot(xs, [r["tasks"][i]["increasePP"] for r in b], "o-", label=t["task"])
        ax.plot(xs, [r["averageIncreasePP"] for r in b], "s--", color="black", label="average")
        for r in auto:
            ax.plot([100 * r["sharedHiddenFraction"]] * len(r["tasks"]), [t["increasePP"] for t in r["tasks"]], "*",
                    ms=11, color="tab:red", label="automatic, ≤ 0.5 pp (per task)")
        top = [max(t["increasePP"] for t in r["tasks"]) for r in b]
        for x, y, r in zip(xs, top, b):
            ax.annotate(f"{100 * share_of(r):.0f} %\nneurons", (x, y), textcoords="offset points",
                        xytext=(-12, 8), fontsize=7, color="dimgrey")
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.axhline(1.0, color="grey", lw=0.8, ls="-.")
        ax.text(75, 0.5, "0.5 pp", fontsize=7, color="grey", va="bottom")
        ax.text(75, 1.0, "1.0 pp", fontsize=7, color="grey", va="bottom")
        ax.set_xlabel("hidden-layer parameters shared (%)")
        ax.set_ylabel("test-error increase (pp)")
        ax.set_title("LeNet-5 MNIST × Fashion-MNIST, mtz zip")
        ax.set_xlim(0, 108)
        ax.set_ylim(top=max(top) * 1.2 + 0.2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save_figure(plt, fig, os.path.join(out_dir, "b-error-vs-shared.svg"))

    # (c)
    c = [r for r in runs if r["experiment"] == "c"] + [r for r in b if share_of(r) in (0.5, 1.0)]
    order = ["mtz", "mtz (seed 2)", "mtz-no-update", "euclidean", "random", "mtz, no retraining", "mtz, default budget"]
    c.sort(key=lambda r: (share_of(r), order.index(label(r)) if label(r) in order else 99))
    rows = []
    for r in c:
        before_last = r["layers"][-1]["errorBeforeRetraining"] if r["layers"] else {}
        rows.append([f"{100 * share_of(r):.0f} %", label(r), pct(r["sharedHiddenFraction"], 1)]
                    + [f"{pct(t['testErrorAfter'])} ({pp(t['increasePP'])})" for t in r["tasks"]]
                    + [pp(r["averageIncreasePP"]),
                       " / ".join(pct(before_last[t["task"]]) for t in r["tasks"]) if before_last else "",
                       r["totalIterations"], f"{r['seconds']:.0f}"])
    if c:
        names = [f"{t['task']} test error % (pp)" for t in c[0]["tasks"]]
        out.append("### (c) Baselines at equal sharing and equal retraining budget (LeNet-5 MNIST × Fashion-MNIST)\n")
        out.append(table(["neurons shared", "method", "hidden params shared %"] + names +
                         ["avg increase pp", "val. error right after merging the last layer %", "retraining iterations",
                          "zip time s"], rows))
        out.append("")
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        markers = dict(zip(order, "os^vDx*"))
        worst = 0.0
        for method in order:
            rs = [r for r in c if label(r) == method]
            if not rs:
                continue
            rs.sort(key=share_of)
            ys = [r["averageIncreasePP"] for r in rs]
            worst = max(worst, max(ys))
            ax.plot([100 * r["sharedHiddenFraction"] for r in rs], ys, marker=markers[method],
                    ls="--" if method == "mtz (seed 2)" else "-", label=method)
        if worst > 10:
            ax.set_yscale("symlog", linthresh=1)
        ax.axhline(1.0, color="grey", lw=0.8, ls="-.")
        ax.set_xlabel("hidden-layer parameters shared (%)")
        ax.set_ylabel("average test-error increase (pp)")
        ax.set_title("Pairing/merging methods, same sharing and retraining budget")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        save_figure(plt, fig, os.path.join(out_dir, "c-baselines.svg"))

    # (c) smaller equal budgets
    cb = sorted((r for r in runs if r["experiment"] == "cb"), key=lambda r: (r["totalIterations"], order.index(r["method"]) if r["method"] in order else 99))
    if cb:
        rows = [[r["totalIterations"], r["method"]] + [f"{pct(t['testErrorAfter'])} ({pp(t['increasePP'])})" for t in r["tasks"]]
                + [pp(r["averageIncreasePP"])] for r in cb]
        out.append("### (c) Smaller equal budgets, fully zipped LeNet-5 MNIST × Fashion-MNIST\n")
        out.append(table(["retraining iterations", "method"] + [f"{t['task']} test error % (pp)" for t in cb[0]["tasks"]]
                         + ["avg increase pp"], rows))
        out.append("")

    # (c) from scratch: iterations the two-head network needs to reach each zipped model's validation errors
    scratch = res.get("scratch")
    if scratch and scratch["checkpoints"]:
        rows = []
        # The from-scratch network has the fully zipped shape: compare with fully zipped models only.
        targets = [r for r in runs if share_of(r) == 1.0 and (r["experiment"] == "b" or (r["experiment"] == "c" and label(r) != "mtz, no retraining"))]
        targets.sort(key=lambda r: (r["experiment"] != "b", -share_of(r), label(r)))
        for r in targets:
            if r["totalIterations"] == 0:
                continue
            target = r["validationErrorAfter"]
            reach = iterations_to_reach(scratch["checkpoints"], target)
            last = scratch["checkpoints"][-1]["iteration"]
            rows.append([r["name"], r["totalIterations"], " / ".join(pct(target[t["task"]]) for t in r["tasks"]),
                         f"{reach:,}" if reach else f"not within {last:,}",
                         f"{reach / r['totalIterations']:.1f}×" if reach else f"> {last / r['totalIterations']:.1f}×"])
        tasks = [t["task"] for t in targets[0]["tasks"]] if targets else list(scratch["checkpoints"][0]["validationError"].keys())
        out.append("### (c) The two-head network trained from scratch: iterations to reach each zipped model's validation errors\n")
        out.append(f"`{scratch['command']}` ({scratch['iterations']:,} iterations; test error after 10 epochs: "
                   + ", ".join(f"{t} {pct(e)} %" for t, e in scratch["testError"].items()) + ")\n")
        out.append(table(["zipped model (run)", "MTZ retraining iterations", "its validation error % (" + " / ".join(tasks) + ")",
                          "from-scratch iterations to reach it", "ratio"], rows))
        out.append("")
        fig, ax = plt.subplots(figsize=(6.5, 4))
        its = [c["iteration"] for c in scratch["checkpoints"]]
        for i, t in enumerate(tasks):
            line, = ax.plot(its, [100 * c["validationError"][t] for c in scratch["checkpoints"]], "-", label=f"{t}, from scratch")
            full = next((r for r in b if share_of(r) == 1.0), None)
            if full:
                ax.axhline(100 * full["validationErrorAfter"][t], color=line.get_color(), ls="--", lw=0.9,
                           label=f"{t}, fully zipped ({full['totalIterations']:,} it.)")
        ax.set_yscale("log")
        ax.set_xlabel("joint training iterations (one batch of 64 per task each)")
        ax.set_ylabel("validation error (%)")
        ax.set_title("Two-head LeNet-5 from scratch vs MTZ-zipped")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        save_figure(plt, fig, os.path.join(out_dir, "c-scratch.svg"))

    # (d) three networks
    d = [r for r in runs if r["experiment"] == "d"]
    if d:
        rows = []
        for r in d:
            rows.append([r["name"], f"{100 * share_of(r):.0f} %", pct(r["sharedHiddenFraction"], 1),
                         "<br>".join(f"{t['task']}: {pct(t['testErrorBefore'])} → {pct(t['testErrorAfter'])} ({pp(t['increasePP'])})"
                                     for t in r["tasks"]),
                         pp(r["averageIncreasePP"]),
                         f"{r['weightBytes']:,} / {r['separateWeightBytes']:,} ({100 * r['weightBytes'] / r['separateWeightBytes']:.1f} %)",
                         r["totalIterations"], f"{r['seconds']:.0f}"])
        out.append("### (d) Three networks (LeNet-5 MNIST seed 1 + seed 2 + Fashion-MNIST) and two residual CNNs\n")
        out.append(table(["run", "neurons shared per layer", "hidden params shared %", "test error % per task (pp)",
                          "avg increase pp", "weight bytes zipped / originals", "retraining iterations", "zip time s"], rows))
        out.append("")
        for r in d:
            rows = []
            for l in r["layers"]:
                if l.get("retrainedWith"):
                    rows.append([l["name"], f"{l['shared']}/{l['neurons']}", f"merged; retrained after {l['retrainedWith']}", "", ""])
                    continue
                tasks = [t["task"] for t in r["tasks"]]
                rows.append([l["name"], f"{l['shared']}/{l['neurons']}",
                             " / ".join(pct(l["errorBeforeRetraining"][t]) for t in tasks),
                             " / ".join(pct(l["errorAfterRetraining"][t]) for t in tasks), l["iterations"]])
            if r.get("finalRetraining"):
                f = r["finalRetraining"]
                tasks = [t["task"] for t in r["tasks"]]
                rows.append(["(final)", "", " / ".join(pct(f["errorBefore"][t]) for t in tasks),
                             " / ".join(pct(f["errorAfter"][t]) for t in tasks), f["iterations"]])
            out.append(f"Per layer, {r['name']} (validation errors %, " + " / ".join(t["task"] for t in r["tasks"]) + "):\n")
            out.append(table(["layer", "shared", "after merge %", "after retraining %", "iterations"], rows))
            out.append("")

    # (x) retraining-budget sensitivity, fully zipped
    full = [r for r in runs if share_of(r) == 1.0 and r["experiment"] in ("b", "c", "x")
            and r["method"] in ("mtz", "euclidean") and not r["name"].endswith("seed2")]
    if any(r["experiment"] == "x" for r in full):
        full.sort(key=lambda r: (r["method"], r["totalIterations"]))
        rows = [[r["method"], r["totalIterations"]]
                + [f"{pct(t['testErrorAfter'])} ({pp(t['increasePP'])})" for t in r["tasks"]]
                + [pp(r["averageIncreasePP"]), f"{r['seconds']:.0f}"] for r in full]
        names = [f"{t['task']} test error % (pp)" for t in full[0]["tasks"]]
        out.append("### Retraining budget, fully zipped LeNet-5 MNIST × Fashion-MNIST\n")
        out.append(table(["method", "retraining iterations"] + names + ["avg increase pp", "zip time s"], rows))
        out.append("")

    # per-layer trace plot: validation error after merging and after retraining, per layer
    trace = [r for r in runs if r["experiment"] == "a" or r["name"] == "b-lenet5-mnistxfashion-share1"]
    if trace:
        fig, axes = plt.subplots(1, len(trace), figsize=(4 * len(trace), 3.6), squeeze=False)
        for ax, r in zip(axes[0], trace):
            steps = ["orig."]
            for l in r["layers"]:
                steps += [f"{l['name']}\nmerged", f"{l['name']}\nretrained"]
            if r.get("finalRetraining"):
                steps += ["final\nretrained"]
            for t in r["tasks"]:
                ys = [100 * t["validationErrorOriginal"]]
                for l in r["layers"]:
                    ys += [100 * l["errorBeforeRetraining"][t["task"]], 100 * l["errorAfterRetraining"][t["task"]]]
                if r.get("finalRetraining"):
                    ys += [100 * r["finalRetraining"]["errorAfter"][t["task"]]]
                ax.plot(range(len(ys)), ys, "o-", label=t["task"])
            ax.set_xticks(range(len(steps)))
            ax.set_xticklabels(steps, fontsize=7)
            ax.set_ylim(bottom=0)
            ax.set_ylabel("validation error (%)")
            ax.set_title(r["name"], fontsize=9)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        save_figure(plt, fig, os.path.join(out_dir, "layer-traces.svg"))

    print("\n".join(out))


def main(argv):
    if len(argv) == 4 and argv[1] == "collect":
        collect(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "report":
        report(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
