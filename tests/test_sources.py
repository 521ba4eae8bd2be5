"""Spike sources: rates, activity windows, interval statistics, SpikeSourceArray timing, and random streams.

Statistical tests use 1000 neurons x 1 s and a fixed rng_seed, so they are deterministic; the tolerances
are several standard errors wide, so a correct generator passes for any seed and a wrong rate (or a
wrong unit) fails.
"""

import numpy as np
import pytest

from conftest import spiketrains_ms

DT = 0.1
N = 1000
T = 1000.0


def run_source(sim, celltype, n=N, t_stop=T, seed=12345):
    """Record n cells of `celltype` for t_stop ms; return the spike trains as a list of arrays (ms)."""
    sim.setup(timestep=DT, rng_seed=seed)
    population = sim.Population(n, celltype)
    population.record("spikes")
    sim.run(t_stop)
    trains = spiketrains_ms(population)
    sim.end()
    return trains


def mean_rate(trains, duration_ms):
    return sum(len(t) for t in trains) / len(trains) / (duration_ms / 1000.0)


def all_isis(trains):
    return np.concatenate([np.diff(t) for t in trains if len(t) > 1])


def cv(isis):
    return isis.std() / isis.mean()


# --- rates --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_celltype, expected_hz", [
    (lambda sim: sim.SpikeSourcePoisson(rate=20.0), 20.0),
    (lambda sim: sim.SpikeSourcePoisson(rate=55.0), 55.0),
    (lambda sim: sim.SpikeSourcePoissonRefractory(rate=20.0, tau_refrac=5.0), 20.0),
    (lambda sim: sim.SpikeSourceGamma(alpha=4.0, beta=80.0), 20.0),
    (lambda sim: sim.SpikeSourceGamma(alpha=2.0, beta=60.0), 30.0),
], ids=["poisson-20", "poisson-55", "poisson_refractory-20", "gamma-4-80", "gamma-2-60"])
def test_rate_within_3_percent(sim, make_celltype, expected_hz):
    trains = run_source(sim, make_celltype(sim))
    rate = mean_rate(trains, T)
    assert abs(rate - expected_hz) < 0.03 * expected_hz, f"rate {rate} Hz, expected {expected_hz} Hz"


def test_zero_rate_gives_no_spikes(sim):
    trains = run_source(sim, sim.SpikeSourcePoisson(rate=0.0), n=100, t_stop=200.0)
    assert sum(len(t) for t in trains) == 0


