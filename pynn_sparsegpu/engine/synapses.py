"""SynapseGroup: one projection's ragged rows and its spike-driven propagation into the target ring buffer.

Propagation (NumPy twin of the CUDA kernel): gather the rows of this step's spiking sources, and
scatter-add weight * spike count into ring[(step + delay) % n_slots, receptor, post]. Work is proportional
to spikes x row length, never to n_pre x n_post.
"""

from __future__ import annotations

import numpy as np

from .connectivity import RaggedRows


class SynapseGroup:
    var_dtypes = None   # set per instance: weight (float), delay (int32 steps)

    def __init__(self, backend, pre, post, receptor: int, label: str = ""):
        self.backend, self.pre, self.post, self.receptor, self.label = backend, pre, post, int(receptor), label
        self._pending = []        # (pre indices, post index or indices, weights, delays in ms) chunks
        self.rows: RaggedRows | None = None
        self.capacity = None
        self.spare = 0.0
        self.dt = None

    # --- building (buffer, then finalise) -----------------------------------------------------------
    def buffer(self, pre, post, weight, delay) -> None:
        pre = np.asarray(pre, dtype=np.int64).ravel()
        post = np.broadcast_to(np.asarray(post, dtype=np.int64), pre.shape)
        self._pending.append((pre, post, np.broadcast_to(np.asarray(weight, float), pre.shape),
                              np.broadcast_to(np.asarray(delay, float), pre.shape)))

    def finalise(self, dt: float) -> None:
        """Build the ragged rows from everything buffered, in one vectorised pass. Connections made after
        a run are merged with the existing ones and the rows rebuilt (between runs, so nothing is lost)."""
        if not self._pending and self.rows is not None:
            return
        parts = list(self._pending)
        if self.rows is not None:
            pre0, post0, values0 = self.rows.to_coo()
            parts.insert(0, (pre0, post0, values0["weight"], values0["delay"] * self.dt))
        if parts:
            pre, post, w, d = (np.concatenate(p) for p in zip(*parts))
        else:
            pre = post = np.zeros(0, np.int64)
            w = d = np.zeros(0)
        self._pending = []
        steps = np.rint(d / dt).astype(np.int32)
        dtypes = {"weight": self.backend.dtype, "delay": np.int32}
        self.rows = RaggedRows.from_coo(self.backend, self.pre.n, self.post.n, pre, post,
                                        {"weight": w, "delay": steps}, dtypes,
                                        capacity=self.capacity, spare=self.spare)

    @property
    def max_delay_steps(self) -> int:
        delays = [np.max(p[3]) for p in self._pending if p[3].size]
        longest = int(np.rint(max(delays) / self.dt)) if delays and self.dt else 0
        if self.rows is not None and self.rows.size():
            longest = max(longest, int(self.rows.vars["delay"].max()))
        return longest

    @property
    def min_delay_steps(self):
        """Shortest delay in steps, or None without synapses."""
        delays = [np.min(p[3]) for p in self._pending if p[3].size]
        shortest = [int(np.rint(min(delays) / self.dt))] if delays and self.dt else []
        if self.rows is not None and self.rows.size():
            rows, slots = self.rows.synapse_slots()
            shortest.append(int(self.rows.vars["delay"][rows, slots].min()))
        return min(shortest) if shortest else None

    def prepare(self, dt: float) -> None:
        self.dt = dt
        self.finalise(dt)

    # --- time step ----------------------------------------------------------------------------------
    def propagate(self, counts, step: int) -> None:
        xp = self.backend.xp
        rows = self.rows
        spikers = xp.nonzero(counts)[0]
        if spikers.shape[0] == 0:
            return
        lengths = rows.row_length[spikers].astype(xp.int64)
        total = int(lengths.sum())
        if total == 0:
            return
        src = xp.repeat(spikers, lengths)
        starts = xp.cumsum(lengths) - lengths
        col = xp.arange(total) - xp.repeat(starts, lengths)
        post = rows.ind[src, col].astype(xp.int64)
        weight = rows.vars["weight"][src, col] * counts[src]
        ring = self.post.ring
        slot = (step + rows.vars["delay"][src, col]) % ring.shape[0]
        if xp is np:
            np.add.at(ring, (slot, self.receptor, post), weight)
        else:
            import cupyx
            cupyx.scatter_add(ring, (slot, self.receptor, post), weight)

    def after_step(self, step: int) -> None:
        """Hook for plastic and structural updates (none for static synapses)."""

    def reset(self) -> None:
        """Static synapses keep their weights across reset()."""
