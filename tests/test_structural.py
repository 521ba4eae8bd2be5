"""Structural plasticity (engine/structural.py, rewiring.py): the statistics of one rewiring attempt as the
module docstring defines it, the bookkeeping of counts, events and sizes, rows that fill up, user rules on
both array paths, partner selection by recent spikes, STDP with rewiring, reset(), bad input, a long run,
and RaggedRows.remove_at against remove_synapses.

One attempt: a target drawn uniformly, a partner proposed (RandomSelection: uniform), an existing synapse
eliminated with the elimination rule's probability, an absent pair (any pair with with_replacement=True)
formed with the formation rule's probability. With uniform target and partner every attempt hits a given
pair with probability 1 / (n_pre n_post); the expected numbers below follow from that alone.
"""

import resource
from collections import Counter

import numpy as np
import pytest
from pyNN.random import NumpyRNG
from pyNN.space import Grid2D, Line, Space
from scipy import stats

from conftest import GPU
from pynn_sparsegpu.engine.connectivity import RaggedRows

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)]


# --- helpers ------------------------------------------------------------------------------------------
def _setup(sim, seed, dt=1.0, backend="numpy"):
    if backend == "cupy" and not GPU:
        pytest.skip("no usable CUDA device")
    sim.setup(timestep=dt, min_delay=dt, rng_seed=seed, backend=backend)


def _constant_formation(sim, p):
    class Constant(sim.FormationRule):
        def probability(self, c):
            return c.xp.full(c.post.shape[0], p)
    return Constant()


def _events(prj, segment=0):
    """(times ms, labels, pre, post) of the recorded rewiring events of one segment, as host arrays."""
    ev = prj.get_rewiring_data().segments[segment].events[0]
    assert ev.name == "rewiring"
    return (np.asarray(ev.times.rescale("ms").magnitude), np.asarray(ev.labels),
            np.asarray(ev.array_annotations["pre"], dtype=np.int64),
            np.asarray(ev.array_annotations["post"], dtype=np.int64))


def _signals(prj, segment=0):
    seg = prj.get_rewiring_data().segments[segment]
    return {s.name: np.asarray(s.magnitude).ravel() for s in seg.analogsignals}


def _pairs(prj):
    """Every synapse as a (pre, post) tuple (repeats kept)."""
    conns = prj.get("weight", format="list")
    return [(int(c[0]), int(c[1])) for c in conns]


def _rows(prj):
    return prj._groups[(0, 0)].rows


def _host(prj, array):
    return np.asarray(prj._groups[(0, 0)].backend.to_host(array))


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def _merge_bins(observed, expected, minimum=5.0):
    """Merge consecutive bins (ordered by distance) until each expects >= minimum; the remainder joins the
    last merged bin."""
    obs, exp, o, e = [], [], 0.0, 0.0
    for a, b in zip(observed, expected):
        o += a
        e += b
        if e >= minimum:
            obs.append(o)
            exp.append(e)
            o = e = 0.0
    if e > 0 or o > 0:
        obs[-1] += o
        exp[-1] += e
    return np.asarray(obs), np.asarray(exp)


# --- 1 and 9: formation probability against distance -----------------------------------------------------
SIDE, P_FORM, SIGMA = 10, 0.6, 1.5
TORUS = ((-0.5, SIDE - 0.5), (-0.5, SIDE - 0.5), None)


def _formation_experiment(sim, backend, with_replacement, seed=11):
    """Empty start, formation only, DistanceDependentFormation on two 10 x 10 periodic grids. Returns the
    formed (pre, post) events, the number of attempts and the reference distance matrix."""
    _setup(sim, seed, backend=backend)
    grid = Grid2D(aspect_ratio=1.0, dx=1.0, dy=1.0, fill_order="sequential")
    src = sim.Population(SIDE * SIDE, sim.SpikeSourceArray(), structure=grid)
    tgt = sim.Population(SIDE * SIDE, sim.IF_curr_exp(), structure=grid)
    syn = sim.StructuralPlasticityMechanism(
        formation=sim.DistanceDependentFormation(p_form_forward=P_FORM, sigma_form_forward=SIGMA),
        f_rew=100_000.0, initial_weight=0.1,
        with_replacement=with_replacement, row_capacity=100)
    space = Space(periodic_boundaries=TORUS)
    prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn, space=space)
    prj.record_rewiring(events=True)
    sim.run(200.0)
    counts = prj.rewiring_counts()
    _, labels, pre, post = _events(prj)
    assert np.all(labels == "formed")
    assert counts["eliminations"] == 0 and counts["failed"] == 0 and counts["no_partner"] == 0
    assert pre.size == counts["formations"] == len(prj)
    # the reference metric: PyNN's own Space (min(|d|, L - |d|) per periodic axis)
    d = space.distances(src.positions.T, tgt.positions.T).reshape(src.size, tgt.size)
    return pre, post, counts["attempts"], d


def _formation_chisquare(pre, post, attempts, d, p_form, sigma, with_replacement):
    """Pearson chi-square of formations per distance level (+ the attempts/pairs with none) against the
    expectation for p(d) = p_form exp(-d^2 / 2 sigma^2)."""
    n_pairs = d.size
    key = np.round(d ** 2, 6)
    levels, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.reshape(d.shape)
    pairs_per_level = np.bincount(inverse.ravel(), minlength=levels.size)
    p = p_form * np.exp(-levels / (2.0 * sigma ** 2))
    if with_replacement:
        # attempts are independent: each forms in level b with probability n_b p_b / N (multinomial)
        expected = attempts * pairs_per_level * p / n_pairs
        total = attempts
    else:
        # a pair stays formed (no elimination); it is formed unless every attempt on it failed
        expected = pairs_per_level * (1.0 - (1.0 - p / n_pairs) ** attempts)
        total = n_pairs
        assert len(set(zip(pre.tolist(), post.tolist()))) == pre.size          # no pair formed twice
    observed = np.bincount(inverse[pre, post], minlength=levels.size).astype(float)
    obs, exp = _merge_bins(observed, expected)
    obs = np.append(obs, total - obs.sum())
    exp = np.append(exp, total - exp.sum())
    assert exp.size >= 8
    return stats.chisquare(obs, exp).pvalue, observed, expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_replacement", [True, False])
