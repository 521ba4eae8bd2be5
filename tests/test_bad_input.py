"""Bad input is rejected with a clear exception (its type, and a message naming the parameter and the value),
and a rejected call leaves the simulation as it was.
"""

import math
import re

import numpy as np
import pytest
from pyNN import errors

from conftest import GPU

DT = 0.1


@pytest.fixture
def fresh(sim):
    sim.setup(timestep=DT, min_delay=DT)
    return sim


def _names(message, *words):
    for word in words:
        assert re.search(re.escape(str(word)), message), f"{word!r} not in message: {message}"


# --- cell parameters ----------------------------------------------------------------------------------
def test_unknown_parameter_name(fresh):
    with pytest.raises(errors.NonExistentParameterError) as info:
        fresh.IF_curr_exp(tau_mm=3.0)
    _names(str(info.value), "tau_mm", "tau_m")      # the bad name, and the valid names


def test_unknown_parameter_name_in_population(fresh):
    with pytest.raises(errors.NonExistentParameterError) as info:
        fresh.Population(2, fresh.IF_curr_alpha, {"v_treshold": -50.0})
    _names(str(info.value), "v_treshold")


@pytest.mark.parametrize("cell, name, value", [
    ("IF_curr_exp", "tau_m", 0.0),
    ("IF_curr_exp", "tau_m", -5.0),
    ("IF_curr_exp", "cm", 0.0),
    ("IF_curr_alpha", "cm", -0.25),
    ("IF_curr_exp", "tau_syn_E", 0.0),
    ("IF_curr_exp", "tau_syn_I", -2.0),
    ("IF_curr_alpha", "tau_syn_E", -1.5),
    ("IF_curr_delta", "tau_m", -3.0),
    ("IF_curr_exp", "tau_refrac", -1.0),
])
def test_nonpositive_constants(fresh, cell, name, value):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(3, getattr(fresh, cell)(**{name: value}))
    _names(str(info.value), name, value)


@pytest.mark.parametrize("name", ["v_thresh", "tau_m", "i_offset"])
def test_nan_parameter(fresh, name):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, fresh.IF_curr_exp(**{name: float("nan")}))
    _names(str(info.value), name)
    assert "nan" in str(info.value).lower()


def test_nan_in_one_neuron_of_an_array(fresh):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(3, fresh.IF_curr_exp(v_rest=np.array([-65.0, np.nan, -60.0])))
    _names(str(info.value), "v_rest")


# --- sources ------------------------------------------------------------------------------------------
def test_negative_poisson_rate(fresh):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, fresh.SpikeSourcePoisson(rate=-1.0))
    _names(str(info.value), "rate", "-1.0")


def test_poisson_refractory_rate_times_dead_time(fresh):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, fresh.SpikeSourcePoissonRefractory(rate=200.0, tau_refrac=10.0))
    _names(str(info.value), "rate", "tau_refrac", "200", "10")


def test_unsorted_spike_times(fresh):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(1, fresh.SpikeSourceArray(spike_times=[3.0, 1.0]))
    _names(str(info.value), "spike_times", "3.0", "1.0")
    assert "sorted" in str(info.value)


def test_negative_spike_times(fresh):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(1, fresh.SpikeSourceArray(spike_times=[-1.0, 1.0]))
    _names(str(info.value), "spike_times", "-1.0")


def test_unsorted_spike_times_in_one_of_several(fresh):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, fresh.SpikeSourceArray(spike_times=[np.array([1.0, 2.0]), np.array([5.0, 4.0])]))
    _names(str(info.value), "5.0", "4.0")


# --- set(), initialize() ------------------------------------------------------------------------------
def test_set_array_of_wrong_length(fresh):
    population = fresh.Population(3, fresh.IF_curr_exp())
    with pytest.raises(errors.InvalidDimensionsError) as info:
        population.set(tau_m=np.array([10.0, 20.0]))
    _names(str(info.value), "tau_m", "2 values", "3 cells")
    np.testing.assert_allclose(population.get("tau_m"), 20.0)
    with pytest.raises(errors.InvalidDimensionsError) as info:          # a view: its own size
        population[0:2].set(cm=[0.5, 0.6, 0.7])
    _names(str(info.value), "cm", "3 values", "2 cells")
    np.testing.assert_allclose(population.get("cm"), 1.0)


@pytest.mark.parametrize("size", [-3, 0, 2.5, (4, -1), True])
def test_population_size_must_be_positive_whole(fresh, size):
    with pytest.raises(ValueError) as info:
        fresh.Population(size, fresh.IF_curr_exp())
    _names(str(info.value), f"size={size!r}", "positive whole number")
    assert fresh.simulator.state.network.groups == []          # nothing was made


def test_population_too_large_for_memory(fresh):
    """Refused from an estimate before anything is allocated (not a hang, not the OOM killer)."""
    with pytest.raises(MemoryError) as info:
        fresh.Population(10 ** 13, fresh.IF_curr_exp())
    _names(str(info.value), "10000000000000", "GiB", "available")
    assert fresh.simulator.state.network.groups == []
    with pytest.raises(MemoryError):       # refused first, before the per-cell list is looked at (or evaluated)
        fresh.Population(10 ** 13, fresh.EIF_cond_exp_isfa_ista(cm=[0.281, 0.281, 0.281]))
    fresh.Population(10, fresh.IF_curr_exp())                   # the simulation goes on


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_population_memory_estimate_is_the_measured_peak(fresh, precision):
    """The estimate (Network.population_bytes) is never below the memory that making the population takes at
    its peak (NumPy and Python allocations traced), and at most 30 % above it, for every standard cell type:
    a population that cannot fit is refused, one that fits is made."""
    import tracemalloc
    n, ratios = 20000, {}
    for name in fresh.list_standard_models():
        celltype = getattr(fresh, name)
        if name == "PointNeuron":                         # (a container of other cell types)
            continue
        fresh.setup(timestep=DT, precision=precision)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        pop = fresh.Population(n, celltype())
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        host, engine = fresh.simulator.state.network.population_bytes(pop._engine_group.model, n)
        ratios[name] = (host + engine) / peak
    assert len(ratios) >= 20
    assert all(1.0 <= r <= 1.3 for r in ratios.values()), ratios


