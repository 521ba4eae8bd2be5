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

`uniform(name)` tells whether every synapse in use holds one value of a variable (a projection made with one
weight and one delay, the common case): the compiled propagation then reads neither array. The answer is kept
until the variable may have changed: any access to `vars` (item, values, items) other than `vars.peek(name)`
counts as a possible write, so a cached answer is never stale.
"""

from __future__ import annotations

import os

import numpy as np


def row_ranks(xp, pre, counts):
    """(order, rank): the stable order of synapses by row (`pre`, with `counts` synapses per row), and the
    place of each synapse in that order within its row, the slot from_coo gives it."""
    order = xp.argsort(pre, kind="stable")
    return order, xp.arange(pre.shape[0], dtype=xp.int64) - (xp.cumsum(counts) - counts)[pre[order]]


def index_dtype(n_post: int):
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_post <= np.iinfo(dtype).max + 1:
            return dtype
    return np.uint64


class SynapseVars(dict):
    """rows.vars: the per-synapse arrays by name. Callers write through an item (`rows.vars[name][r, c] = v`)
    or by iterating, so every such access advances `version` (a possible write); `peek(name)` reads an array
    without doing so, for code that only reads it (kernel arguments, the uniformity check)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = 0

    def peek(self, name):
        return dict.__getitem__(self, name)

    def __getitem__(self, name):
        self.version += 1
        return dict.__getitem__(self, name)

    def __setitem__(self, name, value):
        self.version += 1
        dict.__setitem__(self, name, value)

    def get(self, name, default=None):
        self.version += 1
        return dict.get(self, name, default)

    def values(self):
        self.version += 1
        return dict.values(self)

    def items(self):
        self.version += 1
        return dict.items(self)

    def pop(self, *args):
        self.version += 1
        return dict.pop(self, *args)

    def update(self, *args, **kwargs):
        self.version += 1
        dict.update(self, *args, **kwargs)

    def setdefault(self, *args):
        self.version += 1
        return dict.setdefault(self, *args)


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
        self.failed_additions = 0      # additions refused so far because their row was full

    @property
    def vars(self) -> SynapseVars:
        return self._vars

    @vars.setter
    def vars(self, arrays) -> None:
        self._vars = arrays if isinstance(arrays, SynapseVars) else SynapseVars(arrays)
        self._vars.version += 1
        self._uniform = {}             # name -> (vars.version, row_length object, value or None)

    def uniform(self, name):
        """The one value every synapse in use holds for variable `name` (a NumPy scalar of its dtype; zero
        when there are no synapses), or None when they hold several. Computed once per change of the rows
        (one pass over the rows in use; on the GPU one small copy to the host) and cached."""
        key = (self._vars.version, id(self.row_length))
        cached = self._uniform.get(name)
        if cached is not None and cached[:2] == key:
            return cached[2]
        xp = self.backend.xp
        arr = self._vars.peek(name)
        lengths = self.row_length
        nonempty = xp.flatnonzero(lengths > 0)
        if nonempty.shape[0] == 0:
            value = np.zeros((), dtype=arr.dtype)[()]
        else:
            bits = arr.view(_UINT_OF_WIDTH[arr.dtype.itemsize])      # bit for bit: 0.0 and -0.0 differ
            v0 = arr[int(nonempty[0]), 0]
            b0 = bits[int(nonempty[0]), 0]
            cols = xp.arange(self.capacity)[None, :]
            block = max(1, (1 << 22) // self.capacity)        # rows per pass: bounded temporaries
            differs = False
            for start in range(0, self.n_pre, block):
                part = slice(start, start + block)
                if bool(xp.any((cols < lengths[part, None]) & (bits[part] != b0))):
                    differs = True
                    break
            value = None if differs else np.asarray(self.backend.to_host(v0)).reshape(())[()]
        self._uniform[name] = key + (value,)
        return value

    def minimum(self, name):
        """The smallest value of variable `name` over the synapses in use (None without synapses), cached
        like uniform()."""
        key = (self._vars.version, id(self.row_length))
        cached = self._uniform.get(("min", name))
        if cached is not None and cached[:2] == key:
            return cached[2]
        shared = self.uniform(name)
        if shared is not None:
            value = shared if self.size() else None
        else:
            xp = self.backend.xp
            arr, lengths = self._vars.peek(name), self.row_length
            cols = xp.arange(self.capacity)[None, :]
            block = max(1, (1 << 22) // self.capacity)
            parts = []
            for start in range(0, self.n_pre, block):
                part = slice(start, start + block)
                used = cols < lengths[part, None]
                if bool(used.any()):
                    parts.append(arr[part][used].min())
            value = np.asarray(self.backend.to_host(min(parts))).reshape(())[()] if parts else None
        self._uniform[("min", name)] = key + (value,)
        return value

    @classmethod
    def from_coo(cls, backend, n_pre, n_post, pre, post, values: dict, var_dtypes: dict,
                 capacity: int | None = None, spare: float = 0.0):
        """Build rows from coordinate lists in one vectorised pass (stable sort by pre + bincount), on the
        backend's array module: with CuPy the rows are built on the device from device (or host) arrays."""
        xp = backend.xp
        pre = xp.asarray(pre, dtype=xp.int64).reshape(-1)
        post = xp.asarray(post, dtype=xp.int64).reshape(-1)
        n = pre.shape[0]
        counts = xp.bincount(pre, minlength=n_pre) if n else xp.zeros(n_pre, xp.int64)
        longest = int(counts.max()) if n_pre else 0
        needed = int(np.ceil(longest * (1.0 + spare)))
        if capacity is None:
            capacity = needed
        elif capacity < longest:
            raise RowCapacityError(f"row_capacity={capacity} is too small: the connector made a row of "
                                   f"{longest} synapses")
        rows = cls(backend, n_pre, n_post, max(capacity, 1), var_dtypes)
        rows.row_length = counts.astype(xp.int32)
        if n == 0:
            return rows
        order, c = row_ranks(xp, pre, counts)
        r = pre[order]
        rows.ind[r, c] = post[order].astype(rows.ind.dtype)
        del post
        for name, value in values.items():
            value = xp.asarray(value)
            target = rows.vars[name]
            target[r, c] = value.astype(target.dtype) if value.ndim == 0 else \
                xp.broadcast_to(value, (n,))[order].astype(target.dtype)
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

    def synapse_slots(self, rows=None):
        """(row, slot) of every synapse of `rows` (default: all rows), as device arrays in row order."""
        from .generation import repeat_index
        xp = self.backend.xp
        rows = xp.arange(self.n_pre) if rows is None else rows
        lengths = self.row_length[rows].astype(xp.int64)
        starts = xp.cumsum(lengths) - lengths
        owner = repeat_index(xp, lengths)         # CuPy's repeat takes no array of counts
        slots = xp.arange(owner.shape[0]) - starts[owner]
        return rows[owner], slots

    # --- editing ------------------------------------------------------------------------------------
    def add_synapses(self, pre, post, values: dict, check: bool = True) -> np.ndarray:
        """Append synapses at their rows' ends, in call order within a row. Returns a host bool array:
        True where the synapse was stored, False where its row was full (nothing is written for those, and
        each refusal is counted in self.failed_additions).

        Raises ValueError, writing nothing, when pre is outside [0, n_pre) or post outside [0, n_post)
        (check=False skips that test, for indices the engine made itself).
        """
        xp = self.backend.xp
        pre = xp.asarray(pre, dtype=xp.int64).reshape(-1)
        post = xp.asarray(post, dtype=xp.int64).reshape(-1)
        if pre.shape != post.shape:
            raise ValueError(f"pre and post must have the same length, got {pre.shape[0]} and {post.shape[0]}")
        if pre.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        if check:
            self._check_range("pre", pre, self.n_pre)
            self._check_range("post", post, self.n_post)
        n = pre.shape[0]
        columns = {name: xp.broadcast_to(xp.asarray(values.get(name, 0), dtype=arr.dtype), (n,))
                   for name, arr in self.vars.items()}       # shaped (and checked) before anything is written
        order = xp.argsort(pre, kind="stable")
        sp = pre[order]
        first = xp.searchsorted(sp, sp, side="left")
        rank = xp.arange(n) - first                           # position among additions to the same row
        slot = self.row_length[sp].astype(xp.int64) + rank
        ok = slot < self.capacity
        r, c = sp[ok], slot[ok]
        self.ind[r, c] = post[order][ok].astype(self.ind.dtype)
        for name, arr in self.vars.items():
            arr[r, c] = columns[name][order][ok]
        added = xp.bincount(r, minlength=self.n_pre).astype(xp.int32)
        self.row_length += added
        stored = xp.zeros(n, dtype=bool)
        stored[order] = ok
        stored = self.backend.to_host(stored)
        self.failed_additions += int(n - np.count_nonzero(stored))
        return stored

    def _check_range(self, name, values, upper):
        lo, hi = int(values.min()), int(values.max())
        if lo < 0 or hi >= upper:
            host = self.backend.to_host(values)
            bad = int(host[(host < 0) | (host >= upper)][0])
            raise ValueError(f"{name} index {bad} is out of range: allowed values are 0 <= {name} < {upper} "
                             f"(n_{name}={upper})")

    def remove_synapses(self, mask) -> int:
        """Remove the synapses where mask[n_pre, capacity] is True (slots past row_length are ignored), by
        swap-with-last, vectorised over rows. Returns the number removed.

        The rule, per row (L = row_length, K = masked slots below L, L' = L - K):
            the j-th masked slot below L' (ascending) receives the j-th unmasked slot in [L', L) (ascending),
            and row_length becomes L'.
        As a sequence of swap-with-last steps ("move the row's last synapse into the hole, decrement"), this is:
        take the holes below L' from the highest down; before each, drop masked synapses from the row's end
        (a swap-with-last whose hole is the last slot); then move the last synapse into the hole. Masked
        slots at or above L' are only ever dropped from the end, never refilled. (Refilling every hole from
        the highest down, tail holes included, gives another layout: [a b c d e] minus a, b, c -> [e d].)
        Every per-synapse variable moves with its synapse; only the moved synapses are written (each at
        most once). Slots from L' up keep stale data and are free.

            [a b c d e], remove b and e     ->  [a d c]   (L=5, K=2, L'=3: hole 1 <- survivor 3)
            [a b c d e], remove a, b and c  ->  [d e]     (holes 0, 1 <- survivors 3, 4)

        On the GPU path the same rule runs in kernels/rows.cu (one thread per row), giving the same layout.
        """
        xp = self.backend.xp
        mask = xp.asarray(mask, dtype=bool)
        if mask.shape != (self.n_pre, self.capacity):
            raise ValueError(f"mask must have shape (n_pre, capacity) = {(self.n_pre, self.capacity)}, "
                             f"got {tuple(mask.shape)}")
        if self.backend.is_gpu:
            return self._remove_cuda(mask)
        return self._remove_xp(mask)

    def remove_at(self, rows, slots) -> int:
        """Remove the synapses at (rows[k], slots[k]) by the rule of remove_synapses, touching only the rows
        named (work proportional to those rows x capacity). Repeated addresses count once; slots at or past
        their row's length are ignored. Returns the number removed."""
        xp = self.backend.xp
        rows = xp.asarray(rows, dtype=xp.int64).reshape(-1)
        slots = xp.asarray(slots, dtype=xp.int64).reshape(-1)
        if rows.shape[0] == 0:
            return 0
        touched = xp.unique(rows)
        mask = xp.zeros((touched.shape[0], self.capacity), dtype=bool)
        mask[xp.searchsorted(touched, rows), slots] = True
        return self._remove_xp(mask, touched)

    def _remove_xp(self, mask, rows=None) -> int:
        """The array version of the removal rule (NumPy twin of the CUDA kernels; also runs on CuPy). With
        `rows`, mask covers only those rows (mask[k] is row rows[k])."""
        xp = self.backend.xp
        cols = xp.arange(self.capacity)[None, :]
        old_length = self.row_length if rows is None else self.row_length[rows]
        length = old_length[:, None]
        kill = mask & (cols < length)
        n_killed = kill.sum(axis=1).astype(xp.int32)
        new_length = old_length - n_killed
        below = cols < new_length[:, None]
        hole = kill & below                                   # masked slots that must be refilled
        donor = ~kill & ~below & (cols < length)              # survivors in the tail [L', L)
        # per row, holes and donors are equally many; row-major order pairs the j-th of each in each row
        hr, hc = xp.nonzero(hole)
        dr, dc = xp.nonzero(donor)
        if rows is not None:
            hr, dr = rows[hr], rows[dr]
        if hr.shape[0]:
            self.ind[hr, hc] = self.ind[dr, dc]
            for arr in self.vars.values():
                arr[hr, hc] = arr[dr, dc]
        if rows is None:
            self.row_length = new_length.astype(xp.int32)
        else:
            self.row_length[rows] = new_length.astype(xp.int32)
        return int(n_killed.sum())

    def _remove_cuda(self, mask) -> int:
        xp = self.backend.xp
        remove, gathers = _rows_kernels(self.backend, self.ind.dtype)
        if not self.ind.flags.c_contiguous:
            self.ind = xp.ascontiguousarray(self.ind)
        for name, arr in self.vars.items():
            if not arr.flags.c_contiguous:
                self.vars[name] = xp.ascontiguousarray(arr)
        self.row_length = xp.ascontiguousarray(self.row_length, dtype=xp.int32)
        before = self.row_length.sum()
        mask8 = xp.ascontiguousarray(mask.astype(xp.uint8))
        src = xp.empty((self.n_pre, self.capacity), dtype=xp.int32)
        n_pre, capacity = np.int32(self.n_pre), np.int32(self.capacity)
        threads = 128
        remove((max(min((self.n_pre + threads - 1) // threads, 4096), 1),), (threads,),
               (mask8, self.ind, self.row_length, src, n_pre, capacity))
        for name, arr in self.vars.items():
            bits = arr.view(_UINT_OF_WIDTH[arr.dtype.itemsize])
            gathers[arr.dtype.itemsize]((max(min(self.n_pre, 4096), 1),), (128,),
                                        (bits, self.row_length, src, n_pre, capacity))
        return int(before - self.row_length.sum())


_KERNEL_DIR = os.path.join(os.path.dirname(__file__), "kernels")
_INDEX_CTYPES = {"uint8": "unsigned char", "uint16": "unsigned short", "uint32": "unsigned int",
                 "uint64": "unsigned long long"}
_UINT_OF_WIDTH = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _rows_kernels(backend, index_dtype):
    """(remove kernel, {itemsize: gather kernel}) from kernels/rows.cu for this index type (memoised)."""
    key = ("rows", np.dtype(index_dtype).name)
    if key not in backend._kernel_cache:
        import cupy
        with open(os.path.join(_KERNEL_DIR, "rows.cu")) as f:
            code = f.read()
        backend._kernel_cache[key] = cupy.RawModule(code=code, options=(f"-DINDEX_T={_INDEX_CTYPES[key[1]]}",))
    module = backend._kernel_cache[key]
    return (module.get_function("pynn_sparsegpu_rows_remove"),
            {width: module.get_function(f"pynn_sparsegpu_rows_gather_u{8 * width}") for width in _UINT_OF_WIDTH})