def test_formation_probability_against_distance(sim, backend, with_replacement):
    pre, post, attempts, d = _formation_experiment(sim, backend, with_replacement)
    # two attempts per pair: without replacement, enough for the data to reject a p_form 20 % too low
    assert attempts == 20_000
    assert pre.size > 300
    p_ok, observed, expected = _formation_chisquare(pre, post, attempts, d, P_FORM, SIGMA, with_replacement)
    assert p_ok > 0.01, (observed, expected)
    # the same data must reject a rule with a wrong sigma or a wrong p_form
    p_sigma, _, _ = _formation_chisquare(pre, post, attempts, d, P_FORM, 1.5 * SIGMA, with_replacement)
    assert p_sigma < 0.01
    p_scale, _, _ = _formation_chisquare(pre, post, attempts, d, 0.8 * P_FORM, SIGMA, with_replacement)
    assert p_scale < 0.01
    # far pairs (d >= 4.5, p <= 0.6 exp(-20.25/4.5) ~ 7e-3) form about as rarely as the rule says
    far = d >= 4.5
    p_far = P_FORM * np.exp(-d[far] ** 2 / (2 * SIGMA ** 2))
    expected_far = (attempts * p_far / d.size).sum() if with_replacement else \
        (1.0 - (1.0 - p_far / d.size) ** attempts).sum()
    assert np.count_nonzero(far[pre, post]) < expected_far + 5 * np.sqrt(expected_far) + 1


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="no usable CUDA device")
def test_formation_statistics_numpy_and_cupy_agree(sim):
    results = {}
    for backend in ("numpy", "cupy"):
        pre, post, attempts, d = _formation_experiment(sim, backend, True, seed=23)
        p_ok, observed, _ = _formation_chisquare(pre, post, attempts, d, P_FORM, SIGMA, True)
        assert p_ok > 0.01, backend
        results[backend] = observed
        sim.end()
    # and the two paths' formations per distance level are samples of one distribution
    table = np.vstack([results["numpy"], results["cupy"]])
    table = table[:, table.sum(axis=0) >= 10]
    assert stats.chi2_contingency(table).pvalue > 0.01


# --- 2: elimination below / above the weight threshold ----------------------------------------------------
def test_elimination_rates_below_and_above_threshold(sim):
    _setup(sim, seed=5)
    n = 40
    src = sim.Population(n, sim.SpikeSourceArray())
    tgt = sim.Population(n, sim.IF_curr_exp())
    weights = np.where((np.arange(n)[:, None] + np.arange(n)[None, :]) % 2 == 0, 0.05, 0.15)
    conns = [(i, j, weights[i, j], 1.0) for i in range(n) for j in range(n)]
    p_dep, p_pot = 0.8, 0.1
    syn = sim.StructuralPlasticityMechanism(
        elimination=sim.RandomByWeightElimination(threshold=0.1, prob_elim_depressed=p_dep,
                                                  prob_elim_potentiated=p_pot),
        partner_selection=sim.RandomSelection(), f_rew=16_000.0)
    prj = sim.Projection(src, tgt, sim.FromListConnector(conns, column_names=["weight", "delay"]), syn)
    before = prj.get("weight", format="array")
    np.testing.assert_allclose(before, weights)
    prj.record_rewiring(events=True)
    sim.run(100.0)
    counts = prj.rewiring_counts()
    n_attempts = counts["attempts"]
    assert n_attempts == 1600 and counts["formations"] == 0
    _, labels, pre, post = _events(prj)
    assert np.all(labels == "eliminated") and pre.size == counts["eliminations"]
    assert len(set(zip(pre.tolist(), post.tolist()))) == pre.size          # each synapse eliminated once
    eliminated_w = before[pre, post]
    n_pairs = n * n
    for w, p in ((0.05, p_dep), (0.15, p_pot)):
        k = int(np.count_nonzero(before == w))
        q = 1.0 - (1.0 - p / n_pairs) ** n_attempts                         # elimination probability
        got = int(np.count_nonzero(eliminated_w == w))
        sd = np.sqrt(k * q * (1 - q))
        assert abs(got - k * q) < 4 * sd, (w, got, k * q, sd)
    # survivors are exactly the initial synapses that were not eliminated, with their weights unchanged
    after = prj.get("weight", format="list")
    survivors = {(int(i), int(j)): w for i, j, w in after}
    gone = set(zip(pre.tolist(), post.tolist()))
    assert set(survivors) == {(i, j) for i in range(n) for j in range(n)} - gone
    assert all(survivors[(i, j)] == pytest.approx(weights[i, j]) for (i, j) in survivors)


# --- 3: self connections and duplicates -------------------------------------------------------------------
@pytest.mark.parametrize("allow_self", [False, True])
def test_self_connections_refused_on_lateral_projection(sim, allow_self):
    _setup(sim, seed=8)
    pop = sim.Population(25, sim.IF_curr_exp(), structure=Grid2D(dx=1.0, dy=1.0, fill_order="sequential"))
    syn = sim.StructuralPlasticityMechanism(
        formation=sim.DistanceDependentFormation(p_form_lateral=1.0, sigma_form_lateral=0.7),
        f_rew=20_000.0, allow_self_connections=allow_self, row_capacity=25)
    prj = sim.Projection(pop, pop, sim.FromListConnector([]), syn)
    sim.run(500.0)                                          # 10,000 attempts, 16 per pair
    pairs = _pairs(prj)
    counts = prj.rewiring_counts()
    n_self = sum(i == j for i, j in pairs)
    assert len(pairs) > 70                                  # neighbours (d = 1, p = 0.36) do form
    if allow_self:
        assert n_self == 25                                 # p = 1 at d = 0: each missed w.p. e^-16
    else:
        assert n_self == 0
        # every attempt that drew its own target as partner is refused: ~ attempts / 25
        expected = counts["attempts"] / 25
        assert abs(counts["rejected"] - expected) < 5 * np.sqrt(expected) + 50   # + in-batch duplicates


