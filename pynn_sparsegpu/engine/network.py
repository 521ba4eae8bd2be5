"""The simulation loop: neuron groups, projections, electrodes and record buffers, stepped on the grid.

One step k (from t = k dt to t + dt):
  1. every group updates (reads its ring-buffer slot k, integrates, fires) -> spike counts; on the NumPy
     path, groups of one fusable model are integrated together (neurons/batch.py)
  2. every projection propagates the counts of its source into the target's ring buffer at k + delay
  3. electrodes write the injected current that the neurons will see in step k + 1, A(t + dt)
  4. record buffers take spikes and sampled state (flushed to the host in chunks)
  5. plastic and structural updates (rewiring batches every `interval` steps, structural.py)
"""

from __future__ import annotations

import numpy as np

from .neurons.base import StepContext
from .neurons.batch import make_batches
from .neurons.group import NeuronGroup
from .recording import SpikeBuffer, StateBuffer
from .synapses import SynapseGroup
from .variates import object_key


class SeedChildren:
    """The children of one SeedSequence handed out one at a time (the k-th is the k-th that SeedSequence.spawn
    would give), counted so that the count can be set back."""

    def __init__(self, parent: np.random.SeedSequence):
        self.parent, self.count = parent, 0

    def next(self) -> np.random.SeedSequence:
        child = np.random.SeedSequence(self.parent.entropy, spawn_key=self.parent.spawn_key + (self.count,),
                                       pool_size=self.parent.pool_size)
        self.count += 1
        return child


class NumericalInstability(ArithmeticError):
    """A model's state became NaN or infinite during a run (its explicit integration diverged; NEST raises its
    NumericalInstability for the same)."""


