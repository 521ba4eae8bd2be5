"""Balanced random network of IF_curr_exp neurons with fixed in-degree, for scaling measurements.

    python benchmarks/balanced_network.py SIMULATOR [--n 10000] [--k 100] [--tstop 1000] [--silent]
                                          [--seed 12345] [--precision float32] [--threads N]
                                          [--spike-precision off_grid|on_grid] [--json FILE]

N neurons, 80 % excitatory and 20 % inhibitory. Every neuron receives exactly 0.8 k excitatory and 0.2 k
inhibitory synapses (FixedNumberPreConnector, no autapses), delay 1.5 ms. Inhibition dominates
(g = w_inh / w_exc = -5) and each neuron is driven by a constant current i_offset drawn uniformly between
0.9 and 1.3 times its rheobase, so the network settles to asynchronous irregular firing at ~10 Hz. The
weights scale as 100 / k, which keeps the mean recurrent input independent of k. With --silent there is
no drive and v starts at rest: no neuron ever fires, and the run costs only the neuron updates.

Synaptic events = sum over spikes of the out-degree of the neuron that fired (read from the projections
after the timed part; --events estimate uses total spikes x k instead, which is its expectation). Events per
wall second are given for the whole run and for its steady part (the events of the spikes after the first
run() call, over that part's time). On sparsegpu the result also holds sim.kernel_statistics(): kernel
launches and host synchronisations per step, and the parts of the step that ran on the reference path.

Times (time.perf_counter, seconds): import (script start to `import pyNN.<SIMULATOR>`), build (setup,
populations, projections, record), run (all of the simulated time), data (get_data("spikes")), total
(script start to after data). The run is done as run(2 ms) + run(tstop - 2 ms): the first call carries the
one-time work a simulator defers to its first run (first_run), and the seconds per simulated second are
taken from the second call (steady state).
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402

import numpy as np  # noqa: E402

from bench_common import backend_info_of, write_json  # noqa: E402

CELL = {"tau_m": 20.0, "cm": 0.25, "v_rest": -65.0, "v_reset": -65.0, "v_thresh": -50.0,
        "tau_refrac": 2.0, "tau_syn_E": 5.0, "tau_syn_I": 5.0}
W_EXC_K100 = 0.02        # nA at k = 100 (EPSP ~0.25 mV)
G_INH = 5.0              # |w_inh| / w_exc
DELAY = 1.5              # ms
DRIVE = (0.9, 1.3)       # i_offset range, in units of the rheobase current
DT = 0.1                 # ms
FIRST_MS = 2.0           # ms simulated in the first, separately timed run() call


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("simulator", help="PyNN backend below pyNN: sparsegpu, nest, ...")
    p.add_argument("--n", type=int, default=10000, help="number of neurons (default 10000)")
    p.add_argument("--k", type=int, default=100, help="in-degree (default 100; 0.8k exc + 0.2k inh)")
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    p.add_argument("--silent", action="store_true", help="no drive: no neuron fires")
    p.add_argument("--seed", type=int, default=12345, help="seed of the NumpyRNG for connectivity and "
                   "initial values (default 12345)")
    p.add_argument("--events", choices=["exact", "estimate"], default="exact",
                   help="count synaptic events from the out-degrees (exact, default) or as spikes x k")
    p.add_argument("--precision", choices=["float64", "float32"], default=None,
                   help="sparsegpu only: floating-point precision of the simulation (default: the backend's, "
                   "float64)")
    p.add_argument("--threads", type=int, default=None, help="threads (sim.setup(threads=N)); default 1")
    p.add_argument("--spike-precision", choices=["off_grid", "on_grid"], default=None,
                   help="sim.setup(spike_precision=...); default: the simulator's own (off_grid on NEST and "
                   "sparsegpu: IF_curr_exp runs with precise spike times, as NEST's iaf_psc_exp_ps)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    return p.parse_args(argv)


def out_degrees(sim_name, prj):
    """Out-degree of every presynaptic neuron of a projection, and how it was read."""
    n_pre = prj.pre.size
    if sim_name == "sparsegpu" and hasattr(prj, "_coo"):
        try:
            pre = np.asarray(prj._coo()[0], dtype=np.int64)
            return np.bincount(pre, minlength=n_pre), "sparsegpu _coo"
        except Exception:
            pass
    if sim_name == "nest" and hasattr(prj, "nest_connections"):
        try:
            sources = np.asarray(prj.nest_connections.get("source"), dtype=np.int64).ravel()
            pre = np.asarray(prj.pre.id_to_index(sources), dtype=np.int64)
            return np.bincount(pre, minlength=n_pre), "nest GetConnections"
        except Exception:
            pass
    conns = prj.get("weight", format="list", with_address=True)
    pre = np.fromiter((c[0] for c in conns), dtype=np.int64, count=len(conns))
    return np.bincount(pre, minlength=n_pre), "Projection.get list"


def spike_counts(block, n, after_ms=None):
    """Spikes per neuron (only those at times >= after_ms, if given), from the multiplexed spike arrays where
    Neo has them (making 10^5 SpikeTrain objects takes Neo tens of seconds), else train by train."""
    counts = np.zeros(n, dtype=np.int64)
    trains = block.segments[0].spiketrains
    all_ids = getattr(trains, "all_channel_ids", None)
    if getattr(trains, "_spike_time_array", None) is not None and all_ids is not None and len(all_ids) == n:
        channels, times = trains.multiplexed
        times = np.asarray(getattr(times, "magnitude", times), dtype=float)
        channels = np.asarray(channels)
        if after_ms is not None:
            channels = channels[times >= after_ms]
        order = np.argsort(np.asarray(all_ids), kind="stable")
        index = order[np.searchsorted(np.asarray(all_ids)[order], channels)]
        return np.bincount(index, minlength=n).astype(np.int64)
    for i, st in enumerate(trains):
        if after_ms is None:
            c = len(st)
        else:
            c = int(np.count_nonzero(np.asarray(st.magnitude if hasattr(st, "magnitude") else st) >= after_ms))
        counts[int(st.annotations.get("source_index", i))] = c
    return counts


def build(sim, args, silent=False, e2e_synapse=None):
    """Set up the network (recording spikes); returns (exc, inh, projections, sizes). `e2e_synapse(w_exc)`,
    called after setup, gives the exc -> exc synapse type in place of the static one (stdp_network.py makes
    it plastic)."""
    from pyNN.random import NumpyRNG, RandomDistribution
    n_exc = int(round(0.8 * args.n))
    k_exc = int(round(0.8 * args.k))
    w_exc = W_EXC_K100 * 100.0 / args.k
    sizes = {"n_exc": n_exc, "n_inh": args.n - n_exc, "k_exc": k_exc, "k_inh": args.k - k_exc,
             "w_exc": w_exc, "w_inh": -G_INH * w_exc}
    rheobase = (CELL["v_thresh"] - CELL["v_rest"]) * CELL["cm"] / CELL["tau_m"]   # nA
    extra = {}
    if getattr(args, "precision", None):
        extra["precision"] = args.precision
    if getattr(args, "threads", None):
        extra["threads"] = args.threads
    if getattr(args, "spike_precision", None):
        extra["spike_precision"] = args.spike_precision
    sim.setup(timestep=DT, min_delay=DT, max_delay=DELAY, **extra)
    rng = NumpyRNG(seed=args.seed, parallel_safe=True)
    cell = dict(CELL)
    if not silent:
        cell["i_offset"] = RandomDistribution("uniform", low=DRIVE[0] * rheobase, high=DRIVE[1] * rheobase,
                                              rng=rng)
    exc = sim.Population(sizes["n_exc"], sim.IF_curr_exp(**cell), label="exc")
    inh = sim.Population(sizes["n_inh"], sim.IF_curr_exp(**cell), label="inh")
    if silent:
        v_init = CELL["v_rest"]
    else:
        v_init = RandomDistribution("uniform", low=CELL["v_reset"], high=CELL["v_thresh"], rng=rng)
    exc.initialize(v=v_init)
    inh.initialize(v=v_init)
    syn_exc = sim.StaticSynapse(weight=sizes["w_exc"], delay=DELAY)
    syn_inh = sim.StaticSynapse(weight=sizes["w_inh"], delay=DELAY)
    conn_exc = sim.FixedNumberPreConnector(sizes["k_exc"], allow_self_connections=False, rng=rng)
    conn_inh = sim.FixedNumberPreConnector(sizes["k_inh"], allow_self_connections=False, rng=rng)
    projections = {
        "e2e": sim.Projection(exc, exc, conn_exc, e2e_synapse(w_exc) if e2e_synapse else syn_exc,
                              receptor_type="excitatory"),
        "e2i": sim.Projection(exc, inh, conn_exc, syn_exc, receptor_type="excitatory"),
        "i2e": sim.Projection(inh, exc, conn_inh, syn_inh, receptor_type="inhibitory"),
        "i2i": sim.Projection(inh, inh, conn_inh, syn_inh, receptor_type="inhibitory"),
    }
    exc.record("spikes")
    inh.record("spikes")
    return exc, inh, projections, sizes


def run_in_two_parts(sim, tstop, cpu=None):
    """run(FIRST_MS) then run(the rest): simulators may finish building in their first run() (sparsegpu packs
    its synapse rows, NEST builds its connection infrastructure), so the first part carries that one-time
    cost and the second gives the steady-state seconds per simulated second.
    Returns (first_ms, time after the first part, time after the rest); a list given as `cpu` receives the
    process CPU times (time.process_time) at the start, after the first part and after the rest."""
    first_ms = min(FIRST_MS, tstop)
    if cpu is not None:
        cpu.append(time.process_time())
    sim.run(first_ms)
    t_first = time.perf_counter()
    if cpu is not None:
        cpu.append(time.process_time())
    if tstop > first_ms:
        sim.run(tstop - first_ms)
    t_end = time.perf_counter()
    if cpu is not None:
        cpu.append(time.process_time())
    return first_ms, t_first, t_end


def count_events(simulator, projections, counts, steady_counts=None):
    """Synapses per projection and synaptic events (each spike times the out-degree of its neuron), in all and
    (with steady_counts) of the given spikes only: (synapses, events, steady events or None, method)."""
    synapses, events, steady, method = {}, 0, 0, None
    for name, prj in projections.items():
        deg, method = out_degrees(simulator, prj)
        synapses[name] = int(deg.sum())
        pop = "exc" if name[0] == "e" else "inh"
        events += int(np.dot(counts[pop], deg))
        if steady_counts is not None:
            steady += int(np.dot(steady_counts[pop], deg))
    return synapses, events, steady if steady_counts is not None else None, method


def half_rates(blocks, tstop, n):
    """All spike times of the recorded blocks, and the rate (Hz) in the first and second half of the run."""
    arrays = []
    for block in blocks:
        trains = block.segments[0].spiketrains
        if getattr(trains, "_spike_time_array", None) is not None:
            arrays.append(np.asarray(getattr(trains.multiplexed[1], "magnitude", trains.multiplexed[1]), dtype=float))
        else:
            arrays.extend(np.asarray(st.magnitude if hasattr(st, "magnitude") else st, dtype=float) for st in trains)
    all_times = np.concatenate(arrays or [np.zeros(0)])
    half = tstop / 2.0
    return (all_times, np.count_nonzero(all_times < half) / n / (half / 1000.0),
            np.count_nonzero(all_times >= half) / n / (half / 1000.0))


def main(argv=None):
    args = parse_args(argv)
    sim = importlib.import_module("pyNN." + args.simulator)
    t_imported = time.perf_counter()

    exc, inh, projections, sizes = build(sim, args, silent=args.silent)
    n_exc, n_inh, k_exc, k_inh, w_exc, w_inh = (sizes[key] for key in
                                                ("n_exc", "n_inh", "k_exc", "k_inh", "w_exc", "w_inh"))
    t_built = time.perf_counter()

    # --- run (in two parts, see run_in_two_parts) ---------------------------------------------------
    cpu = []
    first_ms, t_first, t_ran = run_in_two_parts(sim, args.tstop, cpu)

    # --- data retrieval ---------------------------------------------------------------------------
    exc_data = exc.get_data("spikes")
    inh_data = inh.get_data("spikes")
    t_data = time.perf_counter()

    # --- not timed: counts, events, activity statistics ---------------------------------------------
    counts = {"exc": spike_counts(exc_data, n_exc), "inh": spike_counts(inh_data, n_inh)}
    steady_counts = {"exc": spike_counts(exc_data, n_exc, first_ms), "inh": spike_counts(inh_data, n_inh, first_ms)}
    spikes = int(counts["exc"].sum() + counts["inh"].sum())
    steady_spikes = int(steady_counts["exc"].sum() + steady_counts["inh"].sum())
    seconds = args.tstop / 1000.0
    t_count = time.perf_counter()
    synapses = {}
    if args.events == "exact":
        synapses, events, steady_events, method = count_events(args.simulator, projections, counts, steady_counts)
    else:
        method = "estimate: spikes x k"
        events = spikes * args.k
        steady_events = steady_spikes * args.k
        synapses = {name: None for name in projections}
    t_counted = time.perf_counter()
    # firing in the first and second half, to see that the regime is stationary
    all_times, rate_first, rate_second = half_rates((exc_data, inh_data), args.tstop, args.n)
    # synchrony: Fano factor (1 for Poisson, >>1 if synchronous) and CV of the population spike count in 5 ms bins
    hist = np.histogram(all_times, bins=max(1, int(args.tstop / 5.0)), range=(0.0, args.tstop))[0]
    fano = float(hist.var() / hist.mean()) if hist.mean() > 0 else None
    pop_cv = float(hist.std() / hist.mean()) if hist.mean() > 0 else None
    info = backend_info_of(sim)
    kernel_stats = sim.kernel_statistics() if hasattr(sim, "kernel_statistics") else None
    sim.end()

    run = t_ran - t_built
    steady = t_ran - t_first
    steady_sim_s = (args.tstop - first_ms) / 1000.0
    result = {
        "simulator": args.simulator, "variant": "silent" if args.silent else "active",
        "n": args.n, "k": args.k, "n_exc": n_exc, "n_inh": n_inh, "k_exc": k_exc, "k_inh": k_inh,
        "w_exc_nA": w_exc, "w_inh_nA": w_inh, "delay_ms": DELAY, "tstop_ms": args.tstop, "dt_ms": DT,
        "seed": args.seed,
        "times": {"import": t_imported - T_START, "build": t_built - t_imported, "run": run,
                  "data": t_data - t_ran, "total": t_data - T_START, "count_events": t_counted - t_count,
                  "first_run": t_first - t_built, "steady_run": steady},
        "first_run_ms": first_ms,
        # steady state (after the first run() call); run / simulated seconds where the run was too short
        "run_s_per_sim_s": steady / steady_sim_s if steady_sim_s > 0 else run / seconds,
        # the same from the process CPU time, which a busy machine inflates less than wall time
        "cpu_times": {"first_run": cpu[1] - cpu[0], "steady_run": cpu[2] - cpu[1]},
        "run_cpu_s_per_sim_s": (cpu[2] - cpu[1]) / steady_sim_s if steady_sim_s > 0 else (cpu[2] - cpu[0]) / seconds,
        "spikes": spikes,
        "rate_hz": spikes / args.n / seconds,
        "rate_exc_hz": float(counts["exc"].sum()) / n_exc / seconds,
        "rate_inh_hz": float(counts["inh"].sum()) / n_inh / seconds,
        "rate_first_half_hz": rate_first, "rate_second_half_hz": rate_second,
        "fraction_silent_neurons": float(np.count_nonzero(np.concatenate(list(counts.values())) == 0) / args.n),
        "fano_factor_5ms": fano, "population_cv_5ms": pop_cv,
        "synapses": synapses,
        "synaptic_events": events, "events_method": method,
        "events_per_wall_s": events / run if run > 0 else None,
        "steady_synaptic_events": steady_events,
        "events_per_wall_s_steady": steady_events / steady if steady > 0 and steady_sim_s > 0 else None,
        "events_per_cpu_s_steady": steady_events / (cpu[2] - cpu[1]) if cpu[2] > cpu[1] and steady_sim_s > 0
        else None,
        "backend_info": info,
        "kernel_statistics": kernel_stats,
    }
    print(f"--- balanced network ({result['variant']}) on {args.simulator}: N={args.n}, k={args.k}, "
          f"{args.tstop:g} ms ---")
    cv = "-" if pop_cv is None else f"{pop_cv:.3f}"
    print(f"rate {result['rate_hz']:.2f} Hz (exc {result['rate_exc_hz']:.2f}, "
          f"inh {result['rate_inh_hz']:.2f}; 1st half {rate_first:.2f}, 2nd half {rate_second:.2f}), "
          f"population CV(5 ms) {cv}, silent neurons {result['fraction_silent_neurons']:.3f}")
    print(f"spikes {spikes}, synaptic events {events} ({method}), "
          f"synapses {sum(v or 0 for v in synapses.values())}")
    t = result["times"]
    print(f"import {t['import']:.3f} s, build {t['build']:.3f} s, run {run:.3f} s (first {first_ms:g} ms "
          f"{t['first_run']:.3f} s; steady {result['run_s_per_sim_s']:.3f} s per simulated s), "
          f"data {t['data']:.3f} s, total {t['total']:.3f} s")
    print(f"synaptic events per wall s: {result['events_per_wall_s'] or 0:.3g} (whole run), "
          f"{result['events_per_wall_s_steady'] or 0:.3g} (steady part); per CPU s of the steady part: "
          f"{result['events_per_cpu_s_steady'] or 0:.3g} ({result['run_cpu_s_per_sim_s']:.3f} CPU s per "
          f"simulated s)")
    if kernel_stats is not None:
        print(f"kernel statistics: {kernel_stats['launches_per_step']} launches and {kernel_stats['syncs_per_step']} "
              f"host syncs per step ({kernel_stats['backend']}); reference parts: "
              f"{kernel_stats['reference_parts'] or 'none'}")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
