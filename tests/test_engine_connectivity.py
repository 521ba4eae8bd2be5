"""Engine tests of RaggedRows (ragged rows with spare capacity) and SynapseGroup propagation.

Every test takes the `backend` fixture, so it runs on NumPy and, where a GPU is usable, on CuPy.
Random edit sequences are checked against a plain reference model: one Python list of synapses
(post, weight, delay, trace) per presynaptic row.

    pre 0: [ 3  7  1  .  . ]  row_length 3
    pre 1: [ 0  .  .  .  . ]  row_length 1
    pre 2: [ .  .  .  .  . ]  row_length 0
"""

import types
from collections import Counter

import numpy as np
import pytest

from pynn_sparsegpu.engine.connectivity import RaggedRows, RowCapacityError, index_dtype
from pynn_sparsegpu.engine.synapses import SynapseGroup

DTYPES = {"weight": np.float64, "delay": np.int32, "trace": np.float64}


def host(backend, array):
    return np.asarray(backend.to_host(array))


def rows_as_lists(backend, rows):
    """[[(post, weight, delay, trace), ...] per row] in slot order, read from the device arrays."""
    ind = host(backend, rows.ind)
    length = host(backend, rows.row_length)
    values = {name: host(backend, v) for name, v in rows.vars.items()}
    out = []
    for r in range(rows.n_pre):
        n = int(length[r])
        out.append([(int(ind[r, c]),) + tuple(values[name][r, c].item() for name in DTYPES) for c in range(n)])
    return out


def example_rows(backend):
    """The rows drawn in the module docstring, capacity 5, with weights/delays/traces tied to each synapse."""
    pre = np.array([0, 1, 0, 0])
    post = np.array([3, 0, 7, 1])
    values = {"weight": np.array([0.5, 1.5, 0.7, 0.1]), "delay": np.array([2, 3, 4, 5]),
              "trace": np.array([10.0, 11.0, 12.0, 13.0])}
    return RaggedRows.from_coo(backend, 3, 8, pre, post, values, DTYPES, capacity=5)


# --- from_coo -----------------------------------------------------------------------------------------
def test_from_coo_layout(backend):
    rows = example_rows(backend)
    assert rows.capacity == 5
    np.testing.assert_array_equal(host(backend, rows.row_length), [3, 1, 0])
    assert rows_as_lists(backend, rows) == [
        [(3, 0.5, 2, 10.0), (7, 0.7, 4, 12.0), (1, 0.1, 5, 13.0)],   # stable: order of the input kept
        [(0, 1.5, 3, 11.0)],
        [],
    ]
    assert rows.size() == 4
    pre, post, values = rows.to_coo()
    np.testing.assert_array_equal(pre, [0, 0, 0, 1])
    np.testing.assert_array_equal(post, [3, 7, 1, 0])
    np.testing.assert_allclose(values["weight"], [0.5, 0.7, 0.1, 1.5])
    np.testing.assert_array_equal(values["delay"], [2, 4, 5, 3])


def test_from_coo_capacity_from_spare(backend):
    pre = np.array([0, 0, 0, 0, 2])
    rows = RaggedRows.from_coo(backend, 3, 4, pre, np.arange(5) % 4, {"weight": 1.0}, {"weight": np.float64},
                               spare=0.5)
    assert rows.capacity == 6                    # ceil(4 * 1.5)
    np.testing.assert_allclose(host(backend, rows.vars["weight"])[0, :4], 1.0)   # a scalar is broadcast


def test_from_coo_capacity_too_small(backend):
    with pytest.raises(RowCapacityError, match="row_capacity=2"):
        RaggedRows.from_coo(backend, 2, 4, [1, 1, 1], [0, 1, 2], {"weight": 1.0}, {"weight": np.float64},
                            capacity=2)


def test_from_coo_empty(backend):
    rows = RaggedRows.from_coo(backend, 4, 4, [], [], {"weight": []}, {"weight": np.float64})
    assert rows.size() == 0
    assert rows.capacity >= 1
    pre, post, values = rows.to_coo()
    assert pre.size == post.size == values["weight"].size == 0


@pytest.mark.parametrize("n_post, dtype", [(1, np.uint8), (256, np.uint8), (257, np.uint16),
                                           (65536, np.uint16), (65537, np.uint32)])
def test_index_dtype_is_narrowest(n_post, dtype):
    assert index_dtype(n_post) == dtype


