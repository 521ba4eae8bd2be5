"""Run the Vogels-Abbott CUBA and COBA benchmarks on several simulators and compare them.

    python benchmarks/va_benchmark.py [--tstop 1000] [--repeats 1] [--sims sparsegpu,nest]
                                      [--out benchmarks/results/va.json]

Each (benchmark, simulator, repeat) runs benchmarks/va_network.py in a fresh Python process, so import
time is counted every time and the runs do not share state. With --repeats N every time is the median of
the N runs. The table gives, for every simulator other than the reference (nest, or the last one in
--sims), the ratio of its total and run time to the reference's and the difference of its firing rates
from the reference's in percent.
"""

import argparse
import os
import sys
import tempfile

from bench_common import (BENCH_DIR, fmt, median_or_none, metadata, print_table, run_child,
                          write_json)

TIME_KEYS = ("import", "build", "run", "data", "total")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    p.add_argument("--repeats", type=int, default=1, help="runs per case; times are medians (default 1)")
    p.add_argument("--sims", default="sparsegpu,nest", help="comma-separated simulators (default sparsegpu,nest)")
    p.add_argument("--benchmarks", default="CUBA,COBA", help="comma-separated, from CUBA,COBA (default both)")
    p.add_argument("--n", type=int, default=4000, help="number of cells (default 4000)")
    p.add_argument("--reference", default=None, help="simulator the others are compared with (default nest "
                   "if in --sims, else the last one)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per run (default 3600)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "va.json"),
                   help="JSON output file (default benchmarks/results/va.json)")
    return p.parse_args(argv)


def summarise(runs):
    """Medians over repeats of the times and rates of the successful runs of one case."""
    ok = [r for r in runs if r is not None]
    if not ok:
        return None
    rates_exc = [r["rate_exc_hz"] for r in ok]
    rates_inh = [r["rate_inh_hz"] for r in ok]
    return {
        "times": {k: median_or_none([r["times"][k] for r in ok]) for k in TIME_KEYS},
        "rate_exc_hz": median_or_none(rates_exc),
        "rate_inh_hz": median_or_none(rates_inh),
        "rates_vary_between_repeats": len(set(rates_exc)) > 1 or len(set(rates_inh)) > 1,
        "synapses": ok[0]["synapses"],
        "n_ok": len(ok),
    }


def main(argv=None):
    args = parse_args(argv)
    sims = [s.strip() for s in args.sims.split(",") if s.strip()]
    benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    reference = args.reference or ("nest" if "nest" in sims else sims[-1])
    script = os.path.join(BENCH_DIR, "va_network.py")
    meta = metadata()
    meta.update(tstop_ms=args.tstop, repeats=args.repeats, n=args.n, sims=sims, reference=reference)

    cases = []
    tmpdir = tempfile.mkdtemp(prefix="va_bench_")
    for bench in benchmarks:
        for sim in sims:
            runs, errors = [], []
            for rep in range(args.repeats):
                json_path = os.path.join(tmpdir, f"{bench}_{sim}_{rep}.json")
                cmd = [sys.executable, script, sim, bench, "--tstop", repr(args.tstop), "--n", str(args.n),
                       "--json", json_path]
                print(f"[{bench} {sim} run {rep + 1}/{args.repeats}] ...", end=" ", flush=True)
                result, error, _ = run_child(cmd, args.timeout)
                if error:
                    print("FAILED: " + error.splitlines()[0])
                    print(error, file=sys.stderr)
                    errors.append(error)
                else:
                    t = result["times"]
                    print(f"total {t['total']:.2f} s (run {t['run']:.2f} s), rates "
                          f"{result['rate_exc_hz']:.2f}/{result['rate_inh_hz']:.2f} Hz")
                runs.append(result)
            cases.append({"benchmark": bench, "simulator": sim, "runs": runs, "errors": errors,
                          "summary": summarise(runs)})
    try:
        os.rmdir(tmpdir)
    except OSError:
        pass

    # comparisons with the reference simulator
    ref_of = {c["benchmark"]: c["summary"] for c in cases if c["simulator"] == reference}
    for c in cases:
        s, ref = c["summary"], ref_of.get(c["benchmark"])
        if c["simulator"] == reference or s is None or ref is None:
            c["vs_reference"] = None
            continue

        def ratio(a, b):
            return a / b if a is not None and b else None

        def pct(a, b):
            return 100.0 * (a - b) / b if a is not None and b else None

        c["vs_reference"] = {
            "reference": reference,
            "total_ratio": ratio(s["times"]["total"], ref["times"]["total"]),
            "run_ratio": ratio(s["times"]["run"], ref["times"]["run"]),
            "build_ratio": ratio(s["times"]["build"], ref["times"]["build"]),
            "rate_exc_diff_pct": pct(s["rate_exc_hz"], ref["rate_exc_hz"]),
            "rate_inh_diff_pct": pct(s["rate_inh_hz"], ref["rate_inh_hz"]),
        }

    backend_info = {c["simulator"]: r["backend_info"] for c in cases for r in c["runs"]
                    if r is not None and r.get("backend_info") is not None}
    child_versions = {c["simulator"]: r["versions"] for c in cases for r in c["runs"] if r is not None}
    meta["backend_info"] = backend_info
    meta["child_versions"] = child_versions

    headers = ["benchmark", "simulator", "import s", "build s", "run s", "total s", "exc Hz", "inh Hz",
               f"total/{reference}", f"run/{reference}", "exc diff %", "inh diff %"]
    rows = []
    for c in cases:
        s, v = c["summary"], c["vs_reference"] or {}
        if s is None:
            rows.append([c["benchmark"], c["simulator"], "FAILED"] + [""] * (len(headers) - 3))
            continue
        t = s["times"]
        rows.append([c["benchmark"], c["simulator"], fmt(t["import"], ".2f"), fmt(t["build"], ".2f"),
                     fmt(t["run"], ".2f"), fmt(t["total"], ".2f"), fmt(s["rate_exc_hz"], ".2f"),
                     fmt(s["rate_inh_hz"], ".2f"), fmt(v.get("total_ratio"), ".2f"),
                     fmt(v.get("run_ratio"), ".2f"), fmt(v.get("rate_exc_diff_pct"), "+.1f"),
                     fmt(v.get("rate_inh_diff_pct"), "+.1f")])
    print()
    print(f"Vogels-Abbott benchmarks, {args.n} cells, {args.tstop:g} ms, median of {args.repeats} run(s); "
          f"{meta['cpu_model']}, {meta['cpu_count']} CPUs, git {meta['git_commit']}"
          f"{' (dirty)' if meta['git_dirty'] else ''}")
    print_table(headers, rows)
    for sim, info in backend_info.items():
        print(f"{sim} backend: {info}")

    write_json(args.out, {"metadata": meta, "results": cases})
    print(f"results written to {args.out}")
    return 1 if any(c["summary"] is None for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
