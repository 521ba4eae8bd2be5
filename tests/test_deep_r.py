"""DEEP R at engine level: fixed signs, dormant synapses removed and as many formed at random free positions.

    sign s, weight w (w = s theta, theta >= 0)         after rewire (capacity 3, n_post 4)
    pre 0: [ 2(+, .3)  0(-, +.1)  . ]                   0 is dormant (s w < 0): removed; one synapse formed at a
    pre 1: [ 1(-,-.2)  3(+,  .0)  2(+, .1) ]            free position, e.g. (0, 1) or (0, 0) again, never in
                                                        the full row 1; w = 0, s = +-1, delay given, m = v = 0

Every synapse carries an "id" that moves with it, so the tests can follow each one through the updates.
"""

import numpy as np
import pytest
from scipy import stats

from pynn_sparsegpu.engine.connectivity import RaggedRows
from pynn_sparsegpu.engine.learning import deep_r
from pynn_sparsegpu.engine.learning.deep_r import DeepR

DTYPES = {"weight": np.float64, "delay": np.int32, "sign": np.float64, "m": np.float64, "v": np.float64,
          "id": np.int64}
DELAY = 3


def seeded(backend, seed):
    return backend.rng(np.random.SeedSequence(seed))


def build(backend, n_pre, n_post, pre, post, weight, capacity, rng):
    """RaggedRows from host coordinates; sign = sign(weight), ids 1..n, non-zero delay and optimiser state."""
    n = len(pre)
    values = {"weight": weight, "sign": np.where(weight < 0, -1.0, 1.0), "delay": rng.integers(1, 6, n),
              "m": rng.normal(size=n) + 5.0, "v": rng.random(n) + 1.0, "id": np.arange(1, n + 1)}
    return RaggedRows.from_coo(backend, n_pre, n_post, pre, post, values, DTYPES, capacity=capacity)


def random_layout(rng, n_pre, n_post, probability, no_self=False):
    connected = rng.random((n_pre, n_post)) < probability
    if no_self:
        np.fill_diagonal(connected, False)
    return np.nonzero(connected)


def make_dormant(backend, rows, pre_post):
    """Flip the weight of the synapses at the given (pre, post) pairs to the wrong side of zero."""
    xp = backend.xp
    r, s = rows.synapse_slots()
    keys = backend.to_host(r * rows.n_post + rows.ind[r, s].astype(xp.int64))
    hit = np.isin(keys, [p * rows.n_post + q for p, q in pre_post])
    r, s = r[xp.asarray(hit)], s[xp.asarray(hit)]
    rows.vars["weight"][r, s] = -0.5 * rows.vars["sign"][r, s]


def check_rows(rows, pre, post, forbid_self):
    lengths = np.bincount(pre, minlength=rows.n_pre)
    assert lengths.max(initial=0) <= rows.capacity
    keys = pre * rows.n_post + post
    assert np.unique(keys).size == keys.size, "duplicate (pre, post) pairs"
    if forbid_self:
        assert not np.any(pre == post), "self pair formed"


# --- invariants over a long training run -------------------------------------------------------------------
@pytest.mark.parametrize("n_pre, n_post, same_population, allow_self",
                         [(40, 50, False, True), (40, 40, True, False)])
