"""The exact event-driven engine (engine/eventdriven): analytic cases, the compiled loop against the Python
oracle bit for bit, split runs against one run, NEST's iaf_psc_delta_ps, and input validation."""

import math

import numpy as np
import pytest

from pynn_sparsegpu.engine.eventdriven import EventDrivenNetwork

ENGINES = ("compiled", "reference")


def lif_period(tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, cm=1.0, i_offset=1.0):
    v_inf = v_rest + i_offset * tau_m / cm
    return tau_m * math.log((v_inf - v_reset) / (v_inf - v_thresh))


# --- analytic cases ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_single_neuron_period(engine):
    # V_inf = -65 + 1.3 * 20 / 0.8 = -32.5; first spike from v = -60, then every t_isi + tau_refrac
    net = EventDrivenNetwork(1, cm=0.8, tau_m=20.0, i_offset=1.3, v=-60.0, tau_refrac=2.5, v_reset=-70.0,
                             engine=engine)
    net.run(500.0)
    ids, times = net.spikes()
    first = 20.0 * math.log((-32.5 + 60.0) / (-32.5 + 50.0))
    period = 2.5 + lif_period(tau_m=20.0, v_reset=-70.0, cm=0.8, i_offset=1.3)
    expected = first + period * np.arange(times.size)
    assert times.size == int((500.0 - first) // period) + 1
    np.testing.assert_allclose(times, expected, rtol=0, atol=1e-12)
    assert (ids == 0).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_v_samples_exact(engine):
    net = EventDrivenNetwork(2, i_offset=[1.0, 0.5], tau_refrac=2.0, engine=engine)
    net.record_v([1, 0], 0.25)
    net.run(40.0)
    ts, values = net.v_samples()
    assert ts.size == 161 and values.shape == (161, 2)
    np.testing.assert_array_equal(ts, np.arange(161) * 0.25)
    # cell 1: V_inf = -55 (subthreshold), never fires
    np.testing.assert_allclose(values[:, 0], -55.0 - 10.0 * np.exp(-ts / 20.0), rtol=0, atol=1e-12)
    # cell 0: fires at T0 = 20 ln 4; clamped to v_reset on [T0, T0 + 2), then free again
    t0 = 20.0 * math.log(4.0)
    expect = np.where(ts < t0, -45.0 - 20.0 * np.exp(-ts / 20.0), -65.0)
    late = ts >= t0 + 2.0
    expect[late] = -45.0 - 20.0 * np.exp(-(ts[late] - t0 - 2.0) / 20.0)
    np.testing.assert_allclose(values[:, 1], expect, rtol=0, atol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_input_fires_at_arrival_and_refractory_input_discarded(engine):
    # source 1 spikes at 5.0 and 6.0 (+16 mV after 1.5 ms): the first fires cell 0 at 6.5 exactly, the second
    # arrives at 7.5 inside (6.5, 6.5 + 2) and is discarded; the third at 8.5 = end of refractoriness counts
    net = EventDrivenNetwork(1, tau_refrac=2.0, v=-65.0, source_spike_times=[[5.0, 6.0, 7.0]],
                             pre=[1], post=[0], weight=[16.0], delay=[1.5], engine=engine)
    net.record_v([0], 0.5)
    net.run(20.0)
    ids, times = net.spikes()
    cell = times[ids == 0]
    assert cell.tolist() == [6.5, 8.5]
    assert times[ids == 1].tolist() == [5.0, 6.0, 7.0]
    ts, v = net.v_samples()
    assert v[ts.tolist().index(6.5), 0] == -65.0
    # a subthreshold input: V jumps by exactly w at its arrival
    net = EventDrivenNetwork(1, v=-65.0, source_spike_times=[[1.0]], pre=[1], post=[0], weight=[3.0],
                             delay=[1.0], engine=engine)
    net.record_v([0], 1.0)
    net.run(3.0)
    v = net.v_samples()[1][:, 0]
    assert v.tolist()[:3] == [-65.0, -65.0, -62.0]
    assert v[3] == pytest.approx(-65.0 + 3.0 * math.exp(-1.0 / 20.0), abs=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_simultaneous_inputs_are_summed(engine):
    # +20 and -20 mV arriving together: no spike (NEST sums simultaneous inputs before the threshold test)
    net = EventDrivenNetwork(1, source_spike_times=[[1.0], [1.0]], pre=[1, 2], post=[0, 0],
                             weight=[20.0, -20.0], delay=[1.0, 1.0], engine=engine)
    net.run(10.0)
    ids, _ = net.spikes()
    assert (ids == 0).sum() == 0
    assert net.get_v([0])[0] == pytest.approx(-65.0, abs=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_superthreshold_set_v_fires_at_once(engine):
    net = EventDrivenNetwork(3, engine=engine)
    net.run(1.0)
    net.set_v([-49.0, -60.0], [0, 2])
    net.run(2.0)
    ids, times = net.spikes()
    assert ids.tolist() == [0] and times.tolist() == [1.0]
    np.testing.assert_allclose(net.get_v(), [-65.0, -65.0, -65.0 + 5.0 * math.exp(-1.0 / 20.0)], atol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_set_parameters_between_runs(engine):
    # cell 0 sub-threshold until 10 ms, then driven above threshold from its V at 10 ms; cell 1 refractory at
    # 10 ms keeps the end of its refractory period
    net = EventDrivenNetwork(2, i_offset=[0.5, 1.0], tau_refrac=5.0, engine=engine)
    t1 = 20.0 * math.log(4.0)
    net.run(t1 + 1.0)
    v0 = net.get_v([0])[0]
    net.set_parameters(i_offset=2.0, tau_m=10.0, indices=[0])
    net.set_parameters([1], tau_refrac=1.0)
    assert net.params["i_offset"].tolist() == [2.0, 1.0] and net.params["tau_refrac"].tolist() == [5.0, 1.0]
    net.run(70.0)
    ids, times = net.spikes()
    first0 = t1 + 1.0 + 10.0 * math.log((-45.0 - v0) / (-45.0 + 50.0))
    np.testing.assert_allclose(times[ids == 0][0], first0, rtol=0, atol=1e-12)
    # cell 1: fired at t1, refractory to t1 + 5 (unchanged), then period 20 ln 4 + 1
    np.testing.assert_allclose(times[ids == 1][:2], [t1, t1 + 5.0 + t1], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="tau_m must be > 0"):
        net.set_parameters(tau_m=0.0)
    with pytest.raises(ValueError, match="unknown parameter 'tau_syn_E'"):
        net.set_parameters(tau_syn_E=1.0)
    with pytest.raises(ValueError, match="v_reset must be < v_thresh"):
        net.set_parameters([1], v_thresh=-70.0)
    assert net.params["tau_m"].tolist() == [10.0, 20.0]     # a failed call changes nothing


# --- compiled loop against the oracle ------------------------------------------------------------------------

def random_network(seed=1, n=200, n_src=20, p=0.1, engine="compiled", grid=None, t_max=200.0):
    rng = np.random.default_rng(seed)
    i_offset = rng.uniform(0.3, 1.2, n)             # V_inf = -65 + 20 i: about half suprathreshold
    v0 = rng.uniform(-65.0, -51.0, n)
    size = n + n_src
    mask = rng.random((size, n)) < p
    pre, post = np.nonzero(mask)
    w = np.where(pre % 5 == 0, -rng.uniform(1.0, 4.0, pre.size), rng.uniform(0.2, 1.2, pre.size))
    if grid is None:
        delay = rng.uniform(0.2, 3.0, pre.size)
    else:
        delay = np.round(rng.uniform(0.1, 3.0, pre.size) / grid) * grid
        delay = np.maximum(delay, grid)
    src = [np.sort(rng.uniform(0.5, t_max, 30)) for _ in range(n_src)]
    params = dict(cm=1.0, tau_m=rng.uniform(10.0, 30.0, n), v_rest=-65.0, v_reset=rng.uniform(-70.0, -60.0, n),
                  v_thresh=-50.0, tau_refrac=2.0, i_offset=i_offset, v=v0)
    return params, src, pre, post, w, delay


def build(spec, engine):
    params, src, pre, post, w, delay = spec
    return EventDrivenNetwork(len(params["v"]), **params, source_spike_times=src, pre=pre, post=post, weight=w,
                              delay=delay, engine=engine)


def test_compiled_equals_reference_and_split_runs():
    spec = random_network(seed=3)
    nets = {e: build(spec, e) for e in ENGINES}
    for net in nets.values():
        net.record_v([0, 7, 199], 0.1)
        net.run(150.0)
    ids_c, t_c = nets["compiled"].spikes()
    ids_r, t_r = nets["reference"].spikes()
    assert (ids_c < 200).sum() >= 500
    np.testing.assert_array_equal(ids_c, ids_r)
    np.testing.assert_array_equal(t_c, t_r)          # float64, bit for bit
    np.testing.assert_array_equal(nets["compiled"].v_samples()[1], nets["reference"].v_samples()[1])
    np.testing.assert_array_equal(nets["compiled"].t_free, nets["reference"].t_free)
    np.testing.assert_array_equal(nets["compiled"].v_free, nets["reference"].v_free)

    for engine in ENGINES:
        split = build(spec, engine)
        split.record_v([0, 7, 199], 0.1)
        for until in (0.0, 3.3, 3.3, 10.05, 17.0, 33.33, 60.0, 149.95, 150.0):
            split.run(until)
        ids_s, t_s = split.spikes()
        np.testing.assert_array_equal(ids_s, ids_c)
        np.testing.assert_array_equal(t_s, t_c)
        np.testing.assert_array_equal(split.v_samples()[0], nets["compiled"].v_samples()[0])
        np.testing.assert_array_equal(split.v_samples()[1], nets["compiled"].v_samples()[1])


@pytest.mark.parametrize("tau_refrac", [0.0, 1.0])
def test_compiled_equals_reference_with_ties(tau_refrac):
    # delays, source times and refractory periods on a 0.5 ms grid: many arrivals, spikes and ends of
    # refractoriness fall at one time
    rng = np.random.default_rng(7)
    n, n_src = 120, 30
    pre = rng.integers(0, n + n_src, 3000)
    post = rng.integers(0, n, 3000)
    spec = (dict(cm=1.0, tau_m=15.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, tau_refrac=tau_refrac,
                 i_offset=rng.choice([0.0, 0.9, 1.2], n), v=rng.choice([-65.0, -55.0, -49.0], n)),
            [np.repeat(np.arange(1, 40) * 0.5, 2)[rng.random(78) < 0.3] for _ in range(n_src)],
            pre, post, rng.choice([-6.0, -2.0, 3.0, 6.0, 15.0], 3000), rng.integers(1, 5, 3000) * 0.5)
    a, b = build(spec, "compiled"), build(spec, "reference")
    for net in (a, b):
        net.record_v(np.arange(0, n, 7), 0.5)
        for until in (10.0, 10.5, 40.0):
            net.run(until)
    assert (a.spikes()[0] < n).sum() > 300
    np.testing.assert_array_equal(a.spikes()[0], b.spikes()[0])
    np.testing.assert_array_equal(a.spikes()[1], b.spikes()[1])
    np.testing.assert_array_equal(a.v_samples()[1], b.v_samples()[1])
    np.testing.assert_array_equal(a.cells, np.asarray(b.cells))
    # never two spikes of one cell at one time (sources may repeat a time)
    ids, times = a.spikes()
    cells = ids < n
    assert np.unique(np.c_[ids[cells], times[cells]], axis=0).shape[0] == cells.sum()
    assert np.unique(np.c_[ids, times], axis=0).shape[0] < ids.size


def test_many_delays_and_pending_arrivals():
    # dense rows with many distinct delays: many segments per spike; state and queue agree after the run
    spec = random_network(seed=5, n=300, n_src=0, p=0.3)
    a, b = build(spec, "compiled"), build(spec, "reference")
    a.run(80.0)
    b.run(80.0)
    assert a.spikes()[0].size > 1000 and a.pending_arrivals > 300
    assert a.pending_arrivals == b.pending_arrivals
    np.testing.assert_array_equal(a.spikes()[1], b.spikes()[1])
    np.testing.assert_array_equal(a.spikes()[0], b.spikes()[0])
    np.testing.assert_array_equal(a.v_free, b.v_free)


def test_shared_delay_segments():
    # rows with one delay are queued once per spike; duplicate synapses to one target add up
    net = EventDrivenNetwork(2, source_spike_times=[[1.0]], pre=[2, 2, 2, 2], post=[0, 1, 0, 1],
                             weight=[8.0, 1.0, 8.0, 2.0], delay=[1.0, 1.0, 1.0, 2.0])
    assert net.seg_ptr.tolist() == [0, 3, 4] and net.seg_delay.tolist() == [1.0, 2.0]
    net.run(1.5)
    assert net.pending_arrivals == 2
    net.run(2.5)
    assert net.pending_arrivals == 1
    ids, times = net.spikes()
    assert ids.tolist() == [2, 0] and times.tolist() == [1.0, 2.0]


# --- against NEST --------------------------------------------------------------------------------------------

def nest_spikes(spec, t_stop, resolution=0.1):
    nest = pytest.importorskip("nest")
    params, src, pre, post, w, delay = spec
    n = np.size(params["v"])
    nest.ResetKernel()
    nest.resolution = resolution
    full = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in params.items()}
    cells = nest.Create("iaf_psc_delta_ps", n)
    cells.set([{"C_m": full["cm"][j] * 1000.0, "I_e": full["i_offset"][j] * 1000.0, "E_L": full["v_rest"][j],
                "V_reset": full["v_reset"][j], "V_th": full["v_thresh"][j], "t_ref": full["tau_refrac"][j],
                "tau_m": full["tau_m"][j], "V_m": full["v"][j]} for j in range(n)])
    nodes = list(cells.tolist())
    if src:
        gens = nest.Create("spike_generator", len(src))
        gens.set([{"spike_times": np.asarray(s, dtype=float), "precise_times": True} for s in src])
        nodes += list(gens.tolist())
    nodes = np.asarray(nodes)
    if len(pre):
        nest.Connect(nodes[pre], nodes[post], "one_to_one",
                     {"synapse_model": "static_synapse", "weight": np.asarray(w, float),
                      "delay": np.asarray(delay, float)})
    rec = nest.Create("spike_recorder")
    nest.Connect(cells, rec)
    nest.Simulate(t_stop)
    ev = rec.get("events")
    first = cells.tolist()[0]
    return np.asarray(ev["senders"]) - first, np.asarray(ev["times"])


def per_cell(ids, times, n):
    return [np.sort(times[ids == j]) for j in range(n)]


def test_single_neuron_matches_nest():
    params = dict(cm=0.25, tau_m=10.0, v_rest=-70.0, v_reset=-68.0, v_thresh=-55.0, tau_refrac=2.0,
                  i_offset=0.5, v=-67.3)
    spec = (params, [np.array([3.05, 12.3456789, 30.0, 30.0])], np.array([1, 1]), np.array([0, 0]),
            np.array([4.0, -2.5]), np.array([0.7, 1.0]))
    ids_n, t_n = nest_spikes(spec, 200.0)
    net = EventDrivenNetwork(1, **params, source_spike_times=spec[1], pre=spec[2], post=spec[3], weight=spec[4],
                             delay=spec[5])
    net.run(200.0)
    ids, t = net.spikes()
    mine = t[ids == 0]
    assert mine.size == t_n.size and mine.size > 5
    np.testing.assert_allclose(mine, np.sort(t_n), rtol=0, atol=1e-9)


def test_nest_conventions():
    # cell 0: fired by an input at 6.5; the next input arrives at 8.5, exactly when its refractoriness ends, and
    # counts (fires again); cell 1: +20 and -20 mV together do nothing at 3.0 (summed before the threshold
    # test); at 4.0 +20 - 20 + 9 + 9 fires it; +18 at 5.0 falls in its refractory period
    params = dict(cm=1.0, tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, tau_refrac=2.0,
                  i_offset=0.0, v=np.full(2, -65.0))
    src = [np.array([5.0, 7.0]), np.array([2.0, 3.0]), np.array([2.0, 3.0])]
    spec = (params, src, np.array([2, 3, 4, 3, 4]), np.array([0, 1, 1, 1, 1]),
            np.array([16.0, 20.0, -20.0, 9.0, 9.0]), np.array([1.5, 1.0, 1.0, 2.0, 2.0]))
    ids_n, t_n = nest_spikes(spec, 20.0)
    for engine in ENGINES:
        net = build(spec, engine)
        net.run(20.0)
        ids, t = net.spikes()
        cells = ids < 2
        assert list(zip(ids[cells].tolist(), t[cells].tolist())) == [(1, 4.0), (0, 6.5), (0, 8.5)]
        assert sorted(zip(ids_n.tolist(), t_n.tolist())) == sorted(zip(ids[cells].tolist(), t[cells].tolist()))


def test_random_network_matches_nest():
    t_stop = 100.0
    spec = random_network(seed=11, grid=0.1, t_max=t_stop)
    ids_n, t_n = nest_spikes(spec, t_stop)
    net = build(spec, "compiled")
    net.run(t_stop)
    ids, t = net.spikes()
    n = np.size(spec[0]["v"])
    keep = ids < n
    mine, theirs = per_cell(ids[keep], t[keep], n), per_cell(ids_n, t_n, n)
    total = sum(max(a.size, b.size) for a, b in zip(mine, theirs))
    matched = 0
    for a, b in zip(mine, theirs):
        k = min(a.size, b.size)
        matched += int((np.abs(a[:k] - b[:k]) <= 1e-3).sum())
    assert total > 500
    assert matched >= 0.99 * total, (matched, total)


# --- validation ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    (dict(tau_m=[20.0, -1.0]), ("tau_m", "-1.0", "> 0")),
    (dict(cm=0.0), ("cm", "> 0")),
    (dict(tau_refrac=-0.5), ("tau_refrac", "-0.5", ">= 0")),
    (dict(v_thresh=[float("nan"), -50.0]), ("v_thresh", "nan", "finite")),
    (dict(v_reset=-40.0), ("v_reset", "v_thresh")),
    (dict(i_offset=[1.0, 2.0, 3.0]), ("i_offset", "shape")),
    (dict(pre=[0], post=[1], weight=[1.0], delay=[0.0]), ("delay", "0.0", "> 0")),
    (dict(pre=[0], post=[1], weight=[1.0], delay=[-1.0]), ("delay", "-1.0", "> 0")),
    (dict(pre=[0], post=[5], weight=[1.0], delay=[1.0]), ("post", "5", "[0, 2)")),
    (dict(pre=[9], post=[1], weight=[1.0], delay=[1.0]), ("pre", "9", "[0, 2)")),
    (dict(pre=[0], post=[1], weight=[float("inf")], delay=[1.0]), ("weight", "inf", "finite")),
    (dict(pre=[0, 1], post=[1], weight=[1.0], delay=[1.0]), ("post", "shape")),
    (dict(source_spike_times=[[2.0, 1.0]]), ("source_spike_times[0]", "non-decreasing")),
    (dict(source_spike_times=[[-1.0]]), ("source_spike_times[0]", "-1.0", ">= 0")),
    (dict(engine="gpu"), ("engine", "gpu")),
])
def test_bad_input_raises(kwargs, words):
    with pytest.raises(ValueError) as err:
        EventDrivenNetwork(2, **kwargs)
    for word in words:
        assert word in str(err.value)


def test_bad_run_and_recording_arguments():
    net = EventDrivenNetwork(2)
    with pytest.raises(ValueError, match="interval_ms"):
        net.record_v([0], 0.0)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 2\) \(got 2"):
        net.record_v([2], 1.0)
    with pytest.raises(ValueError, match="n_cells"):
        EventDrivenNetwork(-1)
    net.run(5.0)
    with pytest.raises(ValueError, match="until_ms.*5.0.*got 4.0"):
        net.run(4.0)
    with pytest.raises(ValueError, match="until_ms"):
        net.run(float("nan"))
    net.record_v([0], 1.0)                      # after a run: samples from now on
    with pytest.raises(ValueError, match="interval_ms must be the interval"):
        net.record_v([1], 2.0)
    with pytest.raises(ValueError, match="values must be finite"):
        net.set_v(float("nan"))



def test_recording_started_after_a_run():
    """Samples of cells added to the recording after a run start at the current time and equal those of a
    recording made from the start."""
    def make():
        return EventDrivenNetwork(3, i_offset=[0.5, 1.2, 2.0], v=[-65.0, -60.0, -55.0], tau_refrac=2.0)

    whole = make()
    whole.record_v([0, 1, 2], 0.5)
    whole.run(30.0)
    _, reference = whole.v_samples()
    late = make()
    late.run(10.0)
    late.record_v([2], 0.5)                     # the first recording, at 10 ms
    late.run(20.0)
    late.record_v([0, 2], 0.5)                  # cell 0 joins at 20 ms (cell 2 is recorded already)
    late.run(30.0)
    times, values = late.v_samples()
    assert late.first_sample == 20 and times[0] == 10.0 and values.shape == (41, 2)
    np.testing.assert_array_equal(values[:, 0], reference[20:, 2])
    assert np.all(np.isnan(values[:21, 1]))      # up to 20 ms, sampled by the runs before it joined
    np.testing.assert_array_equal(values[21:, 1], reference[41:, 0])


@pytest.mark.parametrize("first", ENGINES)
@pytest.mark.parametrize("second", ENGINES)
def test_exported_state_continues_on_either_engine(first, second):
    """export_state() at 60 ms (arrivals queued), imported into a new network, runs on to 130 ms exactly as one
    network run to 130 ms; check_state refuses a queued arrival of a segment that does not exist."""
    spec = random_network(seed=3)
    one = build(spec, first)
    one.record_v([0, 5, 7], 0.5)
    one.run(130.0)
    half = build(spec, first)
    half.record_v([0, 5, 7], 0.5)
    half.run(60.0)
    state = half.export_state()
    assert state["queue/t"].size == half.pending_arrivals > 100
    other = build(spec, second)
    other.record_v([0, 5, 7], 0.5)
    n_segments = other.seg_delay.size
    assert other.check_state(state, 200, 20, other.n_synapses, n_segments) == []
    other.import_state(state)
    other.run(130.0)
    ids, times = one.spikes()
    later = times > 60.0
    assert np.array_equal(other.spikes()[0], ids[later]) and np.array_equal(other.spikes()[1], times[later])
    assert np.array_equal(other.v_samples()[1], one.v_samples()[1][121:])
    assert np.array_equal(other.cells, one.cells)
    bad = dict(state, **{"queue/seg": state["queue/seg"] + n_segments})
    assert "segment outside" in other.check_state(bad, 200, 20, other.n_synapses, n_segments)[0]