@pytest.mark.parametrize("with_replacement", [False, True])
def test_duplicates_only_with_replacement(sim, with_replacement):
    _setup(sim, seed=9)
    src = sim.Population(5, sim.SpikeSourceArray())
    tgt = sim.Population(5, sim.IF_curr_exp())
    syn = sim.StructuralPlasticityMechanism(
        formation=_constant_formation(sim, 1.0),
        elimination=sim.RandomByWeightElimination(threshold=1.0, prob_elim_depressed=0.2,
                                                  prob_elim_potentiated=0.2),
        f_rew=50_000.0, initial_weight=0.1, with_replacement=with_replacement, row_capacity=40)
    prj = sim.Projection(src, tgt, sim.FromListConnector([(0, 0, 0.1, 1.0)], column_names=["weight", "delay"]),
                         syn)
    prj.record_rewiring(events=True)
    sim.run(200.0)                                          # 10,000 attempts on 25 pairs
    counts = prj.rewiring_counts()
    multiplicity = Counter(_pairs(prj))
    assert counts["formations"] > 1000 and counts["eliminations"] > 1000
    if with_replacement:
        assert max(multiplicity.values()) > 1
    else:
        assert max(multiplicity.values()) == 1
        assert len(multiplicity) <= 25
        assert counts["rejected"] > 0                       # second formations of a pair within a batch
        assert _host(prj, _rows(prj).row_length).max() <= 5


def test_population_views_self_connections_and_event_indices(sim):
    """Views of one population: a lateral projection in the engine; `i == j` means the same neuron, and
    events carry projection-local indices, as Projection.get does."""
    _setup(sim, seed=12)
    pop = sim.Population(10, sim.IF_curr_exp())
    a, b = pop[0:5], pop[3:8]                              # neurons 3 and 4 are in both
    syn = sim.StructuralPlasticityMechanism(formation=_constant_formation(sim, 1.0), f_rew=20_000.0,
                                            allow_self_connections=False, row_capacity=10)
    prj = sim.Projection(a, b, sim.FromListConnector([]), syn)
    prj.record_rewiring(events=True)
    sim.run(20.0)                                           # 400 attempts on 25 pairs
    pairs = set(_pairs(prj))
    expected = {(i, j) for i in range(5) for j in range(5) if a.all_cells[i] != b.all_cells[j]}
    assert pairs == expected and len(expected) == 23
    _, labels, pre, post = _events(prj)
    assert set(zip(pre.tolist(), post.tolist())) == pairs and pre.size == 23
    assert prj.rewiring_counts()["rejected"] > 0


# --- 4: counts, signals, events and sizes agree -----------------------------------------------------------
def test_counts_signals_events_and_size_add_up(sim):
    _setup(sim, seed=21)
    src = sim.Population(30, sim.SpikeSourceArray(), structure=Line(dx=1.0))
    tgt = sim.Population(30, sim.IF_curr_exp(), structure=Line(dx=1.0))
    syn = sim.StructuralPlasticityMechanism(
        formation=sim.DistanceDependentFormation(p_form_forward=0.5, sigma_form_forward=5.0),
        elimination=sim.RandomByWeightElimination(threshold=0.1, prob_elim_depressed=0.3,
                                                  prob_elim_potentiated=0.3),
        f_rew=20_000.0, initial_weight=0.05, row_capacity=10, weight=0.05)
    prj = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.2, rng=NumpyRNG(seed=4)), syn)
    initial = Counter(_pairs(prj))
    size0 = len(prj)
    assert size0 == sum(initial.values()) > 100
    prj.record_rewiring(sampling_interval=10.0, events=True)
    sim.run(200.0)
    counts = prj.rewiring_counts()
    size1 = len(prj)
    assert counts["formations"] > 100 and counts["eliminations"] > 100 and counts["failed"] > 0
    assert size1 - size0 == counts["formations"] - counts["eliminations"]
    sig = _signals(prj)
    assert sorted(sig) == ["attempts", "eliminations", "failed", "formations", "size"]
    assert all(v.size == 20 for v in sig.values())
    assert sig["formations"].sum() == counts["formations"]
    assert sig["eliminations"].sum() == counts["eliminations"]
    assert sig["failed"].sum() == counts["failed"]
    assert sig["attempts"].sum() == counts["attempts"] == 4000
    np.testing.assert_array_equal(sig["attempts"], 200.0)
    assert sig["size"][-1] == size1
    # the size at each sample follows from the counts of its interval
    np.testing.assert_array_equal(np.diff(np.concatenate(([size0], sig["size"]))),
                                  sig["formations"] - sig["eliminations"])
    block = prj.get_rewiring_data()
    sizes = [s for s in block.segments[0].analogsignals if s.name == "size"][0]
    assert float(sizes.t_start.rescale("ms")) == pytest.approx(10.0)
    assert float(sizes.sampling_period.rescale("ms")) == pytest.approx(10.0)
    times, labels, pre, post = _events(prj)
    assert np.count_nonzero(labels == "formed") == counts["formations"]
    assert np.count_nonzero(labels == "eliminated") == counts["eliminations"]
    assert np.all(np.diff(times) >= 0) and times.min() >= 1.0 and times.max() <= 200.0
    # replaying the events on the initial connectivity gives the final connectivity
    replay = Counter(initial)
    for label, i, j in zip(labels, pre, post):
        if label == "formed":
            replay[(int(i), int(j))] += 1
        else:
            assert replay[(int(i), int(j))] > 0, (i, j)
            replay[(int(i), int(j))] -= 1
    assert +replay == Counter(_pairs(prj))
    # new synapses carry the initial weight and delay (min_delay = dt = 1 ms)
    conns = prj.get(["weight", "delay"], format="list")
    np.testing.assert_allclose([c[2] for c in conns], 0.05)
    np.testing.assert_allclose([c[3] for c in conns], 1.0)


