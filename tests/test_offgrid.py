"""The off-grid time-driven engine on its own (OffGridNetwork): the compiled loop against its Python reference,
analytic solutions of both cell models, the conventions of NEST's _ps models, split runs, and bad input."""

import math

import numpy as np
import pytest

from pynn_sparsegpu.engine.offgrid import OffGridNetwork

ENGINES = ("compiled", "reference", "kernels")


def _random_network(engine, kind, seed=5, n=120, n_sources=30):
    rng = np.random.default_rng(seed)
    src = [np.sort(rng.uniform(0, 150, 30)) for _ in range(n_sources)]
    K = 15
    pre = rng.integers(0, n + n_sources, n * K)
    post = np.repeat(np.arange(n), K)
    exc = (pre >= n) | (pre < int(0.8 * n))
    w = np.where(exc, 1.0, -2.5) * np.where(np.broadcast_to(kind, (n,))[post] == 1, 0.4, 1.2)
    delay = rng.integers(1, 20, pre.size) * 0.1
    return OffGridNetwork(n, 0.1, kind=kind, v=rng.uniform(-65, -51, n), i_offset=rng.uniform(0.2, 0.8, n),
                          tau_refrac=2.0, tau_syn_E=2.0, tau_syn_I=4.0, source_spike_times=src, pre=pre,
                          post=post, weight=w, delay=delay, receptor=(~exc).astype(int), engine=engine)


@pytest.mark.parametrize("kind", [0, 1, "mixed"])
@pytest.mark.parametrize("engine", ["compiled", "kernels"])
def test_compiled_paths_equal_the_reference_bit_for_bit(kind, engine):
    """The C++ loop, and the kernels (their CPU build, run step by step by the CPU driver), against Python."""
    results = []
    for engine in (engine, "reference"):
        k = np.arange(120) % 2 if kind == "mixed" else kind
        net = _random_network(engine, k)
        net.record_v([0, 3, 50, 119], 0.5)
        net.run(70.0)
        net.run(150.0)
        ids, times = net.spikes()
        results.append((ids, times, net.v_samples()[1], net.pending_arrivals, net.cells.copy()))
    (ia, ta, va, pa, ca), (ib, tb, vb, pb, cb) = results
    assert (ia < 120).sum() > 500
    assert np.array_equal(ia, ib) and np.array_equal(ta, tb)
    assert np.array_equal(va, vb) and pa == pb
    assert np.array_equal(ca, cb)


@pytest.mark.parametrize("engine", ENGINES)
def test_split_runs_equal_one_run(engine):
    one = _random_network(engine, 1)
    one.run(100.0)
    split = _random_network(engine, 1)
    for until in (0.1, 33.3, 33.3, 80.0, 100.0):
        split.run(until)
    assert np.array_equal(one.spikes()[0], split.spikes()[0])
    assert np.array_equal(one.spikes()[1], split.spikes()[1])


@pytest.mark.parametrize("engine", ENGINES)
def test_exp_cell_psp_is_exact(engine):
    """One input of w nA at t0 into a cell at rest: V - v_rest = w/cm (e^{-s/tau_m} - e^{-s/tau_s}) /
    (1/tau_s - 1/tau_m), s = t - t0, sampled at every step."""
    t0 = 1.234
    net = OffGridNetwork(1, 0.1, kind=1, tau_syn_E=2.0, source_spike_times=[[t0 - 0.5]], pre=[1], post=[0],
                         weight=[0.7], delay=[0.5], engine=engine)
    net.record_v([0], 0.1)
    net.run(20.0)
    times, v = net.v_samples()
    s = times - t0
    expected = np.where(s > 0, 0.7 / 1.0 * (np.exp(-s / 20.0) - np.exp(-s / 2.0)) / (1 / 2.0 - 1 / 20.0), 0.0)
    assert np.abs(v[:, 0] + 65.0 - expected).max() < 1e-12


