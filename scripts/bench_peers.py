#!/usr/bin/env python3
"""Peer harness of issue 6: mtz against ONNX Runtime, ncnn and MNN on the same models.

Run through scripts/bench-peers.sh (which builds mtz, makes the venv and the benchmark models).
Two roles:

  bench_peers.py run --mtz MTZ --work DIR [--threads 1,2] [--rounds R] [--iterations N] ...
      exports every benchmark model with `mtz export`, converts it for ncnn (pnnx) and MNN
      (mnnconvert), then times every runtime in a fresh child process per measurement,
      runtimes alternating within each round, and prints a Markdown table.

  bench_peers.py worker --runtime ort|ncnn|mnn --threads N --iterations N --warmup N FILE...
      (internal) loads the model files of one runtime, runs them one after the other per timed
      run (several files = the separate single-task networks), and prints JSON: per-run ms,
      peak RSS before loading (interpreter + runtime library) and after the runs.

Every timed peer run is the inference call(s) only (inputs prepared once before the loop; for
MNN and ncnn the call includes reading every output, which is what forces the computation).
`mtz bench --json` times its own runs the same way (warm-up, then timed runs), in its own process.
"""
import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

PEERS = ["ort", "ncnn", "mnn"]
PEER_NAMES = {"ort": "ONNX Runtime", "ncnn": "ncnn", "mnn": "MNN", "mtz": "mtz"}


# ----------------------------------------------------------------------------------------------
# worker: runs in a fresh process per (runtime, model set, threads) measurement
# ----------------------------------------------------------------------------------------------

def maxrss_mib():
    # VmHWM is this process's own peak. (ru_maxrss is not: a child forked from a big parent keeps
    # the parent's high-water mark across exec on Linux.)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_input(shape):
    # The input `mtz bench` runs on: every element 0.25.
    import numpy as np
    return np.full(shape, 0.25, dtype=np.float32)


