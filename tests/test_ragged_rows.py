"""RaggedRows editing: swap-with-last removal, refused additions, bad indices, and the CUDA twin.

The reference model is one Python list per presynaptic row, edited literally: an addition appends while the
row has room, a removal takes the row's masked slots from the highest down and moves the row's current last
synapse into each hole. The engine must reproduce that exact slot layout, with every per-synapse variable
(including a unique "uid" per synapse) moving with its synapse.

    row [a b c d e], remove b and e  ->  [a d c]
"""

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import GPU
import pynn_sparsegpu
from pynn_sparsegpu.engine.backend import select_backend
from pynn_sparsegpu.engine.connectivity import RaggedRows

DTYPES = {"weight": np.float64, "delay": np.int32, "uid": np.int64}
KERNELS_DIR = Path(pynn_sparsegpu.__file__).resolve().parent / "engine" / "kernels"


def host(backend, array):
    return np.asarray(backend.to_host(array))


def live(backend, rows):
    """[[(post, weight, delay, uid), ...] per row] in slot order, slots < row_length only."""
    ind, length = host(backend, rows.ind), host(backend, rows.row_length)
    values = {name: host(backend, rows.vars[name]) for name in DTYPES}
    return [[(int(ind[r, c]), float(values["weight"][r, c]), int(values["delay"][r, c]), int(values["uid"][r, c]))
             for c in range(int(length[r]))] for r in range(rows.n_pre)]


def swap_with_last(row, killed_slots):
    """The literal operations: the holes below the final length L' from the highest down; before each, masked
    synapses are dropped from the end; then the row's last synapse moves into the hole. Masked slots at or
    above L' are only dropped from the end."""
    row = [(synapse, c in killed_slots) for c, synapse in enumerate(row)]
    final = len(row) - len(set(killed_slots))
    for hole in sorted((c for c in set(killed_slots) if c < final), reverse=True):
        while row[-1][1]:
            row.pop()
        row[hole] = row.pop()
    while row and row[-1][1]:
        row.pop()
    return [synapse for synapse, _ in row]


class Model:
    """A RaggedRows under test plus its reference lists and the uid -> (pre, post, weight, delay) table."""

    def __init__(self, backend, n_pre, n_post, capacity, rng):
        self.backend, self.rng, self.capacity, self.n_post = backend, rng, capacity, n_post
        self.rows = RaggedRows(backend, n_pre, n_post, capacity, DTYPES)
        self.reference = [[] for _ in range(n_pre)]
        self.table = {}
        self.refused = 0
        self.next_uid = 0

    def add(self, pre, post):
        n = len(pre)
        uid = np.arange(self.next_uid, self.next_uid + n)
        self.next_uid += n
        weight = np.round(self.rng.normal(size=n), 3)
        delay = self.rng.integers(1, 50, n).astype(np.int32)
        xp = self.backend.xp
        stored = self.rows.add_synapses(xp.asarray(pre), xp.asarray(post),
                                        {"weight": xp.asarray(weight), "delay": xp.asarray(delay),
                                         "uid": xp.asarray(uid)})
        expected = np.zeros(n, bool)
        for i in range(n):
            if len(self.reference[pre[i]]) < self.capacity:
                synapse = (int(post[i]), float(weight[i]), int(delay[i]), int(uid[i]))
                self.reference[pre[i]].append(synapse)
                self.table[int(uid[i])] = (int(pre[i]),) + synapse[:3]
                expected[i] = True
        self.refused += int((~expected).sum())
        np.testing.assert_array_equal(stored, expected)

    def remove(self, mask):
        expected = 0
        for r, row in enumerate(self.reference):
            killed = [c for c in range(len(row)) if mask[r, c]]
            expected += len(killed)
            self.reference[r] = swap_with_last(row, killed)
        assert self.rows.remove_synapses(self.backend.xp.asarray(mask)) == expected

    def check(self, where=""):
        rows, backend = self.rows, self.backend
        length = host(backend, rows.row_length)
        assert np.all((length >= 0) & (length <= rows.capacity)), where
        got = live(backend, rows)
        assert got == self.reference, where                       # the exact swap-with-last slot layout
        live_uids = [s[3] for row in got for s in row]
        assert len(live_uids) == len(set(live_uids)), where        # nothing duplicated
        # no lost or duplicated synapses: multiset of (pre, post, weight, delay) against the reference
        expected = Counter((r,) + s[:3] for r, row in enumerate(self.reference) for s in row)
        assert Counter((r,) + s[:3] for r, row in enumerate(got) for s in row) == expected, where
        # every variable moved with its synapse: uid -> (pre, post, weight, delay) as when it was added
        for r, row in enumerate(got):
            for post, weight, delay, uid in row:
                assert self.table[uid] == (r, post, weight, delay), where
        assert rows.size() == sum(len(row) for row in self.reference), where
        pre, post, values = rows.to_coo()
        assert Counter(values["uid"].tolist()) == Counter(live_uids), where
        assert rows.failed_additions == self.refused, where