@pytest.mark.parametrize("engine", ENGINES)
def test_delta_cell_fires_at_the_input_and_by_the_drive(engine):
    """Constant drive towards v_inf = v_rest + 20 mV: the first crossing of v_thresh = v_rest + 15 mV at
    tau_m ln(20/5) exactly; an input of 16 mV arriving at 2.345 ms fires the cell then."""
    net = OffGridNetwork(2, 0.1, kind=0, i_offset=[1.0, 0.0], tau_refrac=2.0, source_spike_times=[[1.345]],
                         pre=[2], post=[1], weight=[16.0], delay=[1.0], engine=engine)
    net.run(50.0)
    ids, times = net.spikes()
    assert abs(times[ids == 0][0] - 20.0 * math.log(4.0)) < 1e-12
    assert np.allclose(times[ids == 1], [2.345], atol=1e-12)
    # after each spike: refractory for 2 ms, then from v_reset again: spikes tau_m ln 4 + 2 ms apart
    assert np.allclose(np.diff(times[ids == 0]), 20.0 * math.log(4.0) + 2.0, atol=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_nest_conventions(engine):
    """Inputs at one time are summed before the threshold test (delta cells); input during refractoriness is
    lost (delta) but reaches the currents (exp); a source spike on the grid ends its step."""
    # +16 and -16 mV together: no spike; 16 mV alone: a spike
    net = OffGridNetwork(2, 0.1, kind=0, source_spike_times=[[1.0], [1.0]], pre=[2, 3, 2], post=[0, 0, 1],
                         weight=[16.0, -16.0, 16.0], delay=[0.1, 0.1, 0.1], engine=engine)
    net.run(5.0)
    ids, times = net.spikes()
    cells = ids < 2
    assert list(ids[cells]) == [1] and abs(times[cells][0] - 1.1) < 1e-12
    # exp cell: an input during refractoriness raises the current, which acts once V is free again
    quiet = OffGridNetwork(1, 0.1, kind=1, tau_refrac=5.0, v=-40.0, engine=engine)
    kicked = OffGridNetwork(1, 0.1, kind=1, tau_refrac=5.0, v=-40.0, source_spike_times=[[2.0]], pre=[1],
                            post=[0], weight=[1.0], delay=[0.1], engine=engine)
    for net in (quiet, kicked):
        net.record_v([0], 0.1)
        net.run(10.0)
    vq, vk = quiet.v_samples()[1][:, 0], kicked.v_samples()[1][:, 0]
    assert vq[0] == -40.0                                               # sampled before it fires at t = 0
    assert np.all(vq[1:51] == -65.0) and np.all(vk[1:51] == -65.0)  # clamped while refractory (5 ms)
    assert vk[60] > vq[60] + 0.05                                       # the current acts afterwards


@pytest.mark.parametrize("engine", ENGINES)
def test_changes_between_runs(engine):
    net = OffGridNetwork(1, 0.1, kind=1, engine=engine)
    net.run(10.0)
    assert len(net.spikes()[0]) == 0
    net.set_parameters(i_offset=2.0)       # from now on: V_inf = 40 mV above rest
    net.run(30.0)
    ids, times = net.spikes()
    expected = 10.0 - 20.0 * math.log(1.0 - 15.0 / 40.0)
    assert abs(times[0] - expected) < 1e-9
    net.set_v(-49.0)                       # above threshold: fires when the next run starts
    net.run(40.0)
    assert np.any(np.abs(net.spikes()[1] - 30.0) < 1e-12)


@pytest.mark.parametrize("bad, match", [
    (dict(tau_refrac=0.0), "tau_refrac must be at least the time step"),
    (dict(tau_m=-1.0), "tau_m must be > 0"),
    (dict(kind=2), "kind must be 0"),
    (dict(delay=[0.15]), "delay must be a whole number"),
    (dict(receptor=[3]), "receptor must be 0"),
    (dict(v_reset=-40.0), "v_reset must be < v_thresh"),
])
def test_bad_input_names_the_parameter(bad, match):
    args = dict(source_spike_times=[[1.0]], pre=[1], post=[0], weight=[1.0], delay=[0.5])
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        OffGridNetwork(1, 0.1, **args)


def test_run_needs_whole_steps():
    net = OffGridNetwork(1, 0.1)
    with pytest.raises(ValueError, match="whole number of time steps"):
        net.run(0.05)
    net.run(1.0)
    with pytest.raises(ValueError, match="at or after the current time"):
        net.run(0.5)


def test_threads_give_the_same_results():
    """The compiled loop's cell updates on two threads (from 4096 cells on): the same spikes and state."""
    out = []
    for threads in (1, 2):
        net = _random_network("compiled", 1, seed=8, n=5000, n_sources=200)
        net.threads = threads
        net.record_v([0, 4999], 1.0)
        net.run(40.0)
        out.append((*net.spikes(), net.v_samples()[1], net.cells.copy()))
    (ia, ta, va, ca), (ib, tb, vb, cb) = out
    assert (ia < 5000).sum() > 500
    assert np.array_equal(ia, ib) and np.array_equal(ta, tb) and np.array_equal(va, vb) and np.array_equal(ca, cb)


@pytest.mark.parametrize("engine", ["compiled", "reference"])
def test_currents_that_change_every_step(engine):
    """stim: a drive per step for some cells; the compiled loop equals the reference bit for bit, and a cell
    at rest driven by a constant stim follows V - v_rest = R I (1 - e^{-t/tau_m})."""
    results = []
    for which in (engine, "reference"):
        net = _random_network(which, 1)
        rng = np.random.default_rng(3)
        for until in (40.0, 90.0):
            steps = int(round((until - net.t) / 0.1))
            cells = np.array([0, 5, 7, 100])
            net.run(until, stim=(cells, 0.2, rng.normal(0.0, 0.5, (steps, cells.size))))
        results.append(net.spikes())
    assert np.array_equal(results[0][0], results[1][0]) and np.array_equal(results[0][1], results[1][1])
    net = OffGridNetwork(1, 0.1, kind=1, v_thresh=100.0, engine=engine)
    net.record_v([0], 0.1)
    net.run(50.0, stim=([0], 0.0, np.full((500, 1), 0.5)))
    times, v = net.v_samples()
    np.testing.assert_allclose(v[:, 0], -65.0 + 20.0 * 0.5 * -np.expm1(-times / 20.0), atol=1e-12)
    with pytest.raises(ValueError, match="stim values must have shape"):
        net.run(60.0, stim=([0], 0.0, np.zeros((5, 1))))


@pytest.mark.parametrize("first", ENGINES)
@pytest.mark.parametrize("second", ENGINES)
def test_exported_state_continues_on_any_path(first, second):
    """export_state() at 70 ms (inputs on their way, exact sub-step times), imported into a new network on any
    path, runs on to 150 ms exactly as one network run to 150 ms; check_state finds nothing to refuse."""
    kind = np.arange(120) % 2
    one = _random_network(first, kind)
    one.record_v([0, 3], 0.5)
    one.run(150.0)
    half = _random_network(first, kind)
    half.record_v([0, 3], 0.5)
    half.run(70.0)
    assert half.pending_arrivals > 100
    state = half.export_state()
    assert np.array_equal(state["inputs/theta"], half.export_state()["inputs/theta"])      # nothing was taken
    other = _random_network(second, kind)
    other.record_v([0, 3], 0.5)
    assert other.check_state(state, 120, 30, other.n_synapses, other.n_slots) == []
    other.import_state(state)
    assert other.pending_arrivals == half.pending_arrivals
    other.run(150.0)
    ids, times = one.spikes()
    later = times > 70.0
    assert np.array_equal(other.spikes()[0], ids[later]) and np.array_equal(other.spikes()[1], times[later])
    assert np.array_equal(other.v_samples()[1], one.v_samples()[1][141:])
    assert np.array_equal(other.cells, one.cells)
    bad = dict(state, **{"inputs/target": np.full_like(state["inputs/target"], 120)})
    assert "not to a cell" in other.check_state(bad, 120, 30, other.n_synapses, other.n_slots)[0]