def test_heterogeneous_rates(sim):
    """A rate per neuron: each half of the population fires at its own rate."""
    rates = np.where(np.arange(N) < N // 2, 5.0, 40.0)
    trains = run_source(sim, sim.SpikeSourcePoisson(rate=rates))
    low, high = mean_rate(trains[:N // 2], T), mean_rate(trains[N // 2:], T)
    assert abs(low - 5.0) < 0.1 * 5.0
    assert abs(high - 40.0) < 0.03 * 40.0


# --- activity window ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make_celltype", [
    lambda sim: sim.SpikeSourcePoisson(rate=20.0, start=100.0, duration=500.0),
    lambda sim: sim.SpikeSourcePoissonRefractory(rate=20.0, tau_refrac=2.0, start=100.0, duration=500.0),
    lambda sim: sim.SpikeSourceGamma(alpha=4.0, beta=80.0, start=100.0, duration=500.0),
], ids=["poisson", "poisson_refractory", "gamma"])
def test_start_and_duration(sim, make_celltype):
    trains = run_source(sim, make_celltype(sim))
    spikes = np.concatenate(trains)
    assert spikes.min() >= 100.0 - 1e-9
    assert spikes.max() <= 600.0 + 1e-9
    # the rate inside the window is the nominal one, and the window is really used (spikes near both ends)
    rate = len(spikes) / N / 0.5
    assert abs(rate - 20.0) < 0.04 * 20.0, rate
    assert spikes.min() < 110.0 and spikes.max() > 590.0


# --- interval statistics ------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.0, 4.0, 9.0])
def test_gamma_cv(sim, alpha):
    """The ISIs of a gamma process of shape alpha have CV 1/sqrt(alpha) (grid rounding adds a little)."""
    trains = run_source(sim, sim.SpikeSourceGamma(alpha=alpha, beta=20.0 * alpha))
    isis = all_isis(trains)
    expected = 1.0 / np.sqrt(alpha)
    assert abs(cv(isis) - expected) < 0.05 * expected, (cv(isis), expected)
    assert abs(mean_rate(trains, T) - 20.0) < 0.03 * 20.0


def test_poisson_cv_is_one(sim):
    isis = all_isis(run_source(sim, sim.SpikeSourcePoisson(rate=20.0)))
    assert abs(cv(isis) - 1.0) < 0.05


def test_poisson_refractory_dead_time(sim):
    """ISI = tau_refrac + Exp: no ISI below the dead time, and CV = 1 - rate*tau_refrac."""
    tau_refrac, rate = 10.0, 20.0
    trains = run_source(sim, sim.SpikeSourcePoissonRefractory(rate=rate, tau_refrac=tau_refrac))
    isis = all_isis(trains)
    assert isis.min() >= tau_refrac - 1e-6, isis.min()
    assert isis.min() < tau_refrac + 0.5           # the density is highest right after the dead time
    expected_cv = 1.0 - rate * tau_refrac * 1e-3    # 0.8
    assert abs(cv(isis) - expected_cv) < 0.05, cv(isis)
    assert abs(mean_rate(trains, T) - rate) < 0.03 * rate


# --- inhomogeneous gamma ------------------------------------------------------------------------------
def test_inh_gamma_rates_per_bin(sim):
    """Rate 1/(a b) Hz in each bin (b in s). With a = 1 the process is Poisson in every bin."""
    tbins = [0.0, 400.0, 700.0]
    a = [1.0, 1.0, 1.0]
    b = [0.05, 0.02, 1.0 / 30.0]          # 20, 50, 30 Hz
    celltype = sim.SpikeSourceInhGamma(a=[np.array(a)] * N, b=[np.array(b)] * N, tbins=[np.array(tbins)] * N)
    spikes = np.concatenate(run_source(sim, celltype))
    edges = [0.0, 400.0, 700.0, 1000.0]
    counts, _ = np.histogram(spikes, bins=edges)
    rates = counts / N / (np.diff(edges) / 1000.0)
    np.testing.assert_allclose(rates, [20.0, 50.0, 30.0], rtol=0.03)


def test_inh_gamma_shape_sets_regularity(sim):
    """Inside one bin of shape a the ISIs have CV 1/sqrt(a) and the rate is 1/(a b)."""
    a, b = 4.0, 1.0 / (4.0 * 40.0)          # 40 Hz
    celltype = sim.SpikeSourceInhGamma(a=[np.array([a])] * N, b=[np.array([b])] * N,
                                       tbins=[np.array([0.0])] * N)
    trains = run_source(sim, celltype)
    isis = all_isis(trains)
    assert abs(cv(isis) - 0.5) < 0.05 * 0.5, cv(isis)
    assert abs(mean_rate(trains, T) - 40.0) < 0.04 * 40.0


# --- SpikeSourceArray ---------------------------------------------------------------------------------
SPIKE_TIMES = [[0.2, 1.0, 5.0, 17.3, 42.0], [2.0, 2.0, 3.0], [], [0.5, 29.9, 30.0, 30.1]]


def _array_spikes(sim, times, precision="on_grid", t_stop=50.0):
    sim.setup(timestep=DT, min_delay=DT, spike_precision=precision)
    population = sim.Population(len(times), sim.SpikeSourceArray(spike_times=[np.array(t) for t in times]))
    population.record("spikes")
    sim.run(t_stop)
    trains = spiketrains_ms(population)
    sim.end()
    return trains


@pytest.mark.parametrize("precision", ["on_grid", "off_grid"])
def test_spike_source_array_emits_given_times(sim, precision):
    trains = _array_spikes(sim, SPIKE_TIMES, precision)
    assert len(trains) == len(SPIKE_TIMES)
    for got, given in zip(trains, SPIKE_TIMES):
        np.testing.assert_allclose(got, given, atol=1e-9)   # duplicates give two spikes


def test_spike_source_array_off_grid_times_on_grid(sim):
    """With spike_precision="on_grid" a time between grid points is emitted and reported at the next grid
    point (as pyNN.nest does)."""
    trains = _array_spikes(sim, [[5.03, 7.07, 9.99, 12.0]], "on_grid")
    np.testing.assert_allclose(trains[0], [5.1, 7.1, 10.0, 12.0], atol=1e-9)


def test_spike_source_array_off_grid_times_reported_as_given(sim):
    """With spike_precision="off_grid" (the default, as in pyNN.nest) the given times are reported."""
    trains = _array_spikes(sim, [[5.03, 7.07, 9.99, 12.0]], "off_grid")
    np.testing.assert_allclose(trains[0], [5.03, 7.07, 9.99, 12.0], atol=1e-9)


@pytest.mark.parametrize("precision", ["on_grid", "off_grid"])
def test_source_times_act_on_the_grid_or_exactly(sim, precision):
    """On the grid a spike given at 5.03 ms acts exactly as one at 5.1 ms; with precise spike times it acts
    at 5.03 ms + delay, and V follows the exact PSP of an exponential current from then on."""
    sim.setup(timestep=DT, min_delay=DT, spike_precision=precision)
    sources = sim.Population(2, sim.SpikeSourceArray(spike_times=[np.array([5.03]), np.array([5.1])]))
    cells = sim.Population(2, sim.IF_curr_exp())
    sim.Projection(sources, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
    cells.record("v")
    sim.run(40.0)
    v = cells.get_data().segments[0].filter(name="v")[0].magnitude
    assert v[:, 0].max() > -64.0                      # the input arrived
    if precision == "on_grid":
        np.testing.assert_array_equal(v[:, 0], v[:, 1])
        return
    s = np.arange(v.shape[0]) * DT - 6.03             # V - v_rest = w/cm (e^-s/tau_m - e^-s/tau_s)/(1/tau_s - 1/tau_m)
    psp = np.where(s > 0, (np.exp(-s / 20.0) - np.exp(-s / 5.0)) / (1 / 5.0 - 1 / 20.0), 0.0)
    np.testing.assert_allclose(v[:, 0], -65.0 + psp, atol=1e-12)
    assert np.abs(v[:, 0] - v[:, 1]).max() > 0.01


@pytest.mark.parametrize("precision", ["on_grid", "off_grid"])
def test_spike_source_array_matches_nest(sim, nest_sim, precision):
    times = SPIKE_TIMES + [[5.03, 7.07, 9.99]]
    ours = _array_spikes(sim, times, precision)
    ref = _array_spikes(nest_sim, times, precision)
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert len(a) == len(b)
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_spike_source_array_after_end_of_run_not_emitted(sim):
    trains = _array_spikes(sim, [[10.0, 49.9, 50.0, 50.1, 80.0]], t_stop=50.0)
    np.testing.assert_allclose(trains[0], [10.0, 49.9, 50.0], atol=1e-9)


def test_spike_source_array_set_between_runs(sim):
    """New spike_times set after a run are used by the next run (times in the past are not replayed)."""
    sim.setup(timestep=DT)
    population = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0, 15.0]))
    population.record("spikes")
    sim.run(20.0)
    population.set(spike_times=[3.0, 25.0, 35.0])
    sim.run(20.0)
    got = np.asarray(population.get_data().segments[0].spiketrains[0].magnitude)
    np.testing.assert_allclose(got, [5.0, 15.0, 25.0, 35.0], atol=1e-9)