def test_invariants_at_every_update(backend, n_pre, n_post, same_population, allow_self):
    xp = backend.xp
    host_rng = np.random.default_rng(7)
    pre, post = random_layout(host_rng, n_pre, n_post, 0.1, no_self=not allow_self)
    theta = host_rng.uniform(0.0, 0.1, pre.size)
    capacity = 2 * int(np.bincount(pre, minlength=n_pre).max())
    rows = build(backend, n_pre, n_post, pre, post, theta * np.where(host_rng.random(pre.size) < 0.5, 1, -1),
                 capacity, host_rng)
    rows.vars["sign"] = DeepR.initial_signs(rows.vars["weight"], seeded(backend, 1), xp)
    rule = DeepR(l1=0.01, temperature=1e-4, allow_self_connections=allow_self)
    rng, lr = seeded(backend, 2), 0.02
    n_synapses = pre.size
    _, _, values = rows.to_coo()
    births = {int(i): (int(p), int(q), float(s)) for p, q, i, s in zip(pre, post, values["id"], values["sign"])}
    next_id, formed_signs = n_synapses + 1, []

    for update in range(200):
        grad = rng.standard_normal(rows.vars["weight"].shape)
        g = rule.penalise(grad, rows.vars["sign"])
        rows.vars["m"] = 0.9 * rows.vars["m"] + 0.1 * g
        rows.vars["v"] = 0.999 * rows.vars["v"] + 0.001 * g * g
        rows.vars["weight"] = rule.perturb(rows.vars["weight"] - lr * g, rows.vars["sign"], lr, rng)
        _, _, before = rows.to_coo()
        dormant_ids = set(before["id"][before["sign"] * before["weight"] < 0].tolist())

        result = rule.rewire(rows, rng, same_population, {"delay": DELAY})

        assert result == {"dormant": len(dormant_ids), "formed": len(dormant_ids), "failed": 0}, update
        pre, post, after = rows.to_coo()
        assert pre.size == n_synapses
        assert np.array_equal(backend.to_host(rows.row_length), np.bincount(pre, minlength=n_pre))
        check_rows(rows, pre, post, forbid_self=same_population and not allow_self)
        assert np.all(after["sign"] * after["weight"] >= 0)
        old = after["id"] != 0
        assert set(after["id"][old].tolist()) == set(before["id"].tolist()) - dormant_ids
        for p, q, i, s in zip(pre[old], post[old], after["id"][old], after["sign"][old]):
            assert births[int(i)] == (p, q, s), f"synapse {i} changed its pair or sign"
        new = ~old
        assert np.count_nonzero(new) == len(dormant_ids)
        assert np.all(after["weight"][new] == 0) and np.all(after["delay"][new] == DELAY)
        assert np.all(after["m"][new] == 0) and np.all(after["v"][new] == 0)
        assert set(np.unique(after["sign"][new]).tolist()) <= {-1.0, 1.0}
        formed_signs.extend(after["sign"][new].tolist())
        # give the new synapses their ids
        r, s = rows.synapse_slots()
        fresh = rows.vars["id"][r, s] == 0
        k = int(np.count_nonzero(new))
        rows.vars["id"][r[fresh], s[fresh]] = xp.arange(next_id, next_id + k)
        for i, p, q, sg in zip(range(next_id, next_id + k), pre[new], post[new], after["sign"][new]):
            births[i] = (p, q, sg)
        next_id += k

    n = len(formed_signs)
    assert n > 1000, f"only {n} synapses were rewired in 200 updates"
    assert abs(np.sum(np.array(formed_signs) > 0) - n / 2) < 4 * np.sqrt(n) / 2


# --- uniformity of the new positions ----------------------------------------------------------------------
def marginal_p(positions, free_mask, axis):
    """Chi-square p-value of the observed marginal of `positions` against uniform over free_mask."""
    observed = np.bincount(positions, minlength=free_mask.shape[axis])
    share = free_mask.sum(axis=1 - axis).astype(float)
    expected = observed.sum() * share / share.sum()
    used = expected > 0
    assert observed[~used].sum() == 0, "a position without free room was chosen"
    assert expected[used].min() >= 5
    return stats.chisquare(observed[used], expected[used]).pvalue


