"""Simulation control: setup, run, reset, end and the state queries, as PyNN 0.13 defines them."""

from __future__ import annotations

import numbers

from pyNN import common
from pyNN.common.control import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY, DEFAULT_TIMESTEP
from pyNN.recording import get_io

from . import simulator

# keyword arguments other backends take; accepted and ignored here, as pyNN.nest ignores NEURON's
IGNORED_SETUP_ARGUMENTS = ("t_flush", "verbosity", "spike_precision", "recording_precision",
                           "use_cvode", "rtol", "atol", "default_maxstep", "grng_seed", "rng_seeds",
                           "rng_seeds_seed", "build_dependencies", "compile", "debug", "spike_buffer_size")


def _check_time(name, value, allow_auto=False):
    if allow_auto and value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value == value \
            or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name}={value!r} is not allowed; it must be a finite number of ms"
                         + (" or 'auto'" if allow_auto else ""))
    if value <= 0:
        raise ValueError(f"{name}={value!r} is not allowed; it must be > 0 ms")


DEFAULT_RNG_SEED = 20_061_989      # the engine's seed when setup() is given none (fixed: runs reproduce)


def setup(timestep=DEFAULT_TIMESTEP, min_delay=DEFAULT_MIN_DELAY, **extra_params):
    """Start a new simulation, destroying any existing network.

    sparsegpu-specific keyword arguments:
      backend    "auto" (default; CuPy if usable, else NumPy), "numpy" or "cupy"
                 (or environment variable PYNN_SPARSEGPU_BACKEND)
      precision  "float64" (NumPy default) or "float32" (CuPy default)
      rng_seed   integer seed from which every random stream of the engine is derived (default
                 DEFAULT_RNG_SEED: as in NEST, a script that gives no seed gets the same results every run;
                 give different seeds for independent runs)
      threads    CPU threads of the compiled path (default 1, as pyNN.nest); results do not depend on it
      spike_precision  "off_grid" (default, as NEST): precise spike times, as NEST's _ps models:
                 IF_curr_exp and IF_curr_delta cells fire at the exact time within a step and receive their
                 inputs at exact times; SpikeSourceArray and SpikeSourcePoisson emit at exact times; this
                 holds for networks of those cells and sources with static synapses and current sources
                 (AC and noise ones on the CPU), recording spikes and v (other networks run on the grid,
                 and spike sources then report their given times); "on_grid": every spike at the end of the
                 step that emitted it.
      engine     "auto" (default): with spike_precision="off_grid", the exact event-driven engine
                 (SparseProp's algorithm) when the network qualifies at the first run (IF_curr_delta cells
                 driven by i_offset, DCSource or StepCurrentSource, SpikeSourceArray and SpikeSourcePoisson
                 sources, static synapses, a C++ compiler), else the time-driven engine; "event": the
                 event-driven engine, or a clear error naming each part it cannot run; "time": the time-driven
                 engine (time steps of dt; with precise spike times where spike_precision allows).
                 backend_info()["engine"] says which one runs.
    Arguments meant for other backends (t_flush, verbosity, ...) are ignored.
    """
    max_delay = extra_params.get("max_delay", DEFAULT_MAX_DELAY)
    _check_time("timestep", timestep)
    _check_time("min_delay", min_delay, allow_auto=True)
    _check_time("max_delay", max_delay, allow_auto=True)
    if min_delay != "auto" and min_delay < timestep:
        raise ValueError(f"min_delay={min_delay} ms is not allowed: it must be >= timestep ({timestep} ms)")
    if min_delay != "auto" and max_delay != "auto" and min_delay > max_delay:
        raise ValueError(f"min_delay={min_delay} ms is larger than max_delay={max_delay} ms")
    threads = extra_params.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(f"threads={threads!r} is not allowed; it must be an integer >= 1")
    common.setup(timestep, min_delay, **extra_params)
    engine = extra_params.get("engine", "auto")
    if engine not in ("auto", "event", "time"):
        raise ValueError(f"engine={engine!r} is not allowed; use 'auto', 'event' or 'time'")
    if engine == "event" and extra_params.get("spike_precision", "off_grid") != "off_grid":
        raise ValueError("engine='event' gives exact spike times: it needs spike_precision='off_grid' (got "
                         f"{extra_params.get('spike_precision')!r})")
    known = {"max_delay", "backend", "precision", "rng_seed", "seed", "threads", "engine"} | \
        set(IGNORED_SETUP_ARGUMENTS)
    unknown = set(extra_params) - known
    if unknown:
        import warnings
        warnings.warn(f"setup() ignores the argument(s) {sorted(unknown)} (not used by pyNN.sparsegpu)")
    seed = extra_params.get("rng_seed", extra_params.get("seed"))
    if seed is None:
        seed = DEFAULT_RNG_SEED
    spike_precision = extra_params.get("spike_precision", "off_grid")
    if spike_precision not in ("on_grid", "off_grid"):
        raise ValueError(f"spike_precision={spike_precision!r} is not allowed; use 'on_grid' or 'off_grid'")
    simulator.state.setup(timestep, min_delay, max_delay, backend=extra_params.get("backend"),
                          precision=extra_params.get("precision"), rng_seed=seed,
                          spike_precision=spike_precision, threads=int(threads), engine=engine)
    return rank()


def end(compatible_output=True):
    """Write any data requested with write_on_end and close the simulation."""
    state = simulator.state
    for population, variables, filename in state.write_on_end:
        population.write_data(get_io(filename), variables)
    state.write_on_end = []
    state.end()


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)


def backend_info() -> dict:
    """Which array path, device and precision the current simulation uses, and why."""
    backend = simulator.state.backend
    if backend is None:
        return {"backend": None, "device": None, "precision": None, "reason": "setup() has not been called"}
    info = backend.info()
    info["engine"] = simulator.state.network.engine_description()
    info["processes"] = simulator.state.num_processes
    info["mpi"] = simulator.state.network.comm.name
    return info


def kernel_statistics() -> dict:
    """What the compiled engine did in the current simulation: steps run; kernel launches (kernels executed;
    on the CPU build one launch is one kernel call) and host launches (launch calls from the host: a CUDA graph
    replay of many steps is one); device-to-host synchronisations inside the loop, and the copies that empty
    record buffers, each in total and per step; and the parts of the network that ran on the reference path
    instead of a kernel, with the reason (an empty list means the whole step ran as kernels). On the NumPy path
    there are no kernels and the counts are None."""
    state = simulator.state
    state.check_alive()
    engine = state.network.engine
    if engine is None:
        return {"backend": state.backend.name, "steps": None, "launches": None, "host_launches": None,
                "syncs": None, "record_syncs": None, "launches_per_step": None, "host_launches_per_step": None,
                "syncs_per_step": None, "record_syncs_per_step": None,
                "reference_parts": [] if state.backend.compiled else ["everything (NumPy reference path)"]}
    counters = engine.counters
    out = {"backend": state.backend.name, "steps": counters.steps, "launches": counters.launches,
           "host_launches": counters.host_launches, "syncs": counters.syncs, "record_syncs": counters.record_syncs,
           **{k: v for k, v in counters.per_step().items() if k != "steps"},
           "reference_parts": list(engine.reference_parts)}
    ex = engine.exchange
    if ex is not None:        # several MPI processes: the spike exchange (since the block length last changed)
        out.update({"exchange_block_steps": ex.D, "exchanges": ex.blocks, "exchange_seconds": ex.seconds,
                    "spikes_exchanged": ex.entries})
    return out