# --- random streams -----------------------------------------------------------------------------------
def _poisson_pair(sim, seed, record_other=False):
    sim.setup(timestep=DT, rng_seed=seed)
    a = sim.Population(50, sim.SpikeSourcePoisson(rate=30.0), label="a")
    b = sim.Population(50, sim.SpikeSourceGamma(alpha=3.0, beta=90.0), label="b")
    a.record("spikes")
    if record_other:
        b.record("spikes")
    sim.run(300.0)
    trains = [np.asarray(st.magnitude) for st in a.get_data().segments[0].spiketrains]
    sim.end()
    return trains


def _same(trains1, trains2):
    return all(len(x) == len(y) and np.array_equal(x, y) for x, y in zip(trains1, trains2))


def test_same_seed_same_spikes(sim):
    first = _poisson_pair(sim, seed=77)
    second = _poisson_pair(sim, seed=77)
    assert sum(len(t) for t in first) > 100
    assert _same(first, second)


def test_different_seed_different_spikes(sim):
    assert not _same(_poisson_pair(sim, seed=77), _poisson_pair(sim, seed=78))


def test_no_seed_means_the_default_seed(sim):
    """setup() without rng_seed uses DEFAULT_RNG_SEED (as NEST, whose default seed is fixed): an unseeded
    script reproduces, and is the run with that seed given explicitly."""
    from pynn_sparsegpu.control import DEFAULT_RNG_SEED
    unseeded = [_poisson_pair(sim, seed=None) for _ in range(2)]
    assert sum(len(t) for t in unseeded[0]) > 100
    assert _same(*unseeded)
    assert _same(unseeded[0], _poisson_pair(sim, seed=DEFAULT_RNG_SEED))
    assert not _same(unseeded[0], _poisson_pair(sim, seed=DEFAULT_RNG_SEED + 1))