def test_population_refused_against_the_memory_available_now(fresh, monkeypatch):
    """The estimate is compared with the host memory available at the time: 10^5 IF_curr_exp cells (about 60
    MB) are refused with 16 MiB free, and made with the memory the machine has."""
    backend = fresh.simulator.state.network.backend
    monkeypatch.setattr(type(backend), "host_available_bytes", staticmethod(lambda: 2 ** 24))
    with pytest.raises(MemoryError) as info:
        fresh.Population(10 ** 5, fresh.IF_curr_exp())
    _names(str(info.value), "100000 IF_curr_exp cells", "bytes per cell", "0.0156 GiB is available")
    assert fresh.simulator.state.network.groups == []
    fresh.Population(1000, fresh.IF_curr_exp())
    monkeypatch.undo()
    assert fresh.Population(10 ** 5, fresh.IF_curr_exp()).size == 10 ** 5


@pytest.mark.parametrize("p_connect", [-0.1, 1.5, float("nan"), "0.5"])
def test_probability_outside_0_1(fresh, p_connect):
    with pytest.raises(ValueError) as info:
        fresh.FixedProbabilityConnector(p_connect)
    _names(str(info.value), "p_connect", "between 0 and 1")


@pytest.mark.parametrize("connector,side,allowed", [("FixedNumberPreConnector", "presynaptic", 5),
                                                    ("FixedNumberPostConnector", "postsynaptic", 3)])
def test_more_distinct_partners_than_cells(fresh, connector, side, allowed):
    pre, post = fresh.Population(5, fresh.IF_curr_exp()), fresh.Population(3, fresh.IF_curr_exp())
    with pytest.raises(errors.ConnectionError) as info:
        fresh.Projection(pre, post, getattr(fresh, connector)(8, with_replacement=False))
    _names(str(info.value), "n=8", side, f"only {allowed} cells", "with_replacement=True")
    assert fresh.simulator.state.network.projections == []
    prj = fresh.Projection(pre, post, getattr(fresh, connector)(8, with_replacement=True))   # allowed
    assert len(prj) == 8 * (3 if side == "presynaptic" else 5)


def test_self_connections_leave_one_partner_fewer(fresh):
    pop = fresh.Population(4, fresh.IF_curr_exp())
    with pytest.raises(errors.ConnectionError) as info:
        fresh.Projection(pop, pop, fresh.FixedNumberPreConnector(4, allow_self_connections=False))
    _names(str(info.value), "n=4", "only 3 cells", "self-connections are excluded")


def test_projection_set_array_of_wrong_shape(fresh):
    pre, post = fresh.Population(5, fresh.IF_curr_exp()), fresh.Population(4, fresh.IF_curr_exp())
    prj = fresh.Projection(pre, post, fresh.AllToAllConnector(), fresh.StaticSynapse(weight=0.3))
    with pytest.raises(errors.InvalidDimensionsError) as info:
        prj.set(weight=np.ones(7))
    _names(str(info.value), "weight", "(7,)", "(5, 4)")
    np.testing.assert_allclose(prj.get("weight", format="array"), 0.3)
    prj.set(weight=np.full((5, 4), 0.2))                       # the right shape is taken
    np.testing.assert_allclose(prj.get("weight", format="array"), 0.2)


@pytest.mark.parametrize("source,params,name", [
    ("DCSource", {"amplitude": float("inf")}, "amplitude"),
    ("DCSource", {"amplitude": -float("inf")}, "amplitude"),
    ("ACSource", {"amplitude": 1.0, "offset": float("inf")}, "offset"),
    ("NoisyCurrentSource", {"mean": 0.0, "stdev": float("inf")}, "stdev")])
def test_infinite_current(fresh, source, params, name):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        getattr(fresh, source)(**params)
    _names(str(info.value), name, "inf", "finite")


def test_ac_source_negative_frequency(fresh):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.ACSource(amplitude=1.0, frequency=-5.0)
    _names(str(info.value), "frequency", "-5.0", ">= 0")
    fresh.ACSource(amplitude=1.0, frequency=0.0, stop=float("inf"))     # a constant and an endless source


def test_rejected_set_leaves_values_intact(fresh):
    population = fresh.Population(3, fresh.IF_curr_exp(tau_m=[10.0, 15.0, 25.0], cm=0.5))
    with pytest.raises(errors.InvalidParameterValueError) as info:
        population.set(tau_m=np.array([11.0, -20.0, 5.0]))
    _names(str(info.value), "tau_m", "-20.0")
    with pytest.raises(errors.InvalidParameterValueError):
        population.set(tau_m=12.0, cm=-1.0)          # one good, one bad: neither is applied
    with pytest.raises(errors.InvalidParameterValueError):
        population[1:].set(v_rest=float("nan"))
    np.testing.assert_allclose(population.get("tau_m"), [10.0, 15.0, 25.0])
    np.testing.assert_allclose(population.get("cm"), 0.5)
    np.testing.assert_allclose(population.get("v_rest"), -65.0)
    # and the cells still simulate with the old values: same v as an untouched twin
    twin = fresh.Population(3, fresh.IF_curr_exp(tau_m=[10.0, 15.0, 25.0], cm=0.5))
    for p in (population, twin):
        p.set(i_offset=0.4)
        p.record("v")
    fresh.run(20.0)
    v1 = population.get_data().segments[0].filter(name="v")[0].magnitude
    v2 = twin.get_data().segments[0].filter(name="v")[0].magnitude
    np.testing.assert_array_equal(v1, v2)


def test_rejected_spike_times_leave_values_intact(fresh):
    sources = fresh.Population(2, fresh.SpikeSourceArray(spike_times=[np.array([1.0]), np.array([2.0])]))
    with pytest.raises(errors.InvalidParameterValueError):
        sources.set(spike_times=[np.array([1.0, 3.0]), np.array([5.0, 4.0])])
    times = sources.get("spike_times")
    np.testing.assert_allclose(times[0].value, [1.0])
    np.testing.assert_allclose(times[1].value, [2.0])