def layout_rows(backend, layout, capacity):
    """One RaggedRows whose row r holds posts layout[r] (uid = post, weight = post / 10, delay = post + 1)."""
    pre = np.repeat(np.arange(len(layout)), [len(row) for row in layout])
    post = np.concatenate([np.asarray(row, dtype=np.int64) for row in layout] + [np.zeros(0, np.int64)])
    values = {"weight": post / 10.0, "delay": post + 1, "uid": post}
    return RaggedRows.from_coo(backend, len(layout), 64, pre, post, values, DTYPES, capacity=capacity)


# --- the exact layout ---------------------------------------------------------------------------------
@pytest.mark.parametrize("row, killed, expected", [
    ([0, 1, 2, 3, 4], [1, 4], [0, 3, 2]),          # [a b c d e] - b, e -> [a d c]
    ([0, 1, 2, 3, 4, 5], [0, 1, 5], [3, 4, 2]),    # both holes refilled from the tail, in order
    ([0, 1, 2, 3, 4], [0, 3], [4, 1, 2]),          # a masked tail slot is dropped, not moved
    ([0, 1, 2, 3, 4], [0, 1, 2], [3, 4]),          # hole 2 is in the tail: dropped, not refilled
    ([0, 1, 2, 3, 4, 5, 6], [1, 2, 5], [0, 4, 6, 3]),   # L'=4: holes 1, 2 <- tail survivors 4, 6 in order
    ([0, 1, 2, 3, 4], [4], [0, 1, 2, 3]),          # the last one: nothing moves
    ([0, 1, 2, 3, 4], [0], [4, 1, 2, 3]),
    ([0, 1, 2, 3, 4], [2, 3, 4], [0, 1]),
    ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4], []),
    ([0, 1, 2], [], [0, 1, 2]),
])
def test_swap_with_last_layout(backend, row, killed, expected):
    rows = layout_rows(backend, [row, [7, 8]], capacity=7)
    mask = np.zeros((2, 7), bool)
    mask[0, killed] = True
    mask[1, 2:] = True                             # past row_length: ignored
    assert rows.remove_synapses(backend.xp.asarray(mask)) == len(killed)
    assert live(backend, rows) == [[(p, p / 10.0, p + 1, p) for p in expected], [(7, 0.7, 8, 7), (8, 0.8, 9, 8)]]
    np.testing.assert_array_equal(host(backend, rows.row_length), [len(expected), 2])
    assert swap_with_last(row, killed) == expected


def test_every_mask_matches_sequential_swap_with_last(backend):
    """All 2**6 masks on rows of every length 0..6, in one vectorised call, against the literal rule."""
    capacity = 6
    cases = [(length, bits) for length in range(capacity + 1) for bits in range(2 ** capacity)]
    rows = layout_rows(backend, [list(range(10, 10 + length)) for length, _ in cases], capacity)
    mask = np.array([[(bits >> c) & 1 for c in range(capacity)] for _, bits in cases], dtype=bool)
    expected = [swap_with_last(range(10, 10 + length), [c for c in range(length) if mask[i, c]])
                for i, (length, _) in enumerate(cases)]
    removed = rows.remove_synapses(backend.xp.asarray(mask))
    assert removed == sum(length - len(e) for (length, _), e in zip(cases, expected))
    assert [[s[0] for s in row] for row in live(backend, rows)] == expected
    assert all(s[3] == s[0] and s[2] == s[0] + 1 for row in live(backend, rows) for s in row)