def test_recording_another_population_does_not_change_spikes(sim):
    assert _same(_poisson_pair(sim, seed=5), _poisson_pair(sim, seed=5, record_other=True))


@pytest.mark.parametrize("make_celltype", [
    lambda sim: sim.SpikeSourcePoisson(rate=30.0),
    lambda sim: sim.SpikeSourceGamma(alpha=3.0, beta=90.0),
    lambda sim: sim.SpikeSourcePoissonRefractory(rate=30.0, tau_refrac=3.0),
], ids=["poisson", "gamma", "poisson_refractory"])
def test_seeded_sources_are_reproducible_per_type(sim, make_celltype):
    first = run_source(sim, make_celltype(sim), n=20, t_stop=200.0, seed=3)
    second = run_source(sim, make_celltype(sim), n=20, t_stop=200.0, seed=3)
    third = run_source(sim, make_celltype(sim), n=20, t_stop=200.0, seed=4)
    assert _same(first, second)
    assert not _same(first, third)
    # the neurons of one population are independent streams, not copies of one another
    assert not all(np.array_equal(first[0], t) for t in first[1:])


# --- parameter changes between runs, and the start of renewal processes --------------------------------
def test_set_rate_on_poisson_refractory(sim):
    """set() of only the rate of a SpikeSourcePoissonRefractory works and is read back."""
    sim.setup(timestep=DT)
    population = sim.Population(10, sim.SpikeSourcePoissonRefractory(rate=10.0, tau_refrac=2.0))
    population.set(rate=30.0)
    population[0:5].set(tau_refrac=4.0)
    np.testing.assert_allclose(population.get("rate"), 30.0)
    np.testing.assert_allclose(population.get("tau_refrac"), [4.0] * 5 + [2.0] * 5)


