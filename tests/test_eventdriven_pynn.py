"""The event-driven engine through PyNN: chosen by setup(engine=...) or automatically with spike_precision
"off_grid"; exact spike times and membrane potentials in Neo; agreement with pyNN.nest's defaults
(IF_curr_delta runs as iaf_psc_delta_ps there); clear errors for what it cannot run."""

import numpy as np
import pytest

N = 200


def _network(sim, engine=None, record_v=True, runs=(50.0, 50.0), **setup):
    """A deterministic IF_curr_delta network: heterogeneous constant drive (some cells above threshold),
    excitatory and inhibitory synapses with delays of 0.1 to 1.9 ms, SpikeSourceArray input at precise times.
    v_rest = v_reset = -70 mV and v starts there (where pyNN.nest's iaf_psc_delta_ps starts; it cannot be
    initialised from PyNN)."""
    if engine is not None:
        setup["engine"] = engine
    sim.setup(timestep=0.1, min_delay=0.1, **setup)
    rng = np.random.default_rng(3)
    cells = sim.Population(N, sim.IF_curr_delta(tau_refrac=2.0, i_offset=rng.uniform(0.6, 1.1, N),
                                                v_thresh=-55.0, v_reset=-70.0, v_rest=-70.0, tau_m=20.0,
                                                cm=1.0))
    cells.initialize(v=-70.0)
    source_times = [np.sort(rng.uniform(0.0, 100.0, 5)).round(3) for _ in range(20)]
    sources = sim.Population(20, sim.SpikeSourceArray(spike_times=source_times))
    wire(sim, cells, sources, rng, 0.4, -1.2, 0.8)
    cells.record(["spikes", "v"] if record_v else "spikes")
    sources.record("spikes")
    for duration in runs:
        sim.run(duration)
    seg = cells.get_data().segments[0]
    spikes = [np.asarray(st.rescale("ms").magnitude) for st in seg.spiketrains]
    v = np.asarray(seg.filter(name="v")[0].rescale("mV").magnitude) if record_v else None
    source_spikes = [np.asarray(st.rescale("ms").magnitude)
                     for st in sources.get_data().segments[0].spiketrains]
    info = sim.backend_info() if hasattr(sim, "backend_info") else None
    sim.end()
    return {"spikes": spikes, "v": v, "sources": source_spikes, "source_times": source_times, "info": info}


def wire(sim, cells, sources, rng, w_exc, w_inh, w_source):
    """3000 random recurrent synapses (80 % excitatory, w_exc; else w_inh) with delays of 0.1 to 1.9 ms, and 200
    synapses from the 20 sources (w_source, 0.5 ms), from `rng`."""
    n = cells.size
    pre, post = rng.integers(0, n, 3000), rng.integers(0, n, 3000)
    weight = np.where(rng.random(3000) < 0.8, w_exc, w_inh)
    delay = rng.integers(1, 20, 3000) * 0.1
    for sign, receptor in ((1, "excitatory"), (-1, "inhibitory")):
        conns = [(int(a), int(b), float(w), float(d)) for a, b, w, d in zip(pre, post, weight, delay)
                 if w * sign > 0]
        sim.Projection(cells, cells, sim.FromListConnector(conns, column_names=["weight", "delay"]),
                       sim.StaticSynapse(), receptor_type=receptor)
    conns = [(int(a), int(b), w_source, 0.5) for a, b in zip(rng.integers(0, 20, 200), rng.integers(0, n, 200))]
    sim.Projection(sources, cells, sim.FromListConnector(conns, column_names=["weight", "delay"]),
                   sim.StaticSynapse(), receptor_type="excitatory")


def _fraction_within(ours, theirs, tol):
    matched = total = 0
    for a, b in zip(ours, theirs):
        total += len(b)
        m = min(len(a), len(b))
        matched += int(np.count_nonzero(np.abs(a[:m] - b[:m]) <= tol))
    return matched / max(total, 1)