def test_removal_moves_only_the_moved_slots(backend):
    """Slots that keep their synapse, and free slots past the new row_length, are not rewritten."""
    rows = layout_rows(backend, [[0, 1, 2, 3, 4], [5, 6]], capacity=6)
    rows.vars["weight"][0, 5] = -99.0              # stale data in a free slot
    mask = np.zeros((2, 6), bool)
    mask[0, [1, 4]] = True
    rows.remove_synapses(backend.xp.asarray(mask))
    ind, weight = host(backend, rows.ind), host(backend, rows.vars["weight"])
    np.testing.assert_array_equal(ind[0], [0, 3, 2, 3, 4, 0])   # slots 3, 4 now free but keep stale data
    assert weight[0, 5] == -99.0
    # free slots are reused by the next addition, and the stale data never shows
    stored = rows.add_synapses(np.array([0, 0, 0, 0]), np.array([40, 41, 42, 43]),
                               {"weight": 1.0, "delay": 2, "uid": np.array([40, 41, 42, 43])})
    np.testing.assert_array_equal(stored, [True, True, True, False])
    assert [s[0] for s in live(backend, rows)[0]] == [0, 3, 2, 40, 41, 42]
    assert rows.failed_additions == 1


def test_remove_rejects_a_mask_of_the_wrong_shape(backend):
    rows = layout_rows(backend, [[0, 1], [2]], capacity=3)
    with pytest.raises(ValueError, match=r"mask must have shape .*\(2, 3\)"):
        rows.remove_synapses(backend.xp.ones((2, 2), dtype=bool))
    assert [[s[0] for s in row] for row in live(backend, rows)] == [[0, 1], [2]]


# --- random sequences against the reference model -----------------------------------------------------
@pytest.mark.parametrize("capacity, seed", [(1, 0), (2, 1), (3, 2), (8, 3), (32, 4)])
def test_random_add_remove_sequence(backend, capacity, seed):
    rng = np.random.default_rng(seed)
    n_pre, n_post = 9, 300
    model = Model(backend, n_pre, n_post, capacity, rng)
    model.check("start")
    for step in range(200):
        if rng.random() < 0.55:
            n = int(rng.integers(0, 3 * capacity + 4))
            pre = rng.integers(0, n_pre, n) if rng.random() < 0.8 else np.full(n, rng.integers(0, n_pre))
            model.add(pre, rng.integers(0, n_post, n))
        else:
            p = rng.choice([0.0, 0.1, 0.4, 1.0], p=[0.1, 0.4, 0.4, 0.1])
            model.remove(rng.random((n_pre, capacity)) < p)
        model.check(f"step {step}")
    if capacity <= 8:
        assert model.refused > 0                   # tight capacities really refused additions
    assert model.next_uid > 0 and model.rows.size() <= n_pre * capacity


def test_failed_additions_counts_refusals_and_corrupts_nothing(backend):
    rows = layout_rows(backend, [[1], [2, 3]], capacity=2)
    assert rows.failed_additions == 0
    stored = rows.add_synapses(np.array([0, 0, 1, 0]), np.array([4, 5, 6, 7]),
                               {"weight": np.array([0.4, 0.5, 0.6, 0.7]), "delay": 9, "uid": np.array([4, 5, 6, 7])})
    np.testing.assert_array_equal(stored, [True, False, False, False])
    assert rows.failed_additions == 3
    snapshot = {name: host(backend, v).copy() for name, v in rows.vars.items()}
    ind = host(backend, rows.ind).copy()
    stored = rows.add_synapses(np.array([1, 0]), np.array([8, 9]), {"weight": 5.0})
    np.testing.assert_array_equal(stored, [False, False])
    assert rows.failed_additions == 5              # cumulative
    np.testing.assert_array_equal(host(backend, rows.ind), ind)
    for name in snapshot:
        np.testing.assert_array_equal(host(backend, rows.vars[name]), snapshot[name])
    assert live(backend, rows) == [[(1, 0.1, 2, 1), (4, 0.4, 9, 4)], [(2, 0.2, 3, 2), (3, 0.3, 4, 3)]]