# --- 5: full rows -------------------------------------------------------------------------------------------
def test_full_rows_refuse_formations(sim):
    _setup(sim, seed=31)
    capacity, n_pre, n_post = 3, 10, 50
    src = sim.Population(n_pre, sim.SpikeSourceArray())
    tgt = sim.Population(n_post, sim.IF_curr_exp())
    syn = sim.StructuralPlasticityMechanism(formation=_constant_formation(sim, 1.0), f_rew=10_000.0,
                                            initial_weight=0.1, row_capacity=capacity)
    prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn)
    prj.record_rewiring(sampling_interval=5.0)
    assert _rows(prj).capacity == capacity
    for _ in range(5):
        sim.run(10.0)
        assert _host(prj, _rows(prj).row_length).max() <= capacity
    counts = prj.rewiring_counts()
    assert counts["failed"] > 100                         # ~ 500 attempts, 30 slots
    assert counts["formations"] == len(prj) == n_pre * capacity
    per_row = Counter(i for i, _ in _pairs(prj))
    assert max(per_row.values()) == capacity and len(per_row) == n_pre
    assert _signals(prj)["failed"].sum() == counts["failed"]
    assert _rows(prj).failed_additions == counts["failed"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_in_degree_caps_every_target_and_eliminations_free_places(backend, sim):
    """Formation with p = 1 and random pairs fills every target to max_in_degree and no further, however
    many formations a batch holds for one target; eliminations (p = 0.5 on every synapse) free places
    that later formations take; the counts add up."""
    _setup(sim, seed=37, backend=backend)
    cap, n_pre, n_post = 4, 40, 12
    src = sim.Population(n_pre, sim.SpikeSourceArray())
    tgt = sim.Population(n_post, sim.IF_curr_exp())
    initial = [(i, 0, 0.1, 1.0) for i in range(6)]          # target 0 starts above the cap
    syn = sim.StructuralPlasticityMechanism(formation=_constant_formation(sim, 1.0), f_rew=20_000.0,
                                            initial_weight=0.1, row_capacity=n_post, max_in_degree=cap)
    prj = sim.Projection(src, tgt, sim.FromListConnector(initial), syn)
    sim.run(20.0)                                           # 20 attempts per 1 ms batch, 400 in all
    counts = prj.rewiring_counts()
    in_degree = Counter(j for _, j in _pairs(prj))
    assert in_degree[0] == 6                                # a cap refuses formations, removes nothing
    assert all(in_degree[j] == cap for j in range(1, n_post))
    assert counts["formations"] == cap * (n_post - 1) and counts["target_full"] > 200
    # the rest of the attempts drew a pair that already holds a synapse (no elimination rule here)
    assert 0.8 * counts["attempts"] < counts["formations"] + counts["target_full"] + counts["rejected"] \
        <= counts["attempts"]
    # now eliminate: every attempt on a synapse removes it with p = 0.5; places refill up to the cap
    elim = sim.StructuralPlasticityMechanism(
        formation=_constant_formation(sim, 1.0), elimination=sim.RandomByWeightElimination(1.0, 0.5, 0.5),
        f_rew=20_000.0, initial_weight=0.1, row_capacity=n_post, max_in_degree=cap)
    prj2 = sim.Projection(src, tgt, sim.FromListConnector([(i, j, 0.1, 1.0) for i, j in _pairs(prj)]), elim)
    sim.run(200.0)
    c2 = prj2.rewiring_counts()
    assert c2["eliminations"] > 100 and c2["formations"] > 100
    assert len(prj2) - (cap * (n_post - 1) + 6) == c2["formations"] - c2["eliminations"]
    in_degree2 = Counter(j for _, j in _pairs(prj2))
    assert max(in_degree2[j] for j in range(1, n_post)) <= cap and in_degree2[0] <= 6


# --- 6: user rules, on both array paths -------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_user_formation_rule_support_is_respected(sim, backend):
    class EvenForwardRecent(sim.FormationRule):
        """Only even targets, only sources ahead along x, only sources that fired in the last 20 ms."""

        def probability(self, c):
            xp = c.xp
            ok = (c.post % 2 == 0) & (c.displacement[:, 0] > 0) & (c.time_since_pre_spike < 20.0)
            return xp.where(ok, 0.9, 0.0)

    dt = 0.5
    _setup(sim, seed=41, dt=dt, backend=backend)
    src = sim.Population(20, sim.SpikeSourcePoisson(rate=20.0), structure=Line(dx=1.0))
    tgt = sim.Population(20, sim.IF_curr_exp(), structure=Line(dx=1.0, x0=0.5))
    syn = sim.StructuralPlasticityMechanism(formation=EvenForwardRecent(), f_rew=20_000.0, initial_weight=0.1,
                                            row_capacity=20)
    prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn)
    prj.record_rewiring(events=True)
    src.record("spikes")
    sim.run(300.0)
    times, labels, pre, post = _events(prj)
    assert pre.size > 50
    x_pre, x_post = src.positions[0], tgt.positions[0]
    assert np.all(post % 2 == 0)
    assert np.all(x_pre[pre] > x_post[post])
    spikes = [np.asarray(st.rescale("ms").magnitude) for st in src.get_data().segments[0].spiketrains]
    for t, i in zip(times, pre):
        s = spikes[i]
        assert np.any((s <= t + 1e-9) & (s > t - 20.0 - dt - 1e-9)), (t, i)   # fired recently (+- a step)
    assert len(set(zip(pre.tolist(), post.tolist()))) == pre.size == len(prj)     # no pair formed twice


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_elimination_rule_reads_weights(sim, backend):
    class HeavyOnly(sim.EliminationRule):
        def probability(self, c):
            return c.xp.where(c.weight > 0.1, 0.7, 0.0)

    _setup(sim, seed=43, backend=backend)
    n = 20
    src = sim.Population(n, sim.SpikeSourceArray())
    tgt = sim.Population(n, sim.IF_curr_exp())
    w = np.where(np.arange(n)[:, None] < np.arange(n)[None, :], 0.15, 0.05)
    conns = [(i, j, w[i, j], 1.0) for i in range(n) for j in range(n)]
    syn = sim.StructuralPlasticityMechanism(elimination=HeavyOnly(), f_rew=40_000.0)
    prj = sim.Projection(src, tgt, sim.FromListConnector(conns, column_names=["weight", "delay"]), syn)
    prj.record_rewiring(events=True)
    sim.run(50.0)                                            # 2000 attempts on 400 pairs
    _, labels, pre, post = _events(prj)
    assert np.all(labels == "eliminated")
    assert np.all(w[pre, post] == 0.15)
    heavy = int(np.count_nonzero(w == 0.15))
    q = 1.0 - (1.0 - 0.7 / (n * n)) ** 2000
    assert abs(pre.size - heavy * q) < 4 * np.sqrt(heavy * q * (1 - q))
    survivors = set(_pairs(prj))
    assert {(i, j) for i in range(n) for j in range(n) if w[i, j] == 0.05} <= survivors