def test_rejected_projection_set_leaves_weights_intact(fresh):
    """Projection.set(weight=..., delay=bad) must not change the weights either."""
    cells = fresh.Population(3, fresh.IF_curr_exp())
    projection = fresh.Projection(cells, cells, fresh.AllToAllConnector(),
                                  fresh.StaticSynapse(weight=0.5, delay=1.0))
    with pytest.raises(errors.ConnectionError) as info:
        projection.set(weight=2.0, delay=0.01)
    _names(str(info.value), "delay", "0.01")
    np.testing.assert_allclose(projection.get("weight", format="array"), 0.5)
    np.testing.assert_allclose(projection.get("delay", format="array"), 1.0)


def test_nan_weight_rejected(fresh):
    cells = fresh.Population(2, fresh.IF_curr_exp())
    projection = fresh.Projection(cells, cells, fresh.AllToAllConnector(),
                                  fresh.StaticSynapse(weight=0.5, delay=1.0))
    with pytest.raises(errors.ConnectionError) as info:
        projection.set(weight=np.nan)
    assert "NaN" in str(info.value)
    np.testing.assert_allclose(projection.get("weight", format="array"), 0.5)


def test_delay_below_min_delay(sim):
    sim.setup(timestep=DT, min_delay=0.5)
    cells = sim.Population(2, sim.IF_curr_exp())
    with pytest.raises(errors.ConnectionError) as info:
        sim.Projection(cells, cells, sim.AllToAllConnector(), sim.StaticSynapse(delay=0.2))
    _names(str(info.value), "delay", "0.2", "min_delay", "0.5")


def test_nan_initial_value(fresh):
    population = fresh.Population(2, fresh.IF_curr_exp())
    with pytest.raises(errors.InvalidParameterValueError) as info:
        population.initialize(v=np.array([-60.0, np.nan]))
    _names(str(info.value), "v")
    population.record("v")
    fresh.run(0.1)
    np.testing.assert_allclose(population.get_data().segments[0].filter(name="v")[0].magnitude[0], -65.0)


# --- recording ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("variable", ["gsyn_exc", "foo"])
def test_record_unknown_variable(fresh, variable):
    population = fresh.Population(2, fresh.IF_curr_exp())
    with pytest.raises(errors.RecordingError) as info:
        population.record(variable)
    _names(str(info.value), variable)


def test_record_v_of_a_spike_source(fresh):
    population = fresh.Population(2, fresh.SpikeSourcePoisson())
    with pytest.raises(errors.RecordingError) as info:
        population.record("v")
    _names(str(info.value), "v")


@pytest.mark.parametrize("interval", [0.25, 0.05, 0.15])
def test_sampling_interval_not_a_multiple_of_dt(fresh, interval):
    population = fresh.Population(2, fresh.IF_curr_exp())
    with pytest.raises(ValueError) as info:
        population.record("v", sampling_interval=interval)
    _names(str(info.value), "sampling_interval", interval)


def test_rejected_sampling_interval_leaves_recorder_usable(fresh):
    """After record(v, sampling_interval=0.25) is refused, v is not half-recorded: a valid record() is
    accepted and get_data() returns the v it asked for."""
    population = fresh.Population(2, fresh.IF_curr_exp(i_offset=1.0))
    with pytest.raises(ValueError):
        population.record("v", sampling_interval=0.25)
    population.record("v", sampling_interval=1.0)
    fresh.run(10.0)
    signal = population.get_data().segments[0].filter(name="v")[0]
    assert signal.shape == (11, 2)
    assert float(signal.sampling_period) == 1.0


# --- simulation control -------------------------------------------------------------------------------
@pytest.mark.parametrize("timestep", [0.0, -0.1])
def test_nonpositive_timestep(sim, timestep):
    with pytest.raises(ValueError) as info:
        sim.setup(timestep=timestep)
    _names(str(info.value), "timestep", timestep)


def test_nan_timestep(sim):
    with pytest.raises(ValueError) as info:
        sim.setup(timestep=float("nan"))
    _names(str(info.value), "timestep", "nan")


def test_min_delay_below_timestep(sim):
    """A ValueError (as for timestep), naming min_delay and both values; PyNN's common.setup raises a
    bare Exception for this, so the backend has to check it first."""
    with pytest.raises(ValueError) as info:
        sim.setup(timestep=0.1, min_delay=0.05)
    _names(str(info.value), "min_delay", "0.05", "0.1")


def test_run_after_end(sim):
    sim.setup(timestep=DT)
    sim.Population(1, sim.IF_curr_exp())
    sim.run(1.0)
    sim.end()
    with pytest.raises(RuntimeError) as info:
        sim.run(10.0)
    assert "setup" in str(info.value)
    with pytest.raises(RuntimeError):
        sim.Population(1, sim.IF_curr_exp())


def test_run_until_the_past(fresh):
    fresh.Population(1, fresh.IF_curr_exp())
    fresh.run(10.0)
    with pytest.raises(ValueError) as info:
        fresh.run_until(5.0)
    _names(str(info.value), "5", "10")
    assert fresh.get_current_time() == pytest.approx(10.0)
    fresh.run_until(12.0)            # still usable
    assert fresh.get_current_time() == pytest.approx(12.0)


# --- current sources ----------------------------------------------------------------------------------
def test_step_current_length_mismatch(fresh):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.StepCurrentSource(times=[1.0, 2.0], amplitudes=[0.1])
    _names(str(info.value), "times", "amplitudes", "2", "1")


def test_rejected_current_sources_leave_network_runnable(fresh):
    """A current source refused at construction must not stay half-built inside the network."""
    cells = fresh.Population(1, fresh.IF_curr_exp())
    with pytest.raises(errors.InvalidParameterValueError):
        fresh.StepCurrentSource(times=[1.0, 2.0], amplitudes=[0.1])
    with pytest.raises(errors.InvalidParameterValueError):
        fresh.DCSource(amplitude=float("nan"))
    good = fresh.DCSource(amplitude=1.0, start=2.0)
    good.inject_into(cells)
    cells.record("v")
    fresh.run(10.0)
    v = cells.get_data().segments[0].filter(name="v")[0].magnitude[:, 0]
    assert v[-1] > -65.0 + 1.0


