"""Neo output: the same structure as pyNN.nest, usable by Elephant and PyNN's plotting, and file round trips.

Also the recording life cycle: get_data(clear=True), reset() and its annotations, spike counts, a sampling
interval other than dt, and recording from a PopulationView and an Assembly.
"""

import re

import numpy as np
import pytest
import quantities as pq

DT = 0.1
T_STOP = 100.0


def small_network(sim, nest=False, seed=11):
    """A Poisson source driving five IF_curr_exp, recording spikes and v (every 1 ms) of the cells."""
    if nest:
        sim.setup(timestep=DT, min_delay=DT, spike_precision="on_grid", rng_seed=seed)
    else:
        sim.setup(timestep=DT, min_delay=DT, rng_seed=seed)
    noise = sim.Population(20, sim.SpikeSourcePoisson(rate=50.0), label="noise")
    cells = sim.Population(5, sim.IF_curr_exp(i_offset=np.linspace(0.0, 0.4, 5)), label="cells")
    sim.Projection(noise, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=1.0))
    cells.record(["spikes", "v"], sampling_interval=1.0)
    return cells


def structure(sim, nest=False):
    cells = small_network(sim, nest)
    sim.run(T_STOP)
    block = cells.get_data()
    ids = [int(i) for i in cells.all_cells]
    sim.end()
    return block, ids


@pytest.fixture(scope="module")
def blocks():
    import importlib
    import pyNN.nest as nest_sim
    sim = importlib.import_module("pyNN.sparsegpu")
    ref, ref_ids = structure(nest_sim, nest=True)
    ours, our_ids = structure(sim)
    return ours, our_ids, ref, ref_ids


@pytest.mark.nest
def test_block_and_segment_like_nest(blocks):
    ours, _, ref, _ = blocks
    assert ours.name == ref.name == "cells"
    # the description is Population.describe(): the same text apart from the cell IDs
    assert re.sub(r"\d+", "#", ours.description) == re.sub(r"\d+", "#", ref.description)
    assert ours.description.startswith('Population "cells"')
    assert set(ours.annotations) == set(ref.annotations)
    for key in ("size", "first_index", "last_index", "label", "dt", "mpi_processes"):
        assert ours.annotations[key] == ref.annotations[key], key
    assert ours.annotations["simulator"] == "sparsegpu"
    assert len(ours.segments) == len(ref.segments) == 1
    assert ours.segments[0].name == ref.segments[0].name == "segment000"
    assert re.sub(r"\d+", "#", ours.segments[0].description) == re.sub(r"\d+", "#", ref.segments[0].description)
    assert ours.rec_datetime is not None


@pytest.mark.nest
def test_spiketrains_like_nest(blocks):
    ours, our_ids, ref, ref_ids = blocks
    ours_st, ref_st = ours.segments[0].spiketrains, ref.segments[0].spiketrains
    assert len(ours_st) == len(ref_st) == 5
    for index, (a, b) in enumerate(zip(ours_st, ref_st)):
        assert a.units == b.units == pq.ms
        assert a.t_start == b.t_start == 0.0 * pq.ms
        assert a.t_stop == b.t_stop == T_STOP * pq.ms
        assert set(a.annotations) == set(b.annotations) >= {"source_population", "source_index", "channel_id"}
        assert a.annotations["source_population"] == b.annotations["source_population"] == "cells"
        assert a.annotations["source_index"] == b.annotations["source_index"] == index
        assert a.annotations["channel_id"] == our_ids[index]
        assert b.annotations["channel_id"] == ref_ids[index]
        assert np.all(np.diff(a.magnitude) >= 0)
    assert sum(len(st) for st in ours_st) > 10   # the cells do fire


@pytest.mark.nest
def test_analogsignals_like_nest(blocks):
    ours, our_ids, ref, ref_ids = blocks
    (a,), (b,) = ours.segments[0].analogsignals, ref.segments[0].analogsignals
    assert a.name == b.name == "v"
    assert a.units == b.units == pq.mV
    assert a.sampling_period == b.sampling_period == 1.0 * pq.ms
    assert a.t_start == b.t_start == 0.0 * pq.ms
    assert a.shape == b.shape == (int(T_STOP) + 1, 5)
    np.testing.assert_array_equal(a.array_annotations["channel_index"], np.arange(5))
    np.testing.assert_array_equal(b.array_annotations["channel_index"], np.arange(5))
    np.testing.assert_array_equal(a.annotations["channel_ids"], our_ids)
    np.testing.assert_array_equal(b.annotations["channel_ids"], ref_ids)
    assert a.annotations["source_population"] == b.annotations["source_population"] == "cells"
    # the first sample is the initial value, on both
    np.testing.assert_allclose(a.magnitude[0], -65.0)
    np.testing.assert_allclose(b.magnitude[0], -65.0)


