"""sim.checkpoint / sim.restore: a run checkpointed at T/2 and continued in a new process equals one run to T,
bit for bit (float64), for static, STDP (with axonal delays: events queued on their way), Tsodyks-Markram,
rewiring (recorded events and counts) and e-prop (DEEP R training before and after, the trainer's state) networks,
on the NumPy reference path and the compiled CPU path, and from one path to the other. A truncated, foreign or
mismatched checkpoint is refused with a clear error and changes nothing; writes are atomic.

The networks are those of checkpoint_cases.py (each run is a fresh Python process, as a user's would be).
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import checkpoint_cases as cases

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "checkpoint_cases.py")


def run_case(kind, backend, mode, out, ckpt=None, processes=1, fails=None):
    """Run checkpoint_cases.py (under mpiexec with processes > 1); with `fails`, expect it to fail with that
    text in its error output (and return nothing)."""
    args = [sys.executable, SCRIPT, kind, backend, mode, str(out)] + ([str(ckpt)] if ckpt else [])
    env = None
    if processes > 1:
        from test_mpi import _mpiexec
        args = [_mpiexec(), "-n", str(processes)] + args
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_"))}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    if fails is not None:
        assert proc.returncode != 0 and fails in proc.stderr, proc.stderr[-3000:]
        return None
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def assert_identical(expected, got):
    assert sorted(expected) == sorted(got)
    for name, value in expected.items():
        other = got[name]
        assert value.shape == other.shape, name
        if value.dtype.kind == "f":
            assert np.array_equal(value, other, equal_nan=True), name
        else:
            assert np.array_equal(value, other), name


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory):
    """One uninterrupted run to T per (kind, backend), made on first use."""
    cache = {}
    folder = tmp_path_factory.mktemp("full")

    def get(kind, backend):
        if (kind, backend) not in cache:
            cache[kind, backend] = run_case(kind, backend, "full", folder / f"{kind}-{backend}.npz")
        return cache[kind, backend]
    return get


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("kind", cases.KINDS)
def test_checkpoint_at_half_time_then_restore_in_a_new_process_equals_one_run(kind, backend, full_runs, tmp_path):
    full = full_runs(kind, backend)
    ckpt = tmp_path / "half.npz"
    first = run_case(kind, backend, "first", tmp_path / "first.npz", ckpt)
    second = run_case(kind, backend, "second", tmp_path / "second.npz", ckpt)
    assert float(first["t"]) == cases.T / 2 and float(second["t"]) == cases.T
    assert_identical(full, second)
    # the comparison can fail: the network did something, and the halves differ from the whole
    assert full["pop1/spike_times"].shape[0] > 20
    assert first["pop1/spike_times"].shape[0] < full["pop1/spike_times"].shape[0]
    if kind in ("stdp", "eprop"):      # the weights changed during the second half
        name = "prj0/weight"
        assert not np.array_equal(first[name], full[name])
    if kind == "rewiring":            # the connectivity changed during the second half, and events were recorded
        assert not np.array_equal(first["prj0.0/pre"], full["prj0.0/pre"]) or \
            not np.array_equal(first["prj0.0/post"], full["prj0.0/post"])
        assert full["prj0/rewiring/0/events/t"].shape[0] > first["prj0/rewiring/0/events/t"].shape[0] > 0


@pytest.mark.parametrize("kind", ["stdp", "rewiring", "eprop"])
def test_a_checkpoint_written_on_the_reference_path_continues_on_the_compiled_path(kind, full_runs, tmp_path):
    ckpt = tmp_path / "half.npz"
    run_case(kind, "numpy", "first", tmp_path / "first.npz", ckpt)
    second = run_case(kind, "cpu", "second", tmp_path / "second.npz", ckpt)
    assert_identical(full_runs(kind, "cpu"), second)


@pytest.mark.parametrize("first_backend, second_backend", [
    ("numpy", "numpy"), ("cpu", "cpu"),
    ("numpy", "numpy-ref"), ("numpy-ref", "cpu"),        # the compiled loops <-> their Python references
])
@pytest.mark.parametrize("kind", ["event", "offgrid"])
def test_precise_spike_times_checkpoint_at_half_time_equals_one_run(kind, first_backend, second_backend, full_runs,
                                                                    tmp_path):
    """The event-driven and the off-grid engines: spikes and inputs on their way at T/2 (exact times between grid
    points), the sources' cursors, the Poisson draws, the noise, and set()/initialize()/spike times changed
    after the first half and pending when the checkpoint is written."""
    if kind == "event" and "numpy-ref" in (first_backend, second_backend):
        pytest.skip("the event-driven engine is compiled code only (without a compiler the network runs off-grid)")
    full = full_runs(kind, "numpy")
    ckpt = tmp_path / "half.npz"
    first = run_case(kind, first_backend, "first", tmp_path / "first.npz", ckpt)
    second = run_case(kind, second_backend, "second", tmp_path / "second.npz", ckpt)
    engine = "event-driven" if kind == "event" else "precise spike times"
    assert engine in str(full["engine"]) and engine in str(first["engine"]) and engine in str(second["engine"])
    if second_backend == "numpy-ref":
        assert "reference path" in str(second["engine"])
    assert float(second["t"]) == cases.T
    assert_identical({k: v for k, v in full.items() if k != "engine"},
                     {k: v for k, v in second.items() if k != "engine"})
    exc = full["pop2/spike_times"]
    assert exc.shape[0] > 80 and first["pop2/spike_times"].shape[0] < exc.shape[0]
    off_grid = np.abs(exc / 0.1 - np.round(exc / 0.1)) > 1e-6
    assert off_grid.mean() > 0.9                          # the exact times, not the grid's


# --- in one process ------------------------------------------------------------------------------------------
def _small(sim, backend="numpy", n=30, stdp=True, record=True, spike_precision="on_grid"):
    sim.setup(timestep=0.1, backend=backend, spike_precision=spike_precision, rng_seed=7)
    src = sim.Population(20, sim.SpikeSourcePoisson(rate=100.0), label="src")
    pop = sim.Population(n, sim.IF_curr_exp(i_offset=0.2), label="pop")
    syn = (sim.STDPMechanism(timing_dependence=sim.SpikePairRule(), weight_dependence=sim.AdditiveWeightDependence(),
                             weight=0.5, delay=1.0) if stdp else sim.StaticSynapse(weight=0.5, delay=1.0))
    prj = sim.Projection(src, pop, sim.FixedProbabilityConnector(0.3, rng=sim.NumpyRNG(1)), syn, label="in")
    if record:
        pop.record(["spikes", "v"])
    return src, pop, prj


def _checkpointed(sim, tmp_path, t):
    """_small's network run for t ms and checkpointed to tmp_path / "c.npz": (pop, prj, path)."""
    _, pop, prj = _small(sim)
    sim.run(t)
    path = tmp_path / "c.npz"
    sim.checkpoint(path)
    return pop, prj, path