# --- bad indices --------------------------------------------------------------------------------------
@pytest.mark.parametrize("pre, post, name, bad, allowed", [
    ([0, 1], [3, 64], "post", 64, "0 <= post < 64"),
    ([0, 1], [-1, 2], "post", -1, "0 <= post < 64"),
    ([0, 2], [1, 1], "pre", 2, "0 <= pre < 2"),
    ([-3, 0], [1, 1], "pre", -3, "0 <= pre < 2"),
    ([5, 0], [70, 1], "pre", 5, "0 <= pre < 2"),   # pre is checked first
])
def test_bad_indices_raise_and_write_nothing(backend, pre, post, name, bad, allowed):
    rows = layout_rows(backend, [[1], [2]], capacity=4)
    ind = host(backend, rows.ind).copy()
    snapshot = {k: host(backend, v).copy() for k, v in rows.vars.items()}
    with pytest.raises(ValueError) as err:
        rows.add_synapses(np.array(pre), np.array(post), {"weight": 1.0, "uid": 99})
    message = str(err.value)
    assert name in message and str(bad) in message and allowed in message, message
    np.testing.assert_array_equal(host(backend, rows.ind), ind)
    np.testing.assert_array_equal(host(backend, rows.row_length), [1, 1])
    for k in snapshot:
        np.testing.assert_array_equal(host(backend, rows.vars[k]), snapshot[k])
    assert rows.failed_additions == 0


def test_pre_and_post_of_different_lengths_raise(backend):
    rows = layout_rows(backend, [[1], [2]], capacity=4)
    with pytest.raises(ValueError, match="same length"):
        rows.add_synapses(np.array([0, 1]), np.array([1]), {})
    assert rows.size() == 2


# --- the CUDA twin ------------------------------------------------------------------------------------
HARNESS = r"""
#include <cstdio>
#include <vector>
#include "rows.cu"
int main() {
    int n_pre, capacity;
    if (std::scanf("%d %d", &n_pre, &capacity) != 2) return 2;
    std::vector<int> length(n_pre), src(n_pre * capacity, -2);
    std::vector<unsigned char> mask(n_pre * capacity);
    std::vector<INDEX_T> ind(n_pre * capacity);
    for (int i = 0; i < n_pre; ++i) std::scanf("%d", &length[i]);
    for (int i = 0; i < n_pre * capacity; ++i) { int m; std::scanf("%d", &m); mask[i] = (unsigned char)m; }
    for (int i = 0; i < n_pre * capacity; ++i) { unsigned long long v; std::scanf("%llu", &v); ind[i] = (INDEX_T)v; }
    for (int r = 0; r < n_pre; ++r) {
        const int base = r * capacity;
        length[r] = pynn_sparsegpu_rows_remove_row(&mask[base], &ind[base], &src[base], length[r]);
    }
    for (int i = 0; i < n_pre; ++i) std::printf("%d ", length[i]);
    std::printf("\n");
    for (int i = 0; i < n_pre * capacity; ++i) std::printf("%llu ", (unsigned long long)ind[i]);
    std::printf("\n");
    for (int i = 0; i < n_pre * capacity; ++i) std::printf("%d ", src[i]);
    std::printf("\n");
    return 0;
}
"""


