"""The Vogels-Abbott COBA network on sparsegpu's compiled CPU path, its NumPy path, NEST and Brian2, side by side.

    python benchmarks/va_compare.py [--sizes 4000,40000] [--tstop 1000] [--segments 10] [--repeats 1]
                                    [--sims sparsegpu-cpu,sparsegpu-numpy,nest,brian2]
                                    [--brian2-python PATH] [--out benchmarks/results/va_compare.json]

Every (size, simulator, repeat) runs in its own process, one after another:
  sparsegpu-cpu    va_network.py sparsegpu COBA with PYNN_SPARSEGPU_BACKEND=cpu (the compiled kernels)
  sparsegpu-numpy  the same with PYNN_SPARSEGPU_BACKEND=numpy (the NumPy reference path)
  nest             va_network.py nest COBA (one thread)
  brian2           va_brian2.py in Brian2's C++ standalone mode, one thread, run by --brian2-python (Brian2
                   needs Python >= 3.13: a separate environment; default $BRIAN2_PYTHON)
At 4000 cells the connection probability is 0.02; a larger network keeps the in-degree (p = 0.02 x 4000 / n).

Times: "total" is the whole script (import, build, compile for Brian2, run, data retrieval); "sim" is the
simulation: the run() calls of the PyNN simulators (their first call also finishes building: sparsegpu's rows
and kernels, NEST's connection infrastructure), Brian2's own run-loop time (its synapses are created before it,
in the binary); "us/step" is the median over the --segments run() calls of the time per step, which leaves the
one-time work out; the "CPU" columns are the same from the process CPU time, which a busy machine inflates
less than wall time. The ratios are those of sparsegpu-cpu (and of sparsegpu-numpy) to NEST and to Brian2. For
sparsegpu the table also gives the kernel launches and host synchronisations per step and the parts of the step
that ran on the reference path (sim.kernel_statistics()). The load average before and after each run is
recorded, since other work on the machine changes the times.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from bench_common import BENCH_DIR, fmt, median_or_none, metadata, print_table, run_child, write_json

SIMS = ("sparsegpu-cpu", "sparsegpu-numpy", "nest", "brian2")
OURS = ("sparsegpu-cpu", "sparsegpu-numpy")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="4000,40000", help="comma-separated numbers of cells (default 4000,40000)")
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    p.add_argument("--segments", type=int, default=10, help="run() calls per run, for the median time per "
                   "step (default 10)")
    p.add_argument("--repeats", type=int, default=1, help="runs per case; times are medians (default 1)")
    p.add_argument("--sims", default=",".join(SIMS), help=f"comma-separated, from {','.join(SIMS)} (default all)")
    p.add_argument("--brian2-python", default=os.environ.get("BRIAN2_PYTHON"),
                   help="Python of the environment with Brian2 (default $BRIAN2_PYTHON)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per run (default 3600)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "va_compare.json"),
                   help="JSON output file (default benchmarks/results/va_compare.json)")
    args = p.parse_args(argv)
    args.sims = [s.strip() for s in args.sims.split(",") if s.strip()]
    for s in args.sims:
        if s not in SIMS:
            p.error(f"unknown simulator {s!r} in --sims; choose from {', '.join(SIMS)}")
    args.sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    if any(n < 5 for n in args.sizes):
        p.error(f"--sizes must be at least 5 cells each, got {args.sizes}")
    if "brian2" in args.sims and not args.brian2_python:
        p.error("brian2 is in --sims but no Python with Brian2 was given: pass --brian2-python or set BRIAN2_PYTHON")
    return args


def command(sim, n, args, json_path):
    """(argv, environment) of one run."""
    pconn = 0.02 * 4000.0 / n
    common = ["--tstop", repr(args.tstop), "--n", str(n), "--pconn", repr(pconn), "--segments",
              str(args.segments), "--json", json_path]
    env = dict(os.environ)
    if sim == "brian2":
        return [args.brian2_python, os.path.join(BENCH_DIR, "va_brian2.py")] + common, env
    if sim.startswith("sparsegpu-"):
        env["PYNN_SPARSEGPU_BACKEND"] = sim.split("-", 1)[1]
    return [sys.executable, os.path.join(BENCH_DIR, "va_network.py"), sim.split("-")[0], "COBA"] + common, env


def processes_snapshot(limit=8):
    """The busiest processes other than this benchmark's, as `ps` lists them (for the record)."""
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True,
                             timeout=10).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [line.strip()[:160] for line in out[1:limit + 1]]