def test_set_tau_refrac_checks_rate_product(sim):
    """rate * tau_refrac >= 1 is rejected also when only tau_refrac is set (NEST rejects it too)."""
    from pyNN.errors import InvalidParameterValueError
    sim.setup(timestep=DT)
    population = sim.Population(3, sim.SpikeSourcePoissonRefractory(rate=20.0, tau_refrac=2.0))
    with pytest.raises(InvalidParameterValueError, match="tau_refrac"):
        population.set(tau_refrac=60.0)           # 20 Hz * 60 ms = 1.2
    np.testing.assert_allclose(population.get("tau_refrac"), 2.0)


def _rates_after_switch(sim, celltype, new_parameters, n=500):
    """Run 100 ms, set new parameters, run 300 ms; return rates (Hz) in 100-ms bins from t = 0."""
    sim.setup(timestep=DT, rng_seed=21)
    population = sim.Population(n, celltype)
    population.record("spikes")
    sim.run(100.0)
    population.set(**new_parameters)
    sim.run(300.0)
    spikes = np.concatenate([np.asarray(st.magnitude) for st in population.get_data().segments[0].spiketrains])
    sim.end()
    return np.histogram(spikes, bins=[0.0, 100.0, 200.0, 300.0, 400.0])[0] / n / 0.1


@pytest.mark.parametrize("make_celltype, new_parameters, new_rate", [
    (lambda sim: sim.SpikeSourcePoisson(rate=0.0), {"rate": 20.0}, 20.0),
    (lambda sim: sim.SpikeSourcePoissonRefractory(rate=0.0, tau_refrac=2.0), {"rate": 20.0}, 20.0),
    (lambda sim: sim.SpikeSourceGamma(alpha=2.0, beta=0.0), {"beta": 40.0}, 20.0),
], ids=["poisson", "poisson_refractory", "gamma"])
def test_source_switched_on_between_runs(sim, make_celltype, new_parameters, new_rate):
    """A source silent at rate 0 fires at the new rate once the rate is raised (pyNN.nest does)."""
    rates = _rates_after_switch(sim, make_celltype(sim), new_parameters)
    assert rates[0] == 0.0
    np.testing.assert_allclose(rates[1:], new_rate, rtol=0.15)


@pytest.mark.parametrize("make_celltype, new_parameters, new_rate", [
    (lambda sim: sim.SpikeSourcePoisson(rate=1.0), {"rate": 100.0}, 100.0),
    (lambda sim: sim.SpikeSourcePoissonRefractory(rate=1.0, tau_refrac=2.0), {"rate": 100.0}, 100.0),
    (lambda sim: sim.SpikeSourceGamma(alpha=2.0, beta=2.0), {"beta": 200.0}, 100.0),
], ids=["poisson", "poisson_refractory", "gamma"])
def test_new_rate_applies_at_once(sim, make_celltype, new_parameters, new_rate):
    """After set(rate=...) the next 100 ms fire at the new rate; the old, long intervals already drawn
    must not delay it (with pyNN.nest: 99.7 Hz in the 100 ms after switching 1 -> 100 Hz)."""
    rates = _rates_after_switch(sim, make_celltype(sim), new_parameters)
    assert rates[0] < 3.0
    np.testing.assert_allclose(rates[1:], new_rate, rtol=0.1)


def test_poisson_refractory_is_stationary_from_start(sim):
    """The dead-time process starts in equilibrium, as NEST's poisson_generator_ps does (the first spike
    from the forward recurrence time): the rate in the first tau_refrac after start is the nominal rate,
    not zero."""
    trains = run_source(sim, sim.SpikeSourcePoissonRefractory(rate=20.0, tau_refrac=10.0, start=50.0),
                        t_stop=100.0)
    spikes = np.concatenate(trains)
    counts = np.histogram(spikes, bins=[50.0, 60.0, 70.0, 80.0])[0]
    rates = counts / N / 0.010
    np.testing.assert_allclose(rates, 20.0, rtol=0.25)   # about 200 spikes per bin: sd 7 %
