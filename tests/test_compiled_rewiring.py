"""Structural plasticity on the compiled path (kernels/psg_rewiring.cu, engine/compiled/rewiring.py) against the
NumPy reference (engine/structural.py, Rewirer.rewire).

Both paths draw every attempt's numbers from the same Philox stream (key per projection, counter (attempt, draw,
batch)), so they must make the same decisions: the tests demand the same rows, slot for slot (the layout that
swap-with-last removal and appending at row ends give), the same per-synapse values, counters, recorder samples,
event logs and spikes, over several runs and a reset. The one operation that can differ is exp in the formation
probability (the C library's against NumPy's, which differ by an ulp in a few percent of arguments): a decision
`u < p` could only differ if the uniform u (a multiple of 2^-53) fell between the two values of p, at most two
ulps of p apart, a chance of at most 2^-52 per formation draw;
test_formation_probability_differs_from_numpy_by_an_ulp_at_most bounds the difference and the network tests show
the decisions agree.
"""

import ctypes
import types

import numpy as np
import pytest
from pyNN.random import NumpyRNG
from pyNN.space import Grid2D, Line, Space

from pynn_sparsegpu.engine.compiled import rewiring as rewiring_module


# --- helpers ------------------------------------------------------------------------------------------------
def _snapshot(prj):
    """Everything the rewiring of `prj` produced, as host values: per row the synapses in slot order with every
    per-synapse variable, the totals, the refusals of full rows, the recorder's segments."""
    group = prj._groups[(0, 0)]
    rows = group.rows
    lengths = np.asarray(rows.row_length).copy()
    layout = [np.asarray(rows.ind[i, :lengths[i]]).tolist() for i in range(rows.n_pre)]
    values = {name: [np.asarray(v[i, :lengths[i]]).tolist() for i in range(rows.n_pre)]
              for name, v in rows.vars.items()}
    recorder = group.rewirer.recorder
    segments = []
    if recorder is not None:
        for part in recorder.segments + [recorder.current()]:
            segments.append((part["first_step"], part["samples"], [np.asarray(x).tolist() for x in part["events"]]))
    return {"layout": layout, "values": values, "totals": dict(group.rewirer.totals),
            "failed_additions": rows.failed_additions, "segments": segments,
            "batches": group.rewirer.batches, "due": group.rewirer._due}


def _spikes(pop):
    return [[np.asarray(st.rescale("ms").magnitude).tolist() for st in seg.spiketrains]
            for seg in pop.get_data().segments]


def _assert_same(a, b):
    """Same connectivity (as sets per row and slot for slot), values, counters and records."""
    assert [sorted(r) for r in a["layout"]] == [sorted(r) for r in b["layout"]]
    assert a["layout"] == b["layout"]
    assert a["values"] == b["values"]
    assert a["totals"] == b["totals"]
    assert a["failed_additions"] == b["failed_additions"]
    assert a["segments"] == b["segments"]
    assert (a["batches"], a["due"]) == (b["batches"], b["due"])


CASES = {
    # lateral and forward, periodic 2D space, both rules, self connections refused on the lateral projection
    "torus": dict(),
    "max_in_degree": dict(max_in_degree=4),
    "with_replacement": dict(with_replacement=True, allow_self_connections=True),
    "last_neuron": dict(partner="last"),
    "last_neuron_window": dict(partner="last", window=3.0),
    # 2.5 attempts per batch: the fraction carries over; an interval of one step (dt = 1 ms)
    "fractional_one_step": dict(f_rew=2500.0, dt=1.0, plan=((200.0,), (110.0, 90.0))),
    "formation_only": dict(elimination=False),
    "elimination_only": dict(formation=False),
    # the lateral weights (0.35, in float32 0.34999999) sit on the threshold: NumPy compares a float32 weight
    # with the threshold in float32 (0.35 -> 0.34999999, not below), so must the kernel
    "float32": dict(precision="float32", threshold=0.35),
}