def test_rejected_current_source_set_leaves_values_intact(fresh):
    step = fresh.StepCurrentSource(times=[1.0, 2.0], amplitudes=[0.1, 0.2])
    with pytest.raises(errors.InvalidParameterValueError):
        step.set_parameters(times=[1.0, 2.0, 3.0])
    times = step.get_parameters()["times"].base_value
    np.testing.assert_allclose(np.asarray(getattr(times, "value", times), dtype=float), [1.0, 2.0])
    dc = fresh.DCSource(amplitude=1.0, start=5.0)
    with pytest.raises(errors.InvalidParameterValueError) as info:
        dc.set_parameters(amplitude=float("nan"))
    _names(str(info.value), "amplitude")
    assert dc.get_parameters()["amplitude"].base_value == 1.0


def test_inject_into_spike_source(fresh):
    sources = fresh.Population(1, fresh.SpikeSourcePoisson())
    with pytest.raises(TypeError):
        fresh.DCSource(amplitude=1.0).inject_into(sources)


# --- backends -----------------------------------------------------------------------------------------
@pytest.mark.skipif(GPU, reason="this machine has a usable GPU")
def test_cupy_backend_without_gpu(sim):
    from pynn_sparsegpu.engine import BackendError
    with pytest.raises(BackendError) as info:
        sim.setup(backend="cupy")
    message = str(info.value)
    assert "CuPy" in message
    # it says why: CuPy missing, or no usable device
    assert re.search(r"cannot be imported|no CUDA device|cannot run|reports no device", message), message


def test_bogus_backend(sim):
    with pytest.raises(ValueError) as info:
        sim.setup(backend="bogus")
    _names(str(info.value), "backend", "bogus", "numpy", "cupy")


def test_bogus_spike_precision(sim):
    with pytest.raises(ValueError) as info:
        sim.setup(spike_precision="exact")
    _names(str(info.value), "spike_precision", "exact")


def test_bogus_precision(sim):
    with pytest.raises(ValueError) as info:
        sim.setup(precision="float16")
    _names(str(info.value), "precision", "float16")


def test_rejected_setup_keeps_nothing_half_done(sim):
    """A setup() that fails on its arguments does not leave a simulation that claims to be running."""
    sim.setup(timestep=DT)
    population = sim.Population(2, sim.IF_curr_exp())
    sim.run(5.0)
    with pytest.raises(ValueError):
        sim.setup(timestep=-1.0)
    # the previous simulation is still intact (setup validated before destroying it)
    assert sim.get_time_step() == DT
    assert math.isclose(sim.get_current_time(), 5.0)
    population.record("spikes")
    sim.run(5.0)
    assert math.isclose(sim.get_current_time(), 10.0)


# --- projections too large for memory (estimated before the connector allocates) ---------------------------
@pytest.mark.parametrize("connector", ["AllToAllConnector()", "FixedProbabilityConnector(1.0)"])
def test_projection_too_large_for_memory(fresh, connector):
    """10^5 x 10^5 cells all to all: 10^10 synapses, about 745 GiB. Refused at once from the connector's
    parameters, naming the projection, the synapses, the estimate and what is available, before the connector
    allocates anything; the network is as it was."""
    import time
    import tracemalloc
    pre = fresh.Population(10 ** 5, fresh.SpikeSourcePoisson(rate=1.0), label="input")
    post = fresh.Population(10 ** 5, fresh.IF_curr_exp(), label="cortex")
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(MemoryError) as info:
        fresh.Projection(pre, post, eval(f"fresh.{connector}"), label="dense")
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    message = str(info.value)
    _names(message, "Projection 'dense'", connector.split("(")[0], "100000 -> 100000", "1e+10 synapses",
           "GiB", "available", "sparser connector", "more MPI processes")
    need = float(re.search(r"needs about ([0-9.e+]+) GiB", message).group(1))
    assert 700 < need < 800                                    # (16 + 64) bytes per synapse
    assert seconds < 1.0 and peak < 50 * 2 ** 20               # the projection's index maps, no connections
    assert fresh.simulator.state.network.projections == []
    prj = fresh.Projection(pre, post, fresh.FixedProbabilityConnector(1e-5))     # 10^5 synapses: fits
    assert 0.9e5 < len(prj) < 1.1e5


def test_projection_refused_against_the_memory_available_now(fresh, monkeypatch):
    """The estimate is compared with backend.available_bytes() at the time: the same projection (about 7 MB)
    is refused with 1 MiB free and made with the memory the machine has."""
    backend = fresh.simulator.state.network.backend
    pre, post = fresh.Population(300, fresh.IF_curr_exp()), fresh.Population(300, fresh.IF_curr_exp())
    monkeypatch.setattr(type(backend), "available_bytes", lambda self: 2 ** 20)
    with pytest.raises(MemoryError) as info:
        fresh.Projection(pre, post, fresh.AllToAllConnector(), fresh.StaticSynapse(weight=0.1))
    _names(str(info.value), "90000 synapses", "needs about 6.", "MiB", "1 MiB is available")
    assert fresh.simulator.state.network.projections == []
    fresh.Projection(pre, post, fresh.FromListConnector([(0, 1), (2, 3)]))     # small enough
    monkeypatch.undo()
    assert len(fresh.Projection(pre, post, fresh.AllToAllConnector())) == 90000


