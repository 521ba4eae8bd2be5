"""Precise spike times on the time grid through PyNN (spike_precision="off_grid", pyNN.nest's default):
IF_curr_exp as NEST's iaf_psc_exp_ps and IF_curr_delta as iaf_psc_delta_ps, compared with pyNN.nest, with
the event-driven engine, and between the compiled loop and its Python reference; what does not qualify runs
on the grid; on-grid results are unchanged where the user asks for them."""

import numpy as np
import pytest
from test_eventdriven_pynn import _fraction_within, wire

N = 200


def _exp_network(sim, runs=(60.0, 60.0), record_v=False, **setup):
    """A deterministic 200-cell IF_curr_exp network: heterogeneous drive (some cells above threshold),
    excitatory and inhibitory synapses with delays of 0.1 to 1.9 ms, SpikeSourceArray input at precise
    times, and a step current into some cells."""
    sim.setup(timestep=0.1, min_delay=0.1, **setup)
    rng = np.random.default_rng(11)
    cells = sim.Population(N, sim.IF_curr_exp(tau_refrac=2.0, i_offset=rng.uniform(0.5, 0.9, N),
                                              v_thresh=-55.0, v_reset=-70.0, v_rest=-70.0, tau_m=20.0, cm=1.0,
                                              tau_syn_E=2.0, tau_syn_I=4.0))
    cells.initialize(v=rng.uniform(-70.0, -56.0, N))
    source_times = [np.sort(rng.uniform(0.0, 100.0, 5)).round(3) for _ in range(20)]
    sources = sim.Population(20, sim.SpikeSourceArray(spike_times=source_times))
    wire(sim, cells, sources, rng, 0.3, -0.9, 0.6)
    step = sim.StepCurrentSource(times=[20.0, 70.0], amplitudes=[0.3, -0.2])
    cells[:50].inject(step)
    cells.record(["spikes", "v"] if record_v else "spikes")
    for duration in runs:
        sim.run(duration)
    seg = cells.get_data().segments[0]
    spikes = [np.asarray(st.rescale("ms").magnitude) for st in seg.spiketrains]
    v = np.asarray(seg.filter(name="v")[0].rescale("mV").magnitude) if record_v else None
    info = sim.backend_info() if hasattr(sim, "backend_info") else None
    sim.end()
    return {"spikes": spikes, "v": v, "info": info}


def _single_cell(sim, source=None, tau_syn_E=2.0, **setup):
    """One IF_curr_exp cell driven by `source()` (default: a step current), 300 ms in two runs: (spikes, v,
    engine)."""
    sim.setup(timestep=0.1, **setup)
    cell = sim.Population(1, sim.IF_curr_exp(tau_refrac=2.0, tau_syn_E=tau_syn_E))
    cell.inject(source() if source is not None else
                sim.StepCurrentSource(times=[10.0, 110.0, 200.0], amplitudes=[0.8, 1.3, 0.0]))
    cell.record(["spikes", "v"])
    sim.run(150.0)
    sim.run(150.0)
    seg = cell.get_data().segments[0]
    out = (np.asarray(seg.spiketrains[0].rescale("ms").magnitude),
           np.asarray(seg.filter(name="v")[0].rescale("mV").magnitude)[:, 0],
           sim.backend_info()["engine"] if hasattr(sim, "backend_info") else None)
    sim.end()
    return out


@pytest.mark.nest
def test_single_exp_cell_with_step_current_matches_nest(sim, nest_sim):
    spikes, v, engine = _single_cell(sim)
    nest_spikes, nest_v, _ = _single_cell(nest_sim, spike_precision="off_grid")
    assert "precise spike times" in engine
    assert len(nest_spikes) == 6 and len(spikes) == 6
    assert np.abs(spikes - nest_spikes).max() < 1e-4
    assert v.shape == nest_v.shape and np.abs(v - nest_v).max() < 1e-3
    # off the grid: the first spike is 65.4518 ms, not a multiple of 0.1
    assert abs(spikes[0] / 0.1 - round(spikes[0] / 0.1)) > 1e-3