def test_large_post_indices_survive(backend):
    post = np.array([0, 255, 256, 70000])
    rows = RaggedRows.from_coo(backend, 1, 70001, np.zeros(4, int), post, {"weight": 1.0},
                               {"weight": np.float64})
    assert rows.ind.dtype == np.uint32
    np.testing.assert_array_equal(rows.to_coo()[1], post)


# --- add_synapses -------------------------------------------------------------------------------------
def test_add_appends_at_row_end(backend):
    rows = example_rows(backend)
    stored = rows.add_synapses(np.array([1, 2, 1]), np.array([4, 6, 5]),
                               {"weight": np.array([2.0, 3.0, 4.0]), "delay": 7})
    np.testing.assert_array_equal(stored, [True, True, True])
    assert rows_as_lists(backend, rows) == [
        [(3, 0.5, 2, 10.0), (7, 0.7, 4, 12.0), (1, 0.1, 5, 13.0)],
        [(0, 1.5, 3, 11.0), (4, 2.0, 7, 0.0), (5, 4.0, 7, 0.0)],     # in call order; missing vars are 0
        [(6, 3.0, 7, 0.0)],
    ]


def test_add_to_full_row_returns_false_and_writes_nothing(backend):
    rows = example_rows(backend)
    # fill row 0 to capacity (2 free slots), then ask for 2 more in row 0 and 1 in row 2
    stored = rows.add_synapses(np.array([0, 0, 0, 2, 0]), np.array([2, 4, 5, 6, 0]),
                               {"weight": np.array([1.0, 2.0, 3.0, 4.0, 5.0]), "delay": 1, "trace": 9.0})
    np.testing.assert_array_equal(stored, [True, True, False, True, False])
    before_ind = host(backend, rows.ind).copy()
    before = {name: host(backend, v).copy() for name, v in rows.vars.items()}
    before_lists = rows_as_lists(backend, rows)
    assert [len(r) for r in before_lists] == [5, 1, 1]
    assert [p for p, *_ in before_lists[0]] == [3, 7, 1, 2, 4]
    stored = rows.add_synapses(np.array([0, 0]), np.array([6, 6]), {"weight": 8.0, "delay": 8, "trace": 8.0})
    np.testing.assert_array_equal(stored, [False, False])
    np.testing.assert_array_equal(host(backend, rows.ind), before_ind)
    for name in before:
        np.testing.assert_array_equal(host(backend, rows.vars[name]), before[name])
    np.testing.assert_array_equal(host(backend, rows.row_length), [5, 1, 1])


def test_add_nothing(backend):
    rows = example_rows(backend)
    stored = rows.add_synapses(np.zeros(0, int), np.zeros(0, int), {})
    assert stored.shape == (0,)
    assert rows.size() == 4


# --- remove_synapses ----------------------------------------------------------------------------------
def test_remove_moves_every_variable_with_its_synapse(backend):
    rows = example_rows(backend)
    xp = backend.xp
    mask = np.zeros((3, 5), dtype=bool)
    mask[0, 0] = True          # remove post 3 of row 0
    mask[1, 3] = True          # past row_length: ignored
    mask[2, 0] = True          # empty row: ignored
    removed = rows.remove_synapses(xp.asarray(mask))
    assert removed == 1
    lists = rows_as_lists(backend, rows)
    assert Counter(lists[0]) == Counter([(7, 0.7, 4, 12.0), (1, 0.1, 5, 13.0)])
    assert lists[1] == [(0, 1.5, 3, 11.0)]
    assert lists[2] == []
    np.testing.assert_array_equal(host(backend, rows.row_length), [2, 1, 0])


def test_remove_everything_then_add(backend):
    rows = example_rows(backend)
    assert rows.remove_synapses(backend.xp.ones((3, 5), dtype=bool)) == 4
    assert rows.size() == 0
    np.testing.assert_array_equal(host(backend, rows.row_length), [0, 0, 0])
    stored = rows.add_synapses(np.array([0] * 5), np.arange(5), {"weight": 1.0})
    assert stored.all()
    assert [p for p, *_ in rows_as_lists(backend, rows)[0]] == [0, 1, 2, 3, 4]


