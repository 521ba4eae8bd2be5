"""How build and run time grow with network size: the balanced network of balanced_network.py.

    python benchmarks/scaling.py [--sizes 1000,3000,10000,30000,100000] [--k 100] [--tstop 1000]
                                 [--sims sparsegpu] [--variants active,silent | --silent]
                                 [--spike-precision off_grid|on_grid]
                                 [--out benchmarks/results/scaling.json]

Every (simulator, k, N, variant) runs benchmarks/balanced_network.py in a fresh Python process. "active":
the network fires asynchronously at ~10-15 Hz, and the table gives build time, run time per simulated
second, spikes, synaptic events (spikes x out-degree of the neuron that fired) and events per second of
wall time. "silent": the same network without drive, where no neuron fires, so the run costs only the
neuron updates: its time should grow with N and not with k (give several k, e.g. --k 100,1000, to see
it). --k takes a comma-separated list. After a failure or time-out, the larger sizes of the same
simulator, k and variant are skipped.
"""

import argparse
import os
import sys
import tempfile

from bench_common import BENCH_DIR, fmt, metadata, print_table, run_child, write_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,3000,10000,30000,100000", help="comma-separated network sizes N")
    p.add_argument("--k", default="100", help="in-degree, or comma-separated in-degrees (default 100)")
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    p.add_argument("--sims", default="sparsegpu", help="comma-separated simulators (default sparsegpu)")
    p.add_argument("--variants", default="active,silent", help="comma-separated, from active,silent "
                   "(default both)")
    p.add_argument("--silent", action="store_true", help="only the silent variant (= --variants silent)")
    p.add_argument("--events", choices=["exact", "estimate"], default="exact",
                   help="synaptic events from the actual out-degrees (default) or spikes x k")
    p.add_argument("--seed", type=int, default=12345, help="network seed (default 12345)")
    p.add_argument("--precision", choices=["float64", "float32"], default=None,
                   help="sparsegpu's precision (default float64); other simulators ignore it")
    p.add_argument("--spike-precision", choices=["off_grid", "on_grid"], default=None,
                   help="passed to every simulator's setup(); default: each simulator's own (off_grid on NEST "
                   "and sparsegpu)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per run (default 3600)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "scaling.json"),
                   help="JSON output file (default benchmarks/results/scaling.json)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    ks = [int(k) for k in args.k.split(",") if k.strip()]
    sims = [s.strip() for s in args.sims.split(",") if s.strip()]
    variants = ["silent"] if args.silent else [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in ("active", "silent"):
            sys.exit(f"unknown variant {v!r}; use active and/or silent")
    script = os.path.join(BENCH_DIR, "balanced_network.py")
    meta = metadata()
    meta.update(sizes=sizes, k=ks, tstop_ms=args.tstop, sims=sims, variants=variants, seed=args.seed,
                events=args.events, precision=args.precision or "float64")

    results = []
    tmpdir = tempfile.mkdtemp(prefix="scaling_")
    for sim in sims:
        for k in ks:
            for variant in variants:
                failed_at = None
                for n in sizes:
                    entry = {"simulator": sim, "k": k, "n": n, "variant": variant}
                    if failed_at is not None:
                        entry["skipped"] = f"N={failed_at} failed or timed out"
                        results.append(entry)
                        continue
                    json_path = os.path.join(tmpdir, f"{sim}_{k}_{n}_{variant}.json")
                    cmd = [sys.executable, script, sim, "--n", str(n), "--k", str(k), "--tstop", repr(args.tstop),
                           "--seed", str(args.seed), "--events", args.events, "--json", json_path]
                    if variant == "silent":
                        cmd.append("--silent")
                    if args.precision and sim == "sparsegpu":
                        cmd += ["--precision", args.precision]
                    if args.spike_precision:
                        cmd += ["--spike-precision", args.spike_precision]
                    print(f"[{sim} {variant} N={n} k={k}] ...", end=" ", flush=True)
                    result, error, _ = run_child(cmd, args.timeout)
                    if error:
                        print("FAILED: " + error.splitlines()[0])
                        print(error, file=sys.stderr)
                        entry["error"] = error
                        failed_at = n
                    else:
                        t = result["times"]
                        print(f"build {t['build']:.2f} s, run {t['run']:.2f} s, rate {result['rate_hz']:.2f} Hz")
                        entry["result"] = result
                    results.append(entry)
    try:
        os.rmdir(tmpdir)
    except OSError:
        pass

    meta["backend_info"] = {e["simulator"]: e["result"]["backend_info"] for e in results
                            if "result" in e and e["result"].get("backend_info") is not None}

    headers = ["simulator", "variant", "N", "k", "build s", "1st run s", "run s", "s/sim-s", "us/neuron/sim-s",
               "rate Hz", "pop CV", "spikes", "syn events", "events/wall-s", "steady events/s", "CPU s/sim-s",
               "events/CPU-s", "launches/step",
               "syncs/step", "ref parts", "total s"]
    rows = []
    for e in results:
        if "result" not in e:
            rows.append([e["simulator"], e["variant"], e["n"], e["k"],
                         "SKIPPED" if "skipped" in e else "FAILED"] + [""] * (len(headers) - 5))
            continue
        r = e["result"]
        t = r["times"]
        ks = r.get("kernel_statistics") or {}
        parts = ks.get("reference_parts")
        rows.append([e["simulator"], e["variant"], e["n"], e["k"], fmt(t["build"], ".2f"),
                     fmt(t.get("first_run"), ".2f"), fmt(t["run"], ".2f"),
                     fmt(r["run_s_per_sim_s"], ".3f"), fmt(1e6 * r["run_s_per_sim_s"] / e["n"], ".2f"),
                     fmt(r["rate_hz"], ".2f"), fmt(r.get("population_cv_5ms"), ".2f"), r["spikes"],
                     r["synaptic_events"], fmt(r["events_per_wall_s"], ".3g") if r["spikes"] else "-",
                     fmt(r.get("events_per_wall_s_steady"), ".3g") if r["spikes"] else "-",
                     fmt(r.get("run_cpu_s_per_sim_s"), ".3f"),
                     fmt(r.get("events_per_cpu_s_steady"), ".3g") if r["spikes"] else "-",
                     fmt(ks.get("launches_per_step"), ".2f"), fmt(ks.get("syncs_per_step"), ".2f"),
                     "-" if parts is None else (len(parts) if parts else "none"), fmt(t["total"], ".2f")])
    print()
    print(f"Balanced network scaling, {args.tstop:g} ms simulated; {meta['cpu_model']}, {meta['cpu_count']} CPUs, "
          f"git {meta['git_commit']}{' (dirty)' if meta['git_dirty'] else ''}")
    print_table(headers, rows)
    for sim, info in meta["backend_info"].items():
        print(f"{sim} backend: {info}")
    for e in results:
        parts = ((e.get("result") or {}).get("kernel_statistics") or {}).get("reference_parts")
        if parts:
            print(f"{e['simulator']} {e['variant']} N={e['n']} k={e['k']} reference parts: " + "; ".join(parts))
    write_json(args.out, {"metadata": meta, "results": results})
    print(f"results written to {args.out}")
    return 1 if any("error" in e for e in results) else 0


if __name__ == "__main__":
    sys.exit(main())