def _network(sim, backend, *, max_in_degree=None, with_replacement=False, allow_self_connections=False,
             partner="random", window=None, f_rew=20_000.0, dt=0.1, formation=True, elimination=True,
             precision="float64", threshold=0.3, plan=((40.0,), (25.0, 15.0)), record_late=False):
    """Poisson sources onto a grid of LIF cells: a forward and a lateral rewiring projection on a torus, the
    lateral one in a Space with scale and offset. `plan`: runs per segment (a reset between segments)."""
    sim.setup(timestep=dt, min_delay=dt, rng_seed=13, backend=backend, precision=precision)
    grid = Grid2D(aspect_ratio=1.0, dx=1.0, dy=1.0, fill_order="sequential")
    src = sim.Population(64, sim.SpikeSourcePoisson(rate=40.0), structure=grid)
    tgt = sim.Population(64, sim.IF_curr_exp(i_offset=0.6, tau_refrac=2.0), structure=grid)
    tgt.initialize(v=sim.RandomDistribution("uniform", low=-65.0, high=-52.0, rng=NumpyRNG(seed=2)))
    torus = Space(periodic_boundaries=((-0.5, 7.5), (-0.5, 7.5), None))

    def mechanism(weight):
        select = (sim.LastNeuronSelection(window=window) if partner == "last" else sim.RandomSelection())
        return sim.StructuralPlasticityMechanism(
            formation=sim.DistanceDependentFormation(0.5, 2.0, 0.8, 1.2) if formation else None,
            elimination=sim.RandomByWeightElimination(threshold, 0.6, 0.2) if elimination else None,
            partner_selection=select, f_rew=f_rew, initial_weight=0.25, weight=weight, row_capacity=12,
            max_in_degree=max_in_degree, with_replacement=with_replacement,
            allow_self_connections=allow_self_connections)
    ff = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.08, rng=NumpyRNG(seed=3)), mechanism(0.5),
                        space=torus, receptor_type="excitatory", label="ff")
    lat = sim.Projection(tgt, tgt, sim.FixedProbabilityConnector(0.08, rng=NumpyRNG(seed=4)), mechanism(0.35),
                         space=Space(axes="xy", periodic_boundaries=((-0.5, 7.5), (-0.5, 7.5), None),
                                     scale_factor=1.0, offset=0.25),
                         receptor_type="excitatory", label="lat")
    ff.record_rewiring(sampling_interval=2 * dt * 3, events=True)
    if not record_late:
        lat.record_rewiring(events=False)
    tgt.record("spikes")
    for k, segment in enumerate(plan):
        if k:
            sim.reset()
        for duration in segment:
            sim.run(duration)
            if record_late and k == 0:
                lat.record_rewiring(sampling_interval=5 * dt, events=True)
    result = {"ff": _snapshot(ff), "lat": _snapshot(lat), "spikes": _spikes(tgt),
              "stats": sim.kernel_statistics()}
    sim.end()
    return result


# --- the reference and the kernels agree --------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_compiled_rewiring_matches_the_reference(sim, case):
    kw = CASES[case]
    ref = _network(sim, "numpy", **kw)
    out = _network(sim, "cpu", **kw)
    for name in ("ff", "lat"):
        _assert_same(out[name], ref[name])
    assert out["spikes"] == ref["spikes"]
    assert sum(len(s) for seg in ref["spikes"] for s in seg) > 100          # the targets are active
    # the rewiring ran as kernels; only the Poisson sources are on the reference path
    assert not [p for p in out["stats"]["reference_parts"] if "rewiring" in p], out["stats"]["reference_parts"]
    totals = out["ff"]["totals"]
    if "formation_only" not in case:
        assert totals["eliminations"] > 10
    if "elimination_only" not in case:
        assert totals["formations"] > 20
    lat = out["lat"]["totals"]
    if case == "max_in_degree":
        assert totals["target_full"] + lat["target_full"] > 50
    if case in ("torus", "last_neuron"):
        assert lat["rejected"] > 0                                        # self connections refused
    if case.startswith("last_neuron"):
        assert totals["no_partner"] + lat["no_partner"] > 0
    if case == "with_replacement":
        assert any(len(set(row)) < len(row) for row in out["ff"]["layout"] + out["lat"]["layout"])


def test_no_self_connection_is_formed(sim):
    """allow_self_connections=False: the lateral projection's new synapses never join a neuron to itself."""
    out = _network(sim, "cpu", plan=((60.0,),))
    initial = _network(sim, "cpu", f_rew=0.0, plan=((0.1,),))
    for i, (row, row0) in enumerate(zip(out["lat"]["layout"], initial["lat"]["layout"])):
        formed = set(row) - set(row0)
        assert i not in formed
    assert out["lat"]["totals"]["rejected"] > 0


