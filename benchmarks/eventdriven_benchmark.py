"""The exact event-driven engine (engine/eventdriven) on SparseProp's balanced inhibitory LIF network.

    python benchmarks/eventdriven_benchmark.py [--n 10000 100000 1000000] [--k 100] [--spikes 500000]
                                               [--warmup 100] [--seed 1] [--json FILE]

N LIF cells (tau_m 10 ms, v_rest = v_reset = -65 mV, v_thresh = -50 mV, no refractory period, as SparseProp's
LIF network), each receiving exactly K inhibitory synapses from presynaptic cells drawn at random with
replacement (FixedNumberPre-like, autapses allowed), weight -J with J = 4.5 mV x sqrt(100/K) (0.3 of the
15 mV from reset to threshold at K = 100; SparseProp's 1/sqrt(K) scaling), one delay of 1.0 ms. Each cell
is driven by a constant current putting V_inf 22.5 mV above rest (7.5 mV above threshold: every cell alone
would fire at 91 Hz); recurrent inhibition holds the network in the balanced state, asynchronous and
irregular at ~4.4 Hz. Initial v uniform in [v_reset, v_thresh).

After `--warmup` ms (not timed) the network is run for the time that gives about `--spikes` spikes at the
rate seen in the warm-up. Reported: spikes and mean rate in the timed part, the mean coefficient of variation
of the inter-spike intervals (cells with >= 3 spikes; biased low when the run gives few spikes per cell, as at
large N with a fixed spike count), build time (EventDrivenNetwork construction from the
synapse arrays), run wall time (time.perf_counter around run()), microseconds per network spike, and
nanoseconds per spike per synapse (wall / (spikes x K)). Sequential C++ (one core). Each N runs in a fresh
Python process.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import BENCH_DIR, REPO_ROOT, metadata, print_table, run_child, write_json  # noqa: E402

sys.path.insert(0, REPO_ROOT)        # the engine of this checkout, not an installed copy

from pynn_sparsegpu.engine.eventdriven import EventDrivenNetwork  # noqa: E402

CELL = {"cm": 1.0, "tau_m": 10.0, "v_rest": -65.0, "v_reset": -65.0, "v_thresh": -50.0, "tau_refrac": 0.0}
DRIVE_MV = 22.5          # V_inf - v_rest
J_K100 = 4.5             # inhibitory weight magnitude (mV) at K = 100, scaled as 1/sqrt(K)
DELAY = 1.0


def cv_isi(ids, times, n):
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    isi = np.diff(times)
    same = ids[1:] == ids[:-1]
    cell = ids[1:][same]
    isi = isi[same]
    count = np.bincount(cell, minlength=n)
    mean = np.bincount(cell, isi, minlength=n)
    sq = np.bincount(cell, isi * isi, minlength=n)
    ok = count >= 2
    m = mean[ok] / count[ok]
    var = np.maximum(sq[ok] / count[ok] - m * m, 0.0)
    return float(np.mean(np.sqrt(var) / m)) if ok.any() else float("nan")


def run_one(n, k, target_spikes, warmup, seed):
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    pre = rng.integers(0, n, n * k, dtype=np.int64)
    post = np.repeat(np.arange(n, dtype=np.int64), k)
    j = J_K100 * np.sqrt(100.0 / k)
    net = EventDrivenNetwork(n, **CELL, i_offset=DRIVE_MV * CELL["cm"] / CELL["tau_m"],
                             v=rng.uniform(CELL["v_reset"], CELL["v_thresh"], n),
                             pre=pre, post=post, weight=np.full(n * k, -j), delay=np.full(n * k, DELAY))
    del pre, post
    build = time.perf_counter() - t0
    net.run(warmup)
    warm_spikes = net.spikes()[0].size
    rate_warm = warm_spikes / n / (warmup / 1000.0)
    duration = round(target_spikes / (n * max(rate_warm, 0.1)) * 1000.0, 1)
    t0 = time.perf_counter()
    net.run(warmup + duration)
    wall = time.perf_counter() - t0
    ids, times = net.spikes()
    ids, times = ids[warm_spikes:], times[warm_spikes:]
    spikes = int(ids.size)
    return {
        "n": n, "k": k, "weight_mV": -j, "delay_ms": DELAY, "drive_mV": DRIVE_MV, "warmup_ms": warmup,
        "simulated_ms": duration, "spikes": spikes, "rate_hz": spikes / n / (duration / 1000.0),
        "cv_isi": cv_isi(ids, times, n), "build_s": build, "wall_s": wall,
        "us_per_spike": wall / spikes * 1e6, "ns_per_spike_synapse": wall / (spikes * k) * 1e9,
        "pending_arrivals_at_end": net.pending_arrivals,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--spikes", type=float, default=5e5)
    ap.add_argument("--warmup", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    ap.add_argument("--child", action="store_true", help="run the one case --n in this process")
    ap.add_argument("--json", default=os.path.join(BENCH_DIR, "results", "eventdriven.json"))
    args = ap.parse_args()
    if args.child:
        with open(args.json, "w") as f:
            json.dump(run_one(args.n[0], args.k, args.spikes, args.warmup, args.seed), f)
        return
    results = []
    for n in args.n:                       # each case in a fresh process
        fd, tmp = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--n", str(n), "--k", str(args.k),
               "--spikes", str(args.spikes), "--warmup", str(args.warmup), "--seed", str(args.seed),
               "--json", tmp]
        r, err, _ = run_child(cmd, args.timeout)
        if r is None:
            print(f"N={n}: failed ({err})", flush=True)
            results.append({"n": n, "k": args.k, "error": err})
            continue
        results.append(r)
        print(f"N={n}: {r['spikes']} spikes in {r['wall_s']:.2f} s", flush=True)
    ok = [r for r in results if "error" not in r]
    print_table(["N", "K", "sim ms", "spikes", "rate Hz", "CV ISI", "build s", "run s", "us/spike",
                 "ns/spike/syn"],
                [[r["n"], r["k"], f"{r['simulated_ms']:.0f}", r["spikes"], f"{r['rate_hz']:.2f}",
                  f"{r['cv_isi']:.2f}", f"{r['build_s']:.1f}", f"{r['wall_s']:.2f}", f"{r['us_per_spike']:.2f}",
                  f"{r['ns_per_spike_synapse']:.1f}"] for r in ok])
    write_json(args.json, {"benchmark": "eventdriven_balanced_inhibitory", "metadata": metadata(),
                           "args": {k: v for k, v in vars(args).items() if k != "child"}, "results": results})


if __name__ == "__main__":
    main()