def _snapshot(sim, pop, prj):
    net = sim.simulator.state.network
    g = pop._engine_group
    return (net.step_index, {k: np.array(v) for k, v in g.state.items()}, np.array(g.ring),
            np.array(prj.get("weight", format="array")), pop.get_data().segments[0].analogsignals[0].magnitude.copy())


def _same(a, b):
    assert a[0] == b[0]
    assert a[1].keys() == b[1].keys() and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])
    for x, y in zip(a[2:], b[2:]):
        assert np.array_equal(x, y, equal_nan=True)


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_restore_in_the_same_process_rewinds_and_the_run_repeats_exactly(sim, backend, tmp_path):
    src, pop, prj = _small(sim, backend)
    sim.run(20.0)
    sim.checkpoint(tmp_path / "c.npz")
    sim.run(20.0)
    once = _snapshot(sim, pop, prj)
    spikes = pop.get_data().segments[0].spiketrains
    sim.restore(tmp_path / "c.npz")
    assert sim.get_current_time() == pytest.approx(20.0)
    sim.run(20.0)
    _same(once, _snapshot(sim, pop, prj))
    again = pop.get_data().segments[0].spiketrains
    assert [list(s.magnitude) for s in spikes] == [list(s.magnitude) for s in again]
    assert sum(len(s) for s in again) > 0


