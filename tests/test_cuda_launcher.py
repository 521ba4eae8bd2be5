"""The GPU driver's launch logic (engine/compiled/cuda.py), checked without a GPU.

A stand-in for CuPy's RawModule, streams and graphs runs each kernel's CPU build when it is "launched", so the
launcher's work (which kernels it launches at which step, the clock kernel, graph capture and replay, record
buffers emptied before they can overflow, no host synchronisation inside a run) is exercised on the same kernel
sources. What only a GPU can check (grid-stride loops, atomics, NVRTC) is covered by the nvcc test and by the GPU
tests when a device is present.
"""

import ctypes

import numpy as np
import pytest
from pyNN.random import NumpyRNG, RandomDistribution

from pynn_sparsegpu.engine.compiled import runner as runner_module
from pynn_sparsegpu.engine.compiled.cuda import LaunchDriver
from pynn_sparsegpu.engine.compiled.runner import CompiledEngine
from pynn_sparsegpu.engine.compiled.toolchain import default_toolchain


class _Recorder:
    capturing = None          # the launches of the graph being captured, or None


class _Function:
    def __init__(self, lib, name):
        self.fn = getattr(lib, name)
        self.fn.argtypes = [ctypes.c_void_p]
        self.fn.restype = None
        self.name = name

    def __call__(self, grid, block, args):
        assert len(grid) == 1 and len(block) == 1 and grid[0] >= 1 and 1 <= block[0] <= 1024
        slots = args[0]
        assert slots.dtype == np.uint64 and slots.flags.c_contiguous
        if _Recorder.capturing is not None:
            _Recorder.capturing.append((self, slots))
        else:
            self.fn(slots.ctypes.data)


class _Module:
    def __init__(self, code):
        self.lib = default_toolchain().build(code, "cuda_standin")

    def get_function(self, name):
        return _Function(self.lib, name)


class _Graph:
    def __init__(self, launches):
        self.launches = launches
        self.replays = 0

    def launch(self, stream=None):
        self.replays += 1
        for fn, slots in self.launches:
            fn.fn(slots.ctypes.data)


class _Stream:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def wait_event(self, event):
        pass

    def begin_capture(self):
        assert _Recorder.capturing is None
        _Recorder.capturing = []

    def end_capture(self):
        graph = _Graph(_Recorder.capturing)
        _Recorder.capturing = None
        StandIn.graphs.append(graph)
        return graph


class _Event:
    def record(self, stream=None):
        pass


class StandIn:
    """CuPy's runtime as the launcher uses it, running the CPU build of every kernel."""
    xp = np
    graphs = []
    copies = 0

    def module(self, code):
        return _Module(code)

    def stream(self):
        return _Stream()

    def current_stream(self):
        return _Stream()

    def event(self):
        return _Event()

    def asnumpy(self, array):
        StandIn.copies += 1
        return np.array(array)


def _network(sim, driver, record_v=True, tstop=80.0, graphs=True, capacity=None, monkeypatch=None):
    sim.setup(timestep=0.1, backend="cpu", rng_seed=9)
    if capacity is not None:
        monkeypatch.setattr(runner_module, "SPIKE_EVENT_MIN_CAPACITY", capacity)
    network = sim.simulator.state.network
    if driver == "launch":
        network.engine = CompiledEngine(
            network, driver=lambda counters: LaunchDriver(network.backend, counters, runtime=StandIn(), graphs=graphs))
    rng = NumpyRNG(seed=5)
    exc = sim.Population(160, sim.IF_cond_exp(tau_refrac=2.0))
    inh = sim.Population(40, sim.IF_cond_exp(tau_refrac=2.0))
    for pop in (exc, inh):
        pop.set(i_offset=RandomDistribution("uniform", low=0.6, high=1.0, rng=rng))
        pop.initialize(v=RandomDistribution("uniform", low=-65.0, high=-52.0, rng=rng))
    c = sim.FixedProbabilityConnector(0.1, rng=rng)
    for pre, receptor, w in ((exc, "excitatory", 0.004), (inh, "inhibitory", 0.03)):
        for post in (exc, inh):
            sim.Projection(pre, post, c, sim.StaticSynapse(weight=w, delay=0.3), receptor_type=receptor)
    exc.record(["spikes", "v"] if record_v else "spikes")
    sim.run(tstop / 2)
    sim.run(tstop / 2)
    seg = exc.get_data().segments[0]
    spikes = [np.asarray(st) for st in seg.spiketrains]
    v = np.asarray(seg.filter(name="v")[0]) if record_v else None
    stats = sim.kernel_statistics()
    sim.end()
    return spikes, v, stats


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == len(b)