def test_projection_memory_estimate_is_the_measured_peak(fresh):
    """The estimate (connectors.memory_estimate) is within 10 % of the memory the build takes at its peak (NumPy
    allocations traced from the Projection through the first run, which builds the rows), for a static
    all-to-all projection, a random-weight one and an STDP one; so a projection that fits is not refused."""
    import tracemalloc
    from pynn_sparsegpu import connectors
    fresh.setup(timestep=DT, min_delay=DT, spike_precision="on_grid")    # projections are added after a run
    pre, post = fresh.Population(700, fresh.SpikeSourcePoisson(rate=1.0)), fresh.Population(700, fresh.IF_curr_exp())
    stdp = fresh.STDPMechanism(timing_dependence=fresh.SpikePairRule(),
                               weight_dependence=fresh.AdditiveWeightDependence(), weight=0.01)
    random_weight = fresh.StaticSynapse(weight=fresh.RandomDistribution("uniform", (0.1, 0.2)))
    fresh.run(DT)
    for synapse in (fresh.StaticSynapse(weight=0.1), random_weight, stdp):
        connector = fresh.AllToAllConnector()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        prj = fresh.Projection(pre, post, connector, synapse, receptor_type="excitatory")
        estimate, synapses, _ = connectors.memory_estimate(prj, connector)
        fresh.run(DT)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        assert synapses == len(prj) == 490000
        assert 0.9 * peak < estimate < 1.1 * peak, (type(synapse).__name__, estimate, peak)


def test_projection_memory_estimate_divides_the_rows_over_processes(fresh, monkeypatch):
    """With several MPI processes each keeps the synapses onto its own cells: the rows' part of the estimate
    is divided by the number of processes; the index pairs the connector makes in full on every process are
    not."""
    from pynn_sparsegpu import connectors
    pre, post = fresh.Population(1000, fresh.IF_curr_exp()), fresh.Population(1000, fresh.IF_curr_exp())
    prj = fresh.Projection(pre, post, fresh.FromListConnector([(0, 0)]))
    connector = fresh.AllToAllConnector()
    one, synapses, stored = connectors.memory_estimate(prj, connector)
    assert synapses == 10 ** 6 and one == (64 + stored) * 10 ** 6
    monkeypatch.setattr(fresh.simulator.state, "num_processes", 4)
    four = connectors.memory_estimate(prj, connector)[0]
    assert four == 32 * 10 ** 6 + 16 * 10 ** 6 // 4 + 10 ** 6      # the connector's pairs, in full
    assert four < one


# --- found by the property-based sequences (tests/test_properties.py) -------------------------------------
def test_projection_onto_a_spike_source(fresh):
    """PyNN's receptor guess indexed an empty tuple (IndexError); now a ConnectionError that says why."""
    cells = fresh.Population(3, fresh.IF_curr_exp())
    sources = fresh.Population(3, fresh.SpikeSourceArray())
    with pytest.raises(errors.ConnectionError) as info:
        fresh.Projection(cells, sources, fresh.AllToAllConnector(), fresh.StaticSynapse(weight=0.5))
    _names(str(info.value), "spike source", "SpikeSourceArray", "receptor_type")
    assert fresh.simulator.state.network.projections == []


@pytest.mark.parametrize("name", ["FixedNumberPreConnector", "FixedNumberPostConnector", "FixedTotalNumberConnector"])
def test_negative_number_of_connections(name):
    """PyNN's constructors assert n >= 0 (an empty AssertionError). pynn_sparsegpu.connectors has classes that
    say what is wrong (sim exports them once pynn_sparsegpu/__init__.py imports them from .connectors)."""
    from pynn_sparsegpu import connectors
    cls = getattr(connectors, name)
    with pytest.raises(ValueError) as info:
        cls(-1)
    _names(str(info.value), name, "n=-1", ">= 0")
    with pytest.raises(TypeError) as info:
        cls(2.5)
    _names(str(info.value), "n=2.5", "whole number")
    assert cls(np.int64(3)).n == 3


def test_no_partner_left_names_the_connector(fresh):
    cell = fresh.Population(1, fresh.IF_curr_exp())
    with pytest.raises(errors.ConnectionError) as info:
        fresh.Projection(cell, cell, fresh.FixedNumberPreConnector(2, with_replacement=True,
                                                                   allow_self_connections=False))
    _names(str(info.value), "FixedNumberPreConnector", "n=2", "self-connections", "allow_self_connections=True")


@pytest.mark.parametrize("make, words", [
    (lambda sim: sim.IF_curr_exp(tau_m=[10.0, 20.0]), ["tau_m", "2 values", "3 cells"]),
    (lambda sim: sim.SpikeSourceArray(spike_times=[[1.0], [2.0], [3.0], [4.0]]), ["spike_times", "4 sequences"]),
])
def test_population_with_per_cell_values_of_the_wrong_length(fresh, make, words):
    """Was a bare "Lazy array has fixed shape (2,), cannot be changed to (3,)"."""
    with pytest.raises(errors.InvalidDimensionsError) as info:
        fresh.Population(3, make(fresh))
    _names(str(info.value), *words)
    assert fresh.simulator.state.network.groups == []
    with pytest.raises(errors.InvalidDimensionsError):
        fresh.Population(3, fresh.IF_curr_exp, {"cm": [1.0, 2.0]})       # class and a dict of parameters


def test_get_data_before_the_first_run(fresh):
    """PyNN indexed an empty list of segments (IndexError); now the current segment, with nothing in it yet."""
    cells = fresh.Population(2, fresh.IF_curr_exp())
    cells.record(["spikes", "v"])
    block = cells.get_data()
    assert len(block.segments) == 1
    assert [len(st) for st in block.segments[0].spiketrains] == [0, 0]
    fresh.run(1.0)
    assert len(cells.get_data().segments) == 1


def test_refused_population_leaves_no_recorder_nor_cells(fresh):
    """PyNN registers a recorder before the cells are made, and sets initial values after: a refused population
    left a recorder (reset() then failed with an AttributeError) or its cells behind."""
    cells = fresh.Population(2, fresh.IF_curr_exp())
    cells.record("spikes")
    fresh.run(1.0)
    state = fresh.simulator.state
    before = (len(state.recorders), len(state.network.groups), state.id_counter)
    with pytest.raises(errors.InvalidParameterValueError):
        fresh.Population(3, fresh.IF_curr_exp(tau_m=-1.0))
    with pytest.raises(errors.InvalidParameterValueError):
        fresh.Population(3, fresh.IF_curr_exp(), initial_values={"v": float("nan")})
    assert (len(state.recorders), len(state.network.groups), state.id_counter) == before
    fresh.reset()
    fresh.run(1.0)
    assert len(cells.get_data().segments) == 2


