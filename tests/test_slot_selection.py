"""sim.SlotSelection: Bamford, Murray & Willshaw (2010)'s slot-based rewiring as a partner selection.

What an attempt proposes (the slot semantics, against a per-attempt re-implementation of the documented rule),
the rates at which synapses and empty slots are offered (against the analytic expectation, with rules that
only watch), the in-degree a lone projection settles at (against the stationary distribution of the birth-death
chain the rule makes), the cap on the slots, the same results on backend="numpy" and backend="cpu" (where it
runs on the reference path), bad input, and the documented example.
"""

import math
import pathlib
import re

import numpy as np
import pytest
from pyNN.space import Line

from conftest import GPU

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "structural_plasticity.md"


# --- rules that only watch ------------------------------------------------------------------------------------
def _watching_rules(sim):
    class WatchFormation(sim.FormationRule):
        """Records every (pre, post) it is asked about and forms nothing."""

        def __init__(self):
            self.pairs = []

        def probability(self, c):
            self.pairs.append(np.stack([np.asarray(c.pre), np.asarray(c.post)], axis=1))
            return c.xp.zeros(c.pre.shape[0])

    class WatchElimination(sim.EliminationRule):
        def __init__(self):
            self.pairs = []

        def probability(self, c):
            self.pairs.append(np.stack([np.asarray(c.pre), np.asarray(c.post)], axis=1))
            return c.xp.zeros(c.pre.shape[0])

    return WatchFormation, WatchElimination


def _count(pairs, n_pre, n_post):
    counts = np.zeros((n_pre, n_post), dtype=np.int64)
    if pairs:
        p = np.concatenate(pairs)
        np.add.at(counts, (p[:, 0], p[:, 1]), 1)
    return counts


def _adjacency(conn, n_pre, n_post):
    a = np.zeros((n_pre, n_post), dtype=bool)
    for i, j in conn:
        a[i, j] = True
    return a


# --- the slot semantics ---------------------------------------------------------------------------------------
def _reference_choose(members, me, post, u, s_max):
    """The documented rule, attempt by attempt: members = [(adjacency n_pre x n_post)] of the sharing
    projections in the order made, `me` the index of the deciding one; post its targets, u its partner
    uniforms. Sources of a target ordered by index (here the engine order: views taken in increasing order)."""
    n_sources = sum(a.shape[0] for a in members)
    offset = sum(a.shape[0] for a in members[:me])
    own = members[me]
    out = []
    for j, uk in zip(post, u):
        sources = list(np.nonzero(own[:, j])[0])
        d_total = sum(int(a[:, j].sum()) for a in members)
        m = max(d_total, s_max)
        x = uk * m
        s = min(math.floor(x), m - 1)
        if s < len(sources):
            out.append(int(sources[s]))
        elif s < d_total:
            out.append(-1)
        else:
            k = min(math.floor((x - math.floor(x)) * n_sources), n_sources - 1) - offset
            out.append(k if 0 <= k < own.shape[0] else -1)
    return np.array(out)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def test_choose_follows_the_slot_rule(sim, backend):
    """Two projections share the slots of 4 targets (s_max 5); the feed-forward one comes from a view, target 0
    holds 7 synapses (more than s_max: one slot per synapse). The vectorised choose() proposes, for 4000
    attempts with given uniforms, exactly what the per-attempt rule does (on NumPy and on CuPy)."""
    from pynn_sparsegpu.engine.structural import RuleContext
    if backend == "cupy" and not GPU:
        pytest.skip("no usable CUDA device")
    sim.setup(timestep=1.0, rng_seed=11, backend=backend)
    src = sim.Population(9, sim.SpikeSourcePoisson(rate=0.0))
    tgt = sim.Population(4, sim.IF_curr_exp())
    slots = sim.SlotSelection(s_max=5)
    ff_list = [(0, 0), (2, 0), (3, 0), (5, 0), (1, 1), (4, 1), (0, 2), (2, 2), (5, 2)]
    lat_list = [(1, 0), (2, 0), (3, 0), (0, 1), (3, 2), (0, 3), (1, 3)]

    def mechanism():
        return sim.StructuralPlasticityMechanism(elimination=sim.RandomByWeightElimination(1.0, 0.0, 0.0),
                                                 partner_selection=slots, f_rew=0.0, weight=0.1)
    view = src[2:8]                                    # 6 sources: engine rows 2..7
    ff = sim.Projection(view, tgt, sim.FromListConnector(ff_list), mechanism(), receptor_type="excitatory")
    lat = sim.Projection(tgt, tgt, sim.FromListConnector(lat_list), mechanism(), receptor_type="excitatory")
    sim.run(1.0)
    adjacency = [_adjacency(ff_list, 6, 4), _adjacency(lat_list, 4, 4)]
    rng = np.random.default_rng(5)
    for me, prj in enumerate((ff, lat)):
        rewirer = prj._groups[(0, 0)].rewirer
        post = rng.integers(0, 4, 4000)
        u = rng.random(4000)
        xp, backend_ = rewirer.xp, rewirer.backend
        got = backend_.to_host(slots.choose(RuleContext(rewirer, None, xp.asarray(post), 1.0,
                                                        partner_uniform=xp.asarray(u)), 4000))
        want = _reference_choose(adjacency, me, post, u, 5)
        np.testing.assert_array_equal(got, want)
        # every outcome occurs: own synapses, the other's, empty slots of ours and of the other's sources
        assert (got >= 0).sum() > 1000 and (got == -1).sum() > 1000


