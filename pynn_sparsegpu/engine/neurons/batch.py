"""GroupBatch: populations of one fusable model stepped as one population on the NumPy path.

A step of a small population costs mostly the fixed price of each array operation, so populations that
share a model (the excitatory and inhibitory cells of a network, say) are stepped together: their
parameters, constants and state are concatenated once per run, and each step runs the model's step once on
the concatenated arrays. Each group still owns its ring buffer, i_stim and state: the batch reads the
groups' ring slots and currents, and every group's step (NeuronGroup.step, through its `_fused` hook) takes
its slice of the result, so that the ring clearing and everything
else NeuronGroup.step does stay in one place. Element-wise steps give the same numbers either way.

Batched: fusable models (pure element-wise steps on per-neuron 1-D arrays, no random numbers) of the same
class with no per-instance configuration, the same static constants (such as a substep count), and
groups of at least one neuron.
"""

from __future__ import annotations



def _is_static(value) -> bool:
    """A plain int among the derived constants (a substep count): part of a batch's signature, not an array."""
    return isinstance(value, int) and not isinstance(value, bool)


def _signature(group):
    """What must agree for groups to share a batch, or None when the group cannot be batched."""
    model, n, derived = group.model, group.n, group._derived
    if n == 0 or derived is None or not getattr(model, "fusable", False) or vars(model):
        return None
    arrays = list(group.params.values()) + list(group.state.values())
    arrays += [v for v in derived.values() if not _is_static(v)]
    if not all(getattr(a, "shape", None) == (n,) for a in arrays):
        return None
    static = tuple(sorted((k, v) for k, v in derived.items() if _is_static(v)))
    return (type(model), tuple(group.params), tuple(group.state), tuple(derived), static,
            tuple(a.dtype.str for a in arrays), group.ring.shape[:2])


def make_batches(groups) -> list:
    """One GroupBatch for every set of two or more groups that can be stepped together."""
    by_signature = {}
    for group in groups:
        signature = _signature(group)
        if signature is not None:
            by_signature.setdefault(signature, []).append(group)
    return [GroupBatch(members) for members in by_signature.values() if len(members) > 1]


class _Member:
    """A group's `_fused` hook while it is batched: publishes its slice of the batch's step."""

    def __init__(self, batch, span):
        self.batch, self.span = batch, span

    def __call__(self, state, params, derived, syn, i_stim, ctx):
        span = self.span
        for name, values in self.batch.state.items():
            state[name] = values[span]
        return self.batch.counts[span]


class GroupBatch:
    def __init__(self, groups):
        self.groups = list(groups)
        self.model = groups[0].model
        self.xp = xp = groups[0].backend.xp
        self.spans, start = [], 0
        for group in self.groups:
            self.spans.append(slice(start, start + group.n))
            start += group.n
        cat = xp.concatenate
        self.params = {k: cat([g.params[k] for g in self.groups]) for k in groups[0].params}
        self.derived = {k: v if _is_static(v) else cat([g._derived[k] for g in self.groups])
                        for k, v in groups[0]._derived.items()}
        self.state = {k: cat([g.state[k] for g in self.groups]) for k in groups[0].state}
        self._no_current = xp.zeros(start, dtype=groups[0].i_stim.dtype)
        self.stimulated = False        # set when an electrode writes into a member's i_stim
        self.counts = None

    def attach(self) -> None:
        for group, span in zip(self.groups, self.spans):
            group._fused = _Member(self, span)

    def detach(self) -> None:
        for group in self.groups:
            if isinstance(group._fused, _Member):
                group._fused = None

    def advance(self, ctx) -> None:
        """Run the model's step for all members; each member's NeuronGroup.step then takes its slice."""
        xp = self.xp
        slot = ctx.step % self.groups[0].ring.shape[0]
        syn = xp.concatenate([g.ring[slot] for g in self.groups], axis=1)
        i_stim = xp.concatenate([g.i_stim for g in self.groups]) if self.stimulated else self._no_current
        self.counts = self.model.step(self.state, self.params, self.derived, syn, i_stim, ctx)