def summarise(runs):
    ok = [r for r in runs if r is not None]
    if not ok:
        return None
    first = ok[0]
    times = {k: median_or_none([r["times"].get(k) for r in ok]) for k in first["times"]}
    if "simulation" not in times:
        times["simulation"] = median_or_none([r["simulation_s"] for r in ok])
    ks = first.get("kernel_statistics")
    return {
        "times": times,
        "simulation_cpu_s": median_or_none([r.get("simulation_cpu_s") for r in ok]),
        "us_per_step": median_or_none([r["us_per_step"] for r in ok]),
        "us_per_step_cpu": median_or_none([r.get("us_per_step_cpu") for r in ok]),
        "rate_exc_hz": median_or_none([r["rate_exc_hz"] for r in ok]),
        "rate_inh_hz": median_or_none([r["rate_inh_hz"] for r in ok]),
        "synapses": first["synapses"],
        "synapses_recurrent": first["synapses_recurrent"],
        "launches_per_step": ks.get("launches_per_step") if ks else None,
        "syncs_per_step": ks.get("syncs_per_step") if ks else None,
        "reference_parts": ks.get("reference_parts") if ks else None,
        "n_ok": len(ok),
    }


def ratio(a, b):
    return a / b if a is not None and b else None


def pct(a, b):
    return 100.0 * (a - b) / b if a is not None and b else None