@pytest.mark.parametrize("graphs", [True, False])
def test_launched_steps_equal_the_cpu_driver(sim, graphs):
    StandIn.graphs = []
    ref_spikes, ref_v, _ = _network(sim, "cpu")
    spikes, v, stats = _network(sim, "launch", graphs=graphs)
    assert sum(len(s) for s in spikes) > 100
    assert _same(spikes, ref_spikes)
    np.testing.assert_array_equal(v, ref_v)
    # two population kernels, two propagation launches, the clock: 5 kernels per step, no synchronisation
    assert stats["launches_per_step"] == 5
    assert stats["syncs_per_step"] == 0
    if graphs:
        assert StandIn.graphs and all(g.replays > 0 for g in StandIn.graphs)
        assert stats["host_launches_per_step"] < 0.5       # graph replays: one host launch per 64 steps
    else:
        assert not StandIn.graphs
        assert stats["host_launches_per_step"] == 5


def test_spike_buffers_are_emptied_before_they_overflow(sim, monkeypatch):
    """The launcher cannot read the event counter between steps: it empties the buffers after as many steps as
    are sure to fit, and loses nothing."""
    ref_spikes, _, _ = _network(sim, "cpu", record_v=False, capacity=400, monkeypatch=monkeypatch)
    StandIn.copies = 0
    spikes, _, stats = _network(sim, "launch", record_v=False, capacity=400, monkeypatch=monkeypatch)
    assert _same(spikes, ref_spikes)
    assert sum(len(s) for s in spikes) > 400
    assert StandIn.copies > 4                       # the buffer was emptied several times...
    assert stats["record_syncs"] > 4 and stats["syncs"] == 0     # ...each one a counted record copy


def _mixed_network(sim, driver):
    """Spike sources, a current source and STDP: the plug-in kernels under the launcher."""
    sim.setup(timestep=0.1, backend="cpu", rng_seed=12)
    network = sim.simulator.state.network
    if driver == "launch":
        network.engine = CompiledEngine(
            network, driver=lambda counters: LaunchDriver(network.backend, counters, runtime=StandIn()))
    rng = NumpyRNG(seed=8)
    noise = sim.Population(50, sim.SpikeSourcePoisson(rate=60.0))
    cells = sim.Population(40, sim.IF_curr_exp(tau_refrac=2.0))
    sim.DCSource(amplitude=0.6, start=10.0, stop=70.0).inject_into(cells[::2])
    stdp = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(A_plus=0.02, A_minus=0.02),
                             weight_dependence=sim.AdditiveWeightDependence(w_max=1.0), weight=0.4, delay=0.5)
    prj = sim.Projection(noise, cells, sim.FixedProbabilityConnector(0.3, rng=rng), stdp)
    cells.record(["spikes", "v"])
    sim.run(45.0)
    sim.run(35.0)
    seg = cells.get_data().segments[0]
    out = ([np.asarray(st) for st in seg.spiketrains], np.asarray(seg.filter(name="v")[0]),
           np.asarray(prj.get("weight", format="array")), sim.kernel_statistics())
    sim.end()
    return out


def test_sources_current_sources_and_stdp_under_the_launcher(sim):
    ref = _mixed_network(sim, "cpu")
    out = _mixed_network(sim, "launch")
    assert out[3]["reference_parts"] == [] and out[3]["syncs"] == 0
    assert sum(len(s) for s in out[0]) > 50
    assert _same(out[0], ref[0])
    np.testing.assert_array_equal(out[1], ref[1])
    np.testing.assert_array_equal(out[2], ref[2])