def test_recording_started_between_runs_and_events_read_in_small_chunks(sim, monkeypatch):
    """A recorder made between runs; an event buffer that holds only a few batches' events, so the host reads
    it more often than the recorder samples: the same records as the reference."""
    monkeypatch.setattr(rewiring_module, "EVENT_BUFFER_LIMIT", 40)
    ref = _network(sim, "numpy", record_late=True, plan=((20.0, 20.0), (10.0,)))
    out = _network(sim, "cpu", record_late=True, plan=((20.0, 20.0), (10.0,)))
    for name in ("ff", "lat"):
        _assert_same(out[name], ref[name])
    events = [len(seg[2][0]) for seg in out["lat"]["segments"]]
    assert sum(events) > 40


def test_stdp_formation_only_compiles_and_new_synapses_start_their_clock(sim):
    """A projection whose model owes lazy weight updates compiles when no elimination rule reads the weight:
    new synapses get the model's initial state and their clock (_tlast) starts at the step after the batch,
    as on the reference path (STDP itself still propagates there)."""
    results = {}
    for backend in ("numpy", "cpu"):
        sim.setup(timestep=0.1, min_delay=0.1, rng_seed=17, backend=backend)
        src = sim.Population(30, sim.SpikeSourcePoisson(rate=30.0), structure=Line(dx=1.0))
        tgt = sim.Population(20, sim.IF_curr_exp(i_offset=0.8), structure=Line(dx=1.0))
        syn = sim.StructuralPlasticityMechanism(
            formation=sim.DistanceDependentFormation(0.6, 4.0),
            timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.05, A_minus=0.06),
            weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.6),
            f_rew=10_000.0, initial_weight=0.3, row_capacity=16)
        prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn, label="stdp")
        tgt.record("spikes")
        sim.run(60.0)
        results[backend] = (_snapshot(prj), _spikes(tgt), sim.kernel_statistics()["reference_parts"])
        sim.end()
    (ref, ref_spikes, _), (out, spikes, parts) = results["numpy"], results["cpu"]
    _assert_same(out, ref)
    assert spikes == ref_spikes
    assert not [p for p in parts if "rewiring" in p]
    assert out["totals"]["formations"] > 50
    clocks = [t for row in out["values"]["_tlast"] for t in row]
    assert min(clocks) >= 10 and len(set(clocks)) > 5          # the first batch ends at step 9: _tlast 10


def test_stdp_synapses_are_eliminated_by_the_weight_stdp_owes_them(sim):
    """Elimination of STDP synapses reads the weight as of the attempt, with the potentiation STDP applies only
    at the next presynaptic spike (psg_stdp_current_weight): the compiled path makes the reference's decisions,
    with STDP, rewiring and the population all compiled (the topographic map's set-up, small)."""
    results = {}
    for backend in ("numpy", "cpu"):
        sim.setup(timestep=0.1, min_delay=0.1, rng_seed=23, backend=backend, spike_precision="on_grid")
        space = Space(axes="xy", periodic_boundaries=((0, 6), (0, 6), None))
        src = sim.Population(36, sim.SpikeSourcePoisson(rate=40.0), structure=Grid2D(dx=1.0, dy=1.0),
                             label="src")
        tgt = sim.Population(36, sim.IF_cond_exp(tau_refrac=5.0, v_thresh=-54.0, v_reset=-70.0, v_rest=-70.0,
                                                 i_offset=0.2), structure=Grid2D(dx=1.0, dy=1.0), label="tgt")
        syn = sim.StructuralPlasticityMechanism(
            formation=sim.DistanceDependentFormation(p_form_forward=0.3, sigma_form_forward=2.0),
            elimination=sim.RandomByWeightElimination(threshold=0.05, prob_elim_depressed=0.3,
                                                      prob_elim_potentiated=0.02),
            timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=64.0, A_plus=0.05, A_minus=0.03),
            weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.1),
            f_rew=20_000.0, initial_weight=0.05, row_capacity=24, weight=0.05, delay=0.1)
        prj = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.2, rng=NumpyRNG(seed=4)), syn,
                             space=space, receptor_type="excitatory", label="plastic")
        tgt.record("spikes")
        sim.run(150.0)
        sim.run(100.0)
        results[backend] = (_snapshot(prj), _spikes(tgt), sim.kernel_statistics())
        sim.end()
    (ref, ref_spikes, _), (out, spikes, stats) = results["numpy"], results["cpu"]
    assert stats["reference_parts"] == [] and stats["syncs"] == 0
    assert out["totals"]["eliminations"] > 30 and out["totals"]["formations"] > 30
    assert sum(len(s) for seg in spikes for s in seg) > 100
    _assert_same(out, ref)
    assert spikes == ref_spikes