def test_random_edit_sequence_against_reference(backend):
    """Random mixtures of additions (some to full rows) and removals keep exactly the synapses of a
    reference list model, each with all of its variables."""
    rng = np.random.default_rng(2024)
    n_pre, n_post, capacity = 12, 40, 7
    xp = backend.xp
    pre = rng.integers(0, n_pre, 30)
    post = rng.integers(0, n_post, 30)
    uid = 0

    def new_values(n):
        nonlocal uid
        ids = np.arange(uid, uid + n, dtype=float)     # a unique tag per synapse, carried in "trace"
        uid += n
        return {"weight": rng.normal(size=n), "delay": rng.integers(1, 20, n).astype(np.int32), "trace": ids}

    v0 = new_values(30)
    keep = np.ones(30, bool)
    for r in range(n_pre):                              # respect the capacity in the initial build
        where = np.nonzero(pre == r)[0]
        keep[where[capacity:]] = False
    pre, post = pre[keep], post[keep]
    v0 = {k: v[keep] for k, v in v0.items()}
    rows = RaggedRows.from_coo(backend, n_pre, n_post, pre, post, v0, DTYPES, capacity=capacity)
    reference = [[] for _ in range(n_pre)]
    for i in range(len(pre)):
        reference[pre[i]].append((int(post[i]), float(v0["weight"][i]), int(v0["delay"][i]), float(v0["trace"][i])))
    assert rows_as_lists(backend, rows) == reference

    full_refusals = 0
    for step in range(60):
        if rng.random() < 0.55:
            n = int(rng.integers(1, 30))
            a_pre, a_post = rng.integers(0, n_pre, n), rng.integers(0, n_post, n)
            values = new_values(n)
            stored = rows.add_synapses(xp.asarray(a_pre), xp.asarray(a_post),
                                       {k: xp.asarray(v) for k, v in values.items()})
            expected = np.zeros(n, bool)
            for i in range(n):                           # the reference: stored in call order while room
                if len(reference[a_pre[i]]) < capacity:
                    reference[a_pre[i]].append((int(a_post[i]), float(values["weight"][i]),
                                                int(values["delay"][i]), float(values["trace"][i])))
                    expected[i] = True
            full_refusals += int((~expected).sum())
            np.testing.assert_array_equal(stored, expected, err_msg=f"step {step}")
        else:
            mask = rng.random((n_pre, capacity)) < 0.15
            mask[:, -1] |= rng.random(n_pre) < 0.5           # slots past row_length must be ignored
            current = rows_as_lists(backend, rows)             # which synapse sits in which slot now
            expected_removed = 0
            for r in range(n_pre):
                killed = {current[r][c][3] for c in range(len(current[r])) if mask[r, c]}   # by tag
                expected_removed += len(killed)
                reference[r] = [s for s in reference[r] if s[3] not in killed]
            assert rows.remove_synapses(xp.asarray(mask)) == expected_removed
        got = rows_as_lists(backend, rows)
        for r in range(n_pre):
            # the same synapses (none lost, none duplicated), each with its own variables; the order
            # within a row is free (swap-with-last and stable compaction are both allowed)
            assert Counter(got[r]) == Counter(reference[r]), f"row {r} after step {step}"
        length = host(backend, rows.row_length)
        assert np.all((length >= 0) & (length <= capacity))
        assert rows.size() == sum(len(r) for r in reference)
        tags = [s[3] for r in got for s in r]
        assert len(tags) == len(set(tags))               # no synapse duplicated anywhere
    assert full_refusals > 0                             # the sequence really hit full rows


def test_synapse_slots_match_to_coo(backend):
    rows = example_rows(backend)
    r, c = rows.synapse_slots()
    r, c = host(backend, r), host(backend, c)
    pre, post, _ = rows.to_coo()
    np.testing.assert_array_equal(r, pre)
    np.testing.assert_array_equal(host(backend, rows.ind)[r, c], post)


# --- SynapseGroup propagation -------------------------------------------------------------------------
def _group_stub(backend, n, n_slots=None, n_receptors=2):
    ring = None if n_slots is None else backend.xp.zeros((n_slots, n_receptors, n), dtype=backend.dtype)
    return types.SimpleNamespace(n=n, ring=ring, gid=0)