@pytest.mark.nest
def test_delta_network_matches_nest_precise_spikes(sim, nest_sim):
    ours = _network(sim, spike_precision="off_grid")
    # (pyNN.nest keeps the spike_precision of an earlier setup() unless it is given again)
    theirs = _network(nest_sim, record_v=False, spike_precision="off_grid")
    assert ours["info"]["engine"].startswith("event-driven")
    n = sum(len(s) for s in theirs["spikes"])
    assert n > 300 and sum(len(s) for s in ours["spikes"]) == n
    assert _fraction_within(ours["spikes"], theirs["spikes"], 1e-3) >= 0.99
    assert _fraction_within(ours["spikes"], theirs["spikes"], 1e-9) == 1.0     # the same to rounding
    # spike times are off the grid, as NEST's
    flat = np.concatenate(ours["spikes"])
    assert np.mean(np.abs(flat / 0.1 - np.rint(flat / 0.1)) > 1e-6) > 0.9


def test_engines_chosen_and_reported(sim):
    auto = _network(sim, record_v=False, runs=(20.0,))
    assert auto["info"]["engine"].startswith("event-driven")
    stepped = _network(sim, engine="time", record_v=False, runs=(20.0,))
    assert stepped["info"]["engine"].startswith("time-driven with precise spike times")
    on_grid = _network(sim, record_v=False, runs=(20.0,), spike_precision="on_grid")
    assert on_grid["info"]["engine"].startswith("time-driven (steps of dt)")
    flat = np.concatenate(on_grid["spikes"])
    assert np.allclose(flat / 0.1, np.rint(flat / 0.1))
    sim.setup(timestep=0.1)
    assert "first run" in sim.backend_info()["engine"]


def test_exact_times_and_samples_in_neo(sim):
    out = _network(sim, runs=(30.0, 40.0, 30.0))
    one = _network(sim, runs=(100.0,))
    for a, b in zip(out["spikes"], one["spikes"]):          # split runs continue exactly
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out["v"], one["v"])
    assert out["v"].shape == (1001, N) and np.all(out["v"][0] == -70.0)
    for got, given in zip(out["sources"], out["source_times"]):   # sources at their given times
        np.testing.assert_allclose(got, given, rtol=0, atol=1e-12)


def test_single_cell_follows_the_analytic_solution(sim):
    """V(t) = V_inf + (V0 - V_inf) exp(-t / tau_m) sampled exactly; spikes at tau_m ln((V_inf - v_reset) /
    (V_inf - v_thresh)) after each refractory period."""
    sim.setup(timestep=0.1)
    cell = sim.Population(1, sim.IF_curr_delta(tau_m=10.0, cm=0.5, v_rest=-65.0, v_reset=-68.0,
                                               v_thresh=-50.0, tau_refrac=1.5, i_offset=2.0))
    cell.initialize(v=-68.0)
    cell.record(["spikes", "v"], sampling_interval=0.5)
    sim.run(60.0)
    seg = cell.get_data().segments[0]
    spikes = np.asarray(seg.spiketrains[0].magnitude)
    v = np.asarray(seg.filter(name="v")[0].magnitude)[:, 0]
    v_inf = -65.0 + 2.0 * 10.0 / 0.5
    period = 10.0 * np.log((v_inf + 68.0) / (v_inf + 50.0))
    expected = period + np.arange(len(spikes)) * (period + 1.5)
    assert len(spikes) >= 3
    np.testing.assert_allclose(spikes, expected, rtol=0, atol=1e-10)
    t = np.arange(len(v)) * 0.5
    before = t < spikes[0]
    np.testing.assert_allclose(v[before], v_inf + (-68.0 - v_inf) * np.exp(-t[before] / 10.0), atol=1e-10)