# --- Elephant -----------------------------------------------------------------------------------------
@pytest.fixture
def our_block(sim):
    cells = small_network(sim)
    sim.run(T_STOP)
    return cells.get_data()


def test_elephant_mean_firing_rate(our_block):
    from elephant.statistics import mean_firing_rate
    for st in our_block.segments[0].spiketrains:
        rate = mean_firing_rate(st).rescale("Hz").magnitude
        by_hand = len(st.magnitude) / (T_STOP / 1000.0)
        assert rate == pytest.approx(by_hand, rel=1e-12)


def test_elephant_isi(our_block):
    from elephant.statistics import isi
    fired = [st for st in our_block.segments[0].spiketrains if len(st) > 2]
    assert fired
    for st in fired:
        intervals = isi(st)
        assert intervals.units == pq.ms
        np.testing.assert_allclose(intervals.magnitude, np.diff(st.magnitude), rtol=0, atol=1e-12)


def test_elephant_binned_spike_train(our_block):
    from elephant.conversion import BinnedSpikeTrain
    trains = our_block.segments[0].spiketrains
    bin_ms = 5.0
    binned = BinnedSpikeTrain(trains, bin_size=bin_ms * pq.ms)
    counts = binned.to_array()
    n_bins = int(T_STOP / bin_ms)
    assert counts.shape == (5, n_bins)
    by_hand = np.zeros((5, n_bins), dtype=int)
    for row, st in enumerate(trains):
        times = st.magnitude
        times = times[times < T_STOP - 1e-9]                 # Elephant drops spikes at t_stop
        for index in np.floor(times / bin_ms + 1e-9).astype(int):
            by_hand[row, index] += 1
    np.testing.assert_array_equal(counts, by_hand)
    assert counts.sum() > 10


# --- plotting and files -------------------------------------------------------------------------------
def test_pynn_figure_renders_png(our_block, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from pyNN.utility.plotting import Figure, Panel
    segment = our_block.segments[0]
    path = tmp_path / "figure.png"
    Figure(Panel(segment.filter(name="v")[0], ylabel="Membrane potential (mV)"),
           Panel(segment.spiketrains, xlabel="Time (ms)", xticks=True),
           title="sparsegpu").save(str(path))
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def _assert_same_blocks(a, b):
    assert a.name == b.name
    assert len(a.segments) == len(b.segments)
    for sa, sb in zip(a.segments, b.segments):
        assert len(sa.spiketrains) == len(sb.spiketrains)
        for x, y in zip(sa.spiketrains, sb.spiketrains):
            np.testing.assert_array_equal(x.magnitude, y.magnitude)
            assert x.t_stop == y.t_stop and x.units == y.units
            assert x.annotations["source_index"] == y.annotations["source_index"]
        assert len(sa.analogsignals) == len(sb.analogsignals)
        for x, y in zip(sa.analogsignals, sb.analogsignals):
            assert x.name == y.name
            np.testing.assert_array_equal(x.magnitude, y.magnitude)
            assert x.sampling_period == y.sampling_period and x.units == y.units
            np.testing.assert_array_equal(x.array_annotations["channel_index"], y.array_annotations["channel_index"])


def test_write_data_pickle_round_trip(sim, tmp_path):
    from neo.io import PickleIO
    cells = small_network(sim)
    sim.run(T_STOP)
    expected = cells.get_data()
    path = tmp_path / "cells.pkl"
    cells.write_data(PickleIO(filename=str(path)))
    assert path.stat().st_size > 0
    loaded = PickleIO(filename=str(path)).read_block()
    _assert_same_blocks(expected, loaded)
    assert loaded.annotations["simulator"] == "sparsegpu"


def test_write_data_nix_round_trip(sim, tmp_path):
    pytest.importorskip("nixio")
    from neo.io import NixIO
    cells = small_network(sim)
    sim.run(T_STOP)
    expected = cells.get_data()
    path = tmp_path / "cells.nix"
    cells.write_data(NixIO(filename=str(path), mode="ow"))
    io = NixIO(filename=str(path), mode="ro")
    try:
        _assert_same_blocks(expected, io.read_block())
    finally:
        io.close()


# --- recording life cycle -----------------------------------------------------------------------------
def _driven_cells(sim):
    """Deterministic cells (constant currents), so every run of the same length gives the same data."""
    sim.setup(timestep=DT, min_delay=DT)
    return sim.Population(6, sim.IF_curr_exp(i_offset=np.linspace(0.8, 1.3, 6)), label="driven")


def test_get_data_clear_starts_new_segment_at_clear_time(sim):
    cells = _driven_cells(sim)
    cells.record(["spikes", "v"])
    sim.run(50.0)
    first = cells.get_data(clear=True).segments[0]
    sim.run(30.0)
    second_block = cells.get_data()
    assert len(second_block.segments) == 1
    second = second_block.segments[0]
    for st in second.spiketrains:
        assert st.t_start == 50.0 * pq.ms and st.t_stop == 80.0 * pq.ms
        assert np.all(st.magnitude > 50.0)
    assert sum(len(st) for st in second.spiketrains) > 0
    v1, v2 = first.filter(name="v")[0], second.filter(name="v")[0]
    assert v2.t_start == 50.0 * pq.ms
    assert v2.shape == (301, 6)
    # the signal continues where the cleared one stopped
    np.testing.assert_allclose(v2.magnitude[0], v1.magnitude[-1])
    # nothing of the cleared data remains
    assert all(np.all(st.magnitude > 50.0) for st in cells.get_data().segments[0].spiketrains)


def test_reset_gives_identical_segment(sim):
    cells = _driven_cells(sim)
    cells.record(["spikes", "v"])
    sim.run(60.0)
    sim.reset()
    assert sim.get_current_time() == 0.0
    sim.run(60.0)
    block = cells.get_data()
    assert [s.name for s in block.segments] == ["segment000", "segment001"]
    s0, s1 = block.segments
    assert sum(len(st) for st in s0.spiketrains) > 5
    for a, b in zip(s0.spiketrains, s1.spiketrains):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)
        assert a.t_start == b.t_start == 0.0 * pq.ms
    np.testing.assert_array_equal(s0.filter(name="v")[0].magnitude, s1.filter(name="v")[0].magnitude)


