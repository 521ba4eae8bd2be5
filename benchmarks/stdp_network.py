"""Balanced random network with STDP on the excitatory-to-excitatory synapses.

    python benchmarks/stdp_network.py SIMULATOR [--n 10000] [--k 100] [--tstop 1000] [--seed 12345]
                                      [--json FILE]

The network of balanced_network.py (same cell parameters, weights, delay 1.5 ms, g = 5, constant drive
i_offset uniform in 0.9-1.3 x rheobase, v uniform between v_reset and v_thresh; N neurons, 80 % exc and
20 % inh, every neuron receiving exactly 0.8 k exc and 0.2 k inh synapses from FixedNumberPreConnector
with a seeded NumpyRNG), except that the exc -> exc projection is plastic:

    STDPMechanism(timing_dependence=SpikePairRule(tau_plus=20, tau_minus=20, A_plus=0.01, A_minus=0.012),
                  weight_dependence=AdditiveWeightDependence(w_min=0, w_max=2 w_exc),
                  weight=w_exc, delay=1.5)

The other three projections are static. With N = 10^4 and k = 100 that is 0.8 N x 0.8 k = 6.4e5 STDP
synapses out of 10^6.

Times (time.perf_counter, seconds): import (script start to `import pyNN.<SIMULATOR>`), build (setup,
populations, projections, record), first_run (run(2 ms): includes the connectivity finalisation that
sparsegpu and NEST defer to the first run), steady_run (run(tstop - 2 ms)), run (both), data
(get_data("spikes")), weights (the final exc -> exc weights, Projection.get("weight", format="list")),
total (script start to after the weights). Seconds per simulated second are taken from steady_run;
synaptic events (each spike times the out-degree of the neuron that fired) per second of wall time from run.
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402

import numpy as np  # noqa: E402

from balanced_network import (DELAY, DT, build, count_events, half_rates,  # noqa: E402
                              run_in_two_parts, spike_counts)
from bench_common import backend_info_of, write_json  # noqa: E402

STDP = {"tau_plus": 20.0, "tau_minus": 20.0, "A_plus": 0.01, "A_minus": 0.012}
W_MAX_FACTOR = 2.0       # w_max = 2 w_exc, w_min = 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("simulator", help="PyNN backend below pyNN: sparsegpu, nest, ...")
    p.add_argument("--n", type=int, default=10000, help="number of neurons (default 10000)")
    p.add_argument("--k", type=int, default=100, help="in-degree (default 100; 0.8k exc + 0.2k inh)")
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the NumpyRNG for connectivity and "
                   "initial values (default 12345)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    return p.parse_args(argv)


def power_of_ten(n):
    """'10^6' for 1000000, '2x10^5' for 200000, else '1.23x10^6'-style."""
    if n <= 0:
        return str(n)
    e = int(np.floor(np.log10(n)))
    m = n / 10 ** e
    return f"10^{e}" if m == 1 else f"{m:.3g}x10^{e}"


def main(argv=None):
    args = parse_args(argv)
    sim = importlib.import_module("pyNN." + args.simulator)
    t_imported = time.perf_counter()

    def stdp(w_exc):
        return sim.STDPMechanism(
            timing_dependence=sim.SpikePairRule(**STDP),
            weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=W_MAX_FACTOR * w_exc),
            weight=w_exc, delay=DELAY)

    exc, inh, projections, sizes = build(sim, args, e2e_synapse=stdp)
    n_exc, n_inh, k_exc, k_inh, w_exc, w_inh = (sizes[key] for key in
                                                ("n_exc", "n_inh", "k_exc", "k_inh", "w_exc", "w_inh"))
    w_max = W_MAX_FACTOR * w_exc
    t_built = time.perf_counter()

    # --- run (in two parts, see balanced_network.run_in_two_parts) ---------------------------------------
    first_ms, t_first, t_ran = run_in_two_parts(sim, args.tstop)

    # --- data retrieval: spikes, then the final plastic weights ------------------------------------------
    exc_data = exc.get_data("spikes")
    inh_data = inh.get_data("spikes")
    t_data = time.perf_counter()
    weights = np.array([c[2] for c in projections["e2e"].get("weight", format="list")], dtype=float)
    t_weights = time.perf_counter()

    # --- not timed: counts, events, weight statistics ---------------------------------------------------
    counts = {"exc": spike_counts(exc_data, n_exc), "inh": spike_counts(inh_data, n_inh)}
    spikes = int(counts["exc"].sum() + counts["inh"].sum())
    seconds = args.tstop / 1000.0
    synapses, events, _, method = count_events(args.simulator, projections, counts)
    n_syn = sum(synapses.values())
    n_stdp = synapses["e2e"]
    tol = 1e-9 * w_max
    w_stats = {
        "n": int(weights.size),
        "initial": w_exc, "w_min": 0.0, "w_max": w_max,
        "mean": float(weights.mean()) if weights.size else None,
        "std": float(weights.std()) if weights.size else None,
        "min": float(weights.min()) if weights.size else None,
        "max": float(weights.max()) if weights.size else None,
        "fraction_at_w_min": float(np.count_nonzero(weights <= tol) / weights.size) if weights.size else None,
        "fraction_at_w_max": float(np.count_nonzero(weights >= w_max - tol) / weights.size)
        if weights.size else None,
        "fraction_changed": float(np.count_nonzero(np.abs(weights - w_exc) > tol) / weights.size)
        if weights.size else None,
    }
    _, rate_first, rate_second = half_rates((exc_data, inh_data), args.tstop, args.n)
    info = backend_info_of(sim)
    sim.end()

    run = t_ran - t_built
    steady = t_ran - t_first
    steady_sim_s = (args.tstop - first_ms) / 1000.0
    result = {
        "simulator": args.simulator, "model": "balanced network, STDP exc->exc",
        "n": args.n, "k": args.k, "n_exc": n_exc, "n_inh": n_inh, "k_exc": k_exc, "k_inh": k_inh,
        "w_exc_nA": w_exc, "w_inh_nA": w_inh, "w_max_nA": w_max, "stdp": STDP, "delay_ms": DELAY,
        "tstop_ms": args.tstop, "dt_ms": DT, "seed": args.seed,
        "times": {"import": t_imported - T_START, "build": t_built - t_imported, "first_run": t_first - t_built,
                  "steady_run": steady, "run": run, "data": t_data - t_ran, "weights": t_weights - t_data,
                  "total": t_weights - T_START},
        "first_run_ms": first_ms,
        "run_s_per_sim_s": steady / steady_sim_s if steady_sim_s > 0 else run / seconds,
        "spikes": spikes,
        "rate_hz": spikes / args.n / seconds,
        "rate_exc_hz": float(counts["exc"].sum()) / n_exc / seconds,
        "rate_inh_hz": float(counts["inh"].sum()) / n_inh / seconds,
        "rate_first_half_hz": rate_first, "rate_second_half_hz": rate_second,
        "synapses": synapses, "synapses_total": n_syn, "synapses_stdp": n_stdp,
        "synaptic_events": events, "events_method": method,
        "events_per_wall_s": events / run if run > 0 else None,
        "stdp_weights_nA": w_stats,
        "backend_info": info,
    }
    print(f"--- STDP balanced network on {args.simulator}: N={args.n}, k={args.k}, {args.tstop:g} ms ---")
    print(f"{power_of_ten(n_syn)} synapses, of which {n_stdp} STDP ({100.0 * n_stdp / max(n_syn, 1):.1f} %; "
          f"{n_syn} in total)")
    print(f"rate {result['rate_hz']:.2f} Hz (exc {result['rate_exc_hz']:.2f}, inh {result['rate_inh_hz']:.2f}; "
          f"1st half {rate_first:.2f}, 2nd half {rate_second:.2f}); spikes {spikes}, synaptic events {events}")
    if weights.size:
        print(f"final STDP weights: mean {w_stats['mean']:.6g} nA, std {w_stats['std']:.3g} nA "
              f"(initial {w_exc:g}, range {w_stats['min']:.3g}-{w_stats['max']:.3g}, at w_min "
              f"{w_stats['fraction_at_w_min']:.3f}, at w_max {w_stats['fraction_at_w_max']:.3f}, changed "
              f"{w_stats['fraction_changed']:.3f})")
    t = result["times"]
    print(f"import {t['import']:.3f} s, build {t['build']:.3f} s, first run ({first_ms:g} ms) "
          f"{t['first_run']:.3f} s, rest of run {steady:.3f} s ({result['run_s_per_sim_s']:.3f} s per simulated "
          f"s), data {t['data']:.3f} s, weights {t['weights']:.3f} s, total {t['total']:.3f} s; "
          f"{result['events_per_wall_s'] or 0:.3g} events per wall s")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
