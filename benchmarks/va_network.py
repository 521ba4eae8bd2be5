"""Vogels-Abbott balanced network (Brette et al. 2007, benchmarks 1 and 2) with phase timings.

    python benchmarks/va_network.py SIMULATOR {CUBA,COBA} [--tstop 1000] [--n 4000] [--pconn 0.02]
                                    [--segments 1] [--seed 98765] [--json FILE]

SIMULATOR is a PyNN backend module name below `pyNN` (sparsegpu, nest, ...). The model is the one of
PyNN's examples/VAbenchmarks.py with separate excitatory and inhibitory populations: 4000 cells (4:1),
FixedProbabilityConnector(0.02) drawn from NumpyRNG(seed=98765), dt 0.1 ms, delay 0.2 ms; COBA adds a
20-cell Poisson stimulus (100 Hz for 50 ms) with p=0.01, weight 0.1 uS onto both populations. --pconn
changes the connection probability (a larger network with the same in-degree: 0.02 x 4000 / n).

Times (time.perf_counter, seconds):
  import  script start until `import pyNN.<SIMULATOR>` (and pyNN.random) has finished
  build   setup(), populations, initial values, projections, record()
  run     the simulation: sim.run(tstop), or --segments equal run() calls; the first one carries any work a
          simulator defers to its first run (sparsegpu builds its rows and loads its kernels, NEST prepares its
          connection infrastructure)
  data    get_data("spikes") of both populations
  total   script start until the data have been retrieved
With --segments N, "us_per_step" is the median over the N calls of the call's time divided by its steps (so
the one-time work of the first call does not count), and "segments_s" lists the calls' times; the "_cpu"
twins are the same from the process CPU time (time.process_time), which a busy machine inflates less. For
sparsegpu the result also holds sim.kernel_statistics() (launches and host syncs per step, and the parts of
the step that ran on the reference path).
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

from bench_common import backend_info_of, write_json  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("simulator", help="PyNN backend below pyNN: sparsegpu, nest, ...")
    p.add_argument("benchmark", choices=["CUBA", "COBA"])
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    p.add_argument("--n", type=int, default=4000, help="number of cells (default 4000)")
    p.add_argument("--pconn", type=float, default=0.02, help="connection probability between the cells "
                   "(default 0.02; 0.02 x 4000 / n keeps the in-degree of the 4000-cell network)")
    p.add_argument("--segments", type=int, default=1, help="split the run into this many equal run() calls "
                   "(default 1); the median time per step is taken over them")
    p.add_argument("--seed", type=int, default=98765, help="seed of the NumpyRNG (default 98765)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    return check_args(p, p.parse_args(argv))


def check_args(parser, args):
    """Refuse --pconn, --segments and --tstop values the run cannot use (shared with va_brian2.py)."""
    if not 0.0 < args.pconn <= 1.0:
        parser.error(f"--pconn must be in (0, 1], got {args.pconn}")
    if args.segments < 1:
        parser.error(f"--segments must be at least 1, got {args.segments}")
    steps = args.tstop / 0.1
    if abs(steps - round(steps)) > 1e-9 or round(steps) % args.segments:
        parser.error(f"--tstop {args.tstop:g} ms must be a whole number of 0.1 ms steps divisible by --segments "
                     f"{args.segments}")
    return args


def segment_summary(segment_times, steps_per_segment, segment_cpu_times=None):
    """Simulation time (sum of the run() calls) and the median and mean microseconds per step over them; the
    same from the process CPU times of the calls where given (on a busy machine wall time also counts the time
    the process waited for a core)."""
    per_step = [1e6 * t / steps_per_segment for t in segment_times]
    out = {"segments_s": list(segment_times), "steps_per_segment": steps_per_segment,
           "steps": steps_per_segment * len(segment_times), "simulation_s": sum(segment_times),
           "us_per_step": statistics.median(per_step), "us_per_step_mean": statistics.fmean(per_step),
           "us_per_step_min": min(per_step)}
    if segment_cpu_times is not None:
        out.update(segments_cpu_s=list(segment_cpu_times), simulation_cpu_s=sum(segment_cpu_times),
                   us_per_step_cpu=statistics.median(1e6 * t / steps_per_segment for t in segment_cpu_times))
    return out


def model_parameters(benchmark, n, pconn=0.02, seed=98765):
    """Parameters of VAbenchmarks.py, in PyNN units."""
    area = 20000e-8          # cm^2
    tau_m = 20.0             # ms
    cm = 1.0 * area * 1000   # uF/cm^2 * cm^2 -> nF  (= 0.2 nF)
    g_leak = 5e-5            # S/cm^2
    rm = 1e-6 / (g_leak * area)  # MOhm
    assert abs(tau_m - cm * rm) < 1e-9
    v_thresh, v_reset, v_mean = -50.0, -60.0, -60.0
    erev_exc, erev_inh = 0.0, -80.0
    n_exc = int(round(n * 4.0 / 5.0))
    cell = {"tau_m": tau_m, "tau_syn_E": 5.0, "tau_syn_I": 10.0, "v_reset": v_reset,
            "v_thresh": v_thresh, "cm": cm, "tau_refrac": 5.0}
    if benchmark == "COBA":
        cell.update(v_rest=-60.0, e_rev_E=erev_exc, e_rev_I=erev_inh)
        g_exc, g_inh = 4.0, 51.0                       # nS
        w_exc, w_inh = g_exc * 1e-3, g_inh * 1e-3      # uS
    else:
        cell.update(v_rest=-49.0)
        g_exc, g_inh = 0.27, 4.5                       # nS
        w_exc = 1e-3 * g_exc * (erev_exc - v_mean)     # nA, > 0
        w_inh = 1e-3 * g_inh * (erev_inh - v_mean)     # nA, < 0
    return {"n_exc": n_exc, "n_inh": n - n_exc, "cell": cell, "w_exc": w_exc, "w_inh": w_inh,
            "g_exc_nS": g_exc, "g_inh_nS": g_inh, "dt": 0.1, "delay": 0.2, "pconn": pconn, "seed": seed,
            "stim_n": 20, "stim_rate": 100.0, "stim_dur": 50.0, "stim_p": 0.01, "stim_w": 0.1}


def main(argv=None):
    args = parse_args(argv)
    sim = importlib.import_module("pyNN." + args.simulator)
    from pyNN.random import NumpyRNG, RandomDistribution
    t_imported = time.perf_counter()

    par = model_parameters(args.benchmark, args.n, args.pconn, args.seed)
    coba = args.benchmark == "COBA"

    # --- build ------------------------------------------------------------------------------------
    sim.setup(timestep=par["dt"], min_delay=par["delay"], max_delay=1.0)
    celltype = sim.IF_cond_exp if coba else sim.IF_curr_exp
    exc = sim.Population(par["n_exc"], celltype(**par["cell"]), label="Excitatory_Cells")
    inh = sim.Population(par["n_inh"], celltype(**par["cell"]), label="Inhibitory_Cells")
    if coba:
        stim = sim.Population(par["stim_n"], sim.SpikeSourcePoisson(rate=par["stim_rate"],
                                                                     duration=par["stim_dur"]),
                              label="expoisson")
    # one RNG, used in the same order as VAbenchmarks.py: initial v of exc, of inh, then the connector
    rng = NumpyRNG(seed=par["seed"], parallel_safe=True)
    v_init = RandomDistribution("uniform", low=par["cell"]["v_reset"], high=par["cell"]["v_thresh"], rng=rng)
    exc.initialize(v=v_init)
    inh.initialize(v=v_init)
    connector = sim.FixedProbabilityConnector(par["pconn"], rng=rng)
    exc_syn = sim.StaticSynapse(weight=par["w_exc"], delay=par["delay"])
    inh_syn = sim.StaticSynapse(weight=par["w_inh"], delay=par["delay"])
    projections = {
        "e2e": sim.Projection(exc, exc, connector, exc_syn, receptor_type="excitatory"),
        "e2i": sim.Projection(exc, inh, connector, exc_syn, receptor_type="excitatory"),
        "i2e": sim.Projection(inh, exc, connector, inh_syn, receptor_type="inhibitory"),
        "i2i": sim.Projection(inh, inh, connector, inh_syn, receptor_type="inhibitory"),
    }
    if coba:
        ext_conn = sim.FixedProbabilityConnector(par["stim_p"])
        ext_syn = sim.StaticSynapse(weight=par["stim_w"])
        projections["ext2e"] = sim.Projection(stim, exc, ext_conn, ext_syn, receptor_type="excitatory")
        projections["ext2i"] = sim.Projection(stim, inh, ext_conn, ext_syn, receptor_type="excitatory")
    exc.record("spikes")
    inh.record("spikes")
    t_built = time.perf_counter()

    # --- run --------------------------------------------------------------------------------------
    segment_times, segment_cpu_times = [], []
    steps_per_segment = int(round(args.tstop / par["dt"])) // args.segments
    for _ in range(args.segments):
        t0, c0 = time.perf_counter(), time.process_time()
        sim.run(args.tstop / args.segments)
        segment_times.append(time.perf_counter() - t0)
        segment_cpu_times.append(time.process_time() - c0)
    t_ran = time.perf_counter()

    # --- data retrieval ---------------------------------------------------------------------------
    exc_data = exc.get_data("spikes")
    inh_data = inh.get_data("spikes")
    t_data = time.perf_counter()

    # --- not timed: counts, rates, backend information --------------------------------------------
    n_spikes_exc = sum(len(st) for st in exc_data.segments[0].spiketrains)
    n_spikes_inh = sum(len(st) for st in inh_data.segments[0].spiketrains)
    seconds = args.tstop / 1000.0
    synapses = {name: int(prj.size()) for name, prj in projections.items()}
    info = backend_info_of(sim)
    kernel_stats = sim.kernel_statistics() if hasattr(sim, "kernel_statistics") else None
    versions = {"python": sys.version.split()[0]}
    for name in ("numpy", "pyNN", "nest"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", None)
    sim_module = sys.modules.get("pyNN." + args.simulator)
    if sim_module is not None and getattr(sim_module, "__version__", None):
        versions[args.simulator] = sim_module.__version__
    sim.end()

    result = {
        "simulator": args.simulator,
        "benchmark": args.benchmark,
        "n": args.n, "n_exc": par["n_exc"], "n_inh": par["n_inh"], "pconn": par["pconn"], "seed": par["seed"],
        "tstop_ms": args.tstop, "dt_ms": par["dt"],
        "rate_exc_hz": n_spikes_exc / par["n_exc"] / seconds,
        "rate_inh_hz": n_spikes_inh / par["n_inh"] / seconds,
        "spikes_exc": n_spikes_exc, "spikes_inh": n_spikes_inh,
        "synapses": synapses,
        "synapses_recurrent": sum(v for k, v in synapses.items() if not k.startswith("ext")),
        "times": {
            "import": t_imported - T_START,
            "build": t_built - t_imported,
            "run": t_ran - t_built,
            "data": t_data - t_ran,
            "total": t_data - T_START,
        },
        **segment_summary(segment_times, steps_per_segment, segment_cpu_times),
        "backend_info": info,
        "kernel_statistics": kernel_stats,
        "versions": versions,
    }

    times = result["times"]
    print(f"--- Vogels-Abbott {args.benchmark} on {args.simulator} ---")
    print(f"cells                : {args.n} ({par['n_exc']} exc, {par['n_inh']} inh), p = {par['pconn']:g}, "
          f"{args.tstop:g} ms")
    print("synapses             : " + "  ".join(f"{k} {v}" for k, v in synapses.items()))
    print(f"excitatory rate      : {result['rate_exc_hz']:.3f} Hz")
    print(f"inhibitory rate      : {result['rate_inh_hz']:.3f} Hz")
    for key in ("import", "build", "run", "data", "total"):
        print(f"{key + ' time':<21}: {times[key]:.3f} s")
    print(f"per step             : {result['us_per_step']:.2f} us (median of {args.segments} run() call(s) of "
          f"{steps_per_segment} steps; process CPU time {result['us_per_step_cpu']:.2f} us)")
    if info is not None:
        print(f"backend              : {info}")
    if kernel_stats is not None:
        print(f"kernel statistics    : {kernel_stats}")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