@pytest.mark.parametrize("density, n_dormant", [(0.3, 10), (0.92, 10)], ids=["draws", "enumeration"])
def test_new_positions_are_uniform_over_free_positions(backend, density, n_dormant):
    """~430 free positions (random draws) or ~120 (all enumerated), 3000 new synapses in 300 calls."""
    n_pre, n_post, calls = 20, 30, 300
    host_rng = np.random.default_rng(11)
    i, j = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
    probability = density * (0.5 + i / n_pre) * (0.6 + 0.8 * j / n_post)    # uneven rows and columns
    pre, post = np.nonzero(host_rng.random((n_pre, n_post)) < np.minimum(probability, 0.99))
    weight = host_rng.uniform(0.01, 0.1, pre.size)
    dormant = host_rng.choice(pre.size, n_dormant, replace=False)
    free = np.ones((n_pre, n_post), bool)
    free[pre, post] = False
    free[pre[dormant], post[dormant]] = True                    # freed by the removal
    rule, rng = DeepR(), seeded(backend, 3)
    new_pre, new_post = [], []
    for _ in range(calls):
        rows = build(backend, n_pre, n_post, pre, post, weight, n_post, host_rng)
        make_dormant(backend, rows, zip(pre[dormant], post[dormant]))
        assert rule.rewire(rows, rng, False) == {"dormant": n_dormant, "formed": n_dormant, "failed": 0}
        p, q, values = rows.to_coo()
        new = values["id"] == 0
        assert free[p[new], q[new]].all()
        new_pre.append(p[new])
        new_post.append(q[new])
    new_pre, new_post = np.concatenate(new_pre), np.concatenate(new_post)
    assert marginal_p(new_pre, free, 0) > 0.01
    assert marginal_p(new_post, free, 1) > 0.01
    joint = np.bincount(new_pre * n_post + new_post, minlength=free.size)
    assert np.all(joint[~free.ravel()] == 0)
    expected = np.full(free.sum(), new_pre.size / free.sum())
    assert expected[0] >= 5 and stats.chisquare(joint[free.ravel()], expected).pvalue > 0.01

    # the same test rejects a plausible biased sampler: a uniform row (column), then a uniform free post (pre)
    for axis, positions in ((0, new_pre), (1, new_post)):
        lines = np.nonzero(free.any(axis=1 - axis))[0]
        biased = host_rng.choice(lines, positions.size)
        assert marginal_p(biased, free, axis) < 0.01


# --- full rows, dense projections, failures -----------------------------------------------------------------
def dense_rows(backend, n_pre, n_post, capacity, no_self, rng):
    pre, post = random_layout(rng, n_pre, n_post, 1.1, no_self)
    return build(backend, n_pre, n_post, pre, post, rng.uniform(0.01, 0.1, pre.size), capacity, rng), pre, post


def test_dense_projection_replaces_its_dormant_synapses(backend):
    host_rng = np.random.default_rng(5)
    rows, pre, post = dense_rows(backend, 12, 10, 10, False, host_rng)
    chosen = host_rng.choice(pre.size, 15, replace=False)
    make_dormant(backend, rows, zip(pre[chosen], post[chosen]))
    assert DeepR().rewire(rows, seeded(backend, 4), False, {"delay": DELAY}) == \
        {"dormant": 15, "formed": 15, "failed": 0}
    p, q, values = rows.to_coo()
    assert p.size == 120 and set(zip(p, q)) == set(zip(pre, post))       # every pair again, once
    new = values["id"] == 0
    assert set(zip(p[new], q[new])) == set(zip(pre[chosen], post[chosen]))
    assert np.all(values["weight"][new] == 0) and np.all(values["delay"][new] == DELAY)


def test_dense_recurrent_projection_without_self_pairs(backend):
    host_rng = np.random.default_rng(6)
    rows, pre, post = dense_rows(backend, 10, 10, 9, True, host_rng)
    chosen = host_rng.choice(pre.size, 20, replace=False)
    make_dormant(backend, rows, zip(pre[chosen], post[chosen]))
    rule = DeepR(allow_self_connections=False)
    assert rule.rewire(rows, seeded(backend, 5), True) == {"dormant": 20, "formed": 20, "failed": 0}
    p, q, _ = rows.to_coo()
    assert p.size == 90 and set(zip(p, q)) == set(zip(pre, post))
    check_rows(rows, p, q, forbid_self=True)


def test_full_rows_refill_only_the_rows_that_lost_synapses(backend):
    host_rng = np.random.default_rng(8)
    n_pre, n_post, capacity = 30, 40, 4
    pre = np.repeat(np.arange(n_pre), capacity)
    post = np.concatenate([host_rng.choice(n_post, capacity, replace=False) for _ in range(n_pre)])
    rows = build(backend, n_pre, n_post, pre, post, host_rng.uniform(0.01, 0.1, pre.size), capacity, host_rng)
    chosen = host_rng.choice(pre.size, 25, replace=False)
    make_dormant(backend, rows, zip(pre[chosen], post[chosen]))
    assert DeepR().rewire(rows, seeded(backend, 6), False) == {"dormant": 25, "formed": 25, "failed": 0}
    assert np.all(backend.to_host(rows.row_length) == capacity)
    p, q, values = rows.to_coo()
    check_rows(rows, p, q, forbid_self=False)
    assert np.array_equal(np.sort(p[values["id"] == 0]), np.sort(pre[chosen]))


