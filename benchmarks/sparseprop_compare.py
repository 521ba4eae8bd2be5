"""The acceptance benchmark: SparseProp's balanced inhibitory network through PyNN on three simulators.

    python benchmarks/sparseprop_compare.py [--sims sparsegpu-event,sparsegpu-time,sparsegpu-offgrid,nest]
                                            [--sizes 10000,100000,1000000] [--nest-max 100000]
                                            [--spikes 200000] [--warmup 100] [--seed 1]
                                            [--json benchmarks/results/sparseprop_compare.json]

The network is the one of eventdriven_benchmark.py, built with PyNN: N IF_curr_delta cells (cm 1 nF, tau_m
10 ms, v_rest = v_reset = -70 mV, v_thresh = -55 mV, tau_refrac 0.1 ms: NEST needs t_ref >= the resolution,
and all simulators use the same value), i_offset 2.25 nA (V_inf 22.5 mV above rest, 7.5 mV above threshold),
each cell receiving K = 100 inhibitory synapses (FixedNumberPreConnector(100) with a NumpyRNG seed, autapses
allowed), StaticSynapse(weight=-4.5 mV, delay=1.0 ms) on the "inhibitory" receptor. Initial v uniform in
[v_reset, v_thresh), the same array (drawn from NumPy with --seed) for every simulator: through
Population.initialize on sparsegpu and, as pyNN.nest cannot initialise iaf_psc_delta_ps's V_m (it warns
"NEST does not allow setting an initial value for v"), through NEST directly: population.node_collection.set(
V_m=...) before the first run (pyNN.nest's first run keeps these values; checked by hand with NEST 3.10).

Simulators: "sparsegpu-event" (setup(engine="event"): the exact event-driven engine), "sparsegpu-time"
(setup(engine="time", spike_precision="on_grid", backend="cpu"), dt 0.1 ms: the clock-driven compiled CPU
engine), "sparsegpu-offgrid" (setup(engine="time", spike_precision="off_grid"): the time-driven engine with
precise spike times, NEST's iaf_psc_delta_ps on the grid) and "nest" (pyNN.nest, default spike_precision="off_grid", so IF_curr_delta is iaf_psc_delta_ps;
1 thread). Each (simulator, N) runs in its own Python process. A warm-up run of --warmup ms is not timed;
the timed run lasts the time that gives about --spikes network spikes at the warm-up's rate (rounded up to
the 0.1 ms grid). Only sim.run() is timed (time.perf_counter). Spikes are recorded with record("spikes")
and counted from Neo's multiplexed arrays (making 10^6 SpikeTrain objects is slow).

Reported per simulator and N: rate (Hz) and spikes in the timed run, run wall time, microseconds per
network spike, nanoseconds per spike per synapse (wall / (spikes x K)), spikes per second of wall time;
and the acceptance ratios: sparsegpu-event's wall time per spike at 10^6 over 10^4 (target <= 2), the
speed-up of sparsegpu-event over sparsegpu-time and over sparsegpu-offgrid at 10^6 (target >= 10, rates
within 5 %) and over NEST at
10^5 (target >= 20).
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import BENCH_DIR, REPO_ROOT, backend_info_of, metadata, print_table, run_child, \
    write_json  # noqa: E402

K = 100
J = 4.5
DELAY = 1.0
DT = 0.1
CELL = {"cm": 1.0, "tau_m": 10.0, "v_rest": -70.0, "v_reset": -70.0, "v_thresh": -55.0, "tau_refrac": 0.1,
        "i_offset": 2.25}
SIMS = ("sparsegpu-event", "sparsegpu-time", "sparsegpu-offgrid", "nest")


def spike_count_after(block, after_ms):
    """Network spikes at times >= after_ms, from the multiplexed arrays where Neo has them."""
    trains = block.segments[0].spiketrains
    if getattr(trains, "_spike_time_array", None) is not None:
        _, times = trains.multiplexed
        times = np.asarray(getattr(times, "magnitude", times), dtype=float)
        return int(np.count_nonzero(times >= after_ms))
    return int(sum(np.count_nonzero(np.asarray(st.magnitude) >= after_ms) for st in trains))


def run_one(simulator, n, target_spikes, warmup, seed):
    t_import = time.perf_counter()
    if simulator.startswith("sparsegpu"):
        sys.path.insert(0, REPO_ROOT)           # this checkout's backend, not an installed copy
        import pynn_sparsegpu as sim
        if simulator == "sparsegpu-event":
            sim.setup(timestep=DT, min_delay=DT, max_delay=DELAY, engine="event")
        elif simulator == "sparsegpu-offgrid":
            sim.setup(timestep=DT, min_delay=DT, max_delay=DELAY, engine="time", spike_precision="off_grid",
                      backend="cpu")
        else:
            sim.setup(timestep=DT, min_delay=DT, max_delay=DELAY, engine="time", spike_precision="on_grid",
                      backend="cpu")
    else:
        import pyNN.nest as sim
        sim.setup(timestep=DT, min_delay=DT, max_delay=DELAY, threads=1)
    from pyNN.random import NumpyRNG
    t0 = time.perf_counter()
    import_s = t0 - t_import
    v0 = np.random.default_rng(seed).uniform(CELL["v_reset"], CELL["v_thresh"], n)
    cells = sim.Population(n, sim.IF_curr_delta(**CELL), label="cells")
    initial = "Population.initialize(v=...)"
    if simulator == "nest":
        cells.node_collection.set(V_m=v0.tolist())
        initial = "node_collection.set(V_m=...) (pyNN.nest cannot initialise iaf_psc_delta_ps's v)"
    else:
        cells.initialize(v=v0)
    sim.Projection(cells, cells, sim.FixedNumberPreConnector(K, allow_self_connections=True,
                                                             rng=NumpyRNG(seed=seed + 1)),
                   sim.StaticSynapse(weight=-J, delay=DELAY), receptor_type="inhibitory")
    cells.record("spikes")
    build_s = time.perf_counter() - t0
    model = None
    if simulator == "nest":
        model = str(cells.node_collection[0].get("model"))
    t0 = time.perf_counter()
    sim.run(warmup)
    warm_s = time.perf_counter() - t0
    v_check = None
    if simulator == "nest":
        v_check = "set before the first run"
    warm_spikes = spike_count_after(cells.get_data("spikes", clear=False), 0.0)
    rate_warm = warm_spikes / n / (warmup / 1000.0)
    duration = math.ceil(target_spikes / (n * max(rate_warm, 0.1)) * 1000.0 / DT) * DT
    duration = round(duration, 1)
    t0 = time.perf_counter()
    sim.run(duration)
    wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    block = cells.get_data("spikes")
    spikes = spike_count_after(block, warmup)
    get_data_s = time.perf_counter() - t0
    info = backend_info_of(sim)
    sim.end()
    return {
        "simulator": simulator, "n": n, "k": K, "weight_mV": -J, "delay_ms": DELAY, "cell": CELL, "dt_ms": DT,
        "initial_v": initial, "nest_model": model, "v_check": v_check, "warmup_ms": warmup,
        "warmup_spikes": warm_spikes, "warmup_rate_hz": rate_warm, "warmup_wall_s": warm_s,
        "simulated_ms": duration, "spikes": spikes, "rate_hz": spikes / n / (duration / 1000.0),
        "import_s": import_s, "build_s": build_s, "wall_s": wall, "get_data_s": get_data_s,
        "us_per_spike": wall / spikes * 1e6 if spikes else None,
        "ns_per_spike_synapse": wall / (spikes * K) * 1e9 if spikes else None,
        "spikes_per_s": spikes / wall if wall > 0 else None, "backend_info": info,
    }


def ratios(results):
    by = {(r["simulator"], r["n"]): r for r in results if "error" not in r and r.get("spikes")}
    out = {}
    e4, e6 = by.get(("sparsegpu-event", 10_000)), by.get(("sparsegpu-event", 1_000_000))
    if e4 and e6:
        v = e6["us_per_spike"] / e4["us_per_spike"]
        out["event_per_spike_1e6_over_1e4"] = {"value": v, "target": "<= 2", "met": v <= 2.0}
    t6 = by.get(("sparsegpu-time", 1_000_000))
    if e6 and t6:
        v = t6["us_per_spike"] / e6["us_per_spike"]
        rd = abs(e6["rate_hz"] - t6["rate_hz"]) / t6["rate_hz"]
        out["event_speedup_over_time_1e6"] = {"value": v, "rate_rel_diff": rd, "target": ">= 10, rates within 5 %",
                                              "met": v >= 10.0 and rd <= 0.05}
    o6 = by.get(("sparsegpu-offgrid", 1_000_000))
    if e6 and o6:
        v = o6["us_per_spike"] / e6["us_per_spike"]
        rd = abs(e6["rate_hz"] - o6["rate_hz"]) / o6["rate_hz"]
        out["event_speedup_over_offgrid_1e6"] = {"value": v, "rate_rel_diff": rd,
                                                 "target": ">= 10, rates within 5 %", "met": v >= 10.0 and rd <= 0.05}
    e5, n5 = by.get(("sparsegpu-event", 100_000)), by.get(("nest", 100_000))
    if e5 and n5:
        v = n5["us_per_spike"] / e5["us_per_spike"]
        rd = abs(e5["rate_hz"] - n5["rate_hz"]) / n5["rate_hz"]
        out["event_speedup_over_nest_1e5"] = {"value": v, "rate_rel_diff": rd, "target": ">= 20", "met": v >= 20.0}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", default=",".join(SIMS))
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--nest-max", type=int, default=100_000, help="largest N run on NEST (default 10^5)")
    ap.add_argument("--spikes", type=float, default=2e5, help="network spikes aimed at in the timed run")
    ap.add_argument("--warmup", type=float, default=100.0, help="untimed warm-up (ms)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per case")
    ap.add_argument("--child", action="store_true", help="run one (--sims, --sizes) case in this process")
    ap.add_argument("--json", default=os.path.join(BENCH_DIR, "results", "sparseprop_compare.json"))
    args = ap.parse_args()
    sims = [s for s in args.sims.split(",") if s]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for s in sims:
        if s not in SIMS:
            sys.exit(f"unknown simulator {s!r}; choose from {', '.join(SIMS)}")
    if args.child:
        with open(args.json, "w") as f:
            json.dump(run_one(sims[0], sizes[0], args.spikes, args.warmup, args.seed), f)
        return 0
    meta = metadata()
    results = []
    for n in sizes:
        for s in sims:
            if s == "nest" and n > args.nest_max:
                results.append({"simulator": s, "n": n, "skipped": f"N > --nest-max {args.nest_max}"})
                continue
            fd, tmp = tempfile.mkstemp(suffix=".json")
            os.close(fd)
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--sims", s, "--sizes", str(n),
                   "--spikes", str(args.spikes), "--warmup", str(args.warmup), "--seed", str(args.seed),
                   "--json", tmp]
            print(f"[{s} N={n}] ...", end=" ", flush=True)
            r, err, _ = run_child(cmd, args.timeout)
            if r is None:
                print("FAILED: " + err.splitlines()[0], flush=True)
                print(err, file=sys.stderr)
                results.append({"simulator": s, "n": n, "error": err})
                continue
            print(f"build {r['build_s']:.1f} s, {r['spikes']} spikes in {r['wall_s']:.2f} s, "
                  f"{r['rate_hz']:.2f} Hz", flush=True)
            results.append(r)
    ok = [r for r in results if "error" not in r and "skipped" not in r]
    print()
    print(f"SparseProp's balanced inhibitory network through PyNN (K = {K}, J = {J} mV, delay {DELAY} ms); "
          f"{meta['cpu_model']}, git {meta['git_commit']}{' (dirty)' if meta['git_dirty'] else ''}")
    print_table(["simulator", "N", "sim ms", "spikes", "rate Hz", "build s", "run s", "us/spike",
                 "ns/spike/syn", "spikes/s"],
                [[r["simulator"], r["n"], f"{r['simulated_ms']:.1f}", r["spikes"], f"{r['rate_hz']:.3f}",
                  f"{r['build_s']:.1f}", f"{r['wall_s']:.2f}", f"{r['us_per_spike']:.2f}",
                  f"{r['ns_per_spike_synapse']:.1f}", f"{r['spikes_per_s']:.3g}"] for r in ok])
    rs = ratios(results)
    print()
    for name, r in rs.items():
        extra = f", rates differ by {100 * r['rate_rel_diff']:.2f} %" if "rate_rel_diff" in r else ""
        print(f"{name}: {r['value']:.2f} (target {r['target']}{extra}): {'met' if r['met'] else 'NOT met'}")
    write_json(args.json, {"benchmark": "sparseprop_compare", "metadata": meta,
                           "args": {k: v for k, v in vars(args).items() if k != "child"},
                           "results": results, "ratios": rs})
    print(f"results written to {args.json}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