def test_single_exp_cell_analytic_first_spike(sim):
    """Constant current from rest: V(t) = RI (1 - exp(-t/tau_m)) crosses 15 mV above rest at
    t = -tau_m ln(1 - 15/(R I)) after the current starts (at 10 ms), exactly."""
    spikes, v, _ = _single_cell(sim)
    expected = 10.0 - 20.0 * np.log(1.0 - 15.0 / (20.0 * 0.8))
    assert abs(spikes[0] - expected) < 1e-9


@pytest.mark.nest
def test_exp_network_matches_nest_precise_spikes(sim, nest_sim):
    ours = _exp_network(sim)
    theirs = _exp_network(nest_sim, spike_precision="off_grid")
    assert "precise spike times" in ours["info"]["engine"]
    n = sum(len(s) for s in theirs["spikes"])
    assert n > 300
    assert abs(sum(len(s) for s in ours["spikes"]) - n) <= 0.01 * n
    assert _fraction_within(ours["spikes"], theirs["spikes"], 0.01) >= 0.99
    assert _fraction_within(ours["spikes"], theirs["spikes"], 1e-9) >= 0.99      # the same to rounding
    flat = np.concatenate(ours["spikes"])
    assert np.mean(np.abs(flat / 0.1 - np.rint(flat / 0.1)) > 1e-6) > 0.9


def test_on_grid_is_unchanged(sim):
    """spike_precision="on_grid" runs the grid engine, whose spikes are multiples of dt."""
    grid = _exp_network(sim, spike_precision="on_grid")
    assert grid["info"]["engine"].startswith("time-driven (steps of dt)")
    flat = np.concatenate(grid["spikes"])
    assert np.allclose(flat / 0.1, np.rint(flat / 0.1), atol=1e-6)
    precise = _exp_network(sim)
    n_grid, n_precise = (sum(len(s) for s in r["spikes"]) for r in (grid, precise))
    assert 300 < n_precise and abs(n_grid - n_precise) < 0.15 * n_precise


def _delta_network(sim, **kwargs):
    import test_eventdriven_pynn
    return test_eventdriven_pynn._network(sim, **kwargs)     # (the event-driven engine's test network)


@pytest.mark.nest
def test_delta_network_on_the_grid_matches_nest_and_the_event_driven_engine(sim, nest_sim):
    runs = (100.0, 100.0)
    stepped = _delta_network(sim, engine="time", runs=runs)
    exact = _delta_network(sim, engine="event", runs=runs)
    theirs = _delta_network(nest_sim, record_v=False, spike_precision="off_grid", runs=runs)
    assert "precise spike times" in stepped["info"]["engine"]
    assert exact["info"]["engine"].startswith("event-driven")
    n = sum(len(s) for s in theirs["spikes"])
    assert n > 300 and sum(len(s) for s in stepped["spikes"]) == n
    assert _fraction_within(stepped["spikes"], theirs["spikes"], 1e-3) >= 0.99
    assert _fraction_within(stepped["spikes"], theirs["spikes"], 1e-9) == 1.0
    # the off-grid and event-driven engines: the same spikes (the first 500 in time) to float64 rounding
    def first(spikes, count):
        ids = np.concatenate([np.full(len(s), i) for i, s in enumerate(spikes)])
        times = np.concatenate(spikes)
        order = np.lexsort((ids, times))[:count]
        return ids[order], times[order]
    ids_a, t_a = first(stepped["spikes"], 500)
    ids_b, t_b = first(exact["spikes"], 500)
    assert len(t_a) == 500 and np.array_equal(ids_a, ids_b)
    assert np.abs(t_a - t_b).max() < 1e-11
    assert np.abs(stepped["v"] - exact["v"]).max() < 1e-9


