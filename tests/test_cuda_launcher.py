"""The GPU driver's launch logic (engine/compiled/cuda.py), checked without a GPU.

A stand-in for CuPy's RawModule, streams and graphs runs each kernel's CPU build when it is "launched", so the
launcher's work (which kernels it launches at which step, the clock kernel, graph capture and replay, record
buffers emptied before they can overflow, no host synchronisation inside a run) is exercised on the same kernel
sources. What only a GPU can check (grid-stride loops, atomics, NVRTC) is covered by the nvcc test and by the GPU
tests when a device is present.

The plug-ins' tests (spike sources, current sources, STDP, rewiring) run on a stand-in device that tells its
memory apart from the host's: the network's and the engine's array module makes NumPy arrays of a marker subclass
(DeviceArray), as CuPy makes device arrays on the GPU path, and every kernel execution checks that each array
behind a pointer in its arguments carries the marker. A plug-in that kept an array a kernel reads or writes in
plain NumPy memory (np.zeros, np.asarray) would hand a GPU a host pointer; here it fails the test.
"""

import ctypes

import numpy as np
import pytest
from pyNN.random import NumpyRNG, RandomDistribution
from pyNN.space import Grid2D, Space

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
            self.run(slots)

    def run(self, slots):
        """Execute the kernel (a launch, or its node in a replayed graph)."""
        self.fn(slots.ctypes.data)


class _Module:
    function = _Function

    def __init__(self, code):
        self.lib = default_toolchain().build(code, "cuda_standin")

    def get_function(self, name):
        return self.function(self.lib, name)


class _Graph:
    def __init__(self, launches):
        self.launches = launches
        self.replays = 0

    def launch(self, stream=None):
        self.replays += 1
        for fn, slots in self.launches:
            fn.run(slots)


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


# --- device memory told apart from host memory ------------------------------------------------------------
class DeviceArray(np.ndarray):
    """Memory of the stand-in's device: what DeviceModule makes, and views of it and what NumPy computes from
    it. A plain NumPy array handed to a kernel was made on the host, and would be a host pointer on a GPU."""


def _on_device(value):
    if isinstance(value, np.ndarray) and not isinstance(value, DeviceArray):
        return value.view(DeviceArray)
    if isinstance(value, tuple):
        return tuple(_on_device(v) for v in value)
    if isinstance(value, list):
        return [_on_device(v) for v in value]
    return value


class DeviceModule:
    """The array module of a stand-in device (as CuPy is of the GPU): NumPy, every array its functions return
    marked as a DeviceArray, and `ndarray` the DeviceArray type (as cupy.ndarray). Other types (dtypes) and
    ufuncs (which keep the marker of their inputs) are NumPy's own."""

    ndarray = DeviceArray

    def __getattr__(self, name):
        value = getattr(np, name)
        if not callable(value) or isinstance(value, (type, np.ufunc)):
            return value

        def on_device(*args, **kwargs):
            return _on_device(value(*args, **kwargs))
        return on_device


DEVICE = DeviceModule()


class _CheckedFunction(_Function):
    """A kernel that checks, at every execution, that each pointer in its argument slots (and in their tables)
    is device memory: the slot array itself, a DeviceArray, or no array."""

    def __call__(self, grid, block, args):
        DeviceStandIn.grids.setdefault(self.name, set()).add((grid[0], block[0]))
        super().__call__(grid, block, args)

    def run(self, slots):
        assert isinstance(slots, DeviceArray), f"{self.name}: its argument slots are in host memory"
        owner = getattr(slots, "args", None)
        assert owner is not None and owner._slots is slots, "the test needs the device_checks fixture"
        host = [k for k, a in enumerate(owner._keep) if a is not None and not isinstance(a, DeviceArray)]
        assert not host, f"{self.name}: pointer arguments {host} (counted in slot order) are in host memory"
        assert all(isinstance(t, DeviceArray) for t in owner._tables), f"{self.name}: a table in host memory"
        DeviceStandIn.executed[self.name] = DeviceStandIn.executed.get(self.name, 0) + 1
        super().run(slots)


class _CheckedModule(_Module):
    function = _CheckedFunction


class DeviceStandIn(StandIn):
    """The stand-in with device memory told apart from host memory: its array module is DeviceModule, and its
    kernels refuse host pointers. `executed` counts each kernel's executions, `grids` its launch shapes."""
    xp = DEVICE
    executed = {}
    grids = {}

    def module(self, code):
        return _CheckedModule(code)