def main(argv=None):
    args = parse_args(argv)
    meta = metadata()
    meta.update(sizes=args.sizes, tstop_ms=args.tstop, segments=args.segments, repeats=args.repeats,
                sims=args.sims, brian2_python=args.brian2_python, load_before=os.getloadavg(),
                busiest_processes_before=processes_snapshot())
    tmpdir = tempfile.mkdtemp(prefix="va_compare_")
    cases = []
    for n in args.sizes:
        for sim in args.sims:
            runs, errors, loads = [], [], []
            for rep in range(args.repeats):
                json_path = os.path.join(tmpdir, f"{n}_{sim}_{rep}.json")
                cmd, env = command(sim, n, args, json_path)
                print(f"[COBA n={n} {sim} run {rep + 1}/{args.repeats}] ...", end=" ", flush=True)
                load_before = os.getloadavg()
                result, error, _ = run_child(cmd, args.timeout, env=env)
                loads.append({"before": load_before, "after": os.getloadavg()})
                if error:
                    print("FAILED: " + error.splitlines()[0])
                    print(error, file=sys.stderr)
                    errors.append(error)
                else:
                    t = result["times"]
                    print(f"total {t['total']:.2f} s, sim {result['simulation_s']:.3f} s, "
                          f"{result['us_per_step']:.1f} us/step, rates "
                          f"{result['rate_exc_hz']:.2f}/{result['rate_inh_hz']:.2f} Hz")
                runs.append(result)
            cases.append({"n": n, "simulator": sim, "runs": runs, "errors": errors, "load_average": loads,
                          "summary": summarise(runs)})
    try:
        os.rmdir(tmpdir)
    except OSError:
        pass
    meta["load_after"] = os.getloadavg()
    meta["busiest_processes_after"] = processes_snapshot()

    # ratios against NEST and Brian2, per size
    for c in cases:
        s = c["summary"]
        refs = {ref: next((d["summary"] for d in cases if d["n"] == c["n"] and d["simulator"] == ref), None)
                for ref in ("nest", "brian2")}
        if s is None:
            c["ratios"] = None
            continue
        nest, brian2 = refs["nest"], refs["brian2"]
        c["ratios"] = {
            "total_vs_nest": ratio(s["times"]["total"], nest and nest["times"]["total"]),
            "sim_vs_nest": ratio(s["times"]["simulation"], nest and nest["times"]["simulation"]),
            "step_vs_nest": ratio(s["us_per_step"], nest and nest["us_per_step"]),
            "sim_vs_brian2": ratio(s["times"]["simulation"], brian2 and brian2["times"]["simulation"]),
            "step_vs_brian2": ratio(s["us_per_step"], brian2 and brian2["us_per_step"]),
            "cpu_step_vs_nest": ratio(s["us_per_step_cpu"], nest and nest["us_per_step_cpu"]),
            "cpu_step_vs_brian2": ratio(s["us_per_step_cpu"], brian2 and brian2["us_per_step_cpu"]),
            "rate_exc_vs_nest_pct": pct(s["rate_exc_hz"], nest and nest["rate_exc_hz"]),
            "rate_inh_vs_nest_pct": pct(s["rate_inh_hz"], nest and nest["rate_inh_hz"]),
        }

    print()
    print(f"Vogels-Abbott COBA, {args.tstop:g} ms, dt 0.1 ms, median of {args.repeats} run(s); "
          f"{meta['cpu_model']}, {meta['cpu_count']} CPUs, git {meta['git_commit']}"
          f"{' (dirty)' if meta['git_dirty'] else ''}; load average {meta['load_before'][0]:.2f} before, "
          f"{meta['load_after'][0]:.2f} after")
    headers = ["cells", "simulator", "synapses", "import s", "build s", "compile s", "sim s", "sim CPU s",
               "us/step", "CPU us/step", "total s", "exc Hz", "inh Hz"]
    rows = []
    for c in cases:
        s = c["summary"]
        if s is None:
            rows.append([c["n"], c["simulator"], "FAILED"] + [""] * (len(headers) - 3))
            continue
        t = s["times"]
        rows.append([c["n"], c["simulator"], s["synapses_recurrent"], fmt(t["import"], ".2f"),
                     fmt(t["build"], ".2f"), fmt(t.get("compile"), ".1f"), fmt(t["simulation"], ".3f"),
                     fmt(s["simulation_cpu_s"], ".3f"), fmt(s["us_per_step"], ".1f"), fmt(s["us_per_step_cpu"], ".1f"),
                     fmt(t["total"], ".2f"), fmt(s["rate_exc_hz"], ".2f"),
                     fmt(s["rate_inh_hz"], ".2f")])
    print_table(headers, rows)
    print()
    headers = ["cells", "simulator", "total/NEST", "sim/NEST", "step/NEST", "CPU step/NEST", "sim/Brian2",
               "step/Brian2", "CPU step/Brian2", "exc vs NEST %", "inh vs NEST %", "launches/step", "syncs/step",
               "reference parts"]
    rows = []
    for c in cases:
        s, r = c["summary"], c["ratios"]
        if s is None:
            continue
        parts = s["reference_parts"]
        rows.append([c["n"], c["simulator"], fmt(r["total_vs_nest"], ".3f"), fmt(r["sim_vs_nest"], ".3f"),
                     fmt(r["step_vs_nest"], ".3f"), fmt(r["cpu_step_vs_nest"], ".3f"), fmt(r["sim_vs_brian2"], ".2f"),
                     fmt(r["step_vs_brian2"], ".2f"), fmt(r["cpu_step_vs_brian2"], ".2f"),
                     fmt(r["rate_exc_vs_nest_pct"], "+.1f"), fmt(r["rate_inh_vs_nest_pct"], "+.1f"),
                     fmt(s["launches_per_step"], ".2f"), fmt(s["syncs_per_step"], ".2f"),
                     "-" if parts is None else ("all" if s["launches_per_step"] is None and parts
                                                else (len(parts) if parts else "none"))])
    print_table(headers, rows)
    for c in cases:
        s = c["summary"]
        if s is not None and s["reference_parts"] and c["simulator"] == "sparsegpu-cpu":
            print(f"n={c['n']} sparsegpu-cpu reference parts: " + "; ".join(s["reference_parts"]))

    write_json(args.out, {"metadata": meta, "results": cases})
    print(f"results written to {args.out}")
    return 1 if any(c["summary"] is None for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