@pytest.mark.parametrize("weight, delay, words", [
    (float("inf"), 1.0, ["weight=inf", "finite"]),
    (-float("inf"), 1.0, ["weight=-inf", "finite"]),
    (0.5, float("inf"), ["delay=inf", "finite"]),
    (0.5, 1e9, ["delay=1000000000.0", "too long"]),
])
def test_non_finite_or_endless_weights_and_delays(fresh, weight, delay, words):
    """Were accepted, and every run after failed ("weight must be finite", or a delay of -2e8 steps)."""
    cells = fresh.Population(2, fresh.IF_curr_exp())
    with pytest.raises(errors.ConnectionError) as info:
        fresh.Projection(cells, cells, fresh.AllToAllConnector(), fresh.StaticSynapse(weight=weight, delay=delay))
    _names(str(info.value), *words)
    prj = fresh.Projection(cells, cells, fresh.AllToAllConnector(), fresh.StaticSynapse(weight=0.5, delay=1.0))
    with pytest.raises(errors.ConnectionError):
        prj.set(weight=weight, delay=delay)
    np.testing.assert_allclose(prj.get("weight", format="array"), 0.5)
    cells.record("v")
    fresh.run(2.0)


def test_synapse_values_checked_without_connections(fresh):
    """A NaN weight or a delay below min_delay was accepted when the connector made no connection (and by
    Projection.set on an empty projection)."""
    cells = fresh.Population(3, fresh.IF_curr_exp())
    with pytest.raises(errors.ConnectionError) as info:
        fresh.Projection(cells, cells, fresh.FixedNumberPreConnector(0), fresh.StaticSynapse(weight=float("nan")))
    _names(str(info.value), "NaN")
    empty = fresh.Projection(cells, cells, fresh.FixedNumberPreConnector(0), fresh.StaticSynapse(weight=0.1))
    with pytest.raises(errors.ConnectionError) as info:
        empty.set(delay=0.0)
    _names(str(info.value), "delay=0.0", "min_delay")


def test_stdp_zero_delay_and_non_finite_bounds(fresh):
    """PyNN's STDPMechanism turned delay=0 into min_delay unseen (`delay or min_delay`); NaN or infinite
    parameters of the rule made the weights NaN."""
    cells = fresh.Population(3, fresh.IF_curr_exp())

    def stdp(delay=1.0, **weight_rule):
        return fresh.STDPMechanism(timing_dependence=fresh.SpikePairRule(),
                                   weight_dependence=fresh.AdditiveWeightDependence(**weight_rule),
                                   weight=0.5, delay=delay)
    for synapse, words in [(stdp(delay=0.0), ["delay=0.0", "min_delay"]),
                           (stdp(w_min=float("nan")), ["w_min=nan", "finite"]),
                           (stdp(w_max=float("inf")), ["w_max=inf", "finite"])]:
        with pytest.raises(errors.ConnectionError) as info:
            fresh.Projection(cells, cells, fresh.AllToAllConnector(), synapse)
        _names(str(info.value), *words)


@pytest.mark.parametrize("cell, params, name", [
    ("IF_curr_exp", {"v_rest": float("inf")}, "v_rest"),
    ("IF_cond_exp", {"e_rev_E": float("inf")}, "e_rev_E"),
    ("EIF_cond_exp_isfa_ista", {"a": -float("inf")}, "a"),
    ("Izhikevich", {"d": float("inf")}, "d"),
])
def test_infinite_cell_parameter(fresh, cell, params, name):
    """Accepted before, and the membrane became NaN."""
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, getattr(fresh, cell)(**params))
    _names(str(info.value), name, "inf", "finite")
    sources = fresh.Population(2, fresh.SpikeSourcePoisson(rate=10.0, duration=float("inf")))   # for ever: fine
    sources.record("spikes")
    fresh.run(1.0)


def test_infinite_initial_value(fresh):
    cells = fresh.Population(2, fresh.IF_curr_exp())
    with pytest.raises(errors.InvalidParameterValueError) as info:
        cells.initialize(v=float("inf"))
    _names(str(info.value), "'v'", "inf", "finite")


@pytest.mark.parametrize("params, words", [
    ({"tau_w": 0.001}, ["tau_w = 0.001", "timestep 0.1", "RK4"]),
    ({"tau_m": 0.001}, ["tau_m = 0.001", "timestep 0.1"]),
    ({"delta_T": 0.01}, ["delta_T", "663.7", "overflows"]),
    ({"v_thresh": -2000.0}, ["v_thresh", "663.7"]),
])
def test_adex_parameters_that_would_give_nan(fresh, params, words):
    """EIF_cond_exp_isfa_ista (fixed-step RK4): time constants far below the substep blew up to NaN; NEST's bound
    on (v_spike - v_thresh) / delta_T keeps exp() from overflowing."""
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, fresh.EIF_cond_exp_isfa_ista(**params))
    _names(str(info.value), *words)
    cells = fresh.Population(2, fresh.EIF_cond_exp_isfa_ista(tau_w=0.05))     # fine at dt = 0.1 ms
    with pytest.raises(errors.InvalidParameterValueError):
        cells.set(tau_w=1e-4)
    np.testing.assert_allclose(cells.get("tau_w"), 0.05)
    cells.record("v")
    fresh.DCSource(amplitude=2.0).inject_into(cells)
    fresh.run(5.0)
    assert np.isfinite(cells.get_data().segments[0].filter(name="v")[0].magnitude).all()


@pytest.mark.parametrize("cell", ["IF_curr_exp", "IF_cond_exp", "IF_curr_delta"])
def test_reset_at_or_above_threshold(fresh, cell):
    """NEST's rule v_reset < v_thresh: accepted before, then the precise-time engines refused every run."""
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, getattr(fresh, cell)(v_reset=-40.0))
    _names(str(info.value), "v_reset = -40.0", "v_thresh = -50.0")
    cells = fresh.Population(2, getattr(fresh, cell)())
    with pytest.raises(errors.InvalidParameterValueError):
        cells[1:].set(v_reset=-45.0, v_thresh=-46.0)
    cells.set(v_thresh=-30.0, v_reset=-40.0)       # both at once: allowed
    fresh.run(1.0)