@pytest.mark.nest
def test_reset_annotations_go_to_the_segment_it_closes(sim, nest_sim):
    """PyNN's reset(annotations) annotates the segment that the reset stores (pyNN.nest does the same)."""
    results = []
    for simulator in (nest_sim, sim):
        if simulator is nest_sim:
            simulator.setup(timestep=DT, min_delay=DT, spike_precision="on_grid", t_flush=200.0)
        else:
            simulator.setup(timestep=DT, min_delay=DT)
        cells = simulator.Population(2, simulator.IF_curr_exp(i_offset=1.0))
        cells.record("spikes")
        simulator.run(20.0)
        simulator.reset(annotations={"trial": 1})
        simulator.run(20.0)
        simulator.reset(annotations={"trial": 2})
        simulator.run(20.0)
        block = cells.get_data()
        results.append([seg.annotations.get("trial") for seg in block.segments])
        simulator.end()
    assert results[1] == results[0] == [1, 2, None]


def test_spike_counts(sim):
    cells = _driven_cells(sim)
    cells.record("spikes")
    sim.run(100.0)
    trains = cells.get_data().segments[0].spiketrains
    counts = cells.get_spike_counts()
    assert counts == {int(cell): len(st) for cell, st in zip(cells.all_cells, trains)}
    assert cells.mean_spike_count() == pytest.approx(np.mean([len(st) for st in trains]))
    assert len(set(counts.values())) > 1   # heterogeneous input: not all counts equal
    view = cells[[1, 4]]
    assert view.get_spike_counts() == {int(cells[1]): len(trains[1]), int(cells[4]): len(trains[4])}


def test_spike_counts_after_clear(sim):
    """get_data(clear=True) empties the counts too; later counts hold only the later spikes (as pyNN.nest)."""
    cells = _driven_cells(sim)
    cells.record("spikes")
    sim.run(50.0)
    before = cells.get_spike_counts()
    cells.get_data(clear=True)
    assert set(cells.get_spike_counts().values()) == {0}
    sim.run(50.0)
    after = cells.get_spike_counts()
    trains = cells.get_data().segments[0].spiketrains
    assert after == {int(cell): len(st) for cell, st in zip(cells.all_cells, trains)}
    assert sum(after.values()) > 0 and sum(before.values()) > 0