def test_network_changed_between_runs_continues_on_the_grid(sim):
    """A projection added after the first run: the network goes on on the grid (with a warning), keeping the
    cells' state and the input already on its way; the spikes before the change keep their exact times."""
    sim.setup(timestep=0.1, min_delay=0.1)
    cells = sim.Population(2, sim.IF_curr_exp(i_offset=[1.0, 0.0], tau_refrac=2.0))
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[49.95]))
    sim.Projection(source, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
    cells.record(["spikes", "v"])
    sim.run(50.0)
    assert "precise spike times" in sim.backend_info()["engine"]
    other = sim.Population(1, sim.SpikeSourceArray(spike_times=[]))
    sim.Projection(other, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1, delay=0.5))
    with pytest.warns(RuntimeWarning, match="continues on the time grid from t = 50 ms"):
        sim.run(50.0)
    assert sim.backend_info()["engine"].startswith("time-driven (steps of dt)")
    seg = cells.get_data().segments[0]
    spikes = np.asarray(seg.spiketrains[0].magnitude)
    v = np.asarray(seg.filter(name="v")[0].magnitude)
    early, late = spikes[spikes <= 50.0], spikes[spikes > 50.0]
    assert len(early) >= 1 and abs(early[0] - 20.0 * np.log(4.0)) < 1e-9
    assert len(late) >= 2 and np.allclose(late / 0.1, np.rint(late / 0.1), atol=1e-6)
    assert v.shape == (1001, 2)
    assert np.all(v[:510, 1] == -65.0) and v[515, 1] > -64.9     # the input sent at 49.95 ms arrived at 51.0
    sim.end()


def test_initialize_and_set_between_runs_act_from_then_on(sim):
    """initialize(isyn_exc=...) and set(tau_syn_E=...) between runs reach the precise path: from t0 = 50 ms a
    cell at rest follows the exact response to a current I0 decaying with the new tau_s,
    V - v_rest = I0/cm (e^{-s/tau_m} - e^{-s/tau_s}) / (1/tau_s - 1/tau_m), s = t - t0."""
    sim.setup(timestep=0.1)
    cell = sim.Population(1, sim.IF_curr_exp(tau_syn_E=5.0))
    cell.record("v")
    sim.run(50.0)
    assert "precise spike times" in sim.backend_info()["engine"]
    cell.set(tau_syn_E=2.0)
    cell.initialize(isyn_exc=1.0)
    sim.run(30.0)
    v = np.asarray(cell.get_data().segments[0].filter(name="v")[0].magnitude)[:, 0]
    s = np.arange(v.shape[0]) * 0.1 - 50.0
    expected = np.where(s > 0, (np.exp(-s / 20.0) - np.exp(-s / 2.0)) / (1 / 2.0 - 1 / 20.0), 0.0)
    assert "precise spike times" in sim.backend_info()["engine"]
    np.testing.assert_allclose(v, -65.0 + expected, atol=1e-12)
    sim.end()


def _ac_cell(sim, **setup):
    return _single_cell(sim, lambda: sim.ACSource(start=20.0, stop=250.0, amplitude=0.6, offset=0.9,
                                                  frequency=30.0, phase=40.0), tau_syn_E=5.0, **setup)


@pytest.mark.nest
def test_ac_source_on_a_precise_cell_matches_nest(sim, nest_sim):
    """A current that changes every step (ACSource): NEST's iaf_psc_exp_ps takes it step by step, as we do."""
    spikes, v, engine = _ac_cell(sim)
    nest_spikes, nest_v, _ = _ac_cell(nest_sim, spike_precision="off_grid")
    assert "precise spike times" in engine
    assert len(nest_spikes) > 5 and len(spikes) == len(nest_spikes)
    assert np.abs(spikes - nest_spikes).max() < 1e-9
    assert np.abs(v - nest_v).max() < 1e-9


def test_noisy_current_gives_the_grid_engine_subthreshold_trace(sim):
    """Below threshold the precise and the grid engines integrate the same equations with the same noise
    draws: the same v to rounding."""
    traces = []
    for precision in ("off_grid", "on_grid"):
        sim.setup(timestep=0.1, spike_precision=precision, rng_seed=5)
        cells = sim.Population(3, sim.IF_curr_exp(v_thresh=0.0))
        noise = sim.NoisyCurrentSource(mean=0.3, stdev=0.4, start=10.0, stop=180.0, dt=0.5)
        cells.inject(noise)
        cells.record("v")
        sim.run(120.0)
        sim.run(80.0)
        traces.append(np.asarray(cells.get_data().segments[0].filter(name="v")[0].magnitude))
        engine = sim.backend_info()["engine"]
        assert ("precise spike times" in engine) == (precision == "off_grid")
        sim.end()
    precise, grid = traces
    assert precise.shape == grid.shape == (2001, 3)
    assert np.ptp(precise[:, 0]) > 1.0 and np.abs(precise[:, 0] - precise[:, 1]).max() > 0.1
    np.testing.assert_allclose(precise, grid, atol=1e-9)
