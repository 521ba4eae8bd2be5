"""SynapseGroup: one projection's ragged rows and its spike-driven propagation into the target ring buffer.

Propagation (NumPy twin of kernels/psg_propagation.cu): gather the rows of this step's spiking sources, and
scatter-add weight * spike count into ring[(step + delay) % n_slots, receptor, post]. Work is proportional
to spikes x row length, never to n_pre x n_post.
"""

from __future__ import annotations

import numpy as np

from .connectivity import RaggedRows, row_ranks
from .timegrid import delay_steps  # noqa: F401  (also imported from here)

def _shared_scalar(arrays):
    """The value of arrays that are all broadcasts of one number (stride 0, as buffer() makes them from a
    scalar weight, delay or parameter), or None when any of them holds per-synapse values."""
    values = set()
    for a in arrays:
        if a.shape[0] == 0:
            continue
        if a.strides != (0,):
            return None
        values.add(float(a[0]))
    return values.pop() if len(values) == 1 else (0.0 if not values else None)


class SynapseGroup:
    """The synapses of one projection from `pre` to `post` (NeuronGroups): a row for each presynaptic cell of
    the whole population, holding the synapses onto the cells of `post` this process has (local indices)."""

    var_dtypes = None   # set per instance: weight (float), delay (int32 steps)

    def __init__(self, backend, pre, post, receptor: int, label: str = "", model=None):
        from .synapse_models import Static
        self.backend, self.pre, self.post, self.receptor, self.label = backend, pre, post, int(receptor), label
        self.model = model or Static()
        self._pending = []        # (pre indices, post indices, weights, delays in ms, {parameter: values})
        self.rows: RaggedRows | None = None
        self.capacity = None
        self.spare = 0.0
        self.dt = None
        self.rewirer = None       # structural.Rewirer when synapses are formed and eliminated during runs
        self.deep_r = None        # learning.DeepR when a trainer rewires the synapses between batches

    # --- building (buffer, then finalise) -----------------------------------------------------------
    def buffer(self, pre, post, weight, delay, parameters=None) -> None:
        """Queue synapses; `parameters` holds the synapse model's parameters (scalars or per synapse).
        Arrays are kept on the backend's array module (on the device with CuPy)."""
        xp = self.backend.xp
        pre = xp.asarray(pre, dtype=xp.int64).reshape(-1)
        post = xp.broadcast_to(xp.asarray(post, dtype=xp.int64), pre.shape)
        given = parameters or {}
        extra = {name: xp.broadcast_to(xp.asarray(given.get(name, default), dtype=xp.float64), pre.shape)
                 for name, default in self.model.parameters.items()}
        weight = xp.broadcast_to(xp.asarray(weight, dtype=xp.float64), pre.shape)
        delay = xp.broadcast_to(xp.asarray(delay, dtype=xp.float64), pre.shape)
        if self._keeps_key_slots():
            extra = {**extra, "_gslot": self._key_slots(pre)}
        if getattr(self.post, "distributed", False):   # this process stores the synapses onto its own cells only
            keep = (post >= self.post.cell0) & (post < self.post.cell0 + self.post.n)
            m = int(keep.sum())

            def pick(a):     # a broadcast scalar stays one (finalise() keeps it as a single value)
                return xp.broadcast_to(a[:1], (m,)) if a.shape[0] and a.strides == (0,) else a[keep]
            pre, post = pre[keep], post[keep] - self.post.cell0
            weight, delay = pick(weight), pick(delay)
            extra = {name: pick(v) for name, v in extra.items()}
        self._pending.append((pre, post, weight, delay, extra))

    def _keeps_key_slots(self) -> bool:
        """Whether the synapses keep the place each would have in its row in one process ("_gslot"): random
        draws of stochastic synapses are keyed by it, and with several processes a row holds only some of
        its synapses."""
        return getattr(self.post, "distributed", False) and getattr(self.model, "stochastic", False)

    def _key_slots(self, pre):
        """The places in their rows that new synapses `pre` (all of them, before a process keeps its own) take
        in one process: after the synapses buffered so far, in the order given (as from_coo's stable sort)."""
        xp = self.backend.xp
        n_pre = getattr(self.pre, "n_total", self.pre.n)
        if getattr(self, "_row_fill", None) is None:
            self._row_fill = xp.zeros(n_pre, dtype=xp.int64)
        counts = xp.bincount(pre, minlength=n_pre)
        order, ranked = row_ranks(xp, pre, counts)
        rank = xp.empty(pre.shape[0], dtype=xp.int64)
        rank[order] = ranked
        slots = self._row_fill[pre] + rank
        self._row_fill += counts
        return slots.astype(xp.float64)

    def finalise(self, dt: float) -> None:
        """Build the ragged rows from everything buffered, in one vectorised pass. Connections made after
        a run are merged with the existing ones and the rows rebuilt (between runs, so nothing is lost)."""
        if not self._pending and self.rows is not None:
            return
        xp = self.backend.xp
        names = list(self.model.parameters) + list(self.model.state) + (["_gslot"] if self._keeps_key_slots() else [])
        initial = self.model.state.items()
        parts = [(pre, post, w, d, {**extra, **{name: xp.broadcast_to(xp.asarray(v, dtype=xp.float64), pre.shape)
                                                 for name, v in initial}})
                 for pre, post, w, d, extra in self._pending]
        if self.rows is not None:
            pre0, post0, values0 = self.rows.to_coo()           # host arrays
            kept = {name: xp.asarray(values0[name]) for name in names}
            parts.insert(0, (xp.asarray(pre0), xp.asarray(post0), xp.asarray(values0["weight"]),
                             xp.asarray(values0["delay"] * self.dt), kept))

        def joined(arrays):
            """One value for all synapses (a scalar: no per-synapse array to sort) or the concatenation."""
            shared = _shared_scalar(arrays)
            return xp.concatenate(arrays) if shared is None else xp.asarray(shared, dtype=xp.float64)

        pre = xp.concatenate([p[0] for p in parts]) if parts else xp.zeros(0, xp.int64)
        post = xp.concatenate([p[1] for p in parts]) if parts else xp.zeros(0, xp.int64)
        w, d = (joined([p[k] for p in parts]) for k in (2, 3))
        extra = {name: joined([p[4][name] for p in parts]) for name in names}
        self._pending = []
        steps = delay_steps(d, dt, xp).astype(xp.int32)
        del d
        dtypes = {"weight": self.backend.dtype, "delay": np.int32, **self.model.var_dtypes(self.backend.dtype)}
        if self._keeps_key_slots():
            dtypes["_gslot"] = np.int32
        self.rows = RaggedRows.from_coo(self.backend, getattr(self.pre, "n_total", self.pre.n), self.post.n, pre, post,
                                        {"weight": w, "delay": steps, **extra}, dtypes,
                                        capacity=self.capacity, spare=self.spare)

    def longest_pending_row(self) -> int:
        """Synapses of the fullest row among those buffered (not yet built into rows); with several processes,
        over all of them (a collective call)."""
        xp = self.backend.xp
        n_pre = getattr(self.pre, "n_total", self.pre.n)
        pre = xp.concatenate([p[0] for p in self._pending]) if self._pending else xp.zeros(0, xp.int64)
        if getattr(self.post, "distributed", False):     # a row's synapses on every process
            from .parallel import world
            counts = world().allreduce_array(self.backend.to_host(xp.bincount(pre, minlength=n_pre)))
            return int(counts.max()) if counts.shape[0] else 0
        return int(xp.bincount(pre).max()) if pre.shape[0] else 0

    @property
    def max_delay_steps(self) -> int:
        delays = [float(p[3].max()) for p in self._pending if p[3].shape[0]]
        longest = int(delay_steps(max(delays), self.dt)) if delays and self.dt else 0
        if self.rows is not None and self.rows.size():
            longest = max(longest, int(self.rows.vars["delay"].max()))
        if self.rewirer is not None and self.dt:
            longest = max(longest, self.rewirer.initial_delay_steps(self.dt))
        return longest

    @property
    def min_delay_steps(self):
        """Shortest delay in steps, or None without synapses."""
        delays = [float(p[3].min()) for p in self._pending if p[3].shape[0]]
        shortest = [int(delay_steps(min(delays), self.dt))] if delays and self.dt else []
        if self.rows is not None and self.rows.size():
            shortest.append(int(self.rows.minimum("delay")))
        return min(shortest) if shortest else None

    def prepare(self, dt: float) -> None:
        self.dt = dt
        self.finalise(dt)
        if self.rewirer is not None:
            self.rewirer.prepare(dt)

    # --- time step ----------------------------------------------------------------------------------
    def propagate(self, counts, step: int) -> None:
        """The NumPy reference (the compiled paths run kernels/psg_propagation.cu)."""
        spikers = counts.nonzero()[0]
        if spikers.shape[0] == 0:
            return
        rows = self.rows
        ring = self.post.ring
        cache = getattr(self, "_numpy_scatter", None)
        if cache is None or cache[0] is not ring or cache[1].shape[0] != rows.ind.shape[1]:
            # the ring is C-contiguous (allocated by its NeuronGroup): its flat reshape is a view; the flat index
            # of ring[(step + delay) % n_slots, receptor, post] is offsets[step % n_slots + delay] + post
            n_slots, n_receptors, n = ring.shape
            offsets = (np.arange(2 * n_slots, dtype=np.int64) % n_slots) * (n_receptors * n) + self.receptor * n
            cache = self._numpy_scatter = (ring, np.arange(rows.ind.shape[1]), offsets,
                                           np.reshape(ring, -1, copy=False))
        _, cols, offsets, flat_ring = cache
        if spikers.shape[0] == 1:                 # the common case at low rates: one row, as views
            i = int(spikers[0])
            length = int(rows.row_length[i])
            post = rows.ind[i, :length]
            weight = rows.vars["weight"][i, :length]
            delay = rows.vars["delay"][i, :length]
            if counts.dtype != bool:
                weight = weight * counts[i]
        else:                                     # flat indices of the spikers' synapses in use
            lengths = rows.row_length[spikers]
            syn = ((spikers * cols.shape[0])[:, None] + cols)[cols < lengths[:, None]]
            post = rows.ind.take(syn)
            weight = rows.vars["weight"].take(syn)
            delay = rows.vars["delay"].take(syn)
            if counts.dtype != bool:
                weight = weight * counts[spikers].repeat(lengths)
        s0 = step % ring.shape[0]
        np.add.at(flat_ring, offsets[s0:s0 + ring.shape[0]].take(delay) + post, weight)   # sums repeated targets

    def after_step(self, step: int) -> None:
        """Hook for plastic and structural updates (none for static synapses)."""

    def reset(self) -> None:
        """Static synapses keep their weights (and connectivity) across reset()."""
        if self.rewirer is not None:
            self.rewirer.reset()