@pytest.mark.parametrize("rounds", [deep_r.ROUNDS_BEFORE_ENUMERATION, 1])
def test_rows_with_room_for_one_synapse_take_several_rounds(backend, monkeypatch, rounds):
    """2000 rows of capacity 1, every synapse dormant: 4032 draws hit ~87 % of the rows, so resampling rounds
    (4 here; or, with rounds=1, the enumeration of all free positions in the second) must place the rest."""
    monkeypatch.setattr(deep_r, "ROUNDS_BEFORE_ENUMERATION", rounds)
    host_rng = np.random.default_rng(19)
    n = 2000
    pre, post = np.arange(n), host_rng.integers(0, n, n)
    rows = build(backend, n, n, pre, post, -host_rng.uniform(0.01, 0.1, n), 1, host_rng)
    rows.vars["sign"] = rows.vars["sign"] * -1.0
    assert DeepR().rewire(rows, seeded(backend, 20), False) == {"dormant": n, "formed": n, "failed": 0}
    assert np.all(backend.to_host(rows.row_length) == 1)
    p, q, values = rows.to_coo()
    assert np.array_equal(p, pre) and np.all(values["id"] == 0)
    assert 0.4 < np.mean(q < n // 2) < 0.6


def test_no_room_and_no_dormant_synapse_changes_nothing(backend):
    host_rng = np.random.default_rng(9)
    rows, _, _ = dense_rows(backend, 6, 5, 5, False, host_rng)
    before = {name: backend.to_host(v).copy() for name, v in rows.vars.items()}
    assert DeepR().rewire(rows, seeded(backend, 7), False) == {"dormant": 0, "formed": 0, "failed": 0}
    assert all(np.array_equal(backend.to_host(rows.vars[name]), before[name]) for name in before)
    assert np.all(backend.to_host(rows.row_length) == 5)


def test_failed_when_no_free_position_is_left(backend):
    """Dense recurrent rows that hold their self pairs (made before the rule forbade them): removing a
    dormant self pair frees only a forbidden position. Row 1 also loses (1, 0), which is free again."""
    host_rng = np.random.default_rng(10)
    n = 5
    rows, _, _ = dense_rows(backend, n, n, n, False, host_rng)
    make_dormant(backend, rows, [(i, i) for i in range(n)] + [(1, 0)])
    rule = DeepR(allow_self_connections=False)
    assert rule.rewire(rows, seeded(backend, 8), True) == {"dormant": n + 1, "formed": 1, "failed": n}
    p, q, values = rows.to_coo()
    assert p.size == n * n - n
    assert np.all(backend.to_host(rows.row_length) <= n)
    check_rows(rows, p, q, forbid_self=True)
    assert list(zip(p[values["id"] == 0], q[values["id"] == 0])) == [(1, 0)]


def test_multapses_block_their_pair(backend):
    """Two synapses on the single pair (0, 0); removing one leaves the pair taken: nothing can be placed."""
    rows = build(backend, 1, 1, np.array([0, 0]), np.array([0, 0]), np.array([0.1, -0.1]), 2,
                 np.random.default_rng(0))
    rows.vars["sign"][0, 1] = 1.0                                  # the second synapse is now dormant
    assert DeepR().rewire(rows, seeded(backend, 9), False) == {"dormant": 1, "formed": 0, "failed": 1}
    assert int(backend.to_host(rows.row_length)[0]) == 1


def test_cost_does_not_grow_with_n_pre_times_n_post(backend):
    """10^14 possible pairs: enumerating them would never finish; random draws place the synapses at once."""
    host_rng = np.random.default_rng(12)
    n_pre, n_post = 100, 10 ** 12
    pre = np.repeat(np.arange(n_pre), 2)
    post = host_rng.integers(0, n_post, pre.size)
    rows = build(backend, n_pre, n_post, pre, post, host_rng.uniform(0.01, 0.1, pre.size), 4, host_rng)
    make_dormant(backend, rows, list(zip(pre[::4], post[::4])))
    assert DeepR().rewire(rows, seeded(backend, 10), False) == {"dormant": 50, "formed": 50, "failed": 0}
    p, q, _ = rows.to_coo()
    assert p.size == 200 and q.max() < n_post
    check_rows(rows, p, q, forbid_self=False)


# --- training-update terms ---------------------------------------------------------------------------------
def test_penalise_adds_l1_times_sign(backend):
    xp, rng = backend.xp, np.random.default_rng(13)
    grad = rng.normal(size=(7, 9))
    sign = np.where(rng.random((7, 9)) < 0.5, -1.0, 1.0)
    out = DeepR(l1=0.25).penalise(xp.asarray(grad), xp.asarray(sign))
    assert out.shape == grad.shape
    assert np.array_equal(backend.to_host(out), grad + 0.25 * sign)
    assert np.array_equal(backend.to_host(DeepR().penalise(xp.asarray(grad), xp.asarray(sign))), grad)


def test_perturb_noise_has_the_random_walk_deviation(backend):
    xp, n = backend.xp, 200_000
    sign = xp.asarray(np.where(np.random.default_rng(14).random(n) < 0.5, -1.0, 1.0))
    weight = xp.full(n, 0.5) * sign
    lr, temperature = 0.01, 0.5                                    # sqrt(2 * 0.01 * 0.5) = 0.1
    out = DeepR(temperature=temperature).perturb(weight, sign, lr, seeded(backend, 15))
    step = backend.to_host((out - weight) * sign)
    assert np.all(backend.to_host(weight * sign) == 0.5), "perturb changed its input"
    assert abs(step.std() - 0.1) < 0.02 * 0.1                      # relative standard error 0.16 %
    assert abs(step.mean()) < 5 * 0.1 / np.sqrt(n)
    assert abs(stats.skew(step)) < 0.05 and abs(stats.kurtosis(step)) < 0.1    # Gaussian


def test_perturb_without_temperature_returns_the_weights_unchanged(backend):
    weight = backend.xp.asarray(np.linspace(-1, 1, 11))
    out = DeepR(l1=0.3).perturb(weight, backend.xp.sign(weight), 0.1, seeded(backend, 16))
    assert out is weight
    assert np.array_equal(backend.to_host(out), np.linspace(-1, 1, 11))


def test_initial_signs(backend):
    xp = backend.xp
    weight = np.concatenate([np.zeros(20_000), np.linspace(0.1, 2, 50), -np.linspace(0.1, 2, 50)])
    sign = backend.to_host(DeepR.initial_signs(xp.asarray(weight), seeded(backend, 17), xp))
    assert sign.dtype == np.float64 and sign.shape == weight.shape
    assert np.all(sign[20_000:20_050] == 1.0) and np.all(sign[20_050:] == -1.0)
    zeros = sign[:20_000]
    assert set(np.unique(zeros).tolist()) == {-1.0, 1.0}
    assert abs(np.count_nonzero(zeros > 0) - 10_000) < 4 * np.sqrt(20_000) / 2


# --- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    ({"l1": -0.1}, "l1"), ({"l1": float("nan")}, "l1"), ({"l1": "0.1"}, "l1"), ({"l1": True}, "l1"),
    ({"temperature": -1}, "temperature"), ({"temperature": float("inf")}, "temperature"),
    ({"temperature": None}, "temperature"),
    ({"allow_self_connections": "no"}, "allow_self_connections"), ({"allow_self_connections": 1},
                                                                     "allow_self_connections"),
])
def test_bad_parameters_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=rf"{name}=.*not allowed.*"):
        DeepR(**kwargs)


def test_bad_call_arguments_raise_value_error(backend):
    rows = build(backend, 2, 3, np.array([0, 1]), np.array([1, 2]), np.array([0.1, -0.1]), 2,
                 np.random.default_rng(0))
    rule, rng = DeepR(temperature=0.1), seeded(backend, 18)
    with pytest.raises(ValueError, match="same_population='yes'"):
        rule.rewire(rows, rng, "yes")
    with pytest.raises(ValueError, match="'weight'.*allowed names"):
        rule.rewire(rows, rng, False, {"weight": 1.0})
    with pytest.raises(ValueError, match="'tau'.*allowed names"):
        rule.rewire(rows, rng, False, {"tau": 1.0})
    with pytest.raises(ValueError, match="learning_rate=-0.1"):
        rule.perturb(rows.vars["weight"], rows.vars["sign"], -0.1, rng)
    unsigned = RaggedRows(backend, 2, 3, 2, {"weight": np.float64})
    with pytest.raises(ValueError, match="'sign'"):
        rule.rewire(unsigned, rng, False)