# --- rates against the analytic expectation ---------------------------------------------------------------------
def test_rates_of_offers_match_the_slot_model(sim):
    """Fixed connectivity (the rules only watch): per attempt of projection k on target j (drawn uniformly among
    n_post), a synapse (i, j) of k is tested for elimination with probability 1/s_max (its slot) plus
    (s_max - D_j)/s_max / N (an empty slot offering its source), a missing pair (i, j) of k is offered for
    formation with probability (s_max - D_j)/s_max / N, and no partner comes with probability
    d_other_j/s_max + (s_max - D_j)/s_max (1 - n_k/N); D_j = synapses onto j over both projections, N = all
    their sources. 2 x 10^5 attempts per projection: every count is within 4.5 standard deviations, and the
    chi-square statistic of each table is within its degrees of freedom +- 5 sqrt(2 dof)."""
    WatchFormation, WatchElimination = _watching_rules(sim)
    sim.setup(timestep=1.0, rng_seed=21)
    n_src, n_tgt, s_max = 6, 4, 8
    src = sim.Population(n_src, sim.SpikeSourcePoisson(rate=0.0))
    tgt = sim.Population(n_tgt, sim.IF_curr_exp())
    slots = sim.SlotSelection(s_max=s_max)
    ff_list = [(1, 1), (4, 1), (0, 2), (2, 2), (3, 2), (0, 3), (1, 3), (2, 3), (3, 3), (5, 3)]
    lat_list = [(1, 0), (0, 1), (2, 1), (3, 1), (0, 2), (1, 3), (2, 3)]
    watchers = {}
    projections = {}
    for name, pre, conn in (("ff", src, ff_list), ("lat", tgt, lat_list)):
        watchers[name] = (WatchFormation(), WatchElimination())
        mechanism = sim.StructuralPlasticityMechanism(
            formation=watchers[name][0], elimination=watchers[name][1], partner_selection=slots,
            f_rew=100_000.0, weight=0.0)
        projections[name] = sim.Projection(pre, tgt, sim.FromListConnector(conn), mechanism,
                                           receptor_type="excitatory")
    sim.run(2000.0)
    adjacency = {"ff": _adjacency(ff_list, n_src, n_tgt), "lat": _adjacency(lat_list, n_tgt, n_tgt)}
    d_total = adjacency["ff"].sum(axis=0) + adjacency["lat"].sum(axis=0)
    n_all = n_src + n_tgt
    empty = (s_max - d_total) / s_max                                         # per target
    chi2_stats = []
    for name, other in (("ff", "lat"), ("lat", "ff")):
        a = adjacency[name]
        counts = projections[name].rewiring_counts()
        attempts = counts["attempts"]
        assert attempts == 200_000
        p_elim = np.where(a, (1.0 / s_max + empty / n_all) / n_tgt, 0.0)
        p_form = np.where(a, 0.0, empty / n_all / n_tgt)
        p_none = float(np.mean(adjacency[other].sum(axis=0) / s_max + empty * (1 - a.shape[0] / n_all)))
        assert abs(p_elim.sum() + p_form.sum() + p_none - 1.0) < 1e-12
        observed_elim = _count(watchers[name][1].pairs, *a.shape)
        observed_form = _count(watchers[name][0].pairs, *a.shape)
        expected = np.concatenate([(attempts * p_elim).ravel(), (attempts * p_form).ravel(), [attempts * p_none]])
        observed = np.concatenate([observed_elim.ravel(), observed_form.ravel(), [counts["no_partner"]]])
        cells = expected > 0
        assert np.all(observed[~cells] == 0)           # nothing offered where the rule offers nothing
        z = (observed[cells] - expected[cells]) / np.sqrt(expected[cells])
        assert np.abs(z).max() < 4.5, (name, np.abs(z).max())
        chi2 = float((z ** 2).sum())
        dof = int(cells.sum()) - 1
        assert abs(chi2 - dof) < 5 * math.sqrt(2 * dof), (name, chi2, dof)
        chi2_stats.append(chi2)
        assert counts["formations"] == counts["eliminations"] == 0 and counts["rejected"] == 0