@pytest.mark.parametrize("celltype, words", [
    (lambda sim: sim.SpikeSourcePoisson(rate=1e12), ["rate = 1e+12", "Hz"]),
    (lambda sim: sim.SpikeSourcePoissonRefractory(rate=1e9), ["rate = 1e+09"]),
    (lambda sim: sim.SpikeSourceGamma(alpha=2, beta=1e12), ["beta / alpha"]),
])
def test_rate_so_high_that_a_step_never_ends(fresh, celltype, words):
    """A Poisson source at 1e300 Hz drew intervals that vanish next to t: run() never returned (and 1e12 Hz
    takes hours)."""
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, celltype(fresh))
    _names(str(info.value), *words)


def test_event_driven_network_changed_after_a_run_of_zero(fresh):
    """After run(0) (no time passed) a current source added was refused by the event-driven engine at every run
    (RuntimeError); the engine is now chosen again for the network as it is."""
    cells = fresh.Population(3, fresh.IF_curr_delta())
    cells.record("v")
    fresh.run(0.0)
    fresh.DCSource(amplitude=1.0, start=2.0).inject_into(cells)
    fresh.run(10.0)
    assert fresh.backend_info()["engine"].startswith("event-driven")
    v = cells.get_data().segments[0].filter(name="v")[0].magnitude
    assert v[-1, 0] > -65.0 + 1.0


def test_record_v_of_population_added_after_precise_run(fresh):
    """record('v') of a population made after the off-grid engine started raised KeyError."""
    fresh.Population(3, fresh.IF_curr_exp(i_offset=1.0))
    fresh.run(1.0)
    later = fresh.Population(4, fresh.IF_curr_exp(), initial_values={"v": -60.0})
    later.record("v")
    fresh.run(1.0)
    v = later.get_data().segments[0].filter(name="v")[0].magnitude
    assert v.shape == (11, 4) and v[0, 0] == -60.0 and np.isfinite(v).all()


def test_tau_refrac_below_dt_after_a_precise_run(fresh):
    """tau_refrac = 0 after the off-grid engine started: every run raised ValueError; now the network continues
    on the time grid (as for other changes that engine cannot follow)."""
    cells = fresh.Population(4, fresh.IF_curr_exp(i_offset=1.0))
    cells.record(["v", "spikes"])
    fresh.run(10.0)
    cells[0:2].set(tau_refrac=0.0)
    fresh.run(5.0)
    assert fresh.get_current_time() == pytest.approx(15.0)
    assert np.isfinite(cells.get_data().segments[0].filter(name="v")[0].magnitude).all()


def test_recorded_spike_times_survive_new_spike_times(fresh):
    """Spikes of a SpikeSourceArray recorded before set(spike_times=...) were reported at the new times."""
    sources = fresh.Population(2, fresh.SpikeSourceArray(spike_times=[[1.03, 2.55], [3.01]]))
    sources.record("spikes")
    fresh.run(5.0)
    sources.set(spike_times=[[1.07, 6.0], [3.09, 7.33]])
    fresh.run(5.0)
    trains = [list(np.round(st.magnitude, 9)) for st in sources.get_data().segments[0].spiketrains]
    assert trains == [[1.03, 2.55, 6.0], [3.01, 7.33]]


@pytest.mark.parametrize("name, value", [("tau_rec", float("inf")), ("tau_facil", float("inf"))])
def test_tsodyks_markram_infinite_time_constant(fresh, name, value):
    """tau_rec = inf was accepted and every release became 0 * inf = NaN (the target's v NaN)."""
    pre, post = fresh.Population(1, fresh.IF_curr_delta()), fresh.Population(1, fresh.EIF_cond_exp_isfa_ista())
    with pytest.raises(errors.ConnectionError) as info:
        fresh.Projection(pre, post, fresh.OneToOneConnector(), fresh.TsodyksMarkramSynapse(weight=0.0, **{name: value}))
    _names(str(info.value), f"{name}=inf", "finite")


@pytest.mark.parametrize("cell, params, name", [
    ("Izhikevich", {"b": -1e300}, "b"),
    ("IF_curr_exp", {"cm": 1e-300}, "cm"),
    ("IF_cond_exp", {"v_rest": 1e300}, "v_rest"),
])
def test_astronomic_parameter_magnitude(fresh, cell, params, name):
    """Accepted before; the state overflowed to inf and then NaN within a few steps (Izhikevich b = -1e300)."""
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(2, getattr(fresh, cell)(**params))
    _names(str(info.value), name, "magnitude")


def test_delay_whose_ring_buffers_cannot_fit(fresh):
    """A delay of 1e7 ms on 10^4 cells needs 1e8 ring slots per cell and receptor (15 TB): refused from the
    estimate when the projection is made, not by the allocation at the first run."""
    cells = fresh.Population(10 ** 4, fresh.IF_curr_exp())
    with pytest.raises(MemoryError) as info:
        fresh.Projection(cells, cells, fresh.FixedNumberPreConnector(1), fresh.StaticSynapse(weight=0.1, delay=1e7))
    _names(str(info.value), "delay=10000000.0", "GiB", "available", "shorter delays")
    assert fresh.simulator.state.network.projections == []


def test_weights_set_then_projection_added_after_a_precise_run(fresh):
    """Projection.set(weight=...) and a new projection after the off-grid engine started: its hand-over to the
    time grid pushed the old projections' weights into arrays of the new length (ValueError at every run)."""
    cells = fresh.Population(2, fresh.IF_curr_exp(i_offset=1.0))
    cells.record("v")
    first = fresh.Projection(cells, cells, fresh.OneToOneConnector(), fresh.StaticSynapse(weight=0.0))
    fresh.run(0.1)
    first.set(weight=0.2)
    fresh.Projection(cells, cells, fresh.AllToAllConnector(), fresh.StaticSynapse(weight=0.0))
    fresh.run(5.0)
    assert fresh.get_current_time() == pytest.approx(5.1)
    np.testing.assert_allclose(first.get("weight", format="array").diagonal(), 0.2)


