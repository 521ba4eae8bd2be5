"""RaggedRows: per-presynaptic rows with spare capacity, the storage that rewiring edits in place.

Layout (one projection):
    ind[n_pre, capacity]         postsynaptic index of each synapse (narrowest unsigned type for n_post)
    row_length[n_pre]            synapses in use per row; slots >= row_length are free
    vars[name][n_pre, capacity]  every per-synapse variable (weight, delay steps, plastic state...)

    pre 0: [ 3  7  1  .  . ]  row_length 3
    pre 1: [ 0  .  .  .  . ]  row_length 1
    pre 2: [ .  .  .  .  . ]  row_length 0

Add = write at row_length and increment. Remove = move the row's last synapse into the hole and decrement;
every per-synapse variable moves with it. Kernels walk a row to row_length, never to capacity.
"""

from __future__ import annotations

import numpy as np


def index_dtype(n_post: int):
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_post <= np.iinfo(dtype).max + 1:
            return dtype
    return np.uint64


class RowCapacityError(ValueError):
    """A row has no free slot for a synapse that must be stored."""


class RaggedRows:
    def __init__(self, backend, n_pre: int, n_post: int, capacity: int, var_dtypes: dict):
        xp = backend.xp
        self.backend, self.n_pre, self.n_post = backend, int(n_pre), int(n_post)
        self.capacity = max(int(capacity), 1)
        self.ind = xp.zeros((self.n_pre, self.capacity), dtype=index_dtype(self.n_post))
        self.row_length = xp.zeros(self.n_pre, dtype=xp.int32)
        self.vars = {name: xp.zeros((self.n_pre, self.capacity), dtype=dt) for name, dt in var_dtypes.items()}

    @classmethod
    def from_coo(cls, backend, n_pre, n_post, pre, post, values: dict, var_dtypes: dict,
                 capacity: int | None = None, spare: float = 0.0):
        """Build rows from coordinate lists in one vectorised pass (stable sort by pre + bincount)."""
        pre = np.asarray(pre, dtype=np.int64)
        post = np.asarray(post, dtype=np.int64)
        counts = np.bincount(pre, minlength=n_pre) if pre.size else np.zeros(n_pre, np.int64)
        longest = int(counts.max()) if counts.size else 0
        needed = int(np.ceil(longest * (1.0 + spare)))
        if capacity is None:
            capacity = needed
        elif capacity < longest:
            raise RowCapacityError(f"row_capacity={capacity} is too small: the connector made a row of "
                                   f"{longest} synapses")
        rows = cls(backend, n_pre, n_post, max(capacity, 1), var_dtypes)
        order = np.argsort(pre, kind="stable")
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        slot = np.arange(pre.size) - np.repeat(starts, counts)
        r, c = pre[order], slot
        xp = backend.xp
        ind = np.zeros((n_pre, rows.capacity), dtype=rows.ind.dtype)
        ind[r, c] = post[order]
        rows.ind = xp.asarray(ind)
        rows.row_length = xp.asarray(counts.astype(np.int32))
        for name, value in values.items():
            host = np.zeros((n_pre, rows.capacity), dtype=var_dtypes[name])
            host[r, c] = np.broadcast_to(np.asarray(value), pre.shape)[order]
            rows.vars[name] = xp.asarray(host)
        return rows

    # --- queries ------------------------------------------------------------------------------------
    def size(self) -> int:
        return int(self.row_length.sum())

    def to_coo(self):
        """(pre, post, {name: values}) of every synapse, as host arrays in row order."""
        lengths = self.backend.to_host(self.row_length).astype(np.int64)
        pre = np.repeat(np.arange(self.n_pre), lengths)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        slot = np.arange(pre.size) - np.repeat(starts, lengths)
        ind = self.backend.to_host(self.ind)
        values = {name: self.backend.to_host(v)[pre, slot] for name, v in self.vars.items()}
        return pre, ind[pre, slot].astype(np.int64), values

    def synapse_slots(self):
        """(row, slot) of every synapse, as device arrays in row order."""
        xp = self.backend.xp
        lengths = self.row_length.astype(xp.int64)
        rows = xp.repeat(xp.arange(self.n_pre), lengths)
        starts = xp.cumsum(lengths) - lengths
        slots = xp.arange(rows.shape[0]) - xp.repeat(starts, lengths)
        return rows, slots

    # --- editing ------------------------------------------------------------------------------------
    def add_synapses(self, pre, post, values: dict) -> np.ndarray:
        """Append synapses at their rows' ends. Returns a bool array: True where the synapse was stored,
        False where its row was full (nothing is written for those)."""
        xp = self.backend.xp
        pre = xp.asarray(pre, dtype=xp.int64)
        post = xp.asarray(post, dtype=xp.int64)
        if pre.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        order = xp.argsort(pre, kind="stable")
        sp = pre[order]
        first = xp.searchsorted(sp, sp, side="left")
        rank = xp.arange(sp.shape[0]) - first                 # position among additions to the same row
        slot = self.row_length[sp].astype(xp.int64) + rank
        ok = slot < self.capacity
        r, c = sp[ok], slot[ok]
        self.ind[r, c] = post[order][ok].astype(self.ind.dtype)
        for name, arr in self.vars.items():
            value = xp.broadcast_to(xp.asarray(values.get(name, 0), dtype=arr.dtype), pre.shape)
            arr[r, c] = value[order][ok]
        added = xp.bincount(r, minlength=self.n_pre).astype(xp.int32)
        self.row_length += added
        stored = xp.zeros(pre.shape[0], dtype=bool)
        stored[order] = ok
        return self.backend.to_host(stored)

    def remove_synapses(self, mask) -> int:
        """Remove the synapses where mask[n_pre, capacity] is True (slots past row_length are ignored).

        Vectorised over all rows at once: each row is compacted so that its survivors keep their order
        (the per-row result holds the same synapses as repeated swap-with-last, in a different order), and
        every per-synapse variable moves along. Returns the number removed.
        """
        xp = self.backend.xp
        cols = xp.arange(self.capacity)[None, :]
        in_use = cols < self.row_length[:, None]
        kill = xp.asarray(mask, dtype=bool) & in_use
        keep = in_use & ~kill
        # stable compaction: new slot = number of kept synapses before it in the row
        new_slot = xp.cumsum(keep, axis=1) - 1
        r, c = xp.nonzero(keep)
        nc = new_slot[r, c]
        ind = xp.zeros_like(self.ind)
        ind[r, nc] = self.ind[r, c]
        self.ind = ind
        for name, arr in self.vars.items():
            moved = xp.zeros_like(arr)
            moved[r, nc] = arr[r, c]
            self.vars[name] = moved
        removed = int(kill.sum())
        self.row_length = keep.sum(axis=1).astype(xp.int32)
        return removed