def _on_the_device(sim, graphs=True):
    """Run the network just set up under the launcher with device memory: the network's arrays and the
    engine's are made by DeviceModule (the backend's module, as CuPy is on the GPU path), and the kernels check
    their pointers."""
    network = sim.simulator.state.network
    network.backend.xp = DEVICE
    network.engine = CompiledEngine(network, driver=lambda counters: LaunchDriver(
        network.backend, counters, runtime=DeviceStandIn(), graphs=graphs))


@pytest.fixture
def device_checks(monkeypatch):
    """Each argument slot array knows its Args, whose arrays (`_keep`: the array behind each pointer slot, its
    tables' included; `_tables`) the kernels of DeviceStandIn check. Args itself copies nothing to the device:
    a pointer slot holds the address of the array its entry gives, as it is."""
    from pynn_sparsegpu.engine.compiled.program import Args
    refresh = Args.refresh

    def tagged(self, xp=None):
        slots = refresh(self, xp)
        if isinstance(slots, DeviceArray):
            slots.args = self
        return slots
    monkeypatch.setattr(Args, "refresh", tagged)
    DeviceStandIn.executed, DeviceStandIn.grids = {}, {}


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
    """Spike sources, a current source and STDP: the plug-in kernels under the launcher, with device memory."""
    sim.setup(timestep=0.1, backend="cpu", rng_seed=12)
    if driver == "launch":
        _on_the_device(sim)
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


def test_sources_current_sources_and_stdp_under_the_launcher(sim, device_checks):
    ref = _mixed_network(sim, "cpu")
    out = _mixed_network(sim, "launch")
    assert out[3]["reference_parts"] == [] and out[3]["syncs"] == 0
    assert sum(len(s) for s in out[0]) > 50
    assert _same(out[0], ref[0])
    np.testing.assert_array_equal(out[1], ref[1])
    np.testing.assert_array_equal(out[2], ref[2])


# --- rewiring under the launcher ----------------------------------------------------------------------------
def _rewiring_network(sim, driver, case, graphs=True):
    """A rewiring network run twice (45 + 35 ms). "stdp": Poisson sources onto IF_cond_exp cells through an STDP
    projection that rewires (DistanceDependentFormation, RandomByWeightElimination, RandomSelection). "last":
    a SpikeSourceArray onto IF_curr_exp cells through static synapses that rewire with LastNeuronSelection and
    max_in_degree, plus a lateral projection among the cells, both recorded with events. Under "launch" the
    network's arrays and the engine's are made by DeviceModule, as CuPy makes them on the GPU."""
    sim.setup(timestep=0.1, min_delay=0.1, backend="cpu", rng_seed=31)
    if driver == "launch":
        _on_the_device(sim, graphs)
    rng = NumpyRNG(seed=6)
    grid = Grid2D(aspect_ratio=1.0, dx=1.0, dy=1.0, fill_order="sequential")
    space = Space(axes="xy", periodic_boundaries=((-0.5, 5.5), (-0.5, 5.5), None))
    if case == "stdp":
        src = sim.Population(36, sim.SpikeSourcePoisson(rate=50.0), structure=grid)
        cells = sim.Population(36, sim.IF_cond_exp(tau_refrac=2.0, i_offset=0.3), structure=grid)
        mechanism = sim.StructuralPlasticityMechanism(
            formation=sim.DistanceDependentFormation(p_form_forward=0.5, sigma_form_forward=2.0),
            elimination=sim.RandomByWeightElimination(threshold=0.03, prob_elim_depressed=0.4,
                                                      prob_elim_potentiated=0.05),
            partner_selection=sim.RandomSelection(),
            timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=30.0, A_plus=0.01, A_minus=0.012),
            weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.06),
            f_rew=20_000.0, initial_weight=0.03, weight=0.03, delay=0.2, row_capacity=20)
        prjs = [sim.Projection(src, cells, sim.FixedProbabilityConnector(0.15, rng=rng), mechanism, space=space,
                               receptor_type="excitatory", label="stdp")]
    else:
        draw = np.random.default_rng(7)
        times = [np.unique(draw.uniform(0.1, 79.9, 12).round(1)) for _ in range(36)]
        src = sim.Population(36, sim.SpikeSourceArray(spike_times=times), structure=grid)
        cells = sim.Population(36, sim.IF_curr_exp(tau_refrac=2.0, i_offset=0.5), structure=grid)
        cells.initialize(v=RandomDistribution("uniform", low=-65.0, high=-55.0, rng=rng))

        def mechanism(weight):
            return sim.StructuralPlasticityMechanism(
                formation=sim.DistanceDependentFormation(0.6, 2.5, 0.5, 1.5),
                elimination=sim.RandomByWeightElimination(0.2, 0.5, 0.1),
                partner_selection=sim.LastNeuronSelection(window=3.0), f_rew=20_000.0, initial_weight=0.3,
                weight=weight, row_capacity=16, max_in_degree=6)
        prjs = [sim.Projection(src, cells, sim.FixedProbabilityConnector(0.1, rng=rng), mechanism(0.4),
                               space=space, receptor_type="excitatory", label="ff"),
                sim.Projection(cells, cells, sim.FixedProbabilityConnector(0.1, rng=rng), mechanism(0.15),
                               space=space, receptor_type="excitatory", label="lat")]
        for p in prjs:
            p.record_rewiring(sampling_interval=16.0, events=True)      # (chunks long enough for graphs)
    cells.record("spikes")
    sim.run(45.0)
    sim.run(35.0)
    out = {"spikes": [np.asarray(st) for st in cells.get_data().segments[0].spiketrains],
           "weights": [sorted(tuple(c) for c in p.get(["weight"], format="list")) for p in prjs],
           "counts": [p.rewiring_counts() for p in prjs],
           "batches": [p._groups[(0, 0)].rewirer.batches for p in prjs],
           "stats": sim.kernel_statistics(), "records": []}
    for p in prjs:
        if case == "last":
            seg = p.get_rewiring_data().segments[0]
            event = seg.events[0]
            out["records"].append(([(s.name, np.asarray(s).ravel().tolist(), float(s.t_start))
                                    for s in seg.analogsignals],
                                   np.asarray(event.times).tolist(), list(event.labels),
                                   event.array_annotations["pre"].tolist(), event.array_annotations["post"].tolist()))
    sim.end()
    return out


