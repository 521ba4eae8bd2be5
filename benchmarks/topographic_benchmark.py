"""Realtime factor of the topographic-map model (examples/topographic_map.py) at several scales, on several
sparsegpu paths side by side, with the map metrics each path reaches.

    python benchmarks/topographic_benchmark.py [--scales 1,2,3] [--duration 10000] [--backends cpu,numpy]
                                               [--seed 789] [--out benchmarks/results/topographic.json]

Each (scale, path) runs in a fresh Python process (this script with --child; the path is chosen with
PYNN_SPARSEGPU_BACKEND), one after another in one invocation, so the ratios compare runs made under the same
machine load. A child builds the network of examples/topographic_map.py (two layers of (16 scale)^2 neurons,
f_rew = 10 kHz x scale^2 per projection, rewiring counts recorded every second, target spikes recorded), runs
it for --duration ms in one sim.run(10 ms) (which also builds the connectivity rows) and a sim.run() of the
rest, and times both. The realtime factor is wall time / simulated time of the second run (the first one is
reported apart and in realtime_factor_with_first_run).

Reported per case: neurons and synapses, the times (input generation, build, first run, rest of the run), the
realtime factor, the rewiring attempts, formations and eliminations, the mean target rate, the feed-forward
map's mean centre error and sigma_aff at the start and the end, and, on the compiled paths, kernel launches
and host synchronisations per step and the parts that ran on the reference path (sim.kernel_statistics()).
On the NumPy path the time spent in the Rewirer.rewire calls is measured too (the method is wrapped on the
engine objects); on the compiled path rewiring runs as kernels inside the step loop.
For every scale run on both numpy and cpu the table gives numpy / cpu.
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

from bench_common import (BENCH_DIR, backend_info_of, fmt, load_example, metadata,  # noqa: E402
                          print_table, run_child, write_json)

FIRST_RUN_MS = 10.0     # timed apart: the first run also builds the connectivity rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", default="1,2,3", help="comma-separated scales (default 1,2,3)")
    p.add_argument("--duration", type=float, default=10000.0, help="simulated ms per scale (default 10000)")
    p.add_argument("--sim", default="sparsegpu", help="PyNN backend (default sparsegpu)")
    p.add_argument("--backends", default="cpu,numpy",
                   help="sparsegpu paths to run, comma-separated (default cpu,numpy; '' for the default path)")
    p.add_argument("--seed", type=int, default=789, help="seed (default 789)")
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds allowed per scale (default 7200)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "topographic.json"),
                   help="JSON output file (default benchmarks/results/topographic.json)")
    p.add_argument("--child", type=int, default=None, metavar="SCALE", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="", help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


class RewireTimer:
    """Wraps Rewirer.rewire on one engine object and adds up the wall time of its calls."""

    def __init__(self, rewirer):
        self.seconds, self.calls = 0.0, 0
        backend = rewirer.backend
        sync = (lambda: backend.xp.cuda.runtime.deviceSynchronize()) if backend.is_gpu else (lambda: None)
        original = rewirer.rewire

        def timed(step):
            sync()
            t = time.perf_counter()
            result = original(step)
            sync()
            self.seconds += time.perf_counter() - t
            self.calls += 1
            return result

        rewirer.rewire = timed          # Rewirer.after_step calls self.rewire


def _map_metrics(topo, net, t_ms):
    snap = topo.snapshot(net, t_ms)
    return {"centre_error": snap["ff"]["mean_centre_error"], "sigma_aff": snap["ff"]["mean_sigma_aff"]}


def child(args):
    topo = load_example("topographic_map")
    sim = importlib.import_module("pyNN." + args.sim)
    t_imported = time.perf_counter()
    net = topo.build(sim, scale=args.child, duration=args.duration, seed=args.seed)
    compiled = hasattr(sim, "kernel_statistics") and sim.backend_info().get("backend") in ("cpu", "cupy")
    timers = {}
    if net["structural"] and not compiled:
        for name in ("ff", "lat"):
            timers[name] = RewireTimer(net[name]._groups[(0, 0)].rewirer)
    synapses_start = {name: len(net[name]) for name in ("ff", "lat")}
    metrics_start = _map_metrics(topo, net, 0.0)
    t0 = time.perf_counter()
    sim.run(FIRST_RUN_MS)                       # includes building the rows, deferred to the first run
    t_first = time.perf_counter() - t0
    first_rewire_s = sum(t.seconds for t in timers.values())
    t1 = time.perf_counter()
    sim.run(args.duration - FIRST_RUN_MS)
    t_steady = time.perf_counter() - t1
    t_run = t_first + t_steady
    stats = sim.kernel_statistics() if compiled else None
    spikes = sum(len(st) for st in net["target"].get_data("spikes").segments[0].spiketrains)
    n = net["side"] ** 2
    seconds = args.duration / 1e3
    rewire_s = sum(t.seconds for t in timers.values()) - first_rewire_s if timers else None
    steady_s = (args.duration - FIRST_RUN_MS) / 1e3
    result = {
        "scale": args.child, "side": net["side"], "neurons_per_layer": n, "duration_ms": args.duration,
        "rewiring": net["structural"], "f_rew_hz": net["f_rew"], "input_spikes": net["n_input_spikes"],
        "synapses_start": synapses_start, "synapses_end": {name: len(net[name]) for name in ("ff", "lat")},
        "times_s": {"import": t_imported - T_START, "input": net["t_input"], "build": net["t_build"],
                    "first_run": t_first, "steady_run": t_steady, "run": t_run},
        "realtime_factor": t_steady / steady_s,
        "realtime_factor_with_first_run": t_run / seconds,
        "rewire_s": rewire_s, "rewire_share": rewire_s / t_steady if rewire_s is not None else None,
        "rewire_s_per_projection": {name: t.seconds for name, t in timers.items()},
        "rewire_calls": {name: t.calls for name, t in timers.items()},
        "rewiring_counts": {name: net[name].rewiring_counts() for name in ("ff", "lat")} if net["structural"] else {},
        "rate_hz": spikes / n / seconds,
        "map_start": metrics_start, "map_end": _map_metrics(topo, net, args.duration),
        "kernel_statistics": stats,
        "backend_info": backend_info_of(sim),
    }
    write_json(args.json, result)
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        if args.backend:
            os.environ["PYNN_SPARSEGPU_BACKEND"] = args.backend
        return child(args)
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",")] if args.sim == "sparsegpu" else [""]
    meta = metadata()
    meta.update(scales=scales, duration_ms=args.duration, sim=args.sim, seed=args.seed, backends=backends)
    cases = []
    tmpdir = tempfile.mkdtemp(prefix="topographic_bench_")
    for scale in scales:
        for backend in backends:
            json_path = os.path.join(tmpdir, f"scale{scale}_{backend or 'default'}.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--child", str(scale), "--sim", args.sim,
                   "--duration", repr(args.duration), "--seed", str(args.seed), "--json", json_path,
                   "--backend", backend]
            label = f"{args.sim}{'/' + backend if backend else ''}"
            print(f"[{label} scale {scale}, {args.duration:g} ms] ...", end=" ", flush=True)
            result, error, _ = run_child(cmd, args.timeout)
            if error:
                print("FAILED: " + error.splitlines()[0])
                print(error, file=sys.stderr)
            else:
                print(f"run {result['times_s']['steady_run']:.1f} s, realtime factor "
                      f"{result['realtime_factor']:.3f}", flush=True)
            cases.append({"scale": scale, "backend": backend, "result": result, "error": error})
    try:
        os.rmdir(tmpdir)
    except OSError:
        pass

    headers = ["scale", "path", "neurons/layer", "ff syn end", "lat syn end", "1st run s", "run s", "wall/sim",
               "numpy/cpu", "launches/step", "syncs/step", "attempts", "formations", "eliminations", "rate Hz",
               "centre err", "sigma_aff"]
    rows = []
    by_scale = {}
    for c in cases:
        if c["result"] is not None:
            by_scale.setdefault(c["scale"], {})[c["backend"]] = c["result"]
    for c in cases:
        r = c["result"]
        if r is None:
            rows.append([c["scale"], c["backend"] or "-", "FAILED"] + [""] * (len(headers) - 3))
            continue
        counts = r["rewiring_counts"]
        total = {k: sum(v[k] for v in counts.values()) for k in ("attempts", "formations", "eliminations")} \
            if counts else {}
        both = by_scale.get(c["scale"], {})
        ratio = both["numpy"]["realtime_factor"] / both["cpu"]["realtime_factor"] \
            if c["backend"] == "cpu" and "numpy" in both and "cpu" in both else None
        stats = r.get("kernel_statistics") or {}
        m0, m1 = r["map_start"], r["map_end"]
        rows.append([r["scale"], c["backend"] or "-", r["neurons_per_layer"], r["synapses_end"]["ff"],
                     r["synapses_end"]["lat"], fmt(r["times_s"]["first_run"], ".2f"),
                     fmt(r["times_s"]["steady_run"], ".2f"), fmt(r["realtime_factor"], ".4f"), fmt(ratio, ".1f"),
                     fmt(stats.get("launches_per_step"), ".2f"), fmt(stats.get("syncs_per_step"), ".4f"),
                     total.get("attempts", "-"), total.get("formations", "-"), total.get("eliminations", "-"),
                     fmt(r["rate_hz"], ".2f"), f"{m0['centre_error']:.3f} -> {m1['centre_error']:.3f}",
                     f"{m0['sigma_aff']:.3f} -> {m1['sigma_aff']:.3f}"])
    print()
    print(f"topographic map, {args.sim}, {args.duration:g} ms simulated per case; "
          f"{meta['cpu_model']}, {meta['cpu_count']} CPUs, git {meta['git_commit']}"
          f"{' (dirty)' if meta['git_dirty'] else ''}")
    print_table(headers, rows)
    for c in cases:
        parts = ((c["result"] or {}).get("kernel_statistics") or {}).get("reference_parts")
        if parts:
            print(f"  scale {c['scale']} {c['backend']}: on the reference path: {parts}")
    write_json(args.out, {"metadata": meta, "results": cases})
    print(f"results written to {args.out}")
    return 1 if any(c["result"] is None for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
