"""Several processes (mpiexec -n 2 and -n 3) against one: the same network gives the same spikes, membrane
traces, conductances, connectivity, plastic weights and Neo blocks, bit for bit (float64).

The scripts in tests/mpi/ build a network, run it and write what rank 0 gathered (get_data(gather=True),
Projection.get(gather=True), get_spike_counts) to a pickle file; each is run once as a plain process and once
under mpiexec per process count.
"""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.mpi

HERE = Path(__file__).resolve().parent / "mpi"


def _mpiexec():
    found = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        pytest.fail("mpiexec is not installed: install the test extra (it brings mpi4py and MPICH from PyPI)")
    return found


def _run(script, out, processes=None, timeout=300, extra=()):
    command = [sys.executable, str(HERE / script), str(out), *extra]
    if processes is not None:
        command = [_mpiexec(), "-n", str(processes)] + command
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_"))}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    with open(out, "rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="module")
def static_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mpi-static")
    return {n: _run("static_network.py", tmp / f"{n}.pkl", None if n == 1 else n) for n in (1, 2, 3)}


@pytest.fixture(scope="module")
def plastic_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mpi-plastic")
    return {n: _run("plastic_network.py", tmp / f"{n}.pkl", None if n == 1 else n) for n in (1, 2)}


@pytest.fixture(scope="module")
def rewiring_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mpi-rewiring")
    return {n: _run("rewiring_network.py", tmp / f"{n}.pkl", None if n == 1 else n) for n in (1, 2, 3)}


def _same_spikes(a, b):
    for pop, trains in a["spikes"].items():
        assert trains.keys() == b["spikes"][pop].keys(), pop
        for cell, times in trains.items():
            np.testing.assert_array_equal(b["spikes"][pop][cell], times, err_msg=f"{pop}[{cell}]")


def _same_signals(a, b):
    for pop, signals in a["signals"].items():
        assert signals.keys() == b["signals"][pop].keys(), pop
        for name, (values, channels) in signals.items():
            other, other_channels = b["signals"][pop][name]
            assert other_channels == channels, (pop, name)
            np.testing.assert_array_equal(other, values, err_msg=f"{pop}.{name}")


@pytest.mark.parametrize("n", [2, 3])
def test_static_network_is_the_same_on_several_processes(static_runs, n):
    one, many = static_runs[1], static_runs[n]
    assert one["processes"] == 1 and many["processes"] == n
    assert many["info"]["processes"] == n and "MPI" in many["info"]["mpi"]
    # the network is not trivial: every population fires, and the current sources and delays matter
    assert all(sum(len(t) for t in trains.values()) > 20 for trains in one["spikes"].values())
    _same_spikes(one, many)
    _same_signals(one, many)
    assert many["layout"] == one["layout"]
    assert many["counts"] == one["counts"]
    np.testing.assert_array_equal(many["tau_m"], one["tau_m"])
    assert many["sizes"] == one["sizes"] and one["sizes"]["ie"] == 90 * 31
    for label, arrays in one["conn"].items():
        for mine, theirs in zip(arrays, many["conn"][label]):
            np.testing.assert_array_equal(theirs, mine, err_msg=label)
    assert many["lists"] == one["lists"]
    for mine, theirs in zip(one["electrode"], many["electrode"]):        # the recorded current source
        np.testing.assert_array_equal(theirs, mine)
    assert one["electrode"][1].max() == 0.4
    # spikes crossed processes once per block of min_delay steps (0.3 ms = 3 steps), with no syncs inside
    stats = many["stats"]
    assert stats["exchange_block_steps"] == 3 and stats["exchanges"] == 334
    assert stats["spikes_exchanged"] > 0
    assert stats["reference_parts"] == ["current sources: a recorded current source logs its amplitude on the "
                                        "host at every step"]
    assert stats["syncs_per_step"] == 0


def test_static_network_is_distributed(static_runs):
    """Each process holds a contiguous block of each population (PyNN's local_cells)."""
    assert static_runs[1]["local_exc"] == list(range(90))
    assert static_runs[2]["local_exc"] == list(range(45))
    assert static_runs[3]["local_exc"] == list(range(30))


def test_plastic_network_is_the_same_on_several_processes(plastic_runs):
    one, two = plastic_runs[1], plastic_runs[2]
    assert sum(len(t) for t in one["spikes"]["cells"].values()) > 500
    _same_spikes(one, two)
    _same_signals(one, two)
    for label, (weights,) in one["conn"].items():
        np.testing.assert_array_equal(two["conn"][label][0], weights, err_msg=label)
    initial = (0.2, 0.8)          # the STDP weights moved: the comparison covers learning, not just transmission
    stdp = one["conn"]["stdp"][0]
    assert np.nanmin(stdp) < initial[0] or np.nanmax(stdp) > initial[1]


@pytest.mark.parametrize("n", [2, 3])
def test_rewiring_network_is_the_same_on_several_processes(rewiring_runs, n):
    """Structural plasticity: every process carries out the attempts onto its own cells; formations,
    eliminations, the final synapses, the recorded counts and every event are those of one process."""
    one, many = rewiring_runs[1], rewiring_runs[n]
    ff, lat = one["counts"]["ff"], one["counts"]["lat"]
    assert ff["formations"] > 100 and ff["eliminations"] > 20 and ff["target_full"] > 0   # every rule acts
    assert lat["formations"] > 100 and lat["eliminations"] > 20 and lat["no_partner"] > 0
    assert lat["failed"] > 0           # rows fill: a row's capacity holds over all processes, as in one
    assert many["counts"] == one["counts"] and many["sizes"] == one["sizes"]
    _same_spikes(one, many)
    _same_signals(one, many)
    assert many["conn"] == one["conn"]
    for label, (samples, events) in one["records"].items():
        other_samples, other_events = many["records"][label]
        assert samples.keys() == other_samples.keys()
        for name, values in samples.items():
            np.testing.assert_array_equal(other_samples[name], values, err_msg=f"{label}.{name}")
        assert len(events) == len(other_events) == 1 and len(events[0][0]) > 100
        for mine, theirs in zip(events[0], other_events[0]):
            np.testing.assert_array_equal(np.asarray(theirs), np.asarray(mine), err_msg=f"{label} events")
    assert many["stats"]["syncs_per_step"] == 0 and many["stats"]["reference_parts"] == []