def test_tsodyks_markram_synapses_are_rewired_by_kernels(sim):
    """A model whose weight is stored as it is (no lazy updates), with per-synapse parameters and state and a
    synapse clock (a Rewirer attached to a Tsodyks-Markram projection in the engine): the elimination rule reads
    the stored weight, removals move every variable with its synapse, new synapses get the parameters given
    and the model's initial state, and the clock starts at the step after the batch."""
    from pynn_sparsegpu.engine.structural import (DistanceDependentFormation, Geometry,
                                                  RandomByWeightElimination, Rewirer)
    results = {}
    for backend in ("numpy", "cpu"):
        sim.setup(timestep=0.1, min_delay=0.1, rng_seed=19, backend=backend)
        src = sim.Population(25, sim.SpikeSourcePoisson(rate=60.0), structure=Line(dx=1.0))
        tgt = sim.Population(25, sim.IF_curr_exp(i_offset=0.5), structure=Line(dx=1.0))
        conns = [(i, j, 0.05 if (i + j) % 2 else 0.5, 0.1) for i in range(25) for j in range(25) if abs(i - j) < 4]
        prj = sim.Projection(src, tgt, sim.FromListConnector(conns, column_names=["weight", "delay"]),
                             sim.TsodyksMarkramSynapse(U=0.4, tau_rec=50.0), row_capacity=12, label="tm")
        group = prj._groups[(0, 0)]
        positions = np.asarray(src.positions, float).T
        group.rewirer = Rewirer(group, np.random.SeedSequence(8), formation=DistanceDependentFormation(0.7, 2.0),
                                elimination=RandomByWeightElimination(0.1, 0.5, 0.01), f_rew=20_000.0,
                                initial_weight=0.2, initial_delay_ms=0.1, model_values={"U": 0.3},
                                geometry=Geometry(np, positions, positions))
        tgt.record("spikes")
        sim.run(50.0)
        results[backend] = (_snapshot(prj), _spikes(tgt), sim.kernel_statistics()["reference_parts"])
        sim.end()
    (ref, ref_spikes, _), (out, spikes, parts) = results["numpy"], results["cpu"]
    _assert_same(out, ref)
    assert spikes == ref_spikes
    assert not [p for p in parts if "rewiring" in p], parts
    assert out["totals"]["formations"] > 15 and out["totals"]["eliminations"] > 20
    u_values = {u for row in out["values"]["U"] for u in row}
    assert u_values >= {np.float64(0.4), np.float64(0.3)}      # the connector's and the new synapses'


# --- launches and synchronisations --------------------------------------------------------------------------
def _compiled_only(sim, rewiring, record=False, backend="cpu"):
    """Two LIF populations and no spike source: every part of the step has a kernel. A forward and a lateral
    (LastNeuronSelection, on spikes stamped by the population kernel) rewiring projection, or the same
    projections with static synapses. Returns (kernel statistics, snapshots, spikes) after 50 ms."""
    sim.setup(timestep=0.1, min_delay=0.1, rng_seed=23, backend=backend, spike_precision="on_grid")
    a = sim.Population(40, sim.IF_curr_exp(i_offset=1.2), structure=Line(dx=1.0))
    b = sim.Population(40, sim.IF_curr_exp(i_offset=0.8), structure=Line(dx=1.0))

    def synapse(partner):
        if not rewiring:
            return sim.StaticSynapse(weight=0.3, delay=0.1)
        return sim.StructuralPlasticityMechanism(
            formation=sim.DistanceDependentFormation(0.5, 6.0, 0.8, 6.0),
            elimination=sim.RandomByWeightElimination(0.5, 0.3, 0.1), partner_selection=partner,
            f_rew=20_000.0, initial_weight=0.3, weight=0.3, row_capacity=16)
    prjs = [sim.Projection(a, b, sim.FixedProbabilityConnector(0.1, rng=NumpyRNG(seed=5)),
                           synapse(sim.RandomSelection()), label="ab"),
            sim.Projection(b, b, sim.FixedProbabilityConnector(0.1, rng=NumpyRNG(seed=6)),
                           synapse(sim.LastNeuronSelection()), label="bb")]
    if record:
        for p in prjs:
            p.record_rewiring(sampling_interval=5.0, events=True)
    b.record("spikes")
    sim.run(50.0)
    out = (sim.kernel_statistics(), [_snapshot(p) for p in prjs] if rewiring else None, _spikes(b))
    sim.end()
    return out