class Network:
    def __init__(self, backend, dt: float, seed: int | None = None, comm=None):
        if not (isinstance(dt, (int, float)) and dt > 0 and np.isfinite(dt)):
            raise ValueError(f"timestep={dt!r} is not allowed; it must be a finite number > 0 (ms)")
        self.backend, self.dt = backend, float(dt)
        if comm is None:
            from .parallel import world
            comm = world()
        self.comm = comm          # the processes that share the network (parallel/comm.py)
        self._seeds = np.random.SeedSequence(seed)
        self._group_seeds = SeedChildren(self._seeds.spawn(1)[0])
        self._electrode_seeds = SeedChildren(self._seeds.spawn(1)[0])
        self._synapse_seeds = SeedChildren(self._seeds.spawn(1)[0])
        self._connection_seeds = SeedChildren(self._seeds.spawn(1)[0])
        self._connection_keys_drawn = {}
        self.groups: list[NeuronGroup] = []
        self.projections = []
        self.electrodes = []
        self.spike_buffers: dict[int, list[SpikeBuffer]] = {}
        self.state_buffers: dict[int, list[tuple[str, StateBuffer]]] = {}
        self.step_index = 0
        self.min_slots = 1
        self._primed = False
        self.engine = None        # the compiled path's runner (compiled/runner.py), made at the first run
        self.engine_choice = "time"   # "auto", "event" or "time" (setup's `engine`; the face sets it)
        self.spike_precision = "on_grid"   # "off_grid": precise spike times where the network allows them
        self.event_engine = None  # eventdriven/driver.py's EventEngine when the network runs event by event
        self._engine_decided = False

    @property
    def t(self) -> float:
        return self.step_index * self.dt

    # --- building -----------------------------------------------------------------------------------
    def add_group(self, model, n: int, label: str = "") -> NeuronGroup:
        """A population of n cells; with several processes this process holds a contiguous block of them."""
        from .parallel import block
        lo, hi = block(int(n), self.comm.rank, self.comm.size)
        group = NeuronGroup(model, hi - lo, self.backend, self._group_seeds.next(), label, cell0=lo,
                            n_total=int(n))
        group.gid = len(self.groups)
        self.groups.append(group)
        return group

    # host bytes that PyNN's side of a population takes per cell at its peak (an ID object per cell, made on every
    # process), and per cell and sequence-valued parameter (SpikeSourceArray's spike_times: a list of arrays,
    # evaluated and stored); measured with tracemalloc (tests/test_bad_input.py compares the whole estimate)
    PYNN_BYTES_PER_CELL = 350
    BYTES_PER_SEQUENCE = 360

    def population_bytes(self, model, n_cells: int) -> tuple[int, int]:
        """(host bytes, engine array bytes) that making a population of n_cells cells of `model` takes at its
        peak: PyNN's cell objects and the parameters as evaluated (float64) on the host; the parameters (with
        the copy made while they are checked), the initial values and the state, the input buffer and the
        injected current in the engine's arrays (on the GPU on the CuPy path, else on the host too)."""
        from .neurons.group import _is_ragged
        item = np.dtype(self.backend.dtype).itemsize
        regular = sum(1 for value in model.parameters.values() if not _is_ragged(value))
        ragged = len(model.parameters) - regular
        state = 2 * sum(4 if name == "_r" else item for name in model.state)       # initial values and state
        local = -(-int(n_cells) // max(self.comm.size, 1))                          # this process's cells
        engine = local * (2 * regular * item + state + (len(model.receptors) + 1) * item)
        host = int(n_cells) * self.PYNN_BYTES_PER_CELL + local * (8 * regular + self.BYTES_PER_SEQUENCE * ragged)
        return host, engine

    def check_memory(self, model, n_cells: int, what: str = "population") -> None:
        """Refuse a population that cannot fit in the memory available now (host memory, and the GPU's on the
        CuPy path), with the estimate (population_bytes), before anything is allocated."""
        host, engine = self.population_bytes(model, n_cells)
        if self.backend.is_gpu:
            needs = [(host, self.backend.host_available_bytes(), "host memory"),
                     (engine, self.backend.available_bytes(), f"{self.backend.device}'s memory")]
        else:
            needs = [(host + engine, self.backend.host_available_bytes(), "host memory")]
        for need, free, where in needs:
            if free is not None and need > free:
                raise MemoryError(f"a Population of {n_cells} {what} cells needs about {need / 2**30:.3g} GiB of "
                                  f"{where} ({need / n_cells:.0f} bytes per cell) while it is made, and "
                                  f"{free / 2**30:.3g} GiB is available; use fewer cells"
                                  + (" or more MPI processes" if where != "host memory" else ""))

    def _seed_children(self):
        return self._group_seeds, self._electrode_seeds, self._synapse_seeds, self._connection_seeds

    def stream_marks(self):
        """How many random streams each kind of part has been given so far (restore_stream_marks sets it back)."""
        return [c.count for c in self._seed_children()], dict(self._connection_keys_drawn)

    def restore_stream_marks(self, marks) -> None:
        """Take back the streams given since stream_marks(): a refused Population, Projection or current source
        leaves the streams of the parts made after it as they would be without it."""
        counts, drawn = marks
        for children, count in zip(self._seed_children(), counts):
            children.count = count
        self._connection_keys_drawn = dict(drawn)

    def synapse_seed(self) -> np.random.SeedSequence:
        """A seed for one projection's random stream (stochastic synapses)."""
        return self._synapse_seeds.next()

    def connection_key(self, seed: int | None = None) -> int:
        """A 64-bit key for one connector's random stream: from the network's seed, or, for an rng with a
        seed of its own, from that seed and the number of keys drawn with it so far (two projections that
        share one seeded rng get different connections; the same script gets the same ones)."""
        if seed is None:
            sequence = self._connection_seeds.next()
        else:
            k = self._connection_keys_drawn.get(int(seed), 0)
            self._connection_keys_drawn[int(seed)] = k + 1
            sequence = np.random.SeedSequence(int(seed), spawn_key=(k,))
        return int(sequence.generate_state(1, np.uint64)[0])

    def make_electrode(self, cls):
        """A new electrode with its own random stream; it acts once passed to add_electrode()."""
        seed = self._electrode_seeds.next()
        electrode = cls(self.backend, self.backend.rng(seed))
        electrode.key = object_key(seed)
        return electrode

    def add_electrode(self, electrode) -> None:
        if electrode not in self.electrodes:
            self.electrodes.append(electrode)

    def record_spikes(self, group, index) -> SpikeBuffer:
        """Record the spikes of the cells at `index` (positions in the whole population; those of this
        process)."""
        buf = SpikeBuffer(self.backend, self._local_index(group, index))
        self.spike_buffers.setdefault(group.gid, []).append(buf)
        return buf

    def record_state(self, group, variable: str, index, interval_steps: int, missing: int = 0) -> StateBuffer:
        """Sample `variable` every `interval_steps` from now on; `missing` NaN samples stand for the times
        before now that belong to the same recording but were not recorded."""
        if variable not in group.state or variable.startswith("_"):
            public = [k for k in group.state if not k.startswith("_")]
            raise ValueError(f"cannot record {variable!r} from {type(group.model).__name__}; "
                             f"recordable state variables are {public}")
        buf = StateBuffer(self.backend, self._local_index(group, index), interval_steps)
        for _ in range(missing):
            buf.write(self.backend.xp.full(group.n, np.nan, dtype=self.backend.dtype))
        if self.step_index % interval_steps == 0:     # the sample at the current time
            now = group.state[variable]
            if self.event_engine is not None and variable == "v":
                now = self.backend.xp.asarray(self.event_engine.state_now(group, variable), dtype=now.dtype)
            buf.write(now)
        self.state_buffers.setdefault(group.gid, []).append((variable, buf))
        return buf

    @staticmethod
    def _local_index(group, index):
        keep, local = group.local_positions(index)
        if keep is not None and not keep.all():
            raise ValueError("internal error: a recorder was given cells of another process")
        return np.asarray(local)

    def initial_values_changed(self, group) -> None:
        """initialize() before the first run: the samples at t = 0 that recorders took when they were set up
        take the new initial values (as NEST records them)."""
        if self.step_index != 0 or self._primed:
            return
        for variable, buf in self.state_buffers.get(group.gid, []):
            buf.rewrite_last(group.state[variable])

    def remove_buffer(self, buf) -> None:
        """Stop recording into `buf` (used when the user resets what is recorded)."""
        for buffers in self.spike_buffers.values():
            if buf in buffers:
                buffers.remove(buf)
        for key, entries in self.state_buffers.items():
            self.state_buffers[key] = [(v, b) for v, b in entries if b is not buf]

    # --- running ------------------------------------------------------------------------------------
    def n_slots(self) -> int:
        longest = max([p.max_delay_steps for p in self.projections] + [0])
        return max(self.min_slots, longest + 1)

    def engine_description(self) -> str:
        """Which engine runs the network (or, before the first run, how it will be chosen)."""
        if self.event_engine is not None:
            return self.event_engine.name
        if self._engine_decided or (self.spike_precision != "off_grid" and self.engine_choice != "event"):
            return "time-driven (steps of dt)"
        if self.engine_choice == "time":
            return ("time-driven, with precise spike times if the network qualifies at the first run, else on "
                    "the grid")
        return ("event-driven if the network qualifies at the first run, else time-driven (with precise spike "
                "times if the network qualifies)" if self.engine_choice == "auto"
                else "event-driven (from the first run)")

    def run(self, n_steps: int) -> None:
        if self.comm.size > 1 and not self.backend.compiled:
            raise RuntimeError(f"backend {self.backend.name!r} runs in one process; with {self.comm.size} MPI "
                               "processes use backend='cpu' (the compiled path) or 'cupy'")
        if not self._engine_decided:
            if self.step_index == 0:
                from .eventdriven.driver import choose
                self.event_engine = choose(self)
            self._engine_decided = True
        handed = None
        if self.event_engine is not None:
            handed = self.event_engine.hand_over()
            if handed is None:
                self.event_engine.run(n_steps)
                return
            self.event_engine = None          # it has given its state to the groups: on the grid from now on
        for group in self.groups:          # the time-driven engine reads initial values from the state itself
            group.initialized.clear()
        for projection in self.projections:
            projection.prepare(self.dt)
        slots = self.n_slots()
        for group in self.groups:
            group.prepare(self.dt, slots, self.step_index)
        for group, steps, receptors, targets, weights in handed or ():   # inputs on their way from the engine
            n_slots, n_receptors, n = group.ring.shape                   # that ran before
            at = ((steps % n_slots) * n_receptors + receptors) * n + targets
            self.backend.scatter_add(group.ring, at, weights)
        xp, dt = self.backend.xp, self.dt
        if self.step_index == 0 and not self._primed:
            for electrode in self.electrodes:    # the current of step 0 is A(0)
                electrode.inject(0.0, dt)
            self._primed = True
        start = self.step_index
        if self.backend.compiled:
            if self.engine is None:
                from .compiled.runner import CompiledEngine
                self.engine = CompiledEngine(self)
            self.engine.run(n_steps)
            self._check_finite(start)
            return
        # what each step touches, gathered once per run (nothing of this changes during a run)
        contexts = [StepContext(xp=xp, dt=dt, t=0.0, step=0, rng=group.rng) for group in self.groups]
        stimulated = list({id(g): g for e in self.electrodes for g, _ in e.targets}.values())
        batches = [] if self.backend.is_gpu else make_batches(self.groups)
        batch_ctx = StepContext(xp=xp, dt=dt, t=0.0, step=0, rng=None)
        for batch in batches:
            batch.stimulated = any(g in stimulated for g in batch.groups)
            batch.attach()
        propagations = [(projection, projection.pre.gid) for projection in self.projections]
        spike_writes = [(buf, gid) for gid, buffers in self.spike_buffers.items() for buf in buffers]
        state_writes = [(buf, self.groups[gid], variable)
                        for gid, buffers in self.state_buffers.items() for variable, buf in buffers]
        hooks = [p.after_step for p in self.projections                  # static synapses have none
                 if getattr(type(p), "after_step", None) is not SynapseGroup.after_step]
        hooks += [p.rewirer.after_step for p in self.projections if p.rewirer is not None]
        try:
            for _ in range(int(n_steps)):
                k = self.step_index
                batch_ctx.t, batch_ctx.step = k * dt, k
                for batch in batches:
                    batch.advance(batch_ctx)
                counts = []
                for group, ctx in zip(self.groups, contexts):
                    ctx.t, ctx.step = k * dt, k
                    counts.append(group.step(ctx))
                for projection, gid in propagations:
                    projection.propagate(counts[gid], k)
                for group in stimulated:          # only electrodes write i_stim
                    group.i_stim[...] = 0
                for electrode in self.electrodes:
                    electrode.inject((k + 1) * dt, dt)
                for buf, gid in spike_writes:
                    buf.write(k, counts[gid])
                for buf, group, variable in state_writes:
                    if (k + 1) % buf.interval == 0:
                        buf.write(group.state[variable])
                for hook in hooks:
                    hook(k)
                self.step_index += 1
        finally:
            for batch in batches:
                batch.detach()
        self._check_finite(start)

    def _check_finite(self, start: int) -> None:
        """Raise NumericalInstability when the state of a model integrated with explicit steps (Izhikevich,
        AdEx, HH) has become NaN or infinite during the run from step `start`: a silent NaN would otherwise run
        on. One host synchronisation per run, and only for networks with such models."""
        xp = self.backend.xp
        checked = [(g, name) for g in self.groups if g.model.explicit
                   for name, arr in g.state.items() if not name.startswith("_") and arr.dtype.kind == "f"]
        if not checked or bool(xp.stack([xp.isfinite(g.state[name]).all() for g, name in checked]).all()):
            return                                     # (the host synchronisation)
        for group, name in checked:
            values = self.backend.to_host(group.state[name])
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                cell = int(bad[0])
                params = ", ".join(f"{k}={float(self.backend.to_host(v)[cell]):g}" for k, v in group.params.items()
                                   if not isinstance(v, list))
                label = f"population {group.label!r}" if group.label else f"population {group.gid}"
                kind = getattr(group, "display_name", type(group.model).__name__)
                raise NumericalInstability(
                    f"{label} ({kind}): {name!r} of cell {cell + group.cell0} became {values[cell]} between "
                    f"t = {start * self.dt:g} and {self.step_index * self.dt:g} ms ({bad.size} of {group.n} cells); "
                    f"the model's explicit integration diverged with its parameters ({params}) at timestep "
                    f"{self.dt:g} ms: use other parameters or a smaller timestep. What was recorded up to now is "
                    "kept (get_data()).")

    def reset(self) -> None:
        """Back to t = 0 with every state at its initial value (buffers are emptied by their owners)."""
        self.step_index = 0
        self._primed = False
        self.event_engine, self._engine_decided = None, False
        for group in self.groups:
            group.reset_state()
        for electrode in self.electrodes:
            electrode.reset()
        for projection in self.projections:
            projection.reset()
        for gid, buffers in self.state_buffers.items():
            for variable, buf in buffers:
                buf.clear(keep_last=False)
                buf.write(self.groups[gid].state[variable])
        for buffers in self.spike_buffers.values():
            for buf in buffers:
                buf.clear()

