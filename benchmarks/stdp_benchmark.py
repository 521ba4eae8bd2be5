"""Run the STDP network of stdp_network.py on several simulators and compare them.

    python benchmarks/stdp_benchmark.py [--n 10000] [--k 100] [--tstop 1000] [--sims sparsegpu,nest]
                                        [--out benchmarks/results/stdp.json]

Each simulator runs benchmarks/stdp_network.py in a fresh Python process. The table gives the synapse
counts, the times (import, build, first 2 ms run, rest of the run, total), seconds per simulated second,
synaptic events per wall second, firing rates and the mean and std of the final STDP weights; for every
simulator other than the reference (nest, or the last one in --sims) the ratio of its total and run time
to the reference's, the difference of its exc/inh rates from the reference's in percent and that of its
mean final STDP weight in percent.
"""

import argparse
import os
import sys
import tempfile

from bench_common import BENCH_DIR, fmt, metadata, print_table, run_child, write_json
from stdp_network import power_of_ten


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10000, help="number of neurons (default 10000)")
    p.add_argument("--k", type=int, default=100, help="in-degree (default 100)")
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    p.add_argument("--sims", default="sparsegpu,nest", help="comma-separated simulators (default sparsegpu,nest)")
    p.add_argument("--reference", default=None, help="simulator the others are compared with (default nest "
                   "if in --sims, else the last one)")
    p.add_argument("--seed", type=int, default=12345, help="network seed (default 12345)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per run (default 3600)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "stdp.json"),
                   help="JSON output file (default benchmarks/results/stdp.json)")
    return p.parse_args(argv)


def ratio(a, b):
    return a / b if a is not None and b else None


def pct(a, b):
    return 100.0 * (a - b) / b if a is not None and b else None


def main(argv=None):
    args = parse_args(argv)
    sims = [s.strip() for s in args.sims.split(",") if s.strip()]
    reference = args.reference or ("nest" if "nest" in sims else sims[-1])
    script = os.path.join(BENCH_DIR, "stdp_network.py")
    meta = metadata()
    meta.update(n=args.n, k=args.k, tstop_ms=args.tstop, sims=sims, reference=reference, seed=args.seed)

    cases = []
    tmpdir = tempfile.mkdtemp(prefix="stdp_bench_")
    for sim in sims:
        json_path = os.path.join(tmpdir, f"{sim}.json")
        cmd = [sys.executable, script, sim, "--n", str(args.n), "--k", str(args.k), "--tstop", repr(args.tstop),
               "--seed", str(args.seed), "--json", json_path]
        print(f"[{sim} N={args.n} k={args.k} {args.tstop:g} ms] ...", end=" ", flush=True)
        result, error, _ = run_child(cmd, args.timeout)
        if error:
            print("FAILED: " + error.splitlines()[0])
            print(error, file=sys.stderr)
        else:
            t = result["times"]
            print(f"total {t['total']:.2f} s (run {t['run']:.2f} s), rate {result['rate_hz']:.2f} Hz, "
                  f"mean STDP weight {result['stdp_weights_nA']['mean']:.6g} nA")
        cases.append({"simulator": sim, "result": result, "error": error})
    try:
        os.rmdir(tmpdir)
    except OSError:
        pass

    ref = next((c["result"] for c in cases if c["simulator"] == reference), None)
    for c in cases:
        r = c["result"]
        if c["simulator"] == reference or r is None or ref is None:
            c["vs_reference"] = None
            continue
        c["vs_reference"] = {
            "reference": reference,
            "total_ratio": ratio(r["times"]["total"], ref["times"]["total"]),
            "run_ratio": ratio(r["times"]["run"], ref["times"]["run"]),
            "build_ratio": ratio(r["times"]["build"], ref["times"]["build"]),
            "rate_exc_diff_pct": pct(r["rate_exc_hz"], ref["rate_exc_hz"]),
            "rate_inh_diff_pct": pct(r["rate_inh_hz"], ref["rate_inh_hz"]),
            "mean_weight_diff_pct": pct(r["stdp_weights_nA"]["mean"], ref["stdp_weights_nA"]["mean"]),
            "std_weight_diff_pct": pct(r["stdp_weights_nA"]["std"], ref["stdp_weights_nA"]["std"]),
        }
    meta["backend_info"] = {c["simulator"]: c["result"]["backend_info"] for c in cases
                            if c["result"] is not None and c["result"].get("backend_info") is not None}

    headers = ["simulator", "synapses", "STDP", "import s", "build s", "1st run s", "rest s", "total s",
               "s/sim-s", "events/wall-s", "exc Hz", "inh Hz", "mean w nA", "std w nA",
               f"total/{reference}", f"run/{reference}", "exc diff %", "inh diff %", "mean w diff %"]
    rows = []
    for c in cases:
        r, v = c["result"], c["vs_reference"] or {}
        if r is None:
            rows.append([c["simulator"], "FAILED"] + [""] * (len(headers) - 2))
            continue
        t, w = r["times"], r["stdp_weights_nA"]
        rows.append([c["simulator"], r["synapses_total"], r["synapses_stdp"], fmt(t["import"], ".2f"),
                     fmt(t["build"], ".2f"), fmt(t["first_run"], ".2f"), fmt(t["steady_run"], ".2f"),
                     fmt(t["total"], ".2f"), fmt(r["run_s_per_sim_s"], ".3f"), fmt(r["events_per_wall_s"], ".3g"),
                     fmt(r["rate_exc_hz"], ".2f"), fmt(r["rate_inh_hz"], ".2f"), fmt(w["mean"], ".6f"),
                     fmt(w["std"], ".2e"), fmt(v.get("total_ratio"), ".2f"), fmt(v.get("run_ratio"), ".2f"),
                     fmt(v.get("rate_exc_diff_pct"), "+.1f"), fmt(v.get("rate_inh_diff_pct"), "+.1f"),
                     fmt(v.get("mean_weight_diff_pct"), "+.3f")])
    ok = [c["result"] for c in cases if c["result"] is not None]
    print()
    syn = (f"{power_of_ten(ok[0]['synapses_total'])} synapses, of which {ok[0]['synapses_stdp']} STDP"
           if ok else "")
    print(f"STDP balanced network, N={args.n}, k={args.k}, {args.tstop:g} ms ({syn}); initial weight "
          f"{ok[0]['w_exc_nA'] if ok else '-'} nA; {meta['cpu_model']}, {meta['cpu_count']} CPUs, git "
          f"{meta['git_commit']}{' (dirty)' if meta['git_dirty'] else ''}")
    print_table(headers, rows)
    for sim, info in meta["backend_info"].items():
        print(f"{sim} backend: {info}")
    write_json(args.out, {"metadata": meta, "results": cases})
    print(f"results written to {args.out}")
    return 1 if any(c["result"] is None for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