def test_rewiring_runs_inside_the_compiled_loop_without_synchronisation(sim):
    """With no recorder the whole step is compiled: no reference part, no host synchronisation, and each
    batch costs the same few launches (measured against the same network with static synapses)."""
    stats, rewired, _ = _compiled_only(sim, True)
    base, _, _ = _compiled_only(sim, False)
    assert stats["reference_parts"] == []
    assert stats["syncs"] == 0 and stats["syncs_per_step"] == 0
    assert stats["steps"] == base["steps"] == 500
    batches = 500 // 10                                          # 1 ms batches at dt = 0.1 ms
    per_batch = (stats["launches"] - base["launches"]) / (2 * batches)
    assert per_batch == len(rewiring_module.OPS) == 6 <= 12
    assert all(s["totals"]["formations"] > 50 and s["totals"]["eliminations"] > 10 for s in rewired)


def test_compiled_loop_matches_the_reference_and_reads_only_at_samples(sim):
    """The same network against the NumPy path, with recorders: identical results; the host reads the device
    counters once per sample of each recorder (10 per projection over 50 ms sampled every 5 ms)."""
    _, ref, ref_spikes = _compiled_only(sim, True, record=True, backend="numpy")
    stats, out, spikes = _compiled_only(sim, True, record=True)
    for a, b in zip(out, ref):
        _assert_same(a, b)
    assert spikes == ref_spikes and sum(len(s) for seg in spikes for s in seg) > 100
    assert stats["reference_parts"] == []
    assert stats["syncs"] == 0 and stats["record_syncs"] == 2 * 10      # record copies only, at the samples


# --- rules that are not built in ----------------------------------------------------------------------------
def test_user_rules_run_on_the_reference_path(sim):
    """A user-defined rule (and a subclass of a built-in one) runs as array code, reported in reference_parts,
    with the same draws as on the NumPy path."""
    results = {}
    for backend in ("numpy", "cpu"):
        sim.setup(timestep=0.1, min_delay=0.1, rng_seed=29, backend=backend)

        class Ahead(sim.FormationRule):
            def probability(self, c):
                return c.xp.where(c.displacement[:, 0] > 0, 0.6, 0.0)

        class Gentle(sim.RandomByWeightElimination):
            def probability(self, c):
                return 0.5 * super().probability(c)

        src = sim.Population(20, sim.SpikeSourcePoisson(rate=20.0), structure=Line(dx=1.0))
        tgt = sim.Population(20, sim.IF_curr_exp(i_offset=0.5), structure=Line(dx=1.0))
        user = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.2, rng=NumpyRNG(seed=1)),
                              sim.StructuralPlasticityMechanism(formation=Ahead(), f_rew=10_000.0, weight=0.2,
                                                                initial_weight=0.2, row_capacity=20),
                              label="user")
        sub = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.2, rng=NumpyRNG(seed=2)),
                             sim.StructuralPlasticityMechanism(elimination=Gentle(0.5, 0.8), f_rew=10_000.0,
                                                               weight=0.2, row_capacity=20),
                             label="subclass")
        builtin = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.2, rng=NumpyRNG(seed=3)),
                                 sim.StructuralPlasticityMechanism(
                                     formation=sim.DistanceDependentFormation(0.3, 2.0), f_rew=10_000.0, weight=0.2,
                                     row_capacity=20), label="builtin")
        for p in (user, sub):
            p.record_rewiring(events=True)
        sim.run(30.0)
        results[backend] = ([_snapshot(p) for p in (user, sub, builtin)], sim.kernel_statistics())
        sim.end()
    (ref, _), (out, stats) = results["numpy"], results["cpu"]
    for a, b in zip(out, ref):
        _assert_same(a, b)
    parts = stats["reference_parts"]
    assert any("'user'" in p and "Ahead is not a built-in rule" in p for p in parts), parts
    assert any("'subclass'" in p and "Gentle is not a built-in rule" in p for p in parts), parts
    assert not any("'builtin'" in p for p in parts)
    formed = [t for t in out[0]["segments"][0][2][3] if t]
    assert len(formed) > 20 and out[1]["totals"]["eliminations"] > 10