def test_changes_between_runs(sim):
    """initialize() and set() between runs act from then on; reset() starts again from the same network."""
    sim.setup(timestep=0.1)
    cells = sim.Population(3, sim.IF_curr_delta(i_offset=0.5, tau_refrac=2.0))
    cells.record("spikes")
    sim.run(50.0)
    assert sum(len(s) for s in cells.get_data().segments[0].spiketrains) == 0   # below threshold
    cells[0:1].set(i_offset=2.0)
    cells.initialize(v=np.array([-65.0, -49.0, -65.0]))   # cell 1 above threshold: fires at once
    sim.run(50.0)
    trains = cells.get_data().segments[0].spiketrains
    assert len(trains[0]) > 3 and float(trains[0][0]) > 50.0
    assert len(trains[1]) == 1 and float(trains[1][0]) == pytest.approx(50.0)
    assert len(trains[2]) == 0
    sim.reset()                                    # parameters stay as set; v starts at its initial value
    sim.run(50.0)
    again = cells.get_data().segments[1].spiketrains
    assert float(again[0][0]) == pytest.approx(20.0 * np.log(40.0 / 25.0), abs=1e-9)
    assert float(again[1][0]) == pytest.approx(0.0) and len(again[2]) == 0


def test_what_the_event_engine_cannot_run(sim):
    sim.setup(timestep=0.1, engine="event")
    sim.Population(2, sim.IF_curr_exp())
    cells = sim.Population(2, sim.IF_curr_delta())
    sim.ACSource(amplitude=1.0, frequency=10.0, start=5.0, stop=10.0).inject_into(cells)
    with pytest.raises(ValueError) as err:
        sim.run(1.0)
    assert "IF_curr_exp" in str(err.value) and "ACSource" in str(err.value)
    # under "auto" the same network runs on the time grid
    sim.setup(timestep=0.1)
    sim.Population(2, sim.IF_curr_exp())
    cells = sim.Population(2, sim.IF_curr_delta())
    sim.ACSource(amplitude=1.0, frequency=10.0, start=5.0, stop=10.0).inject_into(cells)
    sim.run(1.0)
    assert sim.backend_info()["engine"].startswith("time-driven")
    # recordings the event-driven engine does not make keep "auto" on the time grid
    sim.setup(timestep=0.1)
    cells = sim.Population(2, sim.IF_curr_delta(i_offset=1.0))
    cells.record("v", sampling_interval=0.5)
    other = sim.Population(2, sim.IF_curr_delta(i_offset=1.0))
    other.record("v", sampling_interval=1.0)
    sim.run(2.0)
    assert sim.backend_info()["engine"].startswith("time-driven")
    sim.setup(timestep=0.1, engine="event")
    cells = sim.Population(2, sim.IF_curr_delta(i_offset=1.0))
    cells.record("v", sampling_interval=0.5)
    other = sim.Population(2, sim.IF_curr_delta(i_offset=1.0))
    other.record("v", sampling_interval=1.0)
    with pytest.raises(ValueError, match="sampling intervals"):
        sim.run(2.0)
    with pytest.raises(ValueError, match="spike_precision"):
        sim.setup(engine="event", spike_precision="on_grid")
    with pytest.raises(ValueError, match="engine="):
        sim.setup(engine="fast")


def test_changes_the_event_engine_cannot_follow(sim):
    sim.setup(timestep=0.1)
    cells = sim.Population(2, sim.IF_curr_delta(i_offset=1.0))
    cells.record("spikes")
    sim.run(5.0)
    cells.record("v", sampling_interval=1.0)       # a recording started after a run: from now on
    sim.run(5.0)
    v = np.asarray(cells.get_data().segments[0].filter(name="v")[0].magnitude)
    assert v.shape[0] == 11 and np.all(np.isnan(v[:5])) and np.all(np.isfinite(v[5:]))
    # V(t) = V_inf + (V(5) - V_inf) exp(-(t - 5) / tau_m) between spikes: check the samples follow it
    v_inf = -65.0 + 1.0 * 20.0 / 1.0
    np.testing.assert_allclose(v[5:, 0], v_inf + (-65.0 - v_inf) * np.exp(-np.arange(5.0, 11.0) / 20.0),
                               atol=1e-9)          # no spike before 27.7 ms
    cells.record(None)                             # stopping a recording is fine
    sim.run(5.0)
    assert sim.get_current_time() == pytest.approx(15.0)
    sim.setup(timestep=0.1)
    cells = sim.Population(2, sim.IF_curr_delta(i_offset=1.0))
    other = sim.Population(2, sim.IF_curr_delta(i_offset=1.0))
    cells.record("v", sampling_interval=1.0)
    sim.run(5.0)
    other.record("v", sampling_interval=0.5)      # v is sampled at one interval on this engine
    with pytest.raises(RuntimeError, match="sampling intervals"):
        sim.run(5.0)
    sim.setup(timestep=0.1)
    cells = sim.Population(2, sim.IF_curr_delta(i_offset=1.0))
    sim.run(5.0)
    sim.Projection(cells, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=1.0))
    with pytest.raises(RuntimeError, match="changed"):
        sim.run(5.0)