# --- 7: partner selection by recent spikes ----------------------------------------------------------------
def test_last_neuron_selection_only_picks_sources_that_fired(sim):
    _setup(sim, seed=51, dt=0.1)
    n_src = 10
    # sources 0..4 fire every 0.5 ms from t = 60 ms, sources 5..9 never
    times = [np.arange(60.0, 100.0, 0.5) + 0.1 * i if i < 5 else [] for i in range(n_src)]
    src = sim.Population(n_src, sim.SpikeSourceArray(spike_times=times))
    tgt = sim.Population(20, sim.IF_curr_exp())
    syn = sim.StructuralPlasticityMechanism(formation=_constant_formation(sim, 1.0),
                                            partner_selection=sim.LastNeuronSelection(), f_rew=10_000.0,
                                            rewiring_interval=1.0, initial_weight=0.0, row_capacity=20)
    prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn)
    prj.record_rewiring(events=True)
    sim.run(50.0)                                            # nobody fired yet
    counts = prj.rewiring_counts()
    assert counts["attempts"] == 500
    assert counts["no_partner"] == counts["attempts"] and counts["formations"] == 0 and len(prj) == 0
    sim.run(50.0)
    counts = prj.rewiring_counts()
    _, _, pre, _ = _events(prj)
    assert set(pre.tolist()) == {0, 1, 2, 3, 4}
    assert all(i < 5 for i, _ in _pairs(prj))
    # the batches ending at 51..59 ms see no spike (their attempts have no partner); the batch ending at
    # 60 ms sees source 0's spike at 60.0 ms, and every later batch sees several
    assert counts["no_partner"] == 500 + 9 * 10


def test_last_neuron_selection_sees_spikes_of_every_step_of_the_batch(sim):
    _setup(sim, seed=52, dt=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[np.arange(1.0, 50.0, 1.0), []]))
    tgt = sim.Population(5, sim.IF_curr_exp())
    syn = sim.StructuralPlasticityMechanism(formation=_constant_formation(sim, 1.0),
                                            partner_selection=sim.LastNeuronSelection(), f_rew=5_000.0,
                                            rewiring_interval=1.0, row_capacity=5)
    prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn)
    sim.run(40.0)                                  # source 0 fires in every step; the window is one step
    counts = prj.rewiring_counts()
    assert counts["no_partner"] == 0
    assert len(prj) == 5


def test_time_since_pre_spike_matches_recorded_spikes(sim):
    seen = []
    _setup(sim, seed=53, dt=1.0)

    class Spy(sim.FormationRule):
        def probability(self, c):
            seen.append((np.full(c.pre.shape, c.t), np.asarray(c.pre), np.asarray(c.time_since_pre_spike)))
            return np.zeros(c.pre.shape[0])

    spike_times = [[3.0, 17.0, 40.0], [8.0, 9.0], [25.0]]
    src = sim.Population(3, sim.SpikeSourceArray(spike_times=spike_times))
    tgt = sim.Population(3, sim.IF_curr_exp())
    syn = sim.StructuralPlasticityMechanism(formation=Spy(), f_rew=5_000.0)
    sim.Projection(src, tgt, sim.FromListConnector([]), syn)
    src.record("spikes")
    sim.run(50.0)
    recorded = [np.asarray(st.rescale("ms").magnitude) for st in src.get_data().segments[0].spiketrains]
    for i in range(3):
        np.testing.assert_allclose(recorded[i], spike_times[i])
    t, pre, since = (np.concatenate(x) for x in zip(*seen))
    expected = np.array([t_ - max([s for s in recorded[i] if s <= t_ + 1e-9], default=-np.inf)
                         for t_, i in zip(t, pre)])
    assert np.isinf(since).sum() == np.isinf(expected).sum() > 0
    finite = np.isfinite(expected)
    np.testing.assert_allclose(since[finite], expected[finite])


# --- 8: STDP with rewiring ----------------------------------------------------------------------------------
def test_stdp_with_rewiring_new_synapses_start_at_initial_weight_and_stay_bounded(sim):
    _setup(sim, seed=61, dt=0.1)
    w_min, w_max, w0 = 0.0, 0.5, 0.25
    src = sim.Population(30, sim.SpikeSourcePoisson(rate=40.0, start=200.0))
    tgt = sim.Population(10, sim.IF_curr_exp(tau_refrac=2.0))
    drive = sim.Population(10, sim.SpikeSourcePoisson(rate=40.0))
    sim.Projection(drive, tgt, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0, delay=0.1))
    syn = sim.StructuralPlasticityMechanism(
        formation=_constant_formation(sim, 0.5),
        elimination=sim.RandomByWeightElimination(threshold=0.05, prob_elim_depressed=0.5,
                                                  prob_elim_potentiated=0.0),
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.05, A_minus=0.06),
        weight_dependence=sim.AdditiveWeightDependence(w_min=w_min, w_max=w_max),
        f_rew=2_000.0, initial_weight=w0, row_capacity=10)
    prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn)
    prj.record_rewiring(events=True)
    tgt.record("spikes")
    sim.run(200.0)                                  # sources silent: STDP cannot act on pre-post pairs
    first = prj.get("weight", format="list")
    assert len(first) > 50
    np.testing.assert_array_equal([c[2] for c in first], w0)
    formed_early = {(int(i), int(j)) for i, j, _ in first}
    sim.run(800.0)
    conns = prj.get("weight", format="list")
    w = np.array([c[2] for c in conns])
    assert np.all(np.isfinite(w))
    assert np.all((w >= w_min - 1e-12) & (w <= w_max + 1e-12))
    assert np.any(np.abs(w - w0) > 0.01)                            # STDP acted
    changed = {(int(i), int(j)) for i, j, x in conns if abs(x - w0) > 1e-9}
    assert changed & formed_early                                   # on synapses formed mid-run...
    counts = prj.rewiring_counts()
    times, labels, pre, post = _events(prj)
    late = {(int(i), int(j)) for t, lab, i, j in zip(times, labels, pre, post) if lab == "formed" and t > 200}
    assert late and changed & late                                 # ...also after the sources started
    assert counts["eliminations"] > 0                                # depressed synapses below threshold go
    assert sum(np.asarray(st).size for st in tgt.get_data().segments[0].spiketrains) > 100


