"""ModelSynapseGroup: a projection whose synapses have dynamics (short-term plasticity, STDP, stochastic
release). Propagation gathers the rows of the step's spiking sources, as the static path does, lets the
synapse model update each event's synapse and say what it transmits, and scatter-adds that into the
target's ring buffer. Work is proportional to spikes x row length.

Axonal delays (STDP with dendritic_delay_fraction f < 1): a synapse's delay D (steps) is split into the
axonal part D_a = rint((1 - f) D), at most D - 1, and the dendritic part D_d = D - D_a >= 1. A spike of
step s reaches the synapse in step s + D_a: until then its event waits in a queue on the device (row,
slot, arrival step, spike count); it is processed in that step with the stamp s + D_a + 1 and dendritic
delay D_d, and its weight reaches the soma in step s + D, as with f = 1. D_d is at least one step because
a postsynaptic spike of the arrival step is known only after the input of that step has been delivered.
With f = 1 on every synapse (NEST's convention) there is no queue and nothing changes.
"""

from __future__ import annotations

from .random import stream_key, synapse_uniform_pair
from .synapse_models import PostHistory
from .synapses import SynapseGroup

_TAU_SYN = {"excitatory": "tau_syn_E", "inhibitory": "tau_syn_I"}


class Events:
    """The synapses that this step's presynaptic spikes reach, as parallel arrays (see synapse_models);
    `dendritic_delay` (steps, per event) defaults to the whole delay."""

    def __init__(self, group, src, col, step, dendritic_delay=None):
        self.group, self.src, self.col = group, src, col
        self.backend, self.xp, self.dt = group.backend, group.backend.xp, group.dt
        self.rows = group.rows
        self.post = self.rows.ind[src, col].astype(self.xp.int64)
        self.size = int(src.shape[0])
        self.t_pre = self.xp.full(self.size, step + 1, dtype=self.xp.int64)
        self.vars = {name: arr[src, col] for name, arr in self.rows.vars.items()}
        self.dendritic_delay = self.vars["delay"].astype(self.xp.int64) if dendritic_delay is None else dendritic_delay
        self.post_group, self.receptor, self.rng = group.post, group.receptor, group.rng
        self.step = step

    def uniform_pair(self, pair):
        """Draw pair `pair` of each event's synapse in this step (engine/random.py): two uniform arrays."""
        return synapse_uniform_pair(self.group.stream_key, self.src, self.col, pair, self.step, self.xp)

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
        self.stream_key = stream_key(seed_sequence)     # the Philox key of the synapses' random draws
        self._elapsed = 0
        self._queue = None        # (row, slot, arrival step, count) of events on their way along the axon
        if model.needs_history and (post.history is None or post.history.depth < history_depth):
            post.history = PostHistory(backend, post.n, history_depth)

    def prepare(self, dt: float) -> None:
        """The queue exists while some synapse has an axonal delay or events are still on their way."""
        super().prepare(dt)
        fraction = self.rows.vars.get("dendritic_delay_fraction")
        axonal = fraction is not None and bool((fraction[self.rows.synapse_slots()] < 1).any())
        if axonal and self.rewirer is not None:
            raise ValueError("dendritic_delay_fraction below 1 is not allowed with structural plasticity: events "
                             "on their way along an axon are queued by synapse slot, and rewiring moves synapses")
        if axonal and self._queue is None:
            xp = self.backend.xp
            self._queue = tuple(xp.zeros(0, dtype=xp.int64) for _ in range(4))
        elif not axonal and self._queue is not None and self._queue[0].shape[0] == 0:
            self._queue = None

    def propagate(self, counts, step: int) -> None:
        self._elapsed = step + 1
        spikers = self.backend.xp.nonzero(counts)[0]
        if self._queue is not None:
            self._propagate_axonal(counts, spikers, step)
            return
        if spikers.shape[0] == 0:
            return
        src, col = self.rows.synapse_slots(spikers)
        if src.shape[0] == 0:
            return
        ev = Events(self, src, col, step)
        self._deliver(ev, self.model.on_pre(ev) * counts[src], step)

    def _propagate_axonal(self, counts, spikers, step: int) -> None:
        """Queue this step's events with D_a > 0; process those with D_a = 0 and the queued ones due now."""
        xp = self.backend.xp
        queue = self._queue
        if spikers.shape[0] == 0 and queue[0].shape[0] == 0:
            return
        src, col = self.rows.synapse_slots(spikers)
        axonal, _ = self._split_delay(src, col)
        later = axonal > 0
        n = counts[src].astype(xp.int64)
        due = queue[2] == step
        self._queue = tuple(xp.concatenate((q[~due], a[later])) for q, a in zip(queue, (src, col, step + axonal, n)))
        src, col, n = (xp.concatenate((a[~later], q[due])) for a, q in zip((src, col, n), queue[:2] + queue[3:]))
        if src.shape[0] == 0:
            return
        axonal, delay = self._split_delay(src, col)
        ev = Events(self, src, col, step, delay - axonal)
        self._deliver(ev, self.model.on_pre(ev) * n, step)

    def _split_delay(self, src, col):
        """(axonal part, whole delay) in steps per synapse: D_a = rint((1 - f) D), at most D - 1."""
        xp, v = self.backend.xp, self.rows.vars
        delay = v["delay"][src, col].astype(xp.int64)
        axonal = xp.rint((1.0 - v["dendritic_delay_fraction"][src, col]) * delay).astype(xp.int64)
        return xp.minimum(axonal, delay - 1), delay

    def _deliver(self, ev, transmitted, step: int) -> None:
        """Scatter-add what the events transmit into the target's ring buffer, D_d steps after arrival (on the
        CPU one event after the other, in event order, as the compiled kernel adds)."""
        ring = self.post.ring
        slot = (step + ev.dendritic_delay) % ring.shape[0]
        flat = (slot * ring.shape[1] + self.receptor) * ring.shape[2] + ev.post
        self.backend.scatter_add(ring, flat, transmitted)

    def reset(self) -> None:
        """Weights and synaptic state persist across reset() (as in NEST); the clock of each synapse's
        last spike is shifted so that the time since it stays continuous. Events still on their way along
        an axon are dropped."""
        if self.rows is not None and "_tlast" in self.rows.vars:
            self.rows.vars["_tlast"] -= self._elapsed
        self._elapsed = 0
        self._queue = None
        self.rng = self.backend.rng(self._seed)
        super().reset()
