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
    fresh.Population(10, fresh.IF_curr_exp())                   # the simulation goes on


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