def _stationary_in_degree(s, n, f, e):
    """Mean of the stationary distribution of one target's in-degree d (a lone projection, s slots, n
    sources, formation probability f, elimination probability e per test): per attempt on the target, up
    with (s - d)/s (n - d)/n f, down with (d/s + (s - d)/s d/n) e."""
    pi = [1.0]
    for d in range(1, s + 1):
        up = (s - (d - 1)) / s * (n - (d - 1)) / n * f
        down = (d / s + (s - d) / s * d / n) * e
        pi.append(pi[-1] * up / down)
    pi = np.array(pi) / sum(pi)
    return float((np.arange(s + 1) * pi).sum())


def test_lone_projection_settles_at_the_chain_mean(sim):
    """One projection, constant formation and elimination probabilities: the time-averaged in-degree is the
    mean of the birth-death chain the slot rule makes (5 attempts per 1 ms batch over 50 targets, so two
    attempts of one batch rarely meet on a target); max_in_degree = s_max keeps the slots' cap exact."""
    class Constant(sim.FormationRule):
        def __init__(self, p):
            self.p = p

        def probability(self, c):
            return c.xp.full(c.pre.shape[0], self.p)

    sim.setup(timestep=1.0, rng_seed=8)
    n_src, n_tgt, s_max, f, e = 20, 50, 6, 0.5, 0.3
    src = sim.Population(n_src, sim.SpikeSourcePoisson(rate=0.0))
    tgt = sim.Population(n_tgt, sim.IF_curr_exp())
    mechanism = sim.StructuralPlasticityMechanism(
        formation=Constant(f), elimination=sim.RandomByWeightElimination(1.0, e, e),
        partner_selection=sim.SlotSelection(s_max=s_max), f_rew=5000.0, weight=0.0, max_in_degree=s_max)
    prj = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.0), mechanism, receptor_type="excitatory")
    prj.record_rewiring(sampling_interval=10.0)
    sim.run(8_000.0)
    size = np.asarray(prj.get_rewiring_data().segments[0].filter(name="size")[0]).ravel()
    mean = size[100:].mean() / n_tgt                     # after 1 s: ~100 attempts per target
    want = _stationary_in_degree(s_max, n_src, f, e)     # 3.380 (variance 1.45)
    # one attempt per target and sample, a correlation time of ~10 samples: a standard error of ~0.02
    assert abs(mean - want) < 0.06, (mean, want)
    degrees = np.bincount(np.array(prj.get("weight", format="list"))[:, 1].astype(int), minlength=n_tgt)
    assert degrees.max() <= s_max


def test_shared_slots_cap_the_total_in_degree(sim):
    """Two projections share s_max = 4 slots per target, formation certain, elimination rare: the slots fill up
    and the total in-degree of a target stays at s_max (two formations of one batch onto its last slot could
    overfill it, which 2 attempts per batch over 30 targets make rare: at most one extra synapse here)."""
    sim.setup(timestep=1.0, rng_seed=4)
    src = sim.Population(30, sim.SpikeSourcePoisson(rate=0.0))
    tgt = sim.Population(30, sim.IF_curr_exp())
    slots = sim.SlotSelection(s_max=4)

    def mechanism():
        return sim.StructuralPlasticityMechanism(
            formation=sim.DistanceDependentFormation(1.0, 1e6, 1.0, 1e6),
            elimination=sim.RandomByWeightElimination(1.0, 0.01, 0.01), partner_selection=slots,
            f_rew=2000.0, weight=0.0)
    ff = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.0), mechanism(), receptor_type="excitatory")
    lat = sim.Projection(tgt, tgt, sim.FixedProbabilityConnector(0.0), mechanism(), receptor_type="excitatory")
    sim.run(3000.0)

    def degrees(prj):
        conn = np.array(prj.get("weight", format="list")).reshape(-1, 3)
        return np.bincount(conn[:, 1].astype(int), minlength=30)
    total = degrees(ff) + degrees(lat)
    assert total.max() <= 5 and (total >= 3).all() and (total == 4).mean() > 0.8
    # each layer's sources are half of the partners an empty slot offers: about half the synapses each
    n = int(total.sum())
    assert abs(int(degrees(ff).sum()) - n / 2) < 4 * math.sqrt(n / 4)