def test_infinite_spike_time(fresh):
    """spike_times [2.0, inf] was accepted; the precise-time engines then refused every run."""
    with pytest.raises(errors.InvalidParameterValueError) as info:
        fresh.Population(1, fresh.SpikeSourceArray(spike_times=[2.0, float("inf")]))
    _names(str(info.value), "spike_times", "inf", "finite")
    sources = fresh.Population(1, fresh.SpikeSourceArray(spike_times=[2.0]))
    with pytest.raises(errors.InvalidParameterValueError):
        sources.set(spike_times=[1.0, float("inf")])
    np.testing.assert_allclose(sources.get("spike_times").value, [2.0])


@pytest.mark.parametrize("tstop", [float("nan"), float("inf")])
def test_non_finite_run_time(fresh, tstop):
    """run(nan) gave "cannot convert float NaN to integer", run_until(inf) an OverflowError."""
    pop = fresh.Population(2, fresh.IF_curr_exp(i_offset=1.0))
    pop.record("v")
    fresh.run(1.0)
    for call in (fresh.run, fresh.run_until):
        with pytest.raises(ValueError) as info:
            call(tstop)
        _names(str(info.value), "finite", "ms")
    assert fresh.get_current_time() == pytest.approx(1.0)
    fresh.run(1.0)
    assert pop.get_data().segments[0].analogsignals[0].shape[0] == 21


@pytest.mark.parametrize("name", ["FixedNumberPreConnector", "FixedNumberPostConnector", "FixedTotalNumberConnector"])
def test_negative_fixed_number_through_sim(fresh, name):
    """sim.FixedNumberPreConnector(-1) gave a bare AssertionError (PyNN's classes were exported)."""
    with pytest.raises(ValueError) as info:
        getattr(fresh, name)(-1)
    _names(str(info.value), name, "n=-1", ">= 0")


# --- a model whose explicit integration diverges: an error, not a silent NaN ---------------------------------
@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_diverging_explicit_integration_raises_and_keeps_the_recording(fresh, backend):
    """Izhikevich with b = -1e6 is a valid parameter set whose Euler steps overflow within a few ms: the run
    raises NumericalInstability naming the population, the variable, the cell and its parameters; what was
    recorded (before and during the run) is kept, and the other populations ran."""
    import warnings
    fresh.setup(timestep=DT, backend=backend)
    bad = fresh.Population(5, fresh.Izhikevich(b=-1e6, i_offset=0.01), label="izh")
    good = fresh.Population(5, fresh.IF_curr_exp(i_offset=1.0), label="lif")
    bad.record("v")
    good.record("spikes")
    fresh.run(1.0)                                       # still finite
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's overflow warnings on the way)
        with pytest.raises(fresh.NumericalInstability) as info:
            fresh.run(50.0)
    _names(str(info.value), "population 'izh' (Izhikevich)", "'v' of cell 0", "between t = 1 and 51 ms",
           "b=-1e+06", "smaller timestep", "kept")
    assert fresh.get_current_time() == pytest.approx(51.0)
    v = bad.get_data().segments[0].analogsignals[0].magnitude
    assert v.shape[0] == 511 and np.isfinite(v[:11]).all() and np.isnan(v[-1]).all()
    assert sum(len(s) for s in good.get_data().segments[0].spiketrains) >= 5       # each cell fired


def test_explicit_models_that_do_not_diverge_run_on(fresh):
    for celltype in (fresh.Izhikevich(i_offset=0.01), fresh.EIF_cond_exp_isfa_ista(i_offset=1.0),
                     fresh.HH_cond_exp(i_offset=0.5)):
        fresh.setup(timestep=DT)
        pop = fresh.Population(3, celltype)
        pop.record("spikes")
        fresh.run(100.0)
        assert sum(len(s) for s in pop.get_data().segments[0].spiketrains) > 0


# --- a refused part takes no random stream ------------------------------------------------------------------
def test_a_refused_part_leaves_the_random_streams_of_later_parts_unchanged(fresh):
    """A script that catches refused calls (or a notebook cell run again after a fix) gives the same Poisson
    spikes, noise, random connections and stochastic transmission as the script without them."""
    def script(refusals):
        fresh.setup(timestep=DT, min_delay=DT, rng_seed=5)
        a = fresh.Population(20, fresh.SpikeSourcePoisson(rate=50.0))
        d = fresh.Population(5, fresh.IF_curr_exp())
        if refusals:
            with pytest.raises(errors.InvalidParameterValueError):
                fresh.Population(10, fresh.IF_curr_exp(tau_m=-1.0))
            with pytest.raises(ValueError):
                fresh.NoisyCurrentSource(mean=0.0, stdev=0.1, dt=-1.0)
            with pytest.raises(errors.ConnectionError):    # by the connector, after the synapses' stream was given
                fresh.Projection(a, d, fresh.FixedNumberPreConnector(30, with_replacement=False),
                                 fresh.SimpleStochasticSynapse(p=0.5, weight=0.5))
        b = fresh.Population(20, fresh.SpikeSourcePoisson(rate=50.0))
        c = fresh.Population(10, fresh.IF_curr_exp())
        fresh.NoisyCurrentSource(mean=0.5, stdev=0.5, dt=DT).inject_into(c)
        prj = fresh.Projection(b, c, fresh.FixedProbabilityConnector(0.3),
                               fresh.SimpleStochasticSynapse(p=0.5, weight=2.0))
        for pop in (a, b, c):
            pop.record("spikes")
        c.record("v")
        fresh.run(50.0)
        out = [[list(s.magnitude) for s in pop.get_data().segments[0].spiketrains] for pop in (a, b, c)]
        return out, c.get_data().segments[0].analogsignals[0].magnitude, prj.get("weight", format="list")
    (spikes, v, conns), (spikes2, v2, conns2) = script(False), script(True)
    assert spikes == spikes2 and np.array_equal(v, v2) and conns == conns2
    assert sum(len(s) for s in spikes[2]) > 0