@pytest.mark.parametrize("a_plus, survives", [(0.1, True), (0.001, False)])
def test_elimination_sees_potentiation_owed_since_the_last_presynaptic_spike(sim, a_plus, survives):
    """STDP applies the potentiation of postsynaptic spikes lazily, at the synapse's next presynaptic spike.
    The elimination rule must see the weight as of the attempt: one synapse stored at 0.09 (threshold 0.1,
    eliminated surely below it, never above), one presynaptic spike at 1 ms, then the target fires at
    2-4 ms. With A_plus 0.1 the owed potentiation (about 0.018 per post spike: A_plus w_max e^(-dt/20 ms))
    lifts it above 0.1 before the first rewiring batch (5 ms) and it must survive every attempt; with
    A_plus 0.001 it stays below and goes at the first batch. The stored weight stays 0.09 until the next
    pre spike."""
    _setup(sim, seed=67, dt=0.1)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]))
    tgt = sim.Population(1, sim.IF_curr_exp(tau_refrac=0.5))
    sim.DCSource(amplitude=40.0, start=2.0, stop=4.0).inject_into(tgt)
    syn = sim.StructuralPlasticityMechanism(
        elimination=sim.RandomByWeightElimination(threshold=0.1, prob_elim_depressed=1.0,
                                                  prob_elim_potentiated=0.0),
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=a_plus, A_minus=0.0),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.2),
        f_rew=1000.0, rewiring_interval=5.0, weight=0.09, delay=0.1, row_capacity=2)
    prj = sim.Projection(src, tgt, sim.AllToAllConnector(), syn)
    tgt.record("spikes")
    sim.run(30.0)
    n_post = np.asarray(tgt.get_data().segments[0].spiketrains[0]).size
    assert n_post >= 2                                       # the target fired after the pre spike
    counts = prj.rewiring_counts()
    assert counts["attempts"] == 30                          # 5 per batch, every one on the only pair
    if survives:
        assert counts["eliminations"] == 0
        np.testing.assert_allclose(prj.get("weight", format="array"), [[0.09]])   # still owed, not stored
    else:
        assert counts["eliminations"] == 1
        assert len(prj) == 0