def _poisson_network(sim, runs=(1000.0,), n_cells=1000, **setup):
    """IF_curr_delta cells driven by SpikeSourcePoisson inputs (NEST: poisson_generator_ps and parrots)."""
    sim.setup(timestep=0.1, min_delay=0.1, spike_precision="off_grid", **setup)
    sources = sim.Population(400, sim.SpikeSourcePoisson(rate=40.0, start=20.0, duration=5000.0))
    cells = sim.Population(n_cells, sim.IF_curr_delta(i_offset=0.6, tau_refrac=2.0, v_rest=-70.0,
                                                      v_reset=-70.0, v_thresh=-55.0))
    cells.initialize(v=-70.0)
    rng = sim.NumpyRNG(seed=17)
    sim.Projection(sources, cells, sim.FixedNumberPreConnector(40, rng=rng),
                   sim.StaticSynapse(weight=0.9, delay=0.5), receptor_type="excitatory")
    sim.Projection(cells, cells, sim.FixedNumberPreConnector(20, rng=rng),
                   sim.StaticSynapse(weight=-0.6, delay=1.5), receptor_type="inhibitory")
    sources.record("spikes")
    cells.record("spikes")
    for duration in runs:
        sim.run(duration)
    source_trains = [np.asarray(st.rescale("ms").magnitude) for st in sources.get_data().segments[0].spiketrains]
    cell_trains = [np.asarray(st.rescale("ms").magnitude) for st in cells.get_data().segments[0].spiketrains]
    info = sim.backend_info() if hasattr(sim, "backend_info") else None
    sim.end()
    return source_trains, cell_trains, info


def test_poisson_sources_fire_exactly_in_their_window(sim):
    """A Poisson process in continuous time: the rate, Poisson intervals (CV 1), spikes only in
    (start, start + duration], off the grid; split runs give the same spikes as one run."""
    trains, cells, info = _poisson_network(sim, runs=(1000.0,), n_cells=50)
    assert info["engine"].startswith("event-driven")
    flat = np.concatenate(trains)
    assert flat.min() > 20.0 and flat.max() <= 1000.0
    expected = 400 * 40.0 * 0.98
    assert abs(flat.size - expected) < 4 * np.sqrt(expected)
    isi = np.concatenate([np.diff(t) for t in trains if len(t) > 2])
    assert abs(isi.std() / isi.mean() - 1.0) < 0.05
    assert np.mean(np.abs(flat / 0.1 - np.rint(flat / 0.1)) > 1e-6) > 0.99
    split, split_cells, _ = _poisson_network(sim, runs=(333.3, 0.1, 666.6), n_cells=50)
    for a, b in zip(trains + cells, split + split_cells):
        np.testing.assert_array_equal(a, b)


@pytest.mark.nest
def test_poisson_driven_network_rates_match_nest(sim, nest_sim):
    """Different random streams, the same statistics: the cells' mean rate within 5 % of NEST's
    (about 8 standard errors of the difference)."""
    _, ours, _ = _poisson_network(sim)
    _, theirs, _ = _poisson_network(nest_sim)
    n_ours, n_theirs = sum(len(t) for t in ours), sum(len(t) for t in theirs)
    assert n_theirs > 5000
    assert abs(n_ours - n_theirs) / n_theirs < 0.05