@pytest.mark.parametrize("index_ctype, n_post", [("unsigned char", 200), ("unsigned int", 70000)])
def test_cuda_row_rule_matches_numpy_path(tmp_path, index_ctype, n_post):
    """The per-row function of kernels/rows.cu, compiled for the host with nvcc, gives the NumPy path's layout:
    same ind and row_length, and its src map moves every variable to the same place (no GPU needed)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not on PATH")
    (tmp_path / "harness.cu").write_text(HARNESS)
    exe = tmp_path / "harness"
    build = subprocess.run([nvcc, f"-DINDEX_T={index_ctype}", "-I", str(KERNELS_DIR), str(tmp_path / "harness.cu"),
                            "-o", str(exe)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    backend = select_backend("numpy", "float64")
    rng = np.random.default_rng(11)
    n_pre, capacity = 40, 12
    model = Model(backend, n_pre, n_post, capacity, rng)
    model.add(rng.integers(0, n_pre, 400), rng.integers(0, n_post, 400))
    for round_ in range(4):
        rows = model.rows
        mask = rng.random((n_pre, capacity)) < [0.0, 0.2, 0.5, 0.9][round_]
        ind0, len0 = rows.ind.copy(), rows.row_length.copy()
        vars0 = {k: v.copy() for k, v in rows.vars.items()}
        stdin = " ".join(map(str, [n_pre, capacity, *len0, *mask.astype(int).ravel(), *ind0.ravel()]))
        run = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        lines = run.stdout.split("\n")
        cu_length = np.array(lines[0].split(), dtype=np.int64)
        cu_ind = np.array(lines[1].split(), dtype=np.uint64).reshape(n_pre, capacity)
        src = np.array(lines[2].split(), dtype=np.int64).reshape(n_pre, capacity)
        model.remove(mask)                          # the NumPy path, checked against the reference model
        model.check(f"round {round_}")
        np.testing.assert_array_equal(cu_length, rows.row_length)
        for r in range(n_pre):
            n = int(rows.row_length[r])
            np.testing.assert_array_equal(cu_ind[r, :n], rows.ind[r, :n])
            assert np.all(src[r, :n] >= -1) and np.all(src[r, n:] == -2)   # only slots < L' are written
            moved = src[r, :n] >= 0
            assert np.all(src[r, :n][moved] >= n)                          # sources come from the tail
            for name, before in vars0.items():                              # what the gather kernel does
                gathered = before[r, :n].copy()
                gathered[moved] = before[r, src[r, :n][moved]]
                np.testing.assert_array_equal(gathered, rows.vars[name][r, :n])
        assert int(np.count_nonzero(src >= 0)) <= int(mask.sum())           # O(moved), never more


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="no usable CUDA device")
def test_cupy_remove_matches_numpy():
    """The CUDA kernels (CuPy path) and the array version (NumPy path) give the same slot layout, with float32
    and uint8 variables too (every gather width)."""
    dtypes = {"weight": np.float32, "delay": np.int32, "uid": np.int64, "flag": np.uint8, "half": np.float16}
    rng = np.random.default_rng(5)
    n_pre, n_post, capacity = 300, 1000, 24
    backends = [select_backend("numpy", "float32"), select_backend("cupy", "float32")]
    pre = rng.integers(0, n_pre, 4000)
    post = rng.integers(0, n_post, 4000)
    keep = np.concatenate([np.nonzero(pre == r)[0][:capacity] for r in range(n_pre)])
    pre, post = pre[keep], post[keep]
    values = {"weight": rng.normal(size=pre.size), "delay": rng.integers(1, 30, pre.size),
              "uid": np.arange(pre.size), "flag": rng.integers(0, 256, pre.size), "half": rng.normal(size=pre.size)}
    all_rows = [RaggedRows.from_coo(b, n_pre, n_post, pre, post, values, dtypes, capacity=capacity) for b in backends]
    assert all_rows[1].backend.is_gpu
    for step in range(6):
        mask = rng.random((n_pre, capacity)) < [0.05, 0.3, 0.0, 0.6, 0.3, 1.0][step]
        removed = [rows.remove_synapses(b.xp.asarray(mask)) for rows, b in zip(all_rows, backends)]
        assert removed[0] == removed[1]
        lengths = [host(b, rows.row_length) for rows, b in zip(all_rows, backends)]
        np.testing.assert_array_equal(lengths[0], lengths[1])
        live_mask = np.arange(capacity)[None, :] < lengths[0][:, None]
        for name in ["ind", *dtypes]:
            a, g = (host(b, rows.ind if name == "ind" else rows.vars[name]) for rows, b in zip(all_rows, backends))
            np.testing.assert_array_equal(a[live_mask], g[live_mask], err_msg=f"{name} step {step}")
        add_pre, add_post = rng.integers(0, n_pre, 500), rng.integers(0, n_post, 500)
        stored = [rows.add_synapses(b.xp.asarray(add_pre), b.xp.asarray(add_post), {"uid": -1})
                  for rows, b in zip(all_rows, backends)]
        np.testing.assert_array_equal(stored[0], stored[1])
        assert all_rows[0].failed_additions == all_rows[1].failed_additions
