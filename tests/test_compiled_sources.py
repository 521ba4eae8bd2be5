"""Spike sources and current sources on the compiled CPU path (backend="cpu") against the NumPy reference.

Both paths draw from the same counter-based Philox streams (engine/random.py) through the same variate
algorithms (engine/variates.py and its C twin kernels/psg_variates.h, which compute log and exp from IEEE
arithmetic instead of taking them from NumPy or the C library), so spikes and membrane traces must be
bit-identical, across runs, set() between runs and reset(). The statistics of the streams are checked against
analytic values with tolerances of several standard errors (the runs are seeded, so the tests are
deterministic; a correct generator passes for any seed, a wrong distribution fails).
"""

import ctypes

import numpy as np
import pytest
from pyNN.random import NumpyRNG

from pynn_sparsegpu.engine import variates
from pynn_sparsegpu.engine.compiled.toolchain import Toolchain

DT = 0.1


def _same_trains(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# --- the variates: NumPy twin, scalar path and C twin ---------------------------------------------------------
_PROBE = '''#include "psg_variates.h"
PSG_KERNEL void probe_log(const double* x, double* y, long long n)
{
    for (long long i = 0; i < n; ++i) y[i] = psg_det_log(x[i]);
}
PSG_KERNEL void probe_exp(const double* x, double* y, long long n)
{
    for (long long i = 0; i < n; ++i) y[i] = psg_det_exp(x[i]);
}
PSG_KERNEL void probe_draw(int what, unsigned long long key, const long long* index, long long n, long long step,
                           const double* shape, double* y, long long* draw)
{
    for (long long i = 0; i < n; ++i) {
        long long d = draw[i];
        y[i] = what == 0 ? psg_uniform(key, index[i], &d, step) : what == 1 ? psg_exponential(key, index[i], &d, step)
             : what == 2 ? psg_normal(key, index[i], &d, step) : psg_gamma(key, index[i], &d, step, shape[i]);
        draw[i] = d;
    }
}
'''


@pytest.fixture(scope="module")
def probe():
    lib = Toolchain().build(_PROBE, "variates_probe")
    for fn in (lib.probe_log, lib.probe_exp):
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong]
    lib.probe_draw.argtypes = [ctypes.c_int, ctypes.c_ulonglong, ctypes.c_void_p, ctypes.c_longlong,
                               ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return lib


def _c_draw(probe, what, key, index, step, shape=None, draw=None):
    index = np.ascontiguousarray(index, dtype=np.int64)
    n = index.shape[0]
    shape = np.ascontiguousarray(np.ones(n) if shape is None else shape, dtype=np.float64)
    draw = np.zeros(n, dtype=np.int64) if draw is None else np.array(draw, dtype=np.int64)
    y = np.zeros(n)
    probe.probe_draw(what, key, index.ctypes.data, n, step, shape.ctypes.data, y.ctypes.data, draw.ctypes.data)
    return y, draw


def test_deterministic_log_and_exp_are_accurate_and_identical_in_c(probe):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.random(100_000), np.exp(rng.uniform(-700.0, 700.0, 100_000)),
                        1.0 - rng.random(1000) * 1e-12, [1.0, 2.0, 0.5, 2.0 ** -53, 5e-324, 1e-310]])
    y = variates.log(x)
    c = np.zeros_like(x)
    probe.probe_log(x.ctypes.data, c.ctypes.data, x.size)
    assert np.array_equal(y, c)
    assert [variates._log1(v) for v in x[:2000].tolist()] == y[:2000].tolist()
    assert np.max(np.abs(y - np.log(x)) / np.spacing(np.abs(np.log(x)) + 1e-300)) <= 1.0
    assert variates.log(np.array([1.0]))[0] == 0.0
    xe = np.concatenate([rng.uniform(-745.0, 709.0, 100_000), rng.uniform(-1e-3, 1e-3, 1000), [0.0, -800.0]])
    ye = variates.exp(xe)
    ce = np.zeros_like(xe)
    probe.probe_exp(xe.ctypes.data, ce.ctypes.data, xe.size)
    assert np.array_equal(ye, ce)
    assert [variates._exp1(v) for v in xe[:2000].tolist()] == ye[:2000].tolist()
    normal = ye > 1e-300
    assert np.max(np.abs(ye[normal] - np.exp(xe[normal])) / np.spacing(np.exp(xe[normal]))) <= 1.0
    assert ye[-1] == 0.0 and ye[-2] == 1.0