def test_checkpoint_before_the_first_run(sim, tmp_path):
    src, pop, prj = _small(sim)
    sim.checkpoint(tmp_path / "c.npz")
    sim.run(10.0)
    once = _snapshot(sim, pop, prj)
    src, pop, prj = _small(sim)
    sim.restore(tmp_path / "c.npz")
    sim.run(10.0)
    _same(once, _snapshot(sim, pop, prj))


def test_a_truncated_checkpoint_is_refused_and_changes_nothing(sim, tmp_path):
    pop, prj, path = _checkpointed(sim, tmp_path, 10.0)
    sim.run(5.0)
    before = _snapshot(sim, pop, prj)
    data = path.read_bytes()
    for size in (0, 100, len(data) // 2, len(data) - 10):
        bad = tmp_path / f"cut{size}.npz"
        bad.write_bytes(data[:size])
        with pytest.raises(sim.CheckpointError, match="not a complete checkpoint|not a pyNN.sparsegpu"):
            sim.restore(bad)
        _same(before, _snapshot(sim, pop, prj))
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF                  # a damaged byte inside an array: the zip CRC catches it
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(sim.CheckpointError):
        sim.restore(tmp_path / "flip.npz")
    _same(before, _snapshot(sim, pop, prj))
    with pytest.raises(sim.CheckpointError, match="no checkpoint file"):
        sim.restore(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(sim.CheckpointError, match="not a pyNN.sparsegpu network checkpoint"):
        sim.restore(tmp_path / "other.npz")
    _same(before, _snapshot(sim, pop, prj))


def test_a_checkpoint_of_another_version_is_refused(sim, tmp_path):
    import json
    pop, prj, path = _checkpointed(sim, tmp_path, 5.0)
    with np.load(path) as data:
        members = {k: data[k] for k in data.files}
    meta = json.loads(str(members["__meta__"]))
    meta["version"] = 99
    members["__meta__"] = np.asarray(json.dumps(meta))
    np.savez(tmp_path / "v99.npz", **members)
    with pytest.raises(sim.CheckpointError, match="format version 99"):
        sim.restore(tmp_path / "v99.npz")


@pytest.mark.parametrize("change, message", [
    ("size", r"population 1: the checkpoint has 30 IF_curr_exp cells labelled 'pop', this network 31 IF_curr_exp cells"),
    ("synapse", r"projection 0 \('in'\): the synapse type differs: 'STDPMechanism\(pair, additive\)' in the checkpoint, "
                r"'StaticSynapse' here"),
    ("record", r"recorded state variables differ"),
    ("dt", r"the time step: the checkpoint's is 0.1 ms, this network's 0.2 ms"),
])
def test_a_checkpoint_of_another_network_is_refused_naming_the_difference(sim, tmp_path, change, message):
    pop, prj, path = _checkpointed(sim, tmp_path, 5.0)
    if change == "dt":
        sim.setup(timestep=0.2, backend="numpy", spike_precision="on_grid")
        src = sim.Population(20, sim.SpikeSourcePoisson(rate=100.0), label="src")
        pop = sim.Population(30, sim.IF_curr_exp(), label="pop")
        pop.record(["spikes", "v"])
        prj = sim.Projection(src, pop, sim.AllToAllConnector(), sim.StaticSynapse(), label="in")
    else:
        src, pop, prj = _small(sim, n=31 if change == "size" else 30, stdp=change != "synapse",
                               record=change != "record")
        if change == "record":
            pop.record("spikes")
    sim.run(1.0)
    g = pop._engine_group
    before = (sim.get_current_time(), {k: np.array(v) for k, v in g.state.items()})
    with pytest.raises(sim.CheckpointError, match=message):
        sim.restore(path)
    assert sim.get_current_time() == before[0]
    assert all(np.array_equal(before[1][k], g.state[k]) for k in before[1])


def test_writes_are_atomic(sim, tmp_path, monkeypatch):
    """A write that fails half way leaves the previous checkpoint as it was, and no temporary file."""
    pop, prj, path = _checkpointed(sim, tmp_path, 5.0)
    good = path.read_bytes()
    sim.run(5.0)
    real_savez = np.savez

    def failing(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", failing)
    with pytest.raises(OSError, match="disk full"):
        sim.checkpoint(path)
    monkeypatch.setattr(np, "savez", real_savez)
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["c.npz"]
    sim.restore(path)                                  # still the checkpoint of t = 5 ms
    assert sim.get_current_time() == pytest.approx(5.0)
    with pytest.raises(sim.CheckpointError, match="folder"):
        sim.checkpoint(tmp_path / "no" / "such" / "folder.npz")


def _precise(sim, engine="auto", record=True):
    """A small network on the event-driven engine (engine="auto") or the off-grid one (engine="time")."""
    sim.setup(timestep=0.1, backend="numpy", spike_precision="off_grid", engine=engine, rng_seed=7)
    src = sim.Population(20, sim.SpikeSourcePoisson(rate=100.0), label="src")
    pop = sim.Population(30, sim.IF_curr_delta(i_offset=0.7, tau_refrac=2.0), label="pop")
    prj = sim.Projection(src, pop, sim.FixedProbabilityConnector(0.3, rng=sim.NumpyRNG(1)),
                         sim.StaticSynapse(weight=1.0, delay=sim.RandomDistribution("uniform", (0.5, 3.0),
                                                                                  rng=sim.NumpyRNG(2))), label="in")
    if record:
        pop.record(["spikes", "v"])
    return src, pop, prj


def _precise_snapshot(sim, pop, prj):
    net = sim.simulator.state.network
    edn = net.event_engine.edn
    data = pop.get_data().segments[0]
    return (net.step_index, edn.cells.copy(), edn.export_state(), [list(s.magnitude) for s in data.spiketrains],
            data.analogsignals[0].magnitude.copy())


def _same_precise(a, b):
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[3] == b[3]
    assert a[2].keys() == b[2].keys() and all(np.array_equal(a[2][k], b[2][k], equal_nan=True) for k in a[2])
    assert np.array_equal(a[4], b[4], equal_nan=True)


@pytest.mark.parametrize("engine", ["auto", "time"])
def test_precise_engines_rewind_in_the_same_process(sim, engine, tmp_path):
    src, pop, prj = _precise(sim, engine)
    sim.run(20.0)
    assert sim.simulator.state.network.event_engine.edn.pending_arrivals > 0      # inputs on their way
    sim.checkpoint(tmp_path / "c.npz")
    sim.run(20.0)
    once = _precise_snapshot(sim, pop, prj)
    sim.restore(tmp_path / "c.npz")
    assert sim.get_current_time() == pytest.approx(20.0)
    sim.run(20.0)
    _same_precise(once, _precise_snapshot(sim, pop, prj))
    assert sum(len(s) for s in once[3]) > 30


def test_precise_checkpoints_refuse_another_engine_and_damaged_engine_state(sim, tmp_path):
    import json
    src, pop, prj = _precise(sim)
    sim.run(10.0)
    path = tmp_path / "c.npz"
    sim.checkpoint(path)
    with np.load(path) as data:
        members = {k: data[k] for k in data.files}
    # the same network on the time grid, or on the off-grid engine: refused, naming both engines
    for setup, said in ((dict(spike_precision="on_grid"), "spike_precision='off_grid'"),
                        (dict(engine="time"), "the off-grid engine")):
        sim.setup(timestep=0.1, backend="numpy", rng_seed=7, **{"spike_precision": "off_grid", **setup})
        src = sim.Population(20, sim.SpikeSourcePoisson(rate=100.0), label="src")
        pop = sim.Population(30, sim.IF_curr_delta(i_offset=0.7, tau_refrac=2.0), label="pop")
        sim.Projection(src, pop, sim.FixedProbabilityConnector(0.3, rng=sim.NumpyRNG(1)),
                       sim.StaticSynapse(weight=1.0, delay=1.0), label="in")
        pop.record(["spikes", "v"])
        with pytest.raises(sim.CheckpointError, match=said):
            sim.restore(path)
        assert sim.get_current_time() == 0.0
    # damaged engine state (a valid archive): refused, nothing changes
    src, pop, prj = _precise(sim)
    sim.run(5.0)
    before = _precise_snapshot(sim, pop, prj)
    seg = members["x/net/queue/seg"].copy()
    seg[0] = 10**6
    for name, value, said in (("x/net/queue/seg", seg, "synapse segment outside"),
                              ("x/net/cells/v_free", members["x/net/cells/v_free"][:-1], "'cells/v_free' has shape"),
                              ("x/stim", None, "'stim' is missing")):
        bad = dict(members)
        if value is None:
            del bad[name]
        else:
            bad[name] = value
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(sim.CheckpointError, match=said):
            sim.restore(tmp_path / "bad.npz")
        _same_precise(before, _precise_snapshot(sim, pop, prj))
    meta = json.loads(str(members["__meta__"]))
    assert meta["state"]["precise"]["kind"] == "event"


@pytest.mark.parametrize("engine", ["auto", "time"])
def test_a_precise_network_changed_since_its_last_run_is_checkpointed_after_run_0(sim, engine, tmp_path):
    """A part added after a run: the next run decides how the network continues (the off-grid engine hands it
    to the grid, the event-driven engine refuses), so a checkpoint waits for it, and says so."""
    src, pop, prj = _precise(sim, engine)
    sim.run(5.0)
    sim.Projection(pop, pop, sim.FixedProbabilityConnector(0.1, rng=sim.NumpyRNG(3)),
                   sim.StaticSynapse(weight=0.1, delay=1.0))
    with pytest.raises(sim.CheckpointError, match=r"changed since its last run.*sim.run\(0\)"):
        sim.checkpoint(tmp_path / "c.npz")
    assert not os.path.exists(tmp_path / "c.npz")
    if engine == "time":
        with pytest.warns(RuntimeWarning, match="continues on the time grid"):
            sim.run(0)
        sim.checkpoint(tmp_path / "c.npz")          # now on the grid
        assert sim.simulator.state.network.event_engine is None


def test_earlier_segments_are_refused_with_the_remedy(sim, tmp_path):
    src, pop, prj = _small(sim)
    sim.run(5.0)
    sim.reset()
    sim.run(5.0)
    with pytest.raises(sim.CheckpointError, match=r"before the last reset\(\).*get_data\(clear=True\)"):
        sim.checkpoint(tmp_path / "c.npz")
    pop.get_data(clear=True)
    sim.checkpoint(tmp_path / "c.npz")


def test_a_checkpoint_loads_into_a_float32_network(sim, tmp_path):
    """Written in float64, continued in float32 (CuPy's default precision): the state arrives rounded."""
    src, pop, prj = _small(sim)
    sim.run(10.0)
    sim.checkpoint(tmp_path / "c.npz")
    v64 = np.array(pop._engine_group.state["v"])
    sim.setup(timestep=0.1, backend="numpy", precision="float32", spike_precision="on_grid", rng_seed=7)
    src = sim.Population(20, sim.SpikeSourcePoisson(rate=100.0), label="src")
    pop = sim.Population(30, sim.IF_curr_exp(i_offset=0.2), label="pop")
    sim.Projection(src, pop, sim.FixedProbabilityConnector(0.3, rng=sim.NumpyRNG(1)),
                   sim.STDPMechanism(timing_dependence=sim.SpikePairRule(),
                                     weight_dependence=sim.AdditiveWeightDependence(), weight=0.5, delay=1.0),
                   label="in")
    pop.record(["spikes", "v"])
    sim.restore(tmp_path / "c.npz")
    v32 = pop._engine_group.state["v"]
    assert v32.dtype == np.float32
    np.testing.assert_array_equal(v32, v64.astype(np.float32))
    sim.run(5.0)
    assert np.isfinite(pop.get_data().segments[0].analogsignals[0].magnitude[-10:]).all()


# --- the GPU path (run where a CUDA device is usable) ----------------------------------------------------------
def _gpu():
    from conftest import GPU
    return GPU


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu(), reason="no usable CUDA device")
@pytest.mark.parametrize("kind", ["stdp", "rewiring"])
def test_a_checkpoint_moves_between_the_cpu_and_the_gpu(kind, full_runs, tmp_path):
    """Written on the compiled CPU path, continued on CuPy (in float64), and back. The GPU sums the inputs of a
    target in another order (atomics), so its continuation is compared statistically; the first half, loaded
    from the checkpoint, is the CPU's exactly."""
    ckpt = tmp_path / "half.npz"
    run_case(kind, "cpu", "first", tmp_path / "first.npz", ckpt)
    gpu = run_case(kind, "cupy", "second", tmp_path / "gpu.npz", ckpt)
    cpu = full_runs(kind, "cpu")
    assert float(gpu["t"]) == cases.T
    # the first half is the CPU's, bit for bit: every spike recorded before T/2 is there
    half = cases.T / 2
    cpu_first = np.sort(cpu["pop1/spike_times"][cpu["pop1/spike_times"] <= half])
    gpu_first = np.sort(gpu["pop1/spike_times"][gpu["pop1/spike_times"] <= half])
    np.testing.assert_array_equal(cpu_first, gpu_first)
    # and the GPU's second half is a plausible continuation (float32 arithmetic: spike counts within 20 %)
    n_cpu, n_gpu = (np.sum(x["pop1/spike_times"] > half) for x in (cpu, gpu))
    assert abs(int(n_gpu) - int(n_cpu)) <= 0.2 * max(int(n_cpu), 5)
    back = tmp_path / "back.npz"
    run_case(kind, "cupy", "first", tmp_path / "gfirst.npz", back)
    run_case(kind, "cpu", "second", tmp_path / "cpu2.npz", back)


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu(), reason="no usable CUDA device")
def test_a_precise_spike_time_checkpoint_moves_between_the_cpu_and_the_gpu(full_runs, tmp_path):
    """The off-grid engine: written by the compiled CPU loop, continued by the kernels on the GPU, and back. The
    first half is the CPU's exactly; the GPU's continuation (its own order of floating-point operations) is
    compared by spike counts."""
    ckpt = tmp_path / "half.npz"
    run_case("offgrid_dc", "cpu", "first", tmp_path / "first.npz", ckpt)
    gpu = run_case("offgrid_dc", "cupy", "second", tmp_path / "gpu.npz", ckpt)
    cpu = full_runs("offgrid_dc", "cpu")
    assert "kernels on the GPU" in str(gpu["engine"])
    half = cases.T / 2
    for k in range(4):
        times = (cpu[f"pop{k}/spike_times"], gpu[f"pop{k}/spike_times"])
        np.testing.assert_array_equal(*(np.sort(t[t <= half]) for t in times))
        n_cpu, n_gpu = (int(np.sum(t > half)) for t in times)
        assert abs(n_gpu - n_cpu) <= 0.1 * max(n_cpu, 10)
    back = tmp_path / "back.npz"
    run_case("offgrid_dc", "cupy", "first", tmp_path / "gfirst.npz", back)
    cpu2 = run_case("offgrid_dc", "cpu", "second", tmp_path / "cpu2.npz", back)
    assert float(cpu2["t"]) == cases.T


@pytest.mark.parametrize("kind", ["tm", "rewiring"])
def test_a_checkpoint_of_two_processes_continues_on_two_processes(kind, full_runs, tmp_path):
    """Under mpiexec -n 2 every process writes its part into one archive and loads its part back: the run
    continued from T/2 equals one 2-process run to T, and (results do not depend on the number of processes) the
    gathered spikes, signals, weights and rewiring data of one process. Loaded into another number of
    processes, it is refused on every process."""
    ckpt = tmp_path / "half.npz"
    full = run_case(kind, "cpu", "full", tmp_path / "full.npz", processes=2)
    first = run_case(kind, "cpu", "first", tmp_path / "first.npz", ckpt, processes=2)
    second = run_case(kind, "cpu", "second", tmp_path / "second.npz", ckpt, processes=2)
    assert sorted(os.listdir(tmp_path)) == ["first.npz", "full.npz", "half.npz", "second.npz"]   # no parts left
    assert_identical(full, second)
    assert first["pop1/spike_times"].shape[0] < full["pop1/spike_times"].shape[0]
    one = full_runs(kind, "cpu")
    gathered = [name for name in one if not name.startswith("prj") or re.match(r"prj\d+/", name)]  # not rows
    assert_identical({k: one[k] for k in gathered}, {k: second[k] for k in gathered})
    with np.load(ckpt) as data:
        assert "r0/g1/state/v" in data.files and "r1/g1/state/v" in data.files
    run_case(kind, "cpu", "second", tmp_path / "x.npz", ckpt, fails="written by 2 MPI process(es); this run has 1")
    run_case(kind, "cpu", "second", tmp_path / "x.npz", tmp_path / "one.npz", processes=2,
             fails="there is no checkpoint file")