@pytest.mark.parametrize("interval", [0.5, 2.0, 0.3])
def test_sampling_interval_other_than_dt(sim, interval):
    cells = _driven_cells(sim)
    cells.record("v", sampling_interval=interval)
    full = sim.Population(6, sim.IF_curr_exp(i_offset=np.linspace(0.8, 1.3, 6)), label="full")
    full.record("v")
    sim.run(40.0)
    v = cells.get_data().segments[0].filter(name="v")[0]
    reference = full.get_data().segments[0].filter(name="v")[0].magnitude
    stride = int(round(interval / DT))
    assert v.sampling_period == interval * pq.ms
    assert v.shape == (int(round(40.0 / interval)) + 1, 6)
    np.testing.assert_allclose(v.magnitude, reference[::stride])
    np.testing.assert_allclose(v.times.magnitude, np.arange(v.shape[0]) * interval)


def test_record_population_view(sim):
    cells = _driven_cells(sim)
    view = cells[1:5:2]
    view.record(["spikes", "v"], sampling_interval=0.5)
    cells.record("spikes")
    sim.run(50.0)
    block = view.get_data()
    segment = block.segments[0]
    assert [st.annotations["source_index"] for st in segment.spiketrains] == [1, 3]
    v = segment.filter(name="v")[0]
    assert v.shape == (101, 2)
    np.testing.assert_array_equal(v.annotations["channel_ids"], [int(cells[1]), int(cells[3])])
    np.testing.assert_array_equal(v.array_annotations["channel_index"], [1, 3])
    everything = cells.get_data(variables="spikes").segments[0].spiketrains
    np.testing.assert_array_equal(segment.spiketrains[0].magnitude, everything[1].magnitude)
    np.testing.assert_array_equal(segment.spiketrains[1].magnitude, everything[3].magnitude)
    # v was recorded only from the view
    assert cells.get_data().segments[0].filter(name="v")[0].shape == (101, 2)


def test_record_assembly(sim):
    cells = _driven_cells(sim)
    other = sim.Population(3, sim.IF_curr_alpha(i_offset=1.1), label="other")
    assembly = cells[4:6] + other
    assembly.record(["spikes", "v"])
    sim.run(50.0)
    segment = assembly.get_data().segments[0]
    assert len(segment.spiketrains) == 5
    populations = [st.annotations["source_population"] for st in segment.spiketrains]
    assert populations == ["driven", "driven", "other", "other", "other"]
    signals = segment.filter(name="v")
    assert sum(sig.shape[1] for sig in signals) == 5
    counts = assembly.get_spike_counts()
    assert set(counts) == {int(c) for c in list(cells[4:6].all_cells) + list(other.all_cells)}
    assert all(n > 0 for n in counts.values())
    # the alpha cells of the assembly are the same as the same cells recorded on their own
    own = other.get_data().segments[0].spiketrains
    by_population = [st for st in segment.spiketrains if st.annotations["source_population"] == "other"]
    for a, b in zip(by_population, own):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)


def test_recording_started_after_a_run_has_correct_sample_times(sim):
    """v recorded from t = 20 ms on: every sample the signal holds must be the value at the time the
    signal says it is (pyNN.recording builds the AnalogSignal from t_start = the recording start of the
    segment, 0 ms here, so the samples before 20 ms must be there, as NaN, or the times are shifted)."""
    sim.setup(timestep=DT, min_delay=DT)
    late = sim.Population(2, sim.IF_curr_exp(i_offset=[0.5, 0.7]), label="late")
    always = sim.Population(2, sim.IF_curr_exp(i_offset=[0.5, 0.7]), label="always")
    always.record("v", sampling_interval=1.0)
    sim.run(20.0)
    late.record("v", sampling_interval=1.0)
    sim.run(30.0)
    v_late = late.get_data().segments[0].filter(name="v")[0]
    v_ref = always.get_data().segments[0].filter(name="v")[0]
    assert v_ref.shape == (51, 2)
    assert v_late.t_stop == v_ref.t_stop        # the signal ends now (t = 50 ms), like the reference
    reference = dict(zip(np.round(v_ref.times.magnitude, 6), v_ref.magnitude))
    held = ~np.isnan(v_late.magnitude[:, 0])
    assert held.sum() >= 30
    for t, values in zip(np.round(v_late.times.magnitude[held], 6), v_late.magnitude[held]):
        np.testing.assert_allclose(values, reference[t], err_msg=f"sample labelled t = {t} ms")