@pytest.mark.parametrize("what", ["uniform", "exponential", "normal", "gamma"])
def test_variates_are_the_same_in_numpy_scalar_and_c(probe, what):
    """The NumPy array path, the scalar path (few elements) and the C header draw the same values and use the
    same counters; drawing some elements alone does not change them (counter-based)."""
    code = ["uniform", "exponential", "normal", "gamma"].index(what)
    key, step, n = 0x243F6A8885A308D3, 2 ** 33 + 17, 4000
    index = np.arange(n, dtype=np.int64) * 7 + 3
    shape = np.resize([0.25, 0.9, 1.0, 2.0, 3.5, 12.0], n)
    draw0 = np.resize(np.array([0, 5, 11], dtype=np.int64), n)
    fn = getattr(variates, what)
    args = (shape,) if what == "gamma" else ()
    y, d = fn(key, index, draw0, step, *args)
    c, dc = _c_draw(probe, code, key, index, step, shape, draw0)
    assert np.array_equal(y, c) and np.array_equal(d, dc)
    few = np.array([5, 17, 1234, 3999])
    ys, ds = fn(key, index[few], draw0[few], step, *(a[few] for a in args))
    assert np.array_equal(ys, y[few]) and np.array_equal(ds, d[few])


def test_variate_distributions():
    """Moments of 400000 draws each against the analytic values (tolerances: 6 standard errors)."""
    n = 400_000
    index = np.arange(n)
    draw = np.zeros(n, dtype=np.int64)
    z, _ = variates.normal(11, index, draw, 3)
    se = 1.0 / np.sqrt(n)
    assert abs(z.mean()) < 6 * se
    assert abs(z.var() - 1.0) < 6 * np.sqrt(2.0) * se
    assert abs(np.mean(z ** 3)) < 6 * np.sqrt(15.0) * se
    assert abs(np.mean(z ** 4) - 3.0) < 6 * np.sqrt(96.0) * se
    e, _ = variates.exponential(12, index, draw, 3)
    assert e.min() >= 0.0
    assert abs(e.mean() - 1.0) < 6 * se and abs(e.var() - 1.0) < 6 * np.sqrt(8.0) * se
    assert abs(np.mean(e > 2.0) - np.exp(-2.0)) < 6 * np.sqrt(np.exp(-2.0) / n)
    for a in (0.3, 1.0, 2.5, 9.0):
        g, used = variates.gamma(13, index, draw, 3, np.full(n, a))
        assert g.min() > 0.0
        assert abs(g.mean() - a) < 6 * np.sqrt(a / n)
        var_se = np.sqrt((6 * a + 2 * a * a) / n)      # fourth central moment of Gamma(a): 3a^2 + 6a
        assert abs(g.var() - a) < 6 * var_se, (a, g.var())
        assert used.mean() < 4.0                        # Marsaglia-Tsang rarely rejects


# --- spike sources: the two paths agree ------------------------------------------------------------------------
N_SRC = 40


def _inh_gamma(sim, n):
    a = [np.array([1.0, 3.0, 2.0])] * n
    b = [np.array([0.02, 0.004, 0.01])] * n
    return sim.SpikeSourceInhGamma(a=a, b=b, tbins=[np.array([0.0, 20.0, 55.0])] * n, start=2.0, duration=200.0)


def _array_times(n, seed, t_max):
    rng = np.random.default_rng(seed)
    times = [np.sort(np.round(rng.uniform(0.0, t_max, rng.integers(0, 30)), 2)) for _ in range(n)]
    times[0] = np.array([0.0, 0.1, 0.1, 5.0, 5.05, 39.9, 40.0, 40.1])      # duplicates, run boundaries
    return times