def test_weights_and_given_times_between_runs(sim):
    """Projection.set(weight=...) and SpikeSourceArray.set(spike_times=...) between runs act from then on;
    a change of delays raises."""
    sim.setup(timestep=0.1)
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0, 15.0, 25.0]))
    cell = sim.Population(1, sim.IF_curr_delta(tau_refrac=2.0))
    prj = sim.Projection(source, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=20.0, delay=1.0))
    cell.record("spikes")
    sim.run(10.0)
    prj.set(weight=0.0)                          # the spike of 15 ms arrives at 16 ms with no effect
    sim.run(10.0)
    prj.set(weight=25.0)
    source.set(spike_times=[3.0, 22.5, 27.25])    # 3 ms is past; 25 ms is dropped
    sim.run(10.0)
    times = np.asarray(cell.get_data().segments[0].spiketrains[0].magnitude)
    np.testing.assert_allclose(times, [6.0, 23.5, 28.25], atol=1e-12)
    prj.set(delay=2.0)
    with pytest.raises(RuntimeError, match="delays"):
        sim.run(1.0)


def test_initialize_between_runs_sets_v_now(sim):
    """initialize() between runs sets v at the current time, for the cells it names, even to the value it had
    at the start (v has moved since)."""
    sim.setup(timestep=0.1)
    cells = sim.Population(4, sim.IF_curr_delta(i_offset=0.5, tau_refrac=2.0))   # V_inf = -55 mV
    cells.record("v", sampling_interval=1.0)
    sim.run(50.0)
    cells.initialize(v=-65.0)                      # the initial value again
    sim.run(1.0)
    cells.initialize(v=np.array([-60.0, -65.0, -65.0, -65.0]))
    sim.run(1.0)
    v = np.asarray(cells.get_data().segments[0].filter(name="v")[0].magnitude)
    np.testing.assert_allclose(v[50], -55.0 - 10.0 * np.exp(-50.0 / 20.0), atol=1e-9)   # near V_inf
    expected = -55.0 + (-65.0 - -55.0) * np.exp(-1.0 / 20.0)
    np.testing.assert_allclose(v[51], expected, atol=1e-9)
    np.testing.assert_allclose(v[52, 1:], expected, atol=1e-9)    # set to -65 mV again at 51 ms
    np.testing.assert_allclose(v[52, 0], -55.0 + (-60.0 - -55.0) * np.exp(-1.0 / 20.0), atol=1e-9)



def _driven_cell(sim, drive):
    sim.setup(timestep=0.1, spike_precision="off_grid")
    cell = sim.Population(1, sim.IF_curr_delta(tau_refrac=2.0, v_rest=-70.0, v_reset=-70.0, v_thresh=-55.0))
    cell.initialize(v=-70.0)
    if drive == "dc":
        sim.DCSource(amplitude=1.3, start=20.3, stop=170.7).inject_into(cell)
    else:
        sim.StepCurrentSource(times=[10.0, 50.0, 120.0, 200.0, 260.0],
                              amplitudes=[0.8, 2.0, 0.5, 1.5, 0.0]).inject_into(cell)
    cell.record("spikes")
    sim.run(130.0)
    sim.run(170.0)
    times = np.asarray(cell.get_data().segments[0].spiketrains[0].rescale("ms").magnitude)
    info = sim.backend_info() if hasattr(sim, "backend_info") else None
    sim.end()
    return times, info


@pytest.mark.nest
@pytest.mark.parametrize("drive", ["dc", "step"])
def test_dc_and_step_currents_match_nest_precisely(sim, nest_sim, drive):
    """DCSource and StepCurrentSource change the drive at their (grid) times; the spikes are NEST's
    iaf_psc_delta_ps's to rounding."""
    ours, info = _driven_cell(sim, drive)
    theirs, _ = _driven_cell(nest_sim, drive)
    assert info["engine"].startswith("event-driven")
    assert len(theirs) >= 5 and len(ours) == len(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