def test_the_gpu_driver_under_mpi(tmp_path):
    """The CUDA launcher's path with the spike exchange, on the stand-in device of test_cuda_launcher.py
    (every kernel checks that its pointers are device memory): 2 processes give the spikes, v and STDP weights
    of 1 process on the CPU driver; the exchange reads the device twice per block (count, entries)."""
    import os
    if not os.path.exists(Path(__file__).parent / "test_cuda_launcher.py"):
        pytest.fail("tests/test_cuda_launcher.py (the stand-in device) is missing")
    one = _run("launcher_network.py", tmp_path / "cpu.pkl", extra=["cpu"])
    two = _run("launcher_network.py", tmp_path / "launch.pkl", 2, extra=["launch"])
    assert sum(len(t) for t in one["spikes"].values()) > 100
    assert one["spikes"].keys() == two["spikes"].keys()
    for cell, times in one["spikes"].items():
        np.testing.assert_array_equal(two["spikes"][cell], times)
    np.testing.assert_array_equal(two["v"], one["v"])
    np.testing.assert_array_equal(two["weights"], one["weights"])
    assert np.nanmax(one["weights"]) != np.nanmin(one["weights"])          # STDP moved the weights
    stats = two["stats"]
    assert stats["syncs"] == 2 * stats["exchanges"] and stats["reference_parts"] == []


def test_what_runs_in_one_process_is_refused_by_name(tmp_path):
    messages = _run("refusals.py", tmp_path / "refusals.pkl", 2)
    kind, text = messages["event_engine"]
    assert kind == "ValueError" and "engine='event'" in text and "2 MPI processes" in text
    kind, text = messages["reference_path"]
    assert kind == "RuntimeError" and "backend 'numpy'" in text and "backend='cpu'" in text
    kind, text = messages["trainer"]
    assert kind == "NotImplementedError" and "EpropTrainer" in text
    assert any("precise spike times" in m and "time grid" in m for m in messages["precise_times_warning"])


# --- without mpiexec ----------------------------------------------------------------------------------------
def test_blocks_cover_every_cell_once():
    from pynn_sparsegpu.engine.parallel import block
    for n in (0, 1, 5, 90, 1001):
        for size in (1, 2, 3, 7):
            parts = [block(n, r, size) for r in range(size)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(parts[r][1] == parts[r + 1][0] for r in range(size - 1))
            lengths = [hi - lo for lo, hi in parts]
            assert max(lengths) - min(lengths) <= 1


def test_a_plain_run_is_one_process(monkeypatch):
    import pynn_sparsegpu.engine.parallel.comm as comm
    for name in comm._LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(comm, "_WORLD", None)
    world = comm.world()
    assert isinstance(world, comm.SerialComm) and (world.rank, world.size) == (0, 1)
    data = np.arange(6, dtype=np.int32).reshape(3, 2)
    np.testing.assert_array_equal(world.allgatherv(data), data)


class _FakeDevice:
    current = 0
    used = []

    def __init__(self, index=None):
        self.id = _FakeDevice.current if index is None else index

    def use(self):
        _FakeDevice.current = self.id
        _FakeDevice.used.append(self.id)


def _fake_cupy(n_devices):
    """A stand-in for CuPy with n_devices GPUs that records which one each process selects."""
    import types

    class _Array:
        def sum(self):
            return self

        def item(self):
            return 0.0
    runtime = types.SimpleNamespace(getDeviceCount=lambda: n_devices,
                                    getDeviceProperties=lambda i: {"name": f"GPU {i}".encode()})
    cuda = types.SimpleNamespace(runtime=runtime, Device=_FakeDevice)
    return types.SimpleNamespace(cuda=cuda, zeros=lambda n: _Array())


@pytest.mark.parametrize("local_rank,processes,devices,expected", [(0, 2, 2, 0), (1, 2, 2, 1), (3, 4, 2, 1),
                                                                   (5, 8, 8, 5), (0, 1, 4, None)])
def test_each_process_of_a_machine_takes_its_own_gpu(monkeypatch, local_rank, processes, devices, expected):
    """The CuPy path under mpiexec: process k of a machine selects GPU k mod (GPUs), before any array is made.
    (Checked with a stand-in for CuPy here; on a machine with GPUs the GPU tests run it for real.)"""
    import types

    from pynn_sparsegpu.engine import backend as backend_module
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(devices))
    _FakeDevice.current, _FakeDevice.used = 0, []
    comm = types.SimpleNamespace(local_rank=local_rank, local_size=processes)
    with pytest.warns(RuntimeWarning) if processes > devices else _no_warning():
        chosen = backend_module.select_backend("cupy", comm=comm)
    assert chosen.name == "cupy"
    if expected is None:                      # one process: the current device, nothing selected
        assert _FakeDevice.used == [] and chosen.device.startswith("cuda:0")
    else:
        assert _FakeDevice.used == [expected] and chosen.device == f"cuda:{expected} (GPU {expected})"


def _no_warning():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def check():
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            yield
    return check()
