"""NeuronGroup: the arrays of one population of one model, its input ring buffer and its step."""

from __future__ import annotations

import numpy as np

from ..variates import object_key
from .base import NeuronModel, StepContext, _first_bad

NEVER = -(2 ** 40)      # spike stamp meaning "never fired" (PostHistory and last_spike use it)


def _is_ragged(default) -> bool:
    """Parameters whose default is None hold one sequence per neuron (spike_times, tbins, ...)."""
    return default is None


class NeuronGroup:
    """n neurons of `model`.

    params[name]  per-neuron arrays (device), or a list of host arrays for ragged parameters
    state[name]   per-neuron state arrays (device); names starting with "_" are internal
    ring          [n_slots, n_receptors, n] input buffer: slot (step % n_slots) is consumed by that step
    i_stim        injected current for the coming step (nA), written by the electrodes

    With several processes a group holds the cells [cell0, cell0 + n) of a population of n_total cells (its
    arrays are local); indices given to set_parameters(), set_initial() and the network's recorders are
    positions in the whole population, and the cells of other processes among them are skipped.
    """

    def __init__(self, model: NeuronModel, n: int, backend, seed_sequence: np.random.SeedSequence,
                 label: str = "", cell0: int = 0, n_total: int | None = None):
        self.model, self.n, self.backend, self.label = model, int(n), backend, label
        self.cell0 = int(cell0)
        self.n_total = self.n if n_total is None else int(n_total)
        xp = backend.xp
        self._seed = seed_sequence
        self.key = object_key(seed_sequence)      # the population's Philox stream (counter-based draws)
        self.params = {}
        for name, default in model.parameters.items():
            if _is_ragged(default):
                self.params[name] = [np.zeros(0) for _ in range(self.n)]
            else:
                self.params[name] = xp.full(self.n, default, dtype=backend.dtype)
        self.initial = {name: self._full(name, value) for name, value in model.state.items()}
        self.state = {}
        self.ring = xp.zeros((1, len(model.receptors), self.n), dtype=backend.dtype)
        self.i_stim = xp.zeros(self.n, dtype=backend.dtype)
        self._derived = None
        self._dt = None
        self._fused = None
        self.history = None       # PostHistory of recent spikes, created by an STDP projection onto the group
        self.last_spike = None    # stamp (step + 1) of each neuron's last spike, kept when a rewiring rule asks
        self.version = 0          # advanced by every change of parameters or initial values
        self.initialized = []     # (state variable, index) of each set_initial() since an engine last took them
        self.reset_state()

    # --- set-up -------------------------------------------------------------------------------------
    @property
    def distributed(self) -> bool:
        """Whether other processes hold some of the population's cells."""
        return self.n != self.n_total

    def local_positions(self, index):
        """(mask of the entries of `index`, positions in the whole population, held here; their local
        positions). With every cell here the mask is None and the positions are returned as they are."""
        if not self.distributed:
            return None, np.asarray(index, dtype=np.int64)
        index = np.asarray(self.backend.to_host(index), dtype=np.int64)
        keep = (index >= self.cell0) & (index < self.cell0 + self.n)
        return keep, index[keep] - self.cell0

    def _localize(self, values, index):
        """Values given for `index` (positions in the whole population; None: all of them) -> the values and
        local index for the cells held here."""
        if not self.distributed:
            return values, index
        keep, local = self.local_positions(np.arange(self.n_total) if index is None else index)

        def select(value):
            if isinstance(value, list):
                return [v for v, k in zip(value, keep) if k] if len(value) == keep.shape[0] else value
            arr = np.asarray(value) if not hasattr(value, "shape") else value
            return arr[keep] if arr.ndim >= 1 and arr.shape[0] == keep.shape[0] else value
        if isinstance(values, dict):
            return {name: select(value) for name, value in values.items()}, local
        return select(values), local

    def _full(self, name, value):
        xp = self.backend.xp
        dtype = xp.int32 if name == "_r" else self.backend.dtype
        return xp.full(self.n, value, dtype=dtype)

    def set_parameters(self, values: dict, index=None) -> None:
        """Set parameters (engine names) for all neurons or the neurons at `index` (validated first)."""
        xp = self.backend.xp
        values, index = self._localize(values, index)
        unknown = set(values) - set(self.params)
        if unknown:
            raise ValueError(f"{type(self.model).__name__} has no parameter(s) {sorted(unknown)}; "
                             f"its parameters are {sorted(self.params)}")
        regular = {k: v for k, v in values.items() if not _is_ragged(self.model.parameters[k])}
        candidate = {}
        for name, value in regular.items():
            new = self.params[name].copy()
            if index is None:
                new[...] = xp.asarray(value, dtype=self.backend.dtype)
            else:
                new[index] = xp.asarray(value, dtype=self.backend.dtype)
            candidate[name] = new
        merged = {k: v for k, v in self.params.items() if not isinstance(v, list)}
        merged.update(candidate)
        self.model.validate(merged, xp)    # cross-parameter rules see the values that will be in force
        if getattr(self, "dt", None):      # (the PyNN face sets it: the simulation's time step)
            self.model.check_timestep(merged, self.dt, xp)
        self.params.update(candidate)
        if "_next" in self.state:          # renewal processes redraw from now under the new parameters
            if index is None:
                self.state["_next"][...] = xp.nan
            else:
                self.state["_next"][index] = xp.nan
        for name, value in values.items():
            if _is_ragged(self.model.parameters[name]):
                seqs = list(value)
                positions = range(self.n) if index is None else np.arange(self.n)[index]
                for pos, seq in zip(positions, seqs):
                    self.params[name][pos] = np.asarray(seq, dtype=float)
        self._derived = None
        self.version += 1

    def set_initial(self, name: str, values, index=None) -> None:
        """Set the initial value of a state variable (applied now, before the first run, and at reset)."""
        if name not in self.initial or name.startswith("_"):
            public = [k for k in self.initial if not k.startswith("_")]
            raise ValueError(f"{type(self.model).__name__} has no state variable {name!r}; "
                             f"allowed: {public}")
        xp = self.backend.xp
        values, index = self._localize(values, index)
        arr = xp.asarray(values, dtype=self.backend.dtype)
        if bool(xp.isnan(arr).any()):
            raise ValueError(f"initial value of {name!r} contains NaN; a finite number is required")
        bad = _first_bad(arr, xp.isinf, xp)
        if bad is not None:
            raise ValueError(f"initial value of {name!r} = {bad} is not allowed; a finite number is required")
        if index is None:
            self.initial[name][...] = arr
            self.state[name][...] = arr
        else:
            self.initial[name][index] = arr
            self.state[name][index] = arr
        self.version += 1
        self.initialized.append((name, index))

    def reset_state(self) -> None:
        self.state = {name: arr.copy() for name, arr in self.initial.items()}
        self.ring[...] = 0
        self.i_stim[...] = 0
        self.rng = self.backend.rng(self._seed)
        if self.history is not None:
            self.history.reset()
        if self.last_spike is not None:
            self.last_spike[...] = NEVER

    def track_last_spike(self) -> None:
        """Keep the stamp of every neuron's last spike from now on (structural plasticity rules read it)."""
        if self.last_spike is None:
            self.last_spike = self.backend.xp.full(self.n, NEVER, dtype=self.backend.xp.int64)

    def prepare(self, dt: float, n_slots: int, step: int = 0) -> None:
        """Compute derived constants and size the ring buffer before a run that starts at `step`. The ring
        only grows (a shorter longest delay leaves it as it is); input already buffered for steps step ..
        step + old size - 1 moves to the slots of those steps in the larger ring."""
        xp = self.backend.xp
        if self._derived is None or self._dt != dt:
            self._derived = self.model.derived(self.params, dt, xp)
            if not self.model.is_source:      # propagators in the working precision: no float64 on float32
                self._derived = {k: v.astype(self.backend.dtype) if getattr(v, "dtype", None) is not None
                                 and v.dtype.kind == "f" and v.dtype != self.backend.dtype else v
                                 for k, v in self._derived.items()}
            self._dt = dt
            self._fused = None
        if hasattr(self.model, "fit_state"):        # state shaped by the parameters (GIF's sequences)
            self.model.fit_state(self.state, self._derived, xp)
        if n_slots > self.ring.shape[0]:
            old = self.ring.shape[0]
            ring = xp.zeros((n_slots, len(self.model.receptors), self.n), dtype=self.backend.dtype)
            ahead = xp.arange(step, step + old)
            ring[ahead % n_slots] = self.ring[ahead % old]
            self.ring = ring

    # --- time step ----------------------------------------------------------------------------------
    def step(self, ctx: StepContext):
        """One update; returns integer spike counts (0 = no spike) for this step."""
        slot = ctx.step % self.ring.shape[0]
        syn = self.ring[slot]
        ctx.key = self.key
        counts = None
        if self._fused is not None:       # a member of a GroupBatch (neurons/batch.py) takes its slice
            counts = self._fused(self.state, self.params, self._derived, syn, self.i_stim, ctx)
        if counts is None:
            counts = self.model.step(self.state, self.params, self._derived, syn, self.i_stim, ctx)
        self.ring[slot] = 0
        if self.history is not None:
            self.history.record(counts, ctx.step)
        if self.last_spike is not None:
            self.backend.xp.copyto(self.last_spike, ctx.step + 1, where=counts > 0)
        return counts