# --- 10: RaggedRows.remove_at against remove_synapses -----------------------------------------------------
def test_remove_at_matches_remove_synapses(backend):
    xp = backend.xp
    rng = np.random.default_rng(2024)
    dtypes = {"weight": np.float64, "delay": np.int32, "uid": np.int64}
    for case in range(60):
        n_pre, n_post, capacity = int(rng.integers(1, 12)), int(rng.integers(1, 300)), int(rng.integers(1, 9))
        lengths = rng.integers(0, capacity + 1, n_pre)
        pre = np.repeat(np.arange(n_pre), lengths)
        post = rng.integers(0, n_post, pre.size)
        values = {"weight": rng.normal(size=pre.size), "delay": rng.integers(1, 9, pre.size),
                  "uid": np.arange(pre.size)}
        a = RaggedRows.from_coo(backend, n_pre, n_post, pre, post, values, dtypes, capacity=capacity)
        b = RaggedRows.from_coo(backend, n_pre, n_post, pre, post, values, dtypes, capacity=capacity)
        k = int(rng.integers(0, 3 * capacity + 1))
        rows = rng.integers(0, n_pre, k)
        slots = rng.integers(0, capacity, k)                  # past row_length too: ignored
        if k:
            rows = np.concatenate([rows, rows[: k // 2]])     # repeated addresses count once
            slots = np.concatenate([slots, slots[: k // 2]])
        mask = np.zeros((n_pre, capacity), bool)
        mask[rows, slots] = True
        expected_removed = int((mask & (np.arange(capacity)[None, :] < lengths[:, None])).sum())
        before_ind, before = backend.to_host(a.ind).copy(), {n: backend.to_host(v).copy() for n, v in a.vars.items()}
        assert a.remove_at(xp.asarray(rows), xp.asarray(slots)) == expected_removed, case
        assert b.remove_synapses(xp.asarray(mask)) == expected_removed, case
        la, lb = backend.to_host(a.row_length), backend.to_host(b.row_length)
        np.testing.assert_array_equal(la, lb, err_msg=str(case))
        np.testing.assert_array_equal(la, lengths - (mask & (np.arange(capacity) < lengths[:, None])).sum(1))
        live = np.arange(capacity)[None, :] < la[:, None]
        np.testing.assert_array_equal(backend.to_host(a.ind)[live], backend.to_host(b.ind)[live], err_msg=str(case))
        for name in dtypes:
            np.testing.assert_array_equal(backend.to_host(a.vars[name])[live], backend.to_host(b.vars[name])[live],
                                          err_msg=f"{case} {name}")
        # rows not named are untouched, slot for slot (stale slots included)
        untouched = np.setdiff1d(np.arange(n_pre), rows)
        np.testing.assert_array_equal(backend.to_host(a.ind)[untouched], before_ind[untouched])
        for name in dtypes:
            np.testing.assert_array_equal(backend.to_host(a.vars[name])[untouched], before[name][untouched])
        # the survivors are exactly the unmasked synapses
        uid_after = np.sort(backend.to_host(a.vars["uid"])[live])
        keep = ~(mask & (np.arange(capacity)[None, :] < lengths[:, None]))
        uid_grid = np.full((n_pre, capacity), -1)
        uid_grid[pre, np.arange(pre.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)] = values["uid"]
        np.testing.assert_array_equal(uid_after, np.sort(uid_grid[keep & (uid_grid >= 0)]))
    assert a.remove_at(xp.zeros(0, dtype=xp.int64), xp.zeros(0, dtype=xp.int64)) == 0


# --- 11: bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, error, name", [
    (lambda s: s.StructuralPlasticityMechanism(f_rew=-1), ValueError, "f_rew"),
    (lambda s: s.StructuralPlasticityMechanism(row_capacity=0), ValueError, "row_capacity"),
    (lambda s: s.StructuralPlasticityMechanism(row_capacity=2.5), ValueError, "row_capacity"),
    (lambda s: s.StructuralPlasticityMechanism(formation="x"), TypeError, "formation"),
    (lambda s: s.StructuralPlasticityMechanism(elimination=s.DistanceDependentFormation()), TypeError,
     "elimination"),
    (lambda s: s.StructuralPlasticityMechanism(partner_selection=3), TypeError, "partner_selection"),
    (lambda s: s.StructuralPlasticityMechanism(timing_dependence=s.SpikePairRule()), ValueError,
     "weight_dependence"),
    (lambda s: s.StructuralPlasticityMechanism(rewiring_interval=0.0), ValueError, "rewiring_interval"),
    (lambda s: s.StructuralPlasticityMechanism(initial_weight=float("nan")), ValueError, "initial_weight"),
    (lambda s: s.StructuralPlasticityMechanism(with_replacement="yes"), ValueError, "with_replacement"),
    (lambda s: s.StructuralPlasticityMechanism(max_in_degree=0), ValueError, "max_in_degree"),
    (lambda s: s.StructuralPlasticityMechanism(max_in_degree=2.5), ValueError, "max_in_degree"),
    (lambda s: s.DistanceDependentFormation(p_form_forward=1.5), ValueError, "p_form_forward"),
    (lambda s: s.DistanceDependentFormation(sigma_form_lateral=0.0), ValueError, "sigma_form_lateral"),
    (lambda s: s.RandomByWeightElimination(threshold=float("nan")), ValueError, "threshold"),
    (lambda s: s.RandomByWeightElimination(threshold=0.1, prob_elim_depressed=-0.1), ValueError,
     "prob_elim_depressed"),
    (lambda s: s.LastNeuronSelection(window=0), ValueError, "window"),
])
def test_bad_parameters_are_refused_by_name(sim, make, error, name):
    sim.setup(timestep=0.1)
    with pytest.raises(error, match=name):
        make(sim)


def test_record_rewiring_refuses_static_projections_and_off_grid_intervals(sim):
    from pyNN import errors
    sim.setup(timestep=0.1, rng_seed=1)
    src = sim.Population(3, sim.SpikeSourceArray())
    tgt = sim.Population(3, sim.IF_curr_exp())
    static = sim.Projection(src, tgt, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1))
    with pytest.raises(errors.RecordingError):
        static.record_rewiring()
    with pytest.raises(errors.RecordingError):
        static.rewiring_counts()
    syn = sim.StructuralPlasticityMechanism(formation=sim.DistanceDependentFormation(), f_rew=100.0)
    prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn)
    with pytest.raises(errors.NothingToWriteError):
        prj.get_rewiring_data()
    with pytest.raises(ValueError, match="sampling_interval"):
        prj.record_rewiring(sampling_interval=0.15)
    with pytest.raises(ValueError, match="sampling_interval"):
        prj.record_rewiring(sampling_interval=0.0)
    prj.record_rewiring(sampling_interval=0.2)                 # a multiple of dt is fine


# --- 12: reset ------------------------------------------------------------------------------------------------
def test_reset_keeps_connectivity_and_opens_a_new_segment(sim):
    _setup(sim, seed=71)
    src = sim.Population(20, sim.SpikeSourcePoisson(rate=20.0))
    tgt = sim.Population(20, sim.IF_curr_exp())
    syn = sim.StructuralPlasticityMechanism(
        formation=_constant_formation(sim, 0.5),
        elimination=sim.RandomByWeightElimination(threshold=0.2, prob_elim_depressed=0.3,
                                                  prob_elim_potentiated=0.3),
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.01),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.5),
        f_rew=5_000.0, initial_weight=0.3, row_capacity=20, weight=0.3)
    prj = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.1, rng=NumpyRNG(seed=3)), syn)
    prj.record_rewiring(sampling_interval=10.0, events=True)
    sim.run(100.0)
    before = sorted(prj.get(["weight", "delay"], format="list"))
    size_at_reset = len(prj)
    sig0, ev0 = _signals(prj), _events(prj)
    assert ev0[1].size > 50
    sim.reset()
    assert sim.get_current_time() == 0.0
    assert sorted(prj.get(["weight", "delay"], format="list")) == before          # connectivity and weights
    sim.run(50.0)
    block = prj.get_rewiring_data()
    assert len(block.segments) == 2
    sig0_again, ev0_again = _signals(prj, 0), _events(prj, 0)
    for name in sig0:
        np.testing.assert_array_equal(sig0_again[name], sig0[name])
    for a, b in zip(ev0, ev0_again):
        np.testing.assert_array_equal(a, b)
    sig1 = _signals(prj, 1)
    assert sig1["size"].size == 5 and sig1["attempts"].sum() == 250
    seg1_size = [s for s in block.segments[1].analogsignals if s.name == "size"][0]
    assert float(seg1_size.t_start.rescale("ms")) == pytest.approx(10.0)
    assert sig1["size"][0] - size_at_reset == sig1["formations"][0] - sig1["eliminations"][0]
    assert sig1["size"][-1] == len(prj)
    times1 = _events(prj, 1)[0]
    assert times1.size > 0 and times1.max() <= 50.0
    counts = prj.rewiring_counts()                               # totals since creation
    assert counts["attempts"] == 750
    assert counts["formations"] == sig0["formations"].sum() + sig1["formations"].sum()


