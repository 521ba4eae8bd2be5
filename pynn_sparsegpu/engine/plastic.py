"""ModelSynapseGroup: a projection whose synapses have dynamics (short-term plasticity, STDP, stochastic
release). Propagation gathers the rows of the step's spiking sources, as the static path does, lets the
synapse model update each event's synapse and say what it transmits, and scatter-adds that into the
target's ring buffer. Work is proportional to spikes x row length."""

from __future__ import annotations

import numpy as np

from .synapse_models import PostHistory
from .synapses import SynapseGroup

_TAU_SYN = {"excitatory": "tau_syn_E", "inhibitory": "tau_syn_I"}


class Events:
    """The synapses hit by this step's presynaptic spikes, as parallel arrays (see synapse_models)."""

    def __init__(self, group, src, col, step):
        self.group, self.src, self.col = group, src, col
        self.backend, self.xp, self.dt = group.backend, group.backend.xp, group.dt
        self.rows = group.rows
        self.post = self.rows.ind[src, col].astype(self.xp.int64)
        self.size = int(src.shape[0])
        self.t_pre = self.xp.full(self.size, step + 1, dtype=self.xp.int64)
        self.vars = {name: arr[src, col] for name, arr in self.rows.vars.items()}
        self.post_group, self.receptor, self.rng = group.post, group.receptor, group.rng

    def store(self, name, values):
        self.rows.vars[name][self.src, self.col] = values
        self.vars[name] = values

    def tau_psc(self):
        """Synaptic time constant of the target receptor, per event (3 ms where the model has none)."""
        receptor = self.post_group.model.receptors[self.receptor]
        name = _TAU_SYN.get(receptor)
        if name is None or name not in self.post_group.params:
            return self.xp.full(self.size, 3.0)
        return self.post_group.params[name][self.post]


class ModelSynapseGroup(SynapseGroup):
    def __init__(self, backend, pre, post, receptor: int, label: str, model, seed_sequence, history_depth=32):
        super().__init__(backend, pre, post, receptor, label, model=model)
        self._seed = seed_sequence
        self.rng = backend.rng(seed_sequence)
        self._elapsed = 0
        if model.needs_history and (post.history is None or post.history.depth < history_depth):
            post.history = PostHistory(backend, post.n, history_depth)

    def propagate(self, counts, step: int) -> None:
        xp = self.backend.xp
        rows = self.rows
        self._elapsed = step + 1
        spikers = xp.nonzero(counts)[0]
        if spikers.shape[0] == 0:
            return
        src, col = rows.synapse_slots(spikers)
        if src.shape[0] == 0:
            return
        ev = Events(self, src, col, step)
        transmitted = self.model.on_pre(ev) * counts[src]
        ring = self.post.ring
        slot = (step + ev.vars["delay"].astype(xp.int64)) % ring.shape[0]
        flat = (slot * ring.shape[1] + self.receptor) * ring.shape[2] + ev.post
        if self.backend.is_gpu:
            import cupyx
            cupyx.scatter_add(ring.reshape(-1), flat, transmitted.astype(ring.dtype))
        else:
            ring.reshape(-1)[:] += np.bincount(flat, weights=transmitted, minlength=ring.size)

    def reset(self) -> None:
        """Weights and synaptic state persist across reset() (as in NEST); the clock of each synapse's
        last spike is shifted so that the time since it stays continuous."""
        if self.rows is not None and "_tlast" in self.rows.vars:
            self.rows.vars["_tlast"] -= self._elapsed
        self._elapsed = 0
        self.rng = self.backend.rng(self._seed)
        super().reset()