# --- the one function that may differ: exp ------------------------------------------------------------------
def test_formation_probability_differs_from_numpy_by_an_ulp_at_most(tmp_path, monkeypatch):
    """The kernel's DistanceDependentFormation probability (psg_rw_formation_p, the function the kernels
    call) against the reference's array code over many displacements, on periodic and open axes: the wrapped
    displacements and distances are the same operations, only exp comes from another library (an ulp apart
    in a few percent of arguments, two ulps of p after the product with p_form). A decision `u < p` could then
    only differ if the uniform u (a multiple of 2^-53) fell within those two ulps of p < 1, a chance of at most
    2^-52 per draw; the network tests (identical events and connectivity over thousands of formation draws)
    show it does not."""
    from pynn_sparsegpu.engine.compiled.toolchain import KERNEL_DIR, Toolchain
    from pynn_sparsegpu.engine.structural import DistanceDependentFormation, Geometry, RuleContext
    monkeypatch.setenv("PYNN_SPARSEGPU_CACHE_DIR", str(tmp_path))
    with open(f"{KERNEL_DIR}/psg_rewiring.cu") as f:
        kernels = f.read()
    probe = kernels + """
PSG_KERNEL void formation_p(const double* pre_pos, const double* post_pos, const double* span, long long n_axes,
                            const long long* axes, double p_form, double two_sigma2, long long n, const long long* pre,
                            const long long* post, double* out)
{
    psg_rw r;
    r.pre_pos = pre_pos; r.post_pos = post_pos; r.n_axes = n_axes; r.p_form = p_form; r.two_sigma2 = two_sigma2;
    for (int k = 0; k < 3; ++k) { r.span[k] = span[k]; r.axes[k] = axes[k]; }
    for (long long k = 0; k < n; ++k) out[k] = psg_rw_formation_p(r, pre[k], post[k]);
}
"""
    lib = Toolchain().build(probe, "rewiring_probe")
    lib.formation_p.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_double,
                                                         ctypes.c_double, ctypes.c_longlong] + [ctypes.c_void_p] * 3
    rng = np.random.default_rng(4)
    n_pre, n_post = 400, 300
    pre_pos = rng.uniform(-3.0, 19.0, (n_pre, 3))
    post_pos = rng.uniform(-3.0, 19.0, (n_post, 3)) * 1.1 + 0.3
    pre_pos[:50, :2] = np.round(pre_pos[:50, :2])                 # grid points: exact halves after wrapping
    post_pos[:50, :2] = np.round(post_pos[:50, :2]) + 0.5
    for spans, axes in (((16.0, 16.0, None), [0, 1]), ((None, 8.0, None), [0, 1, 2]), ((None,) * 3, [2, 0])):
        geometry = Geometry(np, pre_pos, post_pos, axes=axes, spans=spans)

        rewirer = types.SimpleNamespace(xp=np, rng=None, dt=0.1, lateral=False, interval=1, n_pre=n_pre,
                                        n_post=n_post, geometry=geometry)
        pre = rng.integers(0, n_pre, 200_000)
        post = rng.integers(0, n_post, 200_000)
        rule = DistanceDependentFormation(p_form_forward=0.7, sigma_form_forward=2.5)
        expected = rule.probability(RuleContext(rewirer, pre, post, 1.0))
        got = np.zeros(pre.size)
        span = np.array([np.nan if s is None else s for s in spans])
        ax = np.array(axes + [0] * (3 - len(axes)), dtype=np.int64)
        lib.formation_p(pre_pos.ctypes.data, post_pos.ctypes.data, span.ctypes.data, len(axes), ax.ctypes.data,
                        0.7, 2.0 * 2.5 ** 2, pre.size, pre.ctypes.data, post.ctypes.data, got.ctypes.data)
        assert np.array_equal(got == 0.0, expected == 0.0)
        ulps = np.abs(got - expected) / np.spacing(np.minimum(got, expected))
        assert ulps.max() <= 2.0, (spans, ulps.max())          # exp: 1 ulp; times p_form: rounded once more
        assert 0 < np.count_nonzero(ulps) < 0.1 * pre.size
