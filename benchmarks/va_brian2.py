"""The Vogels-Abbott COBA network of va_network.py in Brian2's C++ standalone mode, single-threaded.

    <brian2 python> benchmarks/va_brian2.py [--tstop 1000] [--n 4000] [--pconn 0.02] [--segments 1]
                                            [--seed 98765] [--no-fast-math] [--profile] [--keep DIR]
                                            [--json FILE]

Brian2 2.11 needs Python >= 3.13, so this script runs in its own environment (see benchmarks/README.md), not
in the one of this package; it imports nothing of PyNN. It builds the model of va_network.py COBA from the same
parameters (va_network.model_parameters):

  * IF_cond_exp as NEST's iaf_cond_exp and sparsegpu integrate it: the conductances decay exponentially and a
    spike adds its weight to them at the end of the step it arrives in; cm dV/dt = gL (v_rest - V') +
    g_exc (e_rev_E - V') + g_inh (e_rev_I - V') with V' = min(V, v_thresh); V >= v_thresh fires, resets V to
    v_reset and holds it there for round(tau_refrac / dt) = 50 whole steps after the spike step. Brian2 checks
    refractoriness at the start of a step as timestep(t - lastspike) >= timestep(refractory), so `refractory`
    is (50 + 1) dt = 5.1 ms to hold V for the same 50 steps. The equations are integrated with Brian2's "rk4"
    (NEST: adaptive RKF45; sparsegpu: RK4 on V with the conductances exact). One cell driven by the same 700
    input spikes for 300 ms (55 output spikes) gives the same spike times on Brian2 and sparsegpu, and
    membrane traces within 5e-6 mV (Brian2 records V at the start of a step, PyNN at its end).
  * 4000 cells (4:1), Bernoulli(p) connections between all pairs of cells (autapses allowed, as
    FixedProbabilityConnector), weights 4 nS / 51 nS per synapse, one delay of 0.2 ms; v starts uniform between
    v_reset and v_thresh.
  * the stimulus: 20 Poisson sources at 100 Hz for the first 50 ms (a Bernoulli draw per step, like NEST's
    generator at this rate up to the rare second spike in a step), each connected with p = 0.01 to every cell,
    weight 0.1 uS, delay 0.2 ms.
  * spikes of both populations are recorded (SpikeMonitor).
The network is another random realisation than sparsegpu's and NEST's (which differ from each other too): it
is the same model, not the same synapses.

Times (seconds):
  import      script start until `import brian2` has finished (time.perf_counter)
  build       setting up the model objects and recording the run() calls (standalone: no code runs yet)
  compile     device.build(compile=True, run=False): code generation and compiling the project ("make" of it
              separately, from Brian2's own timers); a fresh project directory each time, so nothing is cached
  run         device.run(): the whole binary (loading arrays, creating the synapses, the simulation, writing
              the results)
  simulation  the sum of Brian2's own run-loop times (Network::_last_run_time of each run() call, written by a
              line inserted into main()); "us_per_step" is the median over the --segments run() calls of the
              call's time divided by its steps, as in va_network.py; the "_cpu" twins are the process CPU
              time (std::clock()) around each call
  data        reading the spike counts of both monitors
  total       script start until the data have been read
Brian2's default compiler flags include -O3 -ffast-math -march=native; --no-fast-math drops -ffast-math (the
sparsegpu kernels are built without it). --profile turns on Brian2's per-code-object profiling (which costs
time itself) and prints its summary.
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import brian2 as b2  # noqa: E402

T_IMPORTED = time.perf_counter()

from bench_common import write_json  # noqa: E402
from va_network import check_args, model_parameters, segment_summary  # noqa: E402

SEGMENT_FILE = "segment_times.txt"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    p.add_argument("--n", type=int, default=4000, help="number of cells (default 4000)")
    p.add_argument("--pconn", type=float, default=0.02, help="connection probability (default 0.02)")
    p.add_argument("--segments", type=int, default=1, help="split the run into this many equal run() calls "
                   "(default 1)")
    p.add_argument("--seed", type=int, default=98765, help="Brian2's seed (default 98765)")
    p.add_argument("--no-fast-math", action="store_true", help="compile without -ffast-math")
    p.add_argument("--profile", action="store_true", help="Brian2's per-code-object profiling (slower)")
    p.add_argument("--keep", metavar="DIR", help="build the project in DIR and keep it; a project already there "
                   "is rebuilt incrementally, so the compile time counts only what changed (default: a fresh "
                   "temporary directory, removed afterwards)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    return check_args(p, p.parse_args(argv))


def build(par, args):
    """The model (standalone: recorded, not run). Returns (network, monitors, synapses)."""
    ms, mV, nF, uS = b2.ms, b2.mV, b2.nF, b2.uS
    c = par["cell"]
    dt = par["dt"]
    b2.defaultclock.dt = dt * ms
    b2.seed(args.seed)
    ref_steps = int(round(c["tau_refrac"] / dt))
    namespace = {
        "g_leak": c["cm"] / c["tau_m"] * uS,           # nF / ms = uS
        "c_m": c["cm"] * nF, "v_rest": c["v_rest"] * mV, "v_thresh": c["v_thresh"] * mV,
        "v_reset": c["v_reset"] * mV, "e_rev_E": c["e_rev_E"] * mV, "e_rev_I": c["e_rev_I"] * mV,
        "tau_syn_E": c["tau_syn_E"] * ms, "tau_syn_I": c["tau_syn_I"] * ms,
    }
    eqs = """
    dv/dt = (g_leak * (v_rest - v_c) + g_exc * (e_rev_E - v_c) + g_inh * (e_rev_I - v_c)) / c_m
            : volt (unless refractory)
    v_c = clip(v, -inf * volt, v_thresh) : volt
    dg_exc/dt = -g_exc / tau_syn_E : siemens
    dg_inh/dt = -g_inh / tau_syn_I : siemens
    """
    cells = {}
    for name, size in (("exc", par["n_exc"]), ("inh", par["n_inh"])):
        group = b2.NeuronGroup(size, eqs, threshold="v >= v_thresh", reset="v = v_reset",
                               refractory=(ref_steps + 1) * dt * ms, method="rk4", namespace=namespace,
                               name=name)
        group.v = "v_reset + rand() * (v_thresh - v_reset)"
        cells[name] = group
    delay = par["delay"] * ms
    synapses = {}
    for pre in ("exc", "inh"):
        weight = (par["w_exc"] if pre == "exc" else par["w_inh"]) * uS
        target = "g_exc" if pre == "exc" else "g_inh"
        for post in ("exc", "inh"):
            s = b2.Synapses(cells[pre], cells[post], "w : siemens (constant)", on_pre=f"{target}_post += w",
                            delay=delay, name=f"{pre[0]}2{post[0]}")
            s.connect(p=par["pconn"])
            s.w = weight
            synapses[f"{pre[0]}2{post[0]}"] = s
    stim_end = par["stim_dur"] * ms
    stim = b2.PoissonGroup(par["stim_n"], rates="stim_rate * int(t < stim_end)", name="expoisson",
                           namespace={"stim_rate": par["stim_rate"] * b2.Hz, "stim_end": stim_end})
    for post in ("exc", "inh"):
        s = b2.Synapses(stim, cells[post], "w : siemens (constant)", on_pre="g_exc_post += w", delay=delay,
                        name=f"ext2{post[0]}")
        s.connect(p=par["stim_p"])
        s.w = par["stim_w"] * uS
        synapses[f"ext2{post[0]}"] = s
    monitors = {name: b2.SpikeMonitor(group, name=f"{name}_spikes") for name, group in cells.items()}
    network = b2.Network(*cells.values(), stim, *synapses.values(), *monitors.values())
    return network, monitors, synapses


def main(argv=None):
    args = parse_args(argv)
    par = model_parameters("COBA", args.n, args.pconn, args.seed)
    directory = args.keep or tempfile.mkdtemp(prefix="va_brian2_")

    # --- build ------------------------------------------------------------------------------------------
    b2.set_device("cpp_standalone", build_on_run=False, directory=directory)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    if args.no_fast_math:
        b2.prefs.codegen.cpp.extra_compile_args_gcc = [
            a for a in b2.prefs.codegen.cpp.extra_compile_args_gcc if a not in ("-ffast-math",
                                                                                 "-fno-finite-math-only")]
    network, monitors, synapses = build(par, args)
    segment_ms = args.tstop / args.segments
    steps_per_segment = int(round(args.tstop / par["dt"])) // args.segments
    for k in range(args.segments):
        b2.device.insert_code("main", f"const std::clock_t _bench_cpu{k} = std::clock();")
        network.run(segment_ms * b2.ms, profile=args.profile)
        # Brian2's own run-loop time of this run() call and the process CPU time around it, appended to a file
        # of the results directory
        b2.device.insert_code("main", "{ std::ofstream _f(brian::results_dir + \"" + SEGMENT_FILE + "\", "
                              "std::ios::app); _f.precision(12); _f << Network::_last_run_time << ' ' << "
                              f"double(std::clock() - _bench_cpu{k}) / CLOCKS_PER_SEC << std::endl; }}")
    t_built = time.perf_counter()

    # --- compile -----------------------------------------------------------------------------------------
    b2.device.build(directory=directory, compile=True, run=False, clean=not args.keep, with_output=False)
    t_compiled = time.perf_counter()

    # --- run ---------------------------------------------------------------------------------------------
    segment_file = os.path.join(directory, "results", SEGMENT_FILE)
    if os.path.exists(segment_file):          # from an earlier run in a kept project (the binary appends)
        os.remove(segment_file)
    b2.device.run(directory=directory, results_directory="results", with_output=False)
    t_ran = time.perf_counter()

    # --- data --------------------------------------------------------------------------------------------
    counts = {name: int(mon.num_spikes) for name, mon in monitors.items()}
    t_data = time.perf_counter()

    # --- not timed --------------------------------------------------------------------------------------
    with open(segment_file) as f:
        rows = [line.split() for line in f if line.strip()]
    segment_times = [float(r[0]) for r in rows]
    segment_cpu_times = [float(r[1]) for r in rows]
    if len(segment_times) != args.segments:
        raise RuntimeError(f"expected {args.segments} run-loop times from the binary, got {len(segment_times)}")
    n_synapses = {name: int(len(s)) for name, s in synapses.items()}
    profile = None
    if args.profile:
        profile = [(name, float(t)) for name, t in network.profiling_info]
    seconds = args.tstop / 1000.0
    timers = b2.device.timers
    result = {
        "simulator": "brian2",
        "benchmark": "COBA",
        "n": args.n, "n_exc": par["n_exc"], "n_inh": par["n_inh"], "pconn": par["pconn"], "seed": args.seed,
        "tstop_ms": args.tstop, "dt_ms": par["dt"],
        "rate_exc_hz": counts["exc"] / par["n_exc"] / seconds,
        "rate_inh_hz": counts["inh"] / par["n_inh"] / seconds,
        "spikes_exc": counts["exc"], "spikes_inh": counts["inh"],
        "synapses": n_synapses,
        "synapses_recurrent": sum(v for k, v in n_synapses.items() if not k.startswith("ext")),
        "times": {
            "import": T_IMPORTED - T_START,
            "build": t_built - T_IMPORTED,
            "compile": t_compiled - t_built,
            "make": timers.get("compile", {}).get("make"),
            "run": t_ran - t_compiled,
            "data": t_data - t_ran,
            "total": t_data - T_START,
        },
        **segment_summary(segment_times, steps_per_segment, segment_cpu_times),
        "brian2": {"device": "cpp_standalone", "openmp_threads": b2.prefs.devices.cpp_standalone.openmp_threads,
                   "method": "rk4", "compile_args": list(b2.prefs.codegen.cpp.extra_compile_args_gcc),
                   "profile": profile},
        "versions": {"python": sys.version.split()[0], "brian2": b2.__version__,
                     "numpy": sys.modules["numpy"].__version__},
    }
    # the simulation time of the run() calls, as va_network.py's "run" is for the PyNN simulators
    result["times"]["simulation"] = result["simulation_s"]

    t = result["times"]
    print(f"--- Vogels-Abbott COBA on Brian2 {b2.__version__} (cpp_standalone, 1 thread) ---")
    print(f"cells                : {args.n} ({par['n_exc']} exc, {par['n_inh']} inh), p = {par['pconn']:g}, "
          f"{args.tstop:g} ms")
    print("synapses             : " + "  ".join(f"{k} {v}" for k, v in n_synapses.items()))
    print(f"excitatory rate      : {result['rate_exc_hz']:.3f} Hz")
    print(f"inhibitory rate      : {result['rate_inh_hz']:.3f} Hz")
    for key in ("import", "build", "compile", "run", "simulation", "data", "total"):
        print(f"{key + ' time':<21}: {t[key]:.3f} s")
    print(f"per step             : {result['us_per_step']:.2f} us (median of {args.segments} run() call(s) of "
          f"{steps_per_segment} steps; process CPU time {result['us_per_step_cpu']:.2f} us)")
    if profile:
        print("profile              : " + ", ".join(f"{name} {t:.3f} s" for name, t in profile[:8]))
    if args.json:
        write_json(args.json, result)
    if not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