# --- 13: a long run -----------------------------------------------------------------------------------------
def test_long_run_reaches_a_plateau_within_capacity(sim):
    """600 s of rewiring on a lateral projection of 100 silent neurons. Each row is a birth-death chain:
    births p_f (n - L) f_rew / N while L < capacity, deaths p_e L f_rew / N, so the stationary row length is
    Binomial(n, p_f / (p_f + p_e)) truncated at the capacity, with relaxation time N / ((p_f + p_e) f_rew)."""
    _setup(sim, seed=81)
    n, capacity, p_f, p_e, f_rew = 100, 45, 0.5, 0.5, 1_000.0
    pop = sim.Population(n, sim.IF_curr_exp())
    syn = sim.StructuralPlasticityMechanism(
        formation=sim.DistanceDependentFormation(p_form_lateral=p_f, sigma_form_lateral=1e6),
        elimination=sim.RandomByWeightElimination(threshold=1.0, prob_elim_depressed=p_e,
                                                  prob_elim_potentiated=p_e),
        f_rew=f_rew, rewiring_interval=50.0, initial_weight=0.0, row_capacity=capacity)
    prj = sim.Projection(pop, pop, sim.FromListConnector([]), syn)
    prj.record_rewiring(sampling_interval=1000.0)
    rows = _rows(prj)
    sizes, longest, rss = [], [], []
    for chunk in range(10):
        sim.run(60_000.0)
        sizes.append(len(prj))
        longest.append(int(_host(prj, rows.row_length).max()))
        rss.append(_rss_mb())
    assert max(longest) <= capacity
    assert rows.ind.shape == (n, capacity)                          # storage never grew
    trunc = stats.binom(n, p_f / (p_f + p_e))
    ks = np.arange(capacity + 1)
    pmf = trunc.pmf(ks) / trunc.cdf(capacity)
    mean = n * (ks * pmf).sum()
    sd = np.sqrt(n * ((ks - mean / n) ** 2 * pmf).sum())
    tail = np.asarray(sizes[5:])
    assert np.all(np.abs(tail - mean) < 5 * sd), (sizes, mean, sd)
    assert tail.max() - tail.min() < 10 * sd
    # chunks are 60 s apart, six relaxation times: the last five are independent samples of the plateau
    assert abs(tail.mean() - mean) < 4 * sd / np.sqrt(tail.size), (sizes, mean, sd)
    assert mean < n * capacity                                      # the plateau is not simply "all full"
    counts = prj.rewiring_counts()
    assert counts["attempts"] == 600_000
    assert counts["failed"] > 0 and counts["formations"] > 10_000
    sig = _signals(prj)
    assert sig["size"].size == 600 and sig["size"][-1] == sizes[-1]
    assert sig["failed"].sum() == counts["failed"]
    assert rss[-1] - rss[1] < 20.0, rss


# --- regressions: bugs found while writing these tests ---------------------------------------------------
# ring buffers must be sized for the rewirer's initial delay (Network.n_slots <- SynapseGroup.max_delay_steps)


@pytest.mark.parametrize("initial_delay, stdp", [
    (None, False),                                    # empty start
    (None, True),
    (5.0, False),
    (5.0, True),
])
def test_formed_synapses_fit_the_ring_buffer(sim, initial_delay, stdp):
    """A synapse formed on an empty projection delivers a spike at spike time + its delay, as the same
    synapse made by a connector does."""
    def onset(structural):
        _setup(sim, seed=91)
        src = sim.Population(1, sim.SpikeSourceArray(spike_times=[[20.0]]))
        tgt = sim.Population(1, sim.IF_curr_exp(tau_syn_E=2.0))
        weights = dict(timing_dependence=sim.SpikePairRule(A_plus=0.0, A_minus=0.0),
                       weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=2.0)) if stdp else {}
        if structural:
            syn = sim.StructuralPlasticityMechanism(formation=_constant_formation(sim, 1.0), f_rew=10_000.0,
                                                    initial_weight=1.0, initial_delay=initial_delay,
                                                    row_capacity=2, **weights)
            prj = sim.Projection(src, tgt, sim.FromListConnector([]), syn)
        else:
            sim.Projection(src, tgt, sim.AllToAllConnector(),
                           sim.StaticSynapse(weight=1.0, delay=initial_delay or 1.0))
        tgt.record("v")
        sim.run(40.0)
        if structural:
            assert prj.get("delay", format="list")[0][2] == (initial_delay or 1.0)
        v = np.asarray(tgt.get_data().segments[0].analogsignals[0]).ravel()
        sim.end()
        return int(np.nonzero(v > v[0] + 1e-6)[0][0])

    assert onset(structural=True) == onset(structural=False)


def test_array_weight_is_accepted(sim):
    _setup(sim, seed=92)
    w = np.array([[0.05, 0.15, 0.05], [0.15, 0.05, 0.15]])
    syn = sim.StructuralPlasticityMechanism(elimination=sim.RandomByWeightElimination(threshold=0.1), weight=w)
    prj = sim.Projection(sim.Population(2, sim.SpikeSourceArray()), sim.Population(3, sim.IF_curr_exp()),
                         sim.AllToAllConnector(), syn)
    np.testing.assert_allclose(prj.get("weight", format="array"), w)


def test_record_rewiring_on_static_projection_explains_itself(sim):
    from pyNN import errors
    sim.setup(timestep=0.1)
    static = sim.Projection(sim.Population(2, sim.SpikeSourceArray()), sim.Population(2, sim.IF_curr_exp()),
                            sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1))
    with pytest.raises(errors.RecordingError) as info:
        static.record_rewiring()
    assert "StructuralPlasticityMechanism" in str(info.value)
