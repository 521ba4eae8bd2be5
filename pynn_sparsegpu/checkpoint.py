"""sim.checkpoint(path) and sim.restore(path): save the whole simulation and continue it later, in another
process, exactly where it stopped.

    # first process
    build the network; sim.run(T / 2); sim.checkpoint("half.npz")
    # later, a fresh process: the same script builds the same network (and calls record() as before)
    build the network; sim.restore("half.npz"); sim.run(T / 2)
    # -> the spikes, signals, weights, traces and connectivity of one uninterrupted run to T

What is stored, the file format and its checks: engine/checkpoint.py. The simulation-level state (the clock,
Neo segment numbering) and the state of each EpropTrainer of the simulation are stored with the network's.
"""

from __future__ import annotations

from . import simulator
from .engine import checkpoint as engine_checkpoint
from .engine.checkpoint import CheckpointError

__all__ = ["checkpoint", "restore", "CheckpointError"]


def _check_recorders(state) -> None:
    for recorder in state.recorders:
        cached = sum(1 for seg in recorder.cache if seg.spiketrains or seg.analogsignals)
        if cached:
            label = recorder.population.label
            raise CheckpointError(f"population {label!r} holds recorded data of {cached} segment(s) "
                                  "before the last reset(), which a checkpoint does not store; read it with "
                                  "get_data() or write_data() and clear it (get_data(clear=True)) first")


def _agree(comm, fn):
    """fn() on every process; a CheckpointError on any process is raised on all of them (naming the process),
    so that they all go on, or all stop, together. Returns fn()'s value."""
    error, failure, value = None, None, None
    try:
        value = fn()
    except Exception as err:              # (any failure: the other processes must not wait for this one)
        error, failure = str(err) if isinstance(err, CheckpointError) else f"{type(err).__name__}: {err}", err
    errors = [(k, e) for k, e in enumerate(comm.allgather(error)) if e is not None]
    if failure is not None and not isinstance(failure, CheckpointError):
        raise failure
    if errors:
        k, message = errors[0]
        raise CheckpointError(message if comm.size == 1 else f"process {k} of {comm.size}: {message}")
    return value


def checkpoint(path) -> None:
    """Write the complete state of the current simulation to `path` (an .npz archive; written to a temporary
    file and renamed, so an interrupted write never leaves a partial checkpoint). Continue it with
    sim.restore(path) after building the same network, in this process or another one. Under MPI every
    process calls it (as every process calls run()); the archive holds every process's part."""
    state = simulator.state
    state.check_alive()
    net = state.network

    def collect():
        why = engine_checkpoint.refusal(net)
        if why is not None:
            raise CheckpointError(f"cannot checkpoint: {why}")
        _check_recorders(state)
        engine_state, arrays = engine_checkpoint.collect(net)
        for k, trainer in enumerate(state.trainers):
            for name, value in trainer._state_arrays().items():
                arrays[f"trainer{k}/{name}"] = value
        simulation = {"segment_counter": int(state.segment_counter), "running": bool(state.running),
                      "t_start": float(state.t_start), "trainers": len(state.trainers)}
        meta = {"format": engine_checkpoint.FORMAT, "version": engine_checkpoint.VERSION,
                "layout": engine_checkpoint.layout(net), "state": engine_state, "simulation": simulation,
                "backend": net.backend.name}
        return meta, arrays
    meta, arrays = _agree(net.comm, collect)
    if net.comm.size == 1:
        engine_checkpoint.write(path, meta, arrays)
    else:
        engine_checkpoint.write_distributed(path, meta, arrays, net.comm)


def restore(path) -> None:
    """Load a checkpoint written by sim.checkpoint() into the current simulation, which must have the same
    populations, projections, current sources and recordings (as the same script builds them); the
    simulation then continues exactly as the one that wrote it would have. A checkpoint written on any path
    (NumPy, compiled CPU, CuPy) loads on any other. Raises CheckpointError, changing nothing, when the file is
    not a complete checkpoint or was written from a different network (the message names the difference).
    Under MPI, by as many processes as wrote it, each loading its part (on all of them, or on none)."""
    state = simulator.state
    state.check_alive()
    net = state.network

    def load():
        meta, arrays = engine_checkpoint.read(path, net.comm.rank, net.comm.size)
        engine_checkpoint.check(net, meta, arrays, path)
        simulation = meta.get("simulation", {})
        if simulation.get("trainers", 0) != len(state.trainers):
            raise CheckpointError(f"the checkpoint {path!r} holds the state of {simulation.get('trainers', 0)} "
                                  f"EpropTrainer(s), this simulation has {len(state.trainers)}; create the same "
                                  "trainers before restoring")
        parts = []
        for k, trainer in enumerate(state.trainers):
            prefix = f"trainer{k}/"
            data = {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
            try:
                trainer._check_state_arrays(data, path)
            except ValueError as err:
                raise CheckpointError(f"EpropTrainer {k}: {err}") from None
            parts.append((trainer, data))
        _check_recorders(state)
        return meta, arrays, simulation, parts
    meta, arrays, simulation, parts = _agree(net.comm, load)
    # everything is checked: from here on the simulation takes the checkpoint's state
    engine_checkpoint.apply(net, meta, arrays)
    for trainer, data in parts:
        trainer._load_state_arrays(data)
        trainer._write_bias()
    state.segment_counter = int(simulation.get("segment_counter", state.segment_counter))
    state.running = bool(simulation.get("running", state.t > 0))
    state.t_start = float(simulation.get("t_start", 0.0))