SOURCES = {
    "poisson": (lambda sim: sim.SpikeSourcePoisson(rate=np.linspace(5.0, 400.0, N_SRC), start=3.0, duration=50.0),
                {"rate": 900.0, "duration": 1e4}),
    "poisson_refractory": (lambda sim: sim.SpikeSourcePoissonRefractory(rate=80.0, tau_refrac=3.0),
                           {"rate": 150.0, "tau_refrac": 1.5}),
    "gamma": (lambda sim: sim.SpikeSourceGamma(alpha=3, beta=240.0, start=10.0), {"alpha": 5, "beta": 100.0}),
    "inh_gamma": (lambda sim: _inh_gamma(sim, N_SRC), {"start": 0.0}),
    "array": (lambda sim: sim.SpikeSourceArray(spike_times=_array_times(N_SRC, 1, 100.0)),
              {"spike_times": _array_times(N_SRC // 2, 2, 150.0)}),
}


def _source_run(sim, backend, name, precision="float64", change=True):
    """Sources driving a population of cells: two runs with a set() between them, a reset, a third run.
    Returns the spikes of the sources and the cells' traces per segment, and the engine statistics."""
    make = SOURCES[name][0]
    sim.setup(timestep=DT, min_delay=DT, backend=backend, precision=precision, rng_seed=17,
              spike_precision="on_grid")
    sources = sim.Population(N_SRC, make(sim))
    cells = sim.Population(10, sim.IF_curr_exp(tau_refrac=1.0))
    sim.Projection(sources, cells, sim.FixedProbabilityConnector(0.4, rng=NumpyRNG(seed=4)),
                   sim.StaticSynapse(weight=0.8, delay=0.3))
    sources.record("spikes")
    cells.record("v")
    sim.run(40.0)
    if change:
        sources[: N_SRC // 2].set(**SOURCES[name][1])
    sim.run(30.3)
    sim.reset()
    sim.run(45.0)
    stats = sim.kernel_statistics()
    result = []
    for seg_s, seg_v in zip(sources.get_data().segments, cells.get_data().segments):
        result.append(([np.asarray(st.magnitude) for st in seg_s.spiketrains],
                       np.asarray(seg_v.filter(name="v")[0].magnitude)))
    sim.end()
    return result, stats


@pytest.mark.parametrize("name", list(SOURCES))
def test_sources_are_bit_identical_on_both_paths(sim, name):
    ref, _ = _source_run(sim, "numpy", name)
    got, stats = _source_run(sim, "cpu", name)
    assert stats["reference_parts"] == []
    assert len(ref) == len(got) == 2
    first_run = ref[0][0]
    assert sum(len(t) for t in first_run) > 50, "the sources must fire"
    for (s_ref, v_ref), (s_got, v_got) in zip(ref, got):
        assert _same_trains(s_got, s_ref)
        np.testing.assert_array_equal(v_got, v_ref)
    # the set() acted: the changed half fires differently after it than without it, the other half the same
    unchanged, _ = _source_run(sim, "numpy", name, change=False)
    assert not _same_trains(ref[0][0][: N_SRC // 2], unchanged[0][0][: N_SRC // 2])
    assert _same_trains(ref[0][0][N_SRC // 2:], unchanged[0][0][N_SRC // 2:])
    assert _same_trains([t[t <= 40.0] for t in ref[0][0]], [t[t <= 40.0] for t in unchanged[0][0]])


@pytest.mark.parametrize("name", ["poisson_refractory", "gamma", "inh_gamma"])
def test_reference_array_path_is_bit_identical_too(sim, monkeypatch, name):
    """The reference draws for a few neurons one at a time (variates.SCALAR_LIMIT) and for many with array
    operations (the path CuPy takes); with the scalar path switched off it still matches the kernels."""
    monkeypatch.setattr(variates, "SCALAR_LIMIT", 0)
    ref, _ = _source_run(sim, "numpy", name)
    got, _ = _source_run(sim, "cpu", name)
    for (s_ref, v_ref), (s_got, v_got) in zip(ref, got):
        assert _same_trains(s_got, s_ref)
        np.testing.assert_array_equal(v_got, v_ref)


@pytest.mark.parametrize("name", ["poisson", "gamma", "array"])
def test_sources_are_bit_identical_in_float32(sim, name):
    ref, _ = _source_run(sim, "numpy", name, "float32")
    got, _ = _source_run(sim, "cpu", name, "float32")
    for (s_ref, v_ref), (s_got, v_got) in zip(ref, got):
        assert _same_trains(s_got, s_ref)
        np.testing.assert_array_equal(v_got, v_ref)


def test_reset_replays_the_same_spikes(sim):
    """After reset() a source draws the same stream again (counter = (neuron, draw, step))."""
    sim.setup(timestep=DT, backend="cpu", rng_seed=2)
    p = sim.Population(50, sim.SpikeSourceGamma(alpha=2, beta=100.0))
    p.record("spikes")
    sim.run(100.0)
    sim.reset()
    sim.run(100.0)
    first, second = p.get_data().segments
    assert sum(len(st) for st in first.spiketrains) > 100
    assert _same_trains([np.asarray(st) for st in first.spiketrains], [np.asarray(st) for st in second.spiketrains])


def test_spike_source_array_new_times_and_reset_on_the_compiled_path(sim):
    sim.setup(timestep=DT, backend="cpu", spike_precision="on_grid")
    p = sim.Population(2, sim.SpikeSourceArray(spike_times=[[5.0, 15.0, 15.0], [0.1]]))
    p.record("spikes")
    sim.run(20.0)
    p[0:1].set(spike_times=[3.0, 25.0, 35.0])       # the past is not replayed
    sim.run(20.0)
    sim.reset()
    sim.run(30.0)
    first, second = [[np.asarray(st.magnitude) for st in seg.spiketrains] for seg in p.get_data().segments]
    np.testing.assert_allclose(first[0], [5.0, 15.0, 15.0, 25.0, 35.0], atol=1e-9)
    np.testing.assert_allclose(first[1], [0.1], atol=1e-9)
    np.testing.assert_allclose(second[0], [3.0, 25.0], atol=1e-9)
    np.testing.assert_allclose(second[1], [0.1], atol=1e-9)
    assert sim.kernel_statistics()["reference_parts"] == []


# --- current sources: the two paths agree -------------------------------------------------------------------
def _electrode(sim, name, cells):
    if name == "dc":
        source = sim.DCSource(amplitude=1.4, start=10.05, stop=80.0)
    elif name == "step":
        source = sim.StepCurrentSource(times=[5.0, 30.0, 60.0], amplitudes=[0.8, 1.9, -0.2])
    elif name == "ac":
        source = sim.ACSource(amplitude=1.2, offset=1.1, frequency=37.0, phase=20.0, start=3.0, stop=95.0)
    else:
        source = sim.NoisyCurrentSource(mean=1.2, stdev=0.8, dt=0.5, start=2.0, stop=95.0)
    source.inject_into(cells)
    return source


CHANGES = {"dc": {"amplitude": 0.6}, "step": {"amplitudes": [1.5, 0.4, 2.0]}, "ac": {"frequency": 11.0},
           "noise": {"stdev": 1.5}}


def _electrode_run(sim, backend, names, precision="float64", record_current=False, gif=False):
    sim.setup(timestep=DT, backend=backend, precision=precision, rng_seed=9, spike_precision="on_grid")
    cells = sim.Population(12, sim.IF_curr_exp(tau_refrac=2.0, v_thresh=-52.0))
    targets = [cells[:8], cells[4:]]
    populations = [cells]
    if gif:      # a population on the reference path: its i_stim must be cleared by the electrodes
        other = sim.Population(3, sim.GIF_cond_exp())
        populations.append(other)
    sources = []
    for k, name in enumerate(names):
        source = _electrode(sim, name, targets[k % 2])
        if gif:
            source.inject_into(other)
        if record_current:
            source.record()
        sources.append(source)
    for pop in populations:
        pop.record(["spikes", "v"])
    sim.run(40.0)
    for name, source in zip(names, sources):
        source.set_parameters(**CHANGES[name])
    sim.run(30.3)
    sim.reset()
    sim.run(50.0)
    stats = sim.kernel_statistics()
    result = []
    for pop in populations:
        for seg in pop.get_data().segments:
            result.append(([np.asarray(st.magnitude) for st in seg.spiketrains],
                           np.asarray(seg.filter(name="v")[0].magnitude)))
    sim.end()
    return result, stats


@pytest.mark.parametrize("name", ["dc", "step", "ac", "noise"])
def test_current_sources_are_bit_identical_on_both_paths(sim, name):
    ref, _ = _electrode_run(sim, "numpy", [name])
    got, stats = _electrode_run(sim, "cpu", [name])
    assert stats["reference_parts"] == [] and stats["syncs_per_step"] == 0
    assert sum(len(t) for t in ref[0][0]) > 5, "the current must make the cells fire"
    for (s_ref, v_ref), (s_got, v_got) in zip(ref, got):
        assert _same_trains(s_got, s_ref)
        np.testing.assert_array_equal(v_got, v_ref)
    # the change between the runs acted: the first segment's v differs from the replay after the reset
    v_first, v_again = ref[0][1], ref[1][1]
    assert not np.array_equal(v_first[401:500], v_again[401:500])


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_all_current_sources_together_and_a_reference_population(sim, precision):
    """Several electrodes on overlapping targets add in the reference's order; a population on the reference
    path (GIF_cond_exp) is stimulated too, its i_stim cleared by a kernel."""
    names = ["dc", "step", "ac", "noise"]
    ref, _ = _electrode_run(sim, "numpy", names, precision, gif=True)
    got, stats = _electrode_run(sim, "cpu", names, precision, gif=True)
    assert not any(part.startswith("current sources") for part in stats["reference_parts"])
    for (s_ref, v_ref), (s_got, v_got) in zip(ref, got):
        assert _same_trains(s_got, s_ref)
        np.testing.assert_array_equal(v_got, v_ref)


def test_recorded_current_sources_run_on_the_reference_path(sim):
    ref, _ = _electrode_run(sim, "numpy", ["noise", "ac"], record_current=True)
    got, stats = _electrode_run(sim, "cpu", ["noise", "ac"], record_current=True)
    assert any(part.startswith("current sources: a recorded current source") for part in stats["reference_parts"])
    for (s_ref, v_ref), (s_got, v_got) in zip(ref, got):
        np.testing.assert_array_equal(v_got, v_ref)


def test_repeated_target_cells_add_as_numpy_does():
    """a[index] += v adds once per distinct cell, the value of its last occurrence; the kernel's target lists
    are built to do the same."""
    from pynn_sparsegpu.engine.compiled.electrodes import _last_occurrence
    index = np.array([4, 1, 4, 0, 1, 4])
    values = np.arange(6, dtype=float) + 1.0
    expected = np.zeros(5)
    expected[index] += values
    cells, positions = _last_occurrence(index)
    got = np.zeros(5)
    for c, p in zip(cells, positions):
        got[c] += values[p]
    np.testing.assert_array_equal(got, expected)


def test_noise_draws_once_per_period_with_the_right_statistics(sim):
    """A NoisyCurrentSource holds each value for `dt` ms; values are N(mean, stdev^2), independent between
    targets and between periods."""
    sim.setup(timestep=DT, backend="cpu", rng_seed=4)
    cells = sim.Population(4000, sim.IF_curr_exp())
    noise = sim.NoisyCurrentSource(mean=0.3, stdev=2.0, dt=0.5, start=1.0, stop=100.0)
    noise.inject_into(cells)
    electrode = noise._engine
    first = electrode.amplitude(1.0, DT).copy()
    assert np.array_equal(electrode.amplitude(1.4, DT), first)            # the same period: 1.0 .. 1.4
    second = electrode.amplitude(1.5, DT).copy()
    n = first.shape[0]
    for values in (first, second):
        assert abs(values.mean() - 0.3) < 6 * 2.0 / np.sqrt(n)
        assert abs(values.std() / 2.0 - 1.0) < 6 / np.sqrt(2 * n)
    assert abs(np.corrcoef(first, second)[0, 1]) < 6 / np.sqrt(n)
    assert electrode.amplitude(0.9, DT) == 0.0 and electrode.amplitude(100.0, DT) == 0.0


# --- a network with every part compiled -----------------------------------------------------------------------
def test_network_with_sources_and_electrodes_runs_entirely_compiled(sim):
    sim.setup(timestep=DT, min_delay=DT, backend="cpu", rng_seed=6)
    poisson = sim.Population(50, sim.SpikeSourcePoisson(rate=50.0))
    given = sim.Population(5, sim.SpikeSourceArray(spike_times=[[1.0, 2.0], [3.0], [], [4.0, 4.0], [9.9]]))
    gamma = sim.Population(20, sim.SpikeSourceGamma(alpha=2, beta=80.0))
    cells = sim.Population(30, sim.IF_curr_exp())
    for pre in (poisson, given, gamma):
        sim.Projection(pre, cells, sim.FixedProbabilityConnector(0.2, rng=NumpyRNG(seed=1)),
                       sim.StaticSynapse(weight=0.5, delay=0.5))
    for name in ("dc", "step", "ac", "noise"):
        _electrode(sim, name, cells)
    for pop in (poisson, given, gamma, cells):
        pop.record("spikes")
    sim.run(100.0)
    stats = sim.kernel_statistics()
    assert stats["reference_parts"] == []
    assert stats["syncs_per_step"] == 0
    assert stats["launches_per_step"] == 4 + 3 + 1      # populations, propagation runs, electrodes
    assert sum(len(st) for st in cells.get_data().segments[0].spiketrains) > 10


# --- statistics of the sources' streams (compiled path; the reference draws the same numbers) -------------------
def _trains(sim, celltype, n, t_stop, seed=123):
    sim.setup(timestep=DT, backend="cpu", rng_seed=seed)
    p = sim.Population(n, celltype)
    p.record("spikes")
    sim.run(t_stop)
    trains = [np.asarray(st.magnitude) for st in p.get_data().segments[0].spiketrains]
    sim.end()
    return trains


def test_poisson_counts_per_step(sim):
    """Counts per step are Poisson(lambda = rate dt): mean and variance lambda, P(>= 2) = 1 - e^-l (1 + l), and
    no correlation between consecutive steps. lambda = 0.2 over 10^6 (neuron, step) pairs."""
    n, steps, rate = 1000, 1000, 2000.0
    trains = _trains(sim, sim.SpikeSourcePoisson(rate=rate), n, steps * DT)
    counts = np.zeros((n, steps))
    for i, t in enumerate(trains):
        np.add.at(counts[i], np.rint(t / DT).astype(int) - 1, 1)
    lam, m = rate * DT * 1e-3, counts.size
    assert abs(counts.mean() - lam) < 6 * np.sqrt(lam / m)
    assert abs(counts.var() - lam) < 6 * np.sqrt((lam * (1 + 3 * lam) - lam ** 2) / m)
    p2 = 1.0 - np.exp(-lam) * (1.0 + lam)
    assert abs(np.mean(counts >= 2) - p2) < 6 * np.sqrt(p2 / m)
    c = counts - counts.mean()
    assert abs(np.mean(c[:, 1:] * c[:, :-1]) / counts.var()) < 6 / np.sqrt(m)


def test_poisson_isi_cv_and_rate(sim):
    trains = _trains(sim, sim.SpikeSourcePoisson(rate=25.0), 1000, 2000.0)
    isis = np.concatenate([np.diff(t) for t in trains])
    rate = sum(len(t) for t in trains) / 1000 / 2.0
    assert abs(rate - 25.0) < 6 * np.sqrt(25.0 / 2000.0)
    assert abs(isis.std() / isis.mean() - 1.0) < 6 / np.sqrt(isis.size)


@pytest.mark.parametrize("alpha", [2, 5])
def test_gamma_cv_and_stationary_start(sim, alpha):
    """ISIs of a gamma process of shape alpha have CV 1/sqrt(alpha) (grid rounding adds ~dt/(sqrt(12) mean));
    the process starts in equilibrium, so the rate right after start is the nominal one."""
    rate = 20.0
    trains = _trains(sim, sim.SpikeSourceGamma(alpha=alpha, beta=rate * alpha, start=100.0), 2000, 1100.0)
    isis = np.concatenate([np.diff(t) for t in trains])
    cv = isis.std() / isis.mean()
    assert abs(cv - 1.0 / np.sqrt(alpha)) < 0.03 / np.sqrt(alpha)
    spikes = np.concatenate(trains)
    assert spikes.min() > 100.0
    early = np.histogram(spikes, bins=[100.0, 120.0, 140.0])[0] / 2000 / 0.02    # expect 20 Hz: 800 spikes
    np.testing.assert_allclose(early, rate, rtol=6 / np.sqrt(800))
    total = len(spikes) / 2000 / 1.0
    assert abs(total - rate) < 0.02 * rate


def test_poisson_refractory_dead_time_and_cv(sim):
    rate, tau_refrac = 40.0, 10.0
    trains = _trains(sim, sim.SpikeSourcePoissonRefractory(rate=rate, tau_refrac=tau_refrac), 1000, 2000.0)
    isis = np.concatenate([np.diff(t) for t in trains])
    assert isis.min() >= tau_refrac - 1e-9
    assert np.mean(isis < tau_refrac + 1.0) > 0.02          # dense right after the dead time
    expected_cv = 1.0 - rate * tau_refrac * 1e-3            # 0.6
    assert abs(isis.std() / isis.mean() - expected_cv) < 0.02
    assert abs(isis.mean() - 1e3 / rate) < 6 * (1e3 / rate - tau_refrac) / np.sqrt(isis.size) + DT