@pytest.mark.parametrize("receptor", [0, 1])
def test_propagation_matches_dense_reference(backend, receptor):
    rng = np.random.default_rng(7 + receptor)
    dt, n_pre, n_post, n_syn, n_slots = 0.1, 25, 30, 300, 16
    pre_group = _group_stub(backend, n_pre)
    post_group = _group_stub(backend, n_post, n_slots)
    group = SynapseGroup(backend, pre_group, post_group, receptor)
    pre = rng.integers(0, n_pre, n_syn)
    post = rng.integers(0, n_post, n_syn)                  # repeated (pre, post) pairs are allowed
    weight = rng.normal(0.0, 1.0, n_syn)
    delay_steps = rng.integers(1, n_slots, n_syn)
    group.buffer(pre[:100], post[:100], weight[:100], delay_steps[:100] * dt)
    group.buffer(pre[100:], post[100:], weight[100:], delay_steps[100:] * dt)   # buffered in chunks
    group.prepare(dt)
    assert group.rows.size() == n_syn
    assert group.max_delay_steps == delay_steps.max()

    reference = np.zeros((n_slots, 2, n_post))
    xp = backend.xp
    for step in range(40):
        counts = rng.integers(0, 4, n_pre) * (rng.random(n_pre) < 0.3)     # mostly silent, some bursts
        group.propagate(xp.asarray(counts.astype(np.int32)), step)
        for s in range(n_syn):
            if counts[pre[s]]:
                reference[(step + delay_steps[s]) % n_slots, receptor, post[s]] += weight[s] * counts[pre[s]]
        np.testing.assert_allclose(host(backend, post_group.ring), reference, rtol=1e-12, atol=1e-12,
                                   err_msg=f"step {step}")
        # the neuron group consumes its slot after each step; do the same in both
        slot = step % n_slots
        post_group.ring[slot] = 0
        reference[slot] = 0


def test_propagation_without_spikes_changes_nothing(backend):
    pre_group, post_group = _group_stub(backend, 3), _group_stub(backend, 3, 4)
    group = SynapseGroup(backend, pre_group, post_group, 0)
    group.buffer(np.array([0, 1]), np.array([1, 2]), np.array([1.0, 2.0]), np.array([0.1, 0.2]))
    group.prepare(0.1)
    group.propagate(backend.xp.zeros(3, dtype=np.int32), 0)
    assert float(host(backend, post_group.ring).sum()) == 0.0
    group.propagate(backend.xp.asarray(np.array([0, 0, 5], dtype=np.int32)), 1)   # pre 2 has no row
    assert float(host(backend, post_group.ring).sum()) == 0.0


def test_finalise_merges_connections_made_after_a_run(backend):
    """Connections buffered after the rows were built are merged, not lost, and old ones keep their values."""
    pre_group, post_group = _group_stub(backend, 3), _group_stub(backend, 4, 8)
    group = SynapseGroup(backend, pre_group, post_group, 1)
    group.buffer(np.array([0, 2]), np.array([1, 3]), np.array([0.5, 0.25]), np.array([0.3, 0.5]))
    group.prepare(0.1)
    group.buffer(np.array([2, 1]), np.array([0, 0]), np.array([1.5, 2.5]), np.array([0.1, 0.7]))
    group.prepare(0.1)
    pre, post, values = group.rows.to_coo()
    got = sorted(zip(pre.tolist(), post.tolist(), values["weight"].tolist(), values["delay"].tolist()))
    assert got == [(0, 1, 0.5, 3), (1, 0, 2.5, 7), (2, 0, 1.5, 1), (2, 3, 0.25, 5)]


def test_finalise_keeps_scalar_and_per_synapse_values_apart(backend):
    """Chunks buffered with one scalar weight each are stored as that scalar only when all chunks share it;
    chunks with different scalars, or a per-synapse array among them, keep every synapse's own value."""
    dt = 0.1

    def built(chunks):
        group = SynapseGroup(backend, _group_stub(backend, 4), _group_stub(backend, 5, 8), 0)
        for pre, post, weight, delay in chunks:
            group.buffer(np.array(pre), np.array(post), weight, delay)
        group.prepare(dt)
        pre, post, values = group.rows.to_coo()
        order = np.lexsort((post, pre))
        return [(int(a), int(b), float(w), int(d)) for a, b, w, d in
                zip(pre[order], post[order], values["weight"][order], values["delay"][order])]

    shared = built([([0, 3], [1, 2], 0.5, 0.2), ([3, 1], [4, 0], 0.5, 0.2)])
    assert shared == [(0, 1, 0.5, 2), (1, 0, 0.5, 2), (3, 2, 0.5, 2), (3, 4, 0.5, 2)]
    different = built([([0, 3], [1, 2], 0.5, 0.2), ([3, 1], [4, 0], -1.5, 0.4)])
    assert different == [(0, 1, 0.5, 2), (1, 0, -1.5, 4), (3, 2, 0.5, 2), (3, 4, -1.5, 4)]
    mixed = built([([0, 3], [1, 2], 0.5, 0.2), ([3, 1], [4, 0], np.array([0.5, 2.0]), 0.3)])
    assert mixed == [(0, 1, 0.5, 2), (1, 0, 2.0, 3), (3, 2, 0.5, 2), (3, 4, 0.5, 3)]