# --- the same on both paths -------------------------------------------------------------------------------------
def _slot_network(backend):
    """A small topographic network with STDP and shared slots (the reference path on both backends)."""
    import pyNN.sparsegpu as sim
    sim.setup(timestep=0.1, min_delay=0.1, rng_seed=789, backend=backend)
    line = Line(dx=1.0)
    src = sim.Population(24, sim.SpikeSourcePoisson(rate=30.0), structure=line)
    tgt = sim.Population(24, sim.IF_cond_exp(tau_refrac=2.0), structure=line)
    slots = sim.SlotSelection(s_max=6)

    def mechanism():
        return sim.StructuralPlasticityMechanism(
            formation=sim.DistanceDependentFormation(0.5, 3.0, 1.0, 1.5),
            elimination=sim.RandomByWeightElimination(0.05, 0.2, 0.01), partner_selection=slots,
            timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=64.0, A_plus=0.1, A_minus=0.0375),
            weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.1),
            f_rew=5000.0, initial_weight=0.1, weight=0.1, row_capacity=12)
    ff = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.15, rng=sim.NumpyRNG(seed=3)), mechanism(),
                        receptor_type="excitatory")
    lat = sim.Projection(tgt, tgt, sim.FixedProbabilityConnector(0.1, rng=sim.NumpyRNG(seed=4)), mechanism(),
                         receptor_type="excitatory")
    for prj in (ff, lat):
        prj.record_rewiring(sampling_interval=50.0, events=True)
    tgt.record("spikes")
    sim.run(300.0)
    sim.run(200.0)
    out = {"spikes": [np.asarray(st.magnitude).tolist() for st in tgt.get_data().segments[0].spiketrains]}
    for name, prj in (("ff", ff), ("lat", lat)):
        seg = prj.get_rewiring_data().segments[0]
        ev = seg.events[0]
        out[name] = {"connections": sorted(map(tuple, prj.get(["weight"], format="list"))),
                     "counts": prj.rewiring_counts(),
                     "samples": {s.name: np.asarray(s).ravel().tolist() for s in seg.analogsignals},
                     "events": (ev.times.magnitude.tolist(), ev.labels.tolist(),
                                ev.array_annotations["pre"].tolist(), ev.array_annotations["post"].tolist())}
    stats = sim.kernel_statistics() if backend == "cpu" else None
    sim.end()
    return out, stats


def test_numpy_and_cpu_give_the_same_network():
    numpy_run, _ = _slot_network("numpy")
    cpu_run, stats = _slot_network("cpu")
    for name in ("ff", "lat"):
        counts = numpy_run[name]["counts"]
        assert counts["formations"] > 20 and counts["eliminations"] > 20 and counts["no_partner"] > 0
        assert numpy_run[name] == cpu_run[name]
    assert sum(map(len, numpy_run["spikes"])) > 100
    assert numpy_run["spikes"] == cpu_run["spikes"]
    reasons = [part for part in stats["reference_parts"] if "SlotSelection" in part]
    assert len(reasons) == 2 and "reference path" in reasons[0]


# --- bad input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("s_max", [0, -3, 2.5, True, "8", None])
def test_s_max_must_be_a_whole_number(sim, s_max):
    with pytest.raises(ValueError) as info:
        sim.SlotSelection(s_max=s_max)
    assert f"s_max={s_max!r}" in str(info.value) and ">= 1" in str(info.value)


def test_with_replacement_refused(sim):
    with pytest.raises(ValueError) as info:
        sim.StructuralPlasticityMechanism(partner_selection=sim.SlotSelection(4), with_replacement=True)
    assert "SlotSelection(s_max=4)" in str(info.value) and "with_replacement=False" in str(info.value)


def test_shared_by_projections_onto_different_cells_refused(sim):
    sim.setup(timestep=1.0)
    src = sim.Population(5, sim.SpikeSourcePoisson(rate=0.0))
    tgt = sim.Population(6, sim.IF_curr_exp())
    slots = sim.SlotSelection(3)

    def mechanism():
        return sim.StructuralPlasticityMechanism(elimination=sim.RandomByWeightElimination(1.0),
                                                 partner_selection=slots, f_rew=1000.0)
    sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.5), mechanism(), receptor_type="excitatory")
    with pytest.raises(ValueError) as info:
        sim.Projection(src, tgt[0:3], sim.FixedProbabilityConnector(0.5), mechanism(), receptor_type="excitatory")
    assert "same cells" in str(info.value) and "SlotSelection of its own" in str(info.value)
    assert len(sim.simulator.state.network.projections) == 1      # the refused projection was not added
    sim.run(10.0)
    # projections onto another population share nothing with those onto tgt
    other = sim.Population(3, sim.IF_curr_exp())
    sim.Projection(src, other, sim.FixedProbabilityConnector(0.5), mechanism(), receptor_type="excitatory")
    sim.run(10.0)


# --- the documented example -------------------------------------------------------------------------------------
def test_documented_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    source = next(b for b in blocks if "SlotSelection(" in b)
    namespace = {}
    exec(compile(source, str(DOC), "exec"), namespace)
    counts, degrees = namespace["counts"], namespace["in_degree"]
    assert degrees.max() <= 32 and counts["ff"]["formations"] > 0 and counts["lat"]["eliminations"] > 0