@pytest.mark.parametrize("case", ["stdp", "last"])
@pytest.mark.parametrize("graphs", [True, False])
def test_rewiring_under_the_launcher_keeps_its_arrays_on_the_device(sim, device_checks, case, graphs):
    """Rewiring batches as kernels under the launcher, with every array a kernel is handed checked to be device
    memory: the same spikes, connectivity, weights, counts and records as the CPU driver, no reference part, no
    synchronisation inside the loop, six launches per batch, `begin` in one block."""
    ref = _rewiring_network(sim, "cpu", case)
    StandIn.graphs = []
    out = _rewiring_network(sim, "launch", case, graphs=graphs)
    stats = out["stats"]
    assert stats["reference_parts"] == [] and stats["syncs"] == 0
    assert bool(StandIn.graphs) == graphs and all(g.replays > 0 for g in StandIn.graphs)
    assert sum(len(s) for s in ref["spikes"]) > 50
    assert _same(out["spikes"], ref["spikes"])
    assert out["weights"] == ref["weights"]
    assert out["counts"] == ref["counts"] and out["batches"] == ref["batches"]
    assert out["records"] == ref["records"]
    for counts in out["counts"]:
        assert counts["formations"] > 10 and counts["eliminations"] > 10
    if case == "last":
        assert sum(c["no_partner"] for c in out["counts"]) > 0
        assert sum(c["target_full"] for c in out["counts"]) > 0
        assert all(len(r[1]) > 20 for r in out["records"])               # events were recorded
        assert stats["record_syncs"] >= 2 * 5        # ... and copied back at each of the 5 samples of each projection
    # every kernel ran under the checks; launches per batch, counted by the stand-in and by the engine
    executed = DeviceStandIn.executed
    rewiring = sum(n for name, n in executed.items() if "rewiring" in name)
    batches = sum(out["batches"])
    assert rewiring == 6 * batches and rewiring / batches <= 12
    assert stats["launches"] == sum(executed.values())
    begin = [grid for name, grids in DeviceStandIn.grids.items() if "rewiring_begin" in name for grid in grids]
    assert begin and all(blocks == 1 for blocks, _ in begin)