def worker_ort(files, threads):
    import onnxruntime as ort
    base = maxrss_mib()
    runs = []
    for f in files:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(f["onnx"], so, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        x = make_input(f["shape"])
        names = [o.name for o in sess.get_outputs()]
        feed = {inp.name: x}
        runs.append(lambda sess=sess, names=names, feed=feed: sess.run(names, feed))
    return base, runs


def worker_ncnn(files, threads):
    import ncnn
    base = maxrss_mib()
    runs = []
    keep = []
    for f in files:
        net = ncnn.Net()
        net.opt.num_threads = threads
        net.opt.use_vulkan_compute = False
        # fp32 everywhere, as every other runtime here (ncnn may otherwise store fp16/bf16).
        net.opt.use_fp16_storage = False
        net.opt.use_fp16_packed = False
        net.opt.use_fp16_arithmetic = False
        net.opt.use_bf16_storage = False
        if net.load_param(f["param"]) != 0 or net.load_model(f["bin"]) != 0:
            raise RuntimeError("ncnn could not load %s" % f["param"])
        x = make_input(f["shape"])[0]
        m = ncnn.Mat(x)
        keep.append((net, x, m))
        nout = f["outputs"]

        def run(net=net, m=m, nout=nout):
            ex = net.create_extractor()
            ex.input("in0", m)
            outs = []
            for i in range(nout):
                ret, out = ex.extract("out%d" % i)
                if ret != 0:
                    raise RuntimeError("ncnn extract out%d failed (%d)" % (i, ret))
                outs.append(out)
            return outs
        runs.append(run)
    return base, runs, keep


def worker_mnn(files, threads):
    import MNN
    F = MNN.expr
    base = maxrss_mib()
    runs = []
    keep = []
    for f in files:
        rt = MNN.nn.create_runtime_manager(({"backend": "CPU", "numThread": threads,
                                             "precision": "high"},))
        mod = MNN.nn.load_module_from_file(f["mnn"], [f["input"]], f["output_names"],
                                           runtime_manager=rt)
        x = make_input(f["shape"])
        v = F.const(x, list(x.shape), F.NCHW)
        v = F.convert(v, F.NC4HW4)
        keep.append((rt, mod, x, v))

        def run(mod=mod, v=v):
            outs = mod.onForward([v])
            return [F.convert(o, F.NCHW).read() for o in outs]
        runs.append(run)
    return base, runs, keep


def cmd_worker(a):
    files = json.loads(a.spec)
    if a.runtime == "ort":
        base, runs = worker_ort(files, a.threads)
    elif a.runtime == "ncnn":
        base, runs, _keep = worker_ncnn(files, a.threads)
    else:
        base, runs, _keep = worker_mnn(files, a.threads)

    if a.check:
        import numpy as np
        outs = runs[0]()
        print(json.dumps({"outputs": [np.asarray(o, dtype=np.float32).ravel().tolist()
                                      for o in outs]}))
        return

    def once():
        for r in runs:
            r()
    for _ in range(a.warmup):
        once()
    ms = []
    for _ in range(a.iterations):
        t0 = time.perf_counter()
        once()
        ms.append((time.perf_counter() - t0) * 1000.0)
    print(json.dumps({"ms": ms, "rss_base_mib": base, "rss_peak_mib": maxrss_mib()}))


# ----------------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------------

def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run_child(argv, timeout=1800, cwd=None):
    """Runs argv, returns (rc, stdout, stderr, unused)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return -9, out, err + "\n(timeout)", 0.0
    # Peak RSS: the worker and mtz bench report their own process's peak (getrusage / mtz's
    # peakRSSBytes), which is what the tables use.
    return p.returncode, out, err, 0.0


def onnx_io(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    inp = [i for i in m.graph.input if i.name not in inits][0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    return inp.name, shape, [o.name for o in m.graph.output]


def prepare(mtz, src, work, log_lines):
    """Exports src (.mtz) to ONNX and converts it for ncnn and MNN. Returns a dict of paths, with
    'error_<peer>' keys where a step failed."""
    name = os.path.splitext(os.path.basename(src))[0]
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    info = {"name": name, "mtz": src}
    onnx_path = os.path.join(d, name + ".onnx")
    rc, out, err, _ = run_child([mtz, "export", src, "-o", onnx_path])
    if rc != 0 or not os.path.exists(onnx_path):
        msg = "mtz export failed: " + (err.strip().splitlines() or ["?"])[-1]
        for p in PEERS:
            info["error_" + p] = msg
        return info
    inp, shape, outs = onnx_io(onnx_path)
    info.update(onnx=onnx_path, input=inp, shape=shape, output_names=outs, outputs=len(outs))

    # ncnn via pnnx: pnnx refuses ONNX IR version 14, so write an IR 8 copy first.
    try:
        import onnx
        m = onnx.load(onnx_path)
        m.ir_version = 8
        stem = re.sub(r"[^A-Za-z0-9_]", "_", name)  # pnnx rewrites '-' in its output names
        ir8 = os.path.join(d, stem + "_ir8.onnx")
        onnx.save(m, ir8)
        pnnx = find_pnnx()
        param = os.path.join(d, stem + ".ncnn.param")
        binp = os.path.join(d, stem + ".ncnn.bin")
        for p in (param, binp):
            if os.path.exists(p):
                os.remove(p)
        rc, out, err, _ = run_child([pnnx, ir8,
                                     "inputshape=[%s]" % ",".join(str(s) for s in shape),
                                     "ncnnparam=" + param, "ncnnbin=" + binp], cwd=d)
        if rc != 0 or not os.path.exists(param):
            tail = (err.strip() or out.strip()).splitlines()[-1:] or ["?"]
            info["error_ncnn"] = "pnnx failed (rc %d): %s" % (rc, tail[0][:120])
        else:
            info.update(param=param, bin=binp)
    except Exception as e:  # noqa: BLE001 - report and continue
        info["error_ncnn"] = "pnnx: %s" % str(e)[:120]

    mnn_path = os.path.join(d, name + ".mnn")
    mnnconvert = os.path.join(os.path.dirname(sys.executable), "mnnconvert")
    rc, out, err, _ = run_child([mnnconvert, "-f", "ONNX", "--modelFile", onnx_path,
                                 "--MNNModel", mnn_path, "--bizCode", "mtz"])
    if rc != 0 or not os.path.exists(mnn_path):
        tail = (err.strip() or out.strip()).splitlines()[-1:] or ["?"]
        info["error_mnn"] = "mnnconvert failed (rc %d): %s" % (rc, tail[0][:120])
    else:
        info["mnn"] = mnn_path
    for p in PEERS:
        log_lines.append("  %-22s %-5s %s" % (name, p, info.get("error_" + p, "ok")))
    return info


def find_pnnx():
    import importlib.util
    spec = importlib.util.find_spec("pnnx")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pnnx is not installed")
    for loc in spec.submodule_search_locations:
        p = os.path.join(loc, "pnnx")
        if os.path.isfile(p):
            return p
    raise RuntimeError("pnnx binary not found")


def check_outputs(peer, info):
    """One run's outputs (list of flat lists) of one model under one peer, or an error string."""
    if "error_" + peer in info:
        return info["error_" + peer]
    spec = [{k: info.get(k) for k in ("onnx", "param", "bin", "mnn", "input", "shape",
                                      "output_names", "outputs")}]
    rc, out, err, _ = run_child([sys.executable, os.path.abspath(__file__), "worker", "--runtime",
                                 peer, "--check", "--spec", json.dumps(spec)])
    if rc != 0:
        return "check failed"
    try:
        return json.loads(out.strip().splitlines()[-1])["outputs"]
    except Exception:  # noqa: BLE001
        return "unreadable check output"


def measure_peer(peer, infos, threads, iterations, warmup):
    for i in infos:
        if "error_" + peer in i:
            return {"error": i["error_" + peer]}
    spec = [{k: i.get(k) for k in ("onnx", "param", "bin", "mnn", "input", "shape",
                                   "output_names", "outputs")} for i in infos]
    argv = [sys.executable, os.path.abspath(__file__), "worker", "--runtime", peer,
            "--threads", str(threads), "--iterations", str(iterations), "--warmup", str(warmup),
            "--spec", json.dumps(spec)]
    rc, out, err, _ = run_child(argv)
    if rc != 0:
        tail = [l for l in err.strip().splitlines() if l.strip()][-1:] or ["rc %d" % rc]
        return {"error": "%s run failed: %s" % (PEER_NAMES[peer], tail[0][:120])}
    try:
        return json.loads(out.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001
        return {"error": "%s: unreadable output" % PEER_NAMES[peer]}


def measure_mtz(mtz, paths, threads, iterations, warmup):
    """One `mtz bench --json` process per model file (several files would be separate networks
    one after the other: their medians/mins/maxes are added)."""
    tot = [0.0, 0.0, 0.0]
    rss = 0.0
    base = None
    for p in paths:
        argv = [mtz, "bench", p, "--threads", str(threads), "--iterations", str(iterations),
                "--warmup", str(warmup), "--json"]
        # /usr/bin/time -f %M: the peak RSS of mtz alone (mtz's own peakRSSBytes is getrusage's,
        # which inherits this big Python process's high-water mark across fork + exec).
        timed = os.path.exists("/usr/bin/time")
        if timed:
            argv = ["/usr/bin/time", "-f", "MAXRSS_KB %M"] + argv
        rc, out, err, _ = run_child(argv)
        if rc != 0:
            tail = [l for l in err.strip().splitlines()
                    if l.strip() and not l.startswith(("MAXRSS_KB", "Command exited"))][-1:]
            return {"error": "mtz bench failed: " + (tail or ["rc %d" % rc])[0][:120]}
        j = json.loads(out)
        lat = j["latency"]
        for i, k in enumerate(("medianSeconds", "minSeconds", "maxSeconds")):
            tot[i] += lat[k] * 1000.0
        m = re.search(r"MAXRSS_KB (\d+)", err) if timed else None
        rss = max(rss, int(m.group(1)) / 1024.0 if m else j.get("peakRSSBytes", 0) / 1048576.0)
        if "baseRSSBytes" in j:  # mtz's peak before loading the model (VmHWM): program + libraries
            base = max(base or 0.0, j["baseRSSBytes"] / 1048576.0)
    return {"stats": tuple(tot), "rss_peak_mib": rss, "rss_base_mib": base}


def summary(r):
    """Median of the per-process medians, min of the mins, max of the maxes."""
    st = r["rounds"]
    return statistics.median(x[0] for x in st), min(x[1] for x in st), max(x[2] for x in st)


def fmt_cell(r, with_range=True):
    if r is None:
        return "—"
    if "error" in r:
        return "failed: " + r["error"].replace("|", "/")
    med, lo, hi = summary(r)
    return "%s ms (%s–%s)" % (num(med), num(lo), num(hi)) if with_range else "%s ms" % num(med)


def num(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v if v >= 10 else "%.2f" % v if v >= 1 else \
        "%.3f" % v


def machine():
    name, extra = platform.processor() or "?", ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        f = dict((k.strip(), v.strip()) for k, v in
                 (l.split(":", 1) for l in out.splitlines() if ":" in l))
        name = f.get("Model name", name)
        extra = "%s CPU(s): %s socket(s) × %s core(s) × %s thread(s); " % (
            f.get("CPU(s)", "?"), f.get("Socket(s)", "?"), f.get("Core(s) per socket", "?"),
            f.get("Thread(s) per core", "?"))
    except OSError:
        pass
    return "lscpu: %s, %snproc %d" % (name, extra, len(os.sched_getaffinity(0)))


def versions():
    from importlib import metadata
    v = {}
    for dist, key in (("onnxruntime", "ort"), ("ncnn", "ncnn"), ("mnn", "mnn")):
        try:
            v[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v[key] = "not installed"
    return v


# The comparisons. Each: (label, mtz model files, peer model files (separate networks one after
# the other), extra peer-only rows).
def comparisons(models_dir, repo):
    M = lambda p: os.path.join(repo, "Models", p)  # noqa: E731
    B = lambda p: os.path.join(models_dir, p)  # noqa: E731
    return [
        {"key": "lenet5", "label": "(a) LeNet-5, two tasks: mtz zipped model vs the two single-task "
                                   "networks one after the other",
         "mtz": [M("lenet5-mnist-fashion-zipped.mtz")],
         "peer": [M("lenet5-mnist-s1.mtz"), M("lenet5-fashion-s1.mtz")],
         "also": [M("lenet5-mnist-fashion-zipped.mtz")], "target": 0.55, "rss": True},
        {"key": "vgg16", "label": "(b) VGG-16 trunk, 224×224, one task",
         "mtz": [B("vgg16.mtz")], "peer": [B("vgg16.mtz")], "target": 1.0},
        {"key": "vgg16-2task", "label": "(b) VGG-16 two-task zipped trunk vs two single-task "
                                        "trunk+head networks one after the other",
         "mtz": [B("vgg16-2task.mtz")], "peer": [B("vgg16-head.mtz"), B("vgg16-head.mtz")],
         "also": [B("vgg16-2task.mtz")], "target": 0.55},
        {"key": "resnet18", "label": "(c) ResNet-18-style, 224×224",
         "mtz": [B("resnet18.mtz")], "peer": [B("resnet18.mtz")], "target": None},
    ]


def cmd_run(a):
    repo = os.path.abspath(a.repo)
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    threads = [int(t) for t in a.threads.split(",")]
    comps = [c for c in comparisons(os.path.abspath(a.models), repo)
             if not a.only or c["key"] in a.only.split(",")]
    ver = versions()
    # The commit the binary was (just) built from, and whether sources had local changes.
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    if subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "Sources",
                       "Package.swift"], capture_output=True, text=True).stdout.strip():
        commit += " + local changes"
    started = datetime.now(timezone.utc)
    load_before = os.getloadavg()

    # 1. export + convert every distinct model once
    log("== exporting and converting")
    infos, lines = {}, []
    for c in comps:
        for p in c["peer"] + c.get("also", []):
            if p in infos:
                continue
            if not os.path.exists(p):
                msg = "missing %s" % os.path.relpath(p, repo)
                infos[p] = {"name": os.path.basename(p), **{"error_" + q: msg for q in PEERS}}
                lines.append("  %s: %s" % (os.path.basename(p), msg))
                continue
            t0 = time.time()
            infos[p] = prepare(a.mtz, p, work, lines)
            log("  %s: %.1f s" % (os.path.basename(p), time.time() - t0))
    for l in lines:
        log(l)
    # Same model everywhere: every converted model's outputs against ONNX Runtime's on the
    # benchmark input (largest difference relative to the largest |output|).
    log("== outputs against ONNX Runtime (max |peer - ort| / max |ort|)")
    agree = {}
    for p, info in infos.items():
        ref = check_outputs("ort", info)
        for peer in ("ncnn", "mnn"):
            got = check_outputs(peer, info)
            if isinstance(ref, str) or isinstance(got, str):
                agree[(info["name"], peer)] = got if isinstance(got, str) else ref
            else:
                import numpy as np
                rel = max(float(np.abs(np.asarray(g) - np.asarray(r)).max() /
                                max(np.abs(np.asarray(r)).max(), 1e-30))
                          for g, r in zip(got, ref)) if len(got) == len(ref) else float("inf")
                agree[(info["name"], peer)] = rel
                if rel > a.tolerance:
                    info["error_" + peer] = ("outputs differ from ONNX Runtime's by %.2g "
                                             "(relative)" % rel)
            v = agree[(info["name"], peer)]
            log("  %-28s %-5s %s" % (info["name"], peer, v if isinstance(v, str) else "%.1e" % v))

    # 2. measure: rounds x threads x comparisons, the runtimes alternating within each
    results = {}  # (key, threads, runtime, which) -> list of run ms (pooled over rounds) / error
    rss = {}
    for rnd in range(a.rounds):
        for t in threads:
            for c in comps:
                order = ["mtz"] + PEERS
                order = order[rnd % len(order):] + order[:rnd % len(order)]
                jobs = []
                for rt in order:
                    if rt == "mtz":
                        jobs.append(("mtz", "main"))
                    else:
                        jobs.append((rt, "main"))
                        if c.get("also"):
                            jobs.append((rt, "also"))
                for rt, which in jobs:
                    it = a.iterations if c["key"] == "lenet5" else a.big_iterations
                    wu = a.warmup
                    if rt == "mtz":
                        missing = [p for p in c["mtz"] if not os.path.exists(p)]
                        r = ({"error": "missing " + ", ".join(os.path.basename(p) for p in missing)}
                             if missing else measure_mtz(a.mtz, c["mtz"], t, it, wu))
                    else:
                        files = c["peer"] if which == "main" else c["also"]
                        r = measure_peer(rt, [infos[p] for p in files], t, it, wu)
                    k = (c["key"], t, rt, which)
                    if "error" in r:
                        results[k] = r
                    else:
                        st = r["stats"] if "stats" in r else (
                            statistics.median(r["ms"]), min(r["ms"]), max(r["ms"]))
                        prev = results.get(k)
                        if prev is None or "error" in prev:
                            results[k] = {"rounds": [st]}
                        else:
                            prev["rounds"].append(st)
                        rss.setdefault(k, []).append((r.get("rss_peak_mib", 0.0),
                                                      r.get("rss_base_mib")))
                    log("  round %d  %-12s %dT %-4s %-4s %s" % (rnd + 1, c["key"], t, rt, which,
                                                               fmt_cell(results[k])))
    finished = datetime.now(timezone.utc)
    load_after = os.getloadavg()

    # 3. the table
    out = []
    cmd = a.command or " ".join(sys.argv)
    out.append("%s–%s UTC, `%s` (%s; load average before %.2f, %.2f, %.2f, after %.2f, %.2f, %.2f)."
               % (started.strftime("%Y-%m-%d %H:%M"), finished.strftime("%H:%M"), cmd, machine(),
                  *load_before, *load_after))
    out.append("")
    out.append("Versions: mtz %s (release), ONNX Runtime %s, ncnn %s, MNN %s. Each cell: %d "
               "round(s), each a fresh process per runtime (the runtimes alternating within the "
               "round, the order rotated between rounds) with %d warm-up runs then %d timed runs "
               "(%d for the 224×224 networks); the median of the rounds' medians, and in "
               "brackets the min and max over the rounds."
               % (commit, ver["ort"], ver["ncnn"], ver["mnn"], a.rounds, a.warmup, a.iterations,
                  a.big_iterations))
    out.append("")
    out.append("| model | threads | mtz | ONNX Runtime | ncnn | MNN | mtz / fastest peer | target |")
    out.append("|---|---|---|---|---|---|---|---|")
    ratios = []
    for c in comps:
        for t in threads:
            cells, best = [], None
            for rt in ["mtz"] + PEERS:
                r = results.get((c["key"], t, rt, "main"))
                cells.append(fmt_cell(r))
                if rt != "mtz" and r and "error" not in r:
                    med = summary(r)[0]
                    if best is None or med < best[0]:
                        best = (med, rt)
            m = results.get((c["key"], t, "mtz", "main"))
            if m and "error" not in m and best:
                ratio = summary(m)[0] / best[0]
                rtxt = "**%.2f×** (vs %s)" % (ratio, PEER_NAMES[best[1]])
                ratios.append((c["key"], t, ratio, best[1]))
            else:
                rtxt = "n/a"
            tgt = "—" if c["target"] is None or (c["key"] == "vgg16" and t != 1) else (
                "≤ %.2f×" % c["target"])
            what = {"lenet5": "LeNet-5 two tasks (peers: two s1 networks)",
                    "vgg16": "VGG-16 trunk",
                    "vgg16-2task": "VGG-16 two tasks (peers: 2 × vgg16-head)",
                    "resnet18": "ResNet-18-style"}[c["key"]]
            out.append("| %s | %d | %s | %s | %s |" % (what, t, " | ".join(cells), rtxt, tgt))
    # peers on the zipped model itself (the same sharing, through their own graph executors)
    also = [c for c in comps if c.get("also")]
    if also:
        out.append("")
        out.append("The peers running the zipped two-task model exported by `mtz export` (one "
                   "network whose shared weights are stored once), same runs:")
        out.append("")
        out.append("| model | threads | mtz | ONNX Runtime | ncnn | MNN | mtz / fastest peer |")
        out.append("|---|---|---|---|---|---|---|")
        for c in also:
            for t in threads:
                cells, best = [fmt_cell(results.get((c["key"], t, "mtz", "main")))], None
                for rt in PEERS:
                    r = results.get((c["key"], t, rt, "also"))
                    cells.append(fmt_cell(r))
                    if r and "error" not in r:
                        med = summary(r)[0]
                        if best is None or med < best[0]:
                            best = (med, rt)
                m = results.get((c["key"], t, "mtz", "main"))
                rtxt = ("%.2f× (vs %s)" % (summary(m)[0] / best[0], PEER_NAMES[best[1]])
                        if m and "error" not in m and best else "n/a")
                out.append("| %s zipped | %d | %s | %s |" % (c["key"], t, " | ".join(cells), rtxt))
    # peak RSS for (a)
    rc = [c for c in comps if c.get("rss")]
    if rc:
        c = rc[0]
        out.append("")
        out.append("Peak RSS, LeNet-5 two tasks (max over rounds of each process's own peak; the "
                   "peers run in a Python process, so their figure includes the interpreter, "
                   "numpy and the runtime library; in brackets what loading and running the models "
                   "added to the peak before loading — for mtz, over the program and its libraries):")
        out.append("")
        out.append("| threads | mtz zipped | ONNX Runtime, 2 networks | ncnn, 2 networks | "
                   "MNN, 2 networks | ONNX Runtime, zipped | ncnn, zipped | MNN, zipped |")
        out.append("|---|---|---|---|---|---|---|---|")
        for t in threads:
            cells = []
            for rt, which in [("mtz", "main")] + [(p, "main") for p in PEERS] + \
                    [(p, "also") for p in PEERS]:
                v = rss.get((c["key"], t, rt, which))
                if not v:
                    cells.append("—")
                    continue
                peak = max(x[0] for x in v)
                bases = [x[1] for x in v if x[1] is not None]
                cells.append("%.1f MiB" % peak if not bases else
                             "%.1f MiB (+%.1f)" % (peak, peak - max(bases)))
            out.append("| %d | %s |" % (t, " | ".join(cells)))
        # Like for like: what loading and running the models adds to each process (peak minus the
        # peak before loading), mtz's zipped model against the best peer's two networks.
        for t in threads:
            def added(rt):
                v = rss.get((c["key"], t, rt, "main"))
                bases = [x[1] for x in v or [] if x[1] is not None]
                return max(x[0] for x in v) - max(bases) if bases else None
            m = added("mtz")
            peers = [(a, p) for a, p in ((added(p), p) for p in PEERS) if a is not None]
            if m is not None and peers:
                best = min(peers)
                out.append("")
                out.append("%d thread(s): memory added by the models, mtz zipped %.1f MiB vs %s's two networks "
                           "%.1f MiB: **%.2f×** (target ≤ 0.6×)" % (t, m, PEER_NAMES[best[1]], best[0], m / best[0]))
    table = "\n".join(out)
    print(table)
    if a.write_doc:
        write_doc(a.write_doc, table, ver)
        log("== wrote %s" % a.write_doc)


BEGIN = "<!-- bench-peers:begin -->"
END = "<!-- bench-peers:end -->"


def write_doc(path, table, ver):
    section = "\n".join([
        BEGIN,
        "## mtz against ONNX Runtime, ncnn and MNN (issue 6, `scripts/bench-peers.sh`)",
        "",
        "`scripts/bench-peers.sh` builds mtz (release), installs the peers into `.venv-peers` "
        "(PEERS.md's versions), exports every model with `mtz export` (ONNX IR 8, opset 13), "
        "converts it with pnnx (ncnn) and mnnconvert (MNN), checks that every converted model's "
        "outputs match ONNX Runtime's (relative difference ≤ 1e-3, else the cell says so), and times every runtime on the same "
        "model, the same input (every element 0.25, what `mtz bench` feeds), the same thread count, in one run. Peers: ONNX Runtime `intra_op_num_threads = N`, "
        "`inter_op_num_threads = 1`, all graph optimisations; ncnn `num_threads = N`, fp32 storage "
        "and arithmetic (fp16/bf16 off); MNN CPU backend, `numThread = N`, `precision = high`, "
        "input in NC4HW4. A peer's timed run is its inference call(s) and reading the outputs; "
        "mtz's is `mtz bench --json`'s per-run time. This section is rewritten by every run of the "
        "script; quote only ratios from one run.",
        "",
        table,
        END,
    ])
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        post = rest.split(END, 1)[1]
        text = pre + section + post
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--runtime", choices=PEERS, required=True)
    w.add_argument("--threads", type=int, default=1)
    w.add_argument("--iterations", type=int, default=10)
    w.add_argument("--warmup", type=int, default=2)
    w.add_argument("--spec", required=True)
    w.add_argument("--check", action="store_true", help="print one run's outputs, no timing")
    r = sub.add_parser("run")
    r.add_argument("--mtz", required=True)
    r.add_argument("--repo", default=os.path.join(os.path.dirname(__file__), ".."))
    r.add_argument("--models", default="bench-models")
    r.add_argument("--work", default=".build-peers/peer-models")
    r.add_argument("--threads", default="1,2")
    r.add_argument("--rounds", type=int, default=3)
    r.add_argument("--iterations", type=int, default=50, help="timed runs per process, LeNet-5")
    r.add_argument("--big-iterations", type=int, default=5, help="timed runs per process, 224x224")
    r.add_argument("--warmup", type=int, default=2)
    r.add_argument("--tolerance", type=float, default=1e-3,
                   help="largest relative output difference from ONNX Runtime accepted")
    r.add_argument("--only", default="", help="comma-separated: lenet5,vgg16,vgg16-2task,resnet18")
    r.add_argument("--write-doc", default="", help="docs/BENCHMARKS.md to update")
    r.add_argument("--command", default="", help="the command line to quote in the table")
    a = ap.parse_args()
    if a.cmd == "worker":
        cmd_worker(a)
    else:
        cmd_run(a)


if __name__ == "__main__":
    main()
