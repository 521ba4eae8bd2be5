"""The compiled step: a Network's time steps as kernel calls, run inside compiled code.

At each run() the network is turned into a plan: one item per thing the step does, in the reference loop's
order (network.py): every population's step, every projection's propagation, the electrodes, the recorders, the
plastic and structural hooks. An item is a compiled kernel call or, where no kernel exists yet, the reference
code for that object (a Python item). Spike and state recording of a compiled population happen inside its step
kernel.

  * When every per-step item is compiled, the steps run inside the C driver (psg_driver.cpp) in chunks: a chunk
    ends where a Python hook is due (a rewiring batch), where a state record buffer fills, or early when a spike
    record buffer might not hold another step; then Python does that one thing and the next chunk starts.
  * Otherwise each step runs in Python, calling the compiled items of the step in runs (one ctypes call per run
    of consecutive kernels) between the Python items.

Populations publish each step's spikes in a `GroupRuntime` (spike counts, the compact spike list and its length),
which the propagation kernels and the Python items read, whichever path produced them.
"""

from __future__ import annotations

import numpy as np

from ..neurons.base import StepContext
from ..synapses import SynapseGroup
from .codegen import TraceError, generate_neuron_kernel
from .program import Args, Counters, CpuDriver, cpu_libraries

SPIKE_EVENT_MIN_CAPACITY = 1 << 16


class GroupRuntime:
    """What a population's step publishes: counts[n] (int32), the compact spike list and spike_count[2]
    (double-buffered by step parity, psg_neuron.cuh), on the engine's array module."""

    def __init__(self, group, xp=np):
        self.xp = xp
        self.counts = xp.zeros(group.n, dtype=xp.int32)
        self.spike_list = xp.zeros(max(group.n, 1), dtype=xp.int32)
        self.spike_count = xp.zeros(2, dtype=xp.int32)

    def publish(self, counts, step: int) -> None:
        """Store a step's counts computed by the reference path (a Python item)."""
        xp = self.xp
        self.counts[...] = xp.asarray(counts).astype(xp.int32, copy=False)
        fired = xp.flatnonzero(self.counts)
        self.spike_list[:fired.shape[0]] = fired       # (a host synchronisation on the GPU: reference path)
        self.spike_count[step & 1] = fired.shape[0]


def _unique_index(buf) -> bool:
    """Whether a record buffer's cells are all different (worked out once per buffer)."""
    if getattr(buf, "_unique", None) is None:
        index = np.asarray(buf._host_index)
        buf._unique = index.ndim == 1 and np.unique(index).shape[0] == index.shape[0]
    return buf._unique


def _channel_map(n, index, xp=np):
    chan = np.full(n, -1, dtype=np.int32)
    chan[np.asarray(index, dtype=np.int64)] = np.arange(len(index), dtype=np.int32)
    return xp.asarray(chan)


class CompiledSpikeRecorder:
    """A SpikeBuffer filled by a population's step kernel with compact events (step, channel, count)."""

    def __init__(self, buf, n, driver):
        self.buf, self.driver = buf, driver
        xp = driver.xp
        self.n_rec = int(buf.n)
        self.chan_of = _channel_map(n, buf._host_index, xp)
        self.capacity = max(SPIKE_EVENT_MIN_CAPACITY, 4 * self.n_rec)
        self.ev_step = xp.zeros(self.capacity, dtype=xp.int64)
        self.ev_chan = xp.zeros(self.capacity, dtype=xp.int32)
        self.ev_mult = xp.zeros(self.capacity, dtype=xp.int32)
        self.ev_n = xp.zeros(1, dtype=xp.int64)
        self.limit = self.capacity - self.n_rec      # after a step with more, the next might not fit

    def pending(self) -> int:
        return int(self.driver.host(self.ev_n)[0])

    def row(self) -> Args:
        return (Args().ptr(self.chan_of).ptr(self.ev_step).ptr(self.ev_chan).ptr(self.ev_mult).ptr(self.ev_n)
                .int(self.capacity))

    def drain(self) -> None:
        n = self.pending()
        if n > self.capacity:
            raise RuntimeError("internal error: a spike record buffer overflowed (events were lost)")
        if n:
            host = self.driver.host
            self.buf.add_events(host(self.ev_step[:n]), host(self.ev_chan[:n]), host(self.ev_mult[:n]))
            self.ev_n[...] = 0


class CompiledStateRecorder:
    """A StateBuffer filled by a population's step kernel: row (step + 1) / interval + row_offset."""

    def __init__(self, buf, group, variable, driver):
        self.buf, self.group, self.variable = buf, group, variable
        self.chan_of = _channel_map(group.n, buf._host_index, driver.xp)
        self.row_offset = driver.xp.zeros(1, dtype=np.int64)
        self.interval = int(buf.interval)

    def row(self) -> Args:
        return (Args().ptr(lambda: self.group.state[self.variable]).ptr(self.chan_of).ptr(lambda: self.buf._buf)
                .int(self.buf._buf.shape[1]).int(self.interval).ptr(self.row_offset))

    def rows_left(self) -> int:
        return self.buf._buf.shape[0] - self.buf._fill

    def max_steps(self, k0: int) -> int:
        """The most steps from k0 whose samples fit in the buffer."""
        interval = self.interval
        return interval * (k0 // interval + self.rows_left()) - k0

    def begin(self, k0: int) -> None:
        self.row_offset[...] = self.buf._fill - (k0 // self.interval) - 1

    def end(self, k0: int, k1: int) -> None:
        """Steps k0 .. k1 - 1 ran: count their samples, and flush a full buffer."""
        self.buf._fill += k1 // self.interval - k0 // self.interval
        if self.buf._fill == self.buf._buf.shape[0]:
            self.buf.flush()


class Unsupported(Exception):
    """This part of the network has no kernel (the message says why): it runs on the reference path."""


class PyItem:
    """A part of the step that runs the reference code (called with the step index)."""

    def __init__(self, fn, label, source=None):
        self.fn, self.label = fn, label
        self.source = source           # for a propagation: the population whose spikes it reads


class Hook(PyItem):
    """Python code at the end of the steps that `due` names (due(k): the first such step >= k): reference code,
    or (reference=False) the host side of a compiled part, e.g. reading its device counters."""

    def __init__(self, fn, label, due, reference=True):
        super().__init__(fn, label)
        self.due = due
        self.reference = reference


def _uniform_values(p):
    """(delay steps, weight) shared by every synapse of a static projection, each None where the synapses hold
    several values. The kernel then reads neither array (a row is its target indices alone). Rows a rewirer or
    DEEP R edits during the run are always read in full."""
    if p.rewirer is not None or p.deep_r is not None or p.rows is None:
        return None, None
    return p.rows.uniform("delay"), p.rows.uniform("weight")


class Kernel:
    """A compiled part of the step: kernel `function` (an address) called with `args`, at every step or, with a
    period, at the steps k with (k + phase) % period == 0. `spike_recs`/`state_recs` are the record buffers it
    fills; `finish()` (optional) runs after every run() (e.g. to read back counters)."""

    def __init__(self, function, args, label, period=1, phase=0, spike_recs=(), state_recs=(), finish=None,
                 launch=None, source=None):
        self.function, self.args, self.label = function, args, label
        self.source = source           # for a propagation kernel: the population whose spikes it reads
        self.batch = 0                 # 1, 2: acts on the rows at the end of its steps (a rewiring batch's two
        self.before = None             # phases; `before(k)`: host work before this kernel with several processes)
        self.period, self.phase = int(period), int(phase)
        self.launch = launch           # (blocks, threads per block) on CUDA; None: the driver's default
        self.spike_recs, self.state_recs = list(spike_recs), list(state_recs)
        self.finish = finish


class GroupKernel:
    """A population's step kernel: `function` (an address) whose argument slots are the common ones of
    psg_neuron.cuh followed by what `add_model_args(args)` appends."""

    def __init__(self, name, function, add_model_args, threads_per_block=256):
        self.name, self.function, self.add_model_args = name, function, add_model_args
        self.threads_per_block = threads_per_block


class CompiledEngine:
    """Runs a Network's steps through compiled kernels (the backend's "cpu" path).

    Plug-ins give the kernels of each kind of part (each raises Unsupported when it has none):
      sources.group_kernel(engine, group)           -> GroupKernel   spike sources
      electrodes.electrode_kernels(engine)          -> [Kernel]      current sources
      plasticity.propagation_kernel(engine, proj)   -> Kernel        projections with synapse dynamics
      rewiring.rewiring_parts(engine, proj)         -> ([Kernel], [Hook])   structural plasticity
    """

    def __init__(self, network, driver=None):
        self.net = network
        self.backend = network.backend
        self.counters = Counters()
        if driver is not None:
            self.driver = driver(self.counters)
        elif self.backend.is_gpu:
            from .cuda import LaunchDriver
            self.driver = LaunchDriver(self.backend, self.counters)
        else:
            self.driver = CpuDriver(cpu_libraries(), self.counters)
        self.xp = self.driver.xp
        self.clock = self.xp.zeros(1, dtype=np.int64)
        self._runtime = {}
        self._kernels = {}
        self.compiled_groups = {}      # gid -> kernel name, or the reason the group runs on the reference path
        self.reference_parts = []      # what the last run did on the reference path, and why
        self.exchange = None           # parallel/exchange.py's SpikeExchange, with several MPI processes

    @property
    def real(self) -> str:
        """The suffix of the hand-written kernels for this precision ("f32" or "f64")."""
        return "f64" if np.dtype(self.backend.dtype) == np.float64 else "f32"

    def function(self, name: str):
        """A hand-written kernel (engine/kernels/psg_*.cu, built into the core library or module)."""
        return self.driver.function(name)

    # --- the parts -------------------------------------------------------------------------------------------
    def runtime(self, group) -> GroupRuntime:
        rt = self._runtime.get(group.gid)
        if rt is None or rt.counts.shape[0] != group.n:
            rt = self._runtime[group.gid] = GroupRuntime(group, self.xp)
        return rt

    def stimulated(self, group) -> bool:
        """Whether a current source targets the group (else its kernel does not read the injected current)."""
        return any(g is group for e in self.net.electrodes for g, _ in e.targets)

    def group_kernel(self, group):
        """The group's GroupKernel, or None (the reason is kept in compiled_groups)."""
        cached = self._kernels.get(group.gid)
        if cached is not None and cached[0] is group._derived and cached[2] == self.stimulated(group):
            return cached[1]
        result = None
        try:
            if group.model.is_source:
                from . import sources
                result = sources.group_kernel(self, group)
            else:
                result = self._traced_kernel(group)
            self.compiled_groups[group.gid] = result.name
        except (TraceError, Unsupported) as err:
            self.compiled_groups[group.gid] = f"reference path: {err}"
        self._kernels[group.gid] = (group._derived, result, self.stimulated(group))
        return result

    def _traced_kernel(self, group) -> GroupKernel:
        src = generate_neuron_kernel(group.model, group.state, group.params, group._derived,
                                     len(group.model.receptors), self.net.dt, self.backend.dtype, group.n,
                                     stimulated=self.stimulated(group))
        function = self.driver.kernel(src.source, src.name)

        def add_model_args(a: Args) -> None:
            for kind, key in src.slots:
                if kind == "key":
                    a.int(lambda: group.key)
                elif kind == "state":
                    a.ptr(lambda key=key: group.state[key])
                elif kind == "param":
                    a.ptr(lambda key=key: group.params[key])
                elif kind == "derived":
                    a.ptr(lambda key=key: group._derived[key])
                else:
                    source = group.params if kind == "param_shared" else group._derived
                    floating = np.dtype(source[key].dtype).kind == "f"

                    def first(key=key, source=source):
                        values = source[key].reshape(-1)
                        return values[0] if values.shape[0] else 0      # (read once per run, not per step)
                    if floating:
                        a.real(lambda first=first: float(first()))
                    else:
                        a.int(lambda first=first: int(first()))
        return GroupKernel(src.name, function, add_model_args)

    def group_args(self, group, spike_recs=(), state_recs=()) -> Args:
        """The argument slots common to every population kernel (psg_neuron.cuh, slots 0 .. 17)."""
        rt = self.runtime(group)
        return (Args().ptr(self.clock).int(group.n).ptr(lambda: group.ring).int(lambda: group.ring.shape[0])
                .int(lambda: group.ring.shape[1]).ptr(lambda: group.i_stim)
                .ptr(rt.counts).ptr(rt.spike_list)
                .ptr(rt.spike_count)
                .ptr(lambda: group.history.stamps if group.history is not None else None)
                .ptr(lambda: group.history.count if group.history is not None else None)
                .int(lambda: group.history.width if group.history is not None else 0)
                .ptr(lambda: group.last_spike)
                .int(len(spike_recs)).table([r.row() for r in spike_recs])
                .int(len(state_recs)).table([r.row() for r in state_recs]).int(group.cell0))

    def source_runtime(self, group) -> GroupRuntime:
        """The spikes that propagation reads: the population's own, or with several processes the
        population-wide spikes that the exchange gathered."""
        return self.exchange.runtime(group) if self.exchange is not None else self.runtime(group)

    def _static_args(self, projections, pre) -> Args:
        rt = self.source_runtime(pre)
        rows = []
        for p in projections:
            delay, weight = _uniform_values(p)
            rows.append(Args().ptr(lambda p=p: p.rows.ind).int(lambda p=p: p.rows.ind.dtype.itemsize)
                        .ptr(lambda p=p: p.rows.row_length).ptr(lambda p=p: p.rows.vars.peek("weight"))
                        .ptr(lambda p=p: p.rows.vars.peek("delay")).int(lambda p=p: p.rows.capacity)
                        .ptr(lambda p=p: p.post.ring).int(lambda p=p: p.post.ring.shape[0])
                        .int(lambda p=p: p.post.ring.shape[1]).int(p.receptor).int(p.post.n)
                        .int(-1 if delay is None else int(delay)).int(0 if weight is None else 1)
                        .real(0.0 if weight is None else float(weight)))
        return (Args().ptr(self.clock).ptr(rt.counts).ptr(rt.spike_list).ptr(rt.spike_count).int(len(rows))
                .table(rows))

    # --- the plan --------------------------------------------------------------------------------------------
    def _group_items(self, group, tail):
        """The items of one population's step; its reference-path record writes go to `tail` (they run after
        the electrodes, as in the reference loop)."""
        net, xp, dt = self.net, self.backend.xp, self.net.dt
        kernel = self.group_kernel(group)
        rt = self.runtime(group)
        name = group.label or type(group.model).__name__

        def write_spikes(k, buf, rt=rt):
            buf.write(k, rt.counts)

        def write_state(k, buf, group=group):
            if (k + 1) % buf.interval == 0:
                buf.write(group.state[buf._variable])

        if kernel is None:
            ctx = StepContext(xp=xp, dt=dt, t=0.0, step=0, rng=group.rng)

            def step_group(k, group=group, rt=rt, ctx=ctx):
                ctx.t, ctx.step, ctx.rng = k * dt, k, group.rng
                rt.publish(group.step(ctx), k)
            tail_label = f"recording of population {name!r} (on the reference path)"
            for buf in net.spike_buffers.get(group.gid, []):
                tail.append(PyItem(lambda k, buf=buf: write_spikes(k, buf), tail_label))
            for variable, buf in net.state_buffers.get(group.gid, []):
                buf._variable = variable
                tail.append(PyItem(lambda k, buf=buf: write_state(k, buf), tail_label))
            return [PyItem(step_group, f"population {name!r} ({type(group.model).__name__}): "
                                       f"{self.compiled_groups[group.gid]}")]
        g_spike, g_state = [], []
        for buf in net.spike_buffers.get(group.gid, []):
            if _unique_index(buf):
                rec = buf._compiled
                if rec is None or rec.chan_of.shape[0] != group.n or rec.driver is not self.driver:
                    rec = buf._compiled = CompiledSpikeRecorder(buf, group.n, self.driver)
                g_spike.append(rec)
            else:
                tail.append(PyItem(lambda k, buf=buf: write_spikes(k, buf),
                                   f"spike recording of population {name!r}: cells recorded twice"))
        for variable, buf in net.state_buffers.get(group.gid, []):
            if _unique_index(buf) and group.state[variable].dtype == buf._buf.dtype:
                rec = buf._compiled
                if rec is None or rec.group is not group or rec.chan_of.__class__ is not self.clock.__class__:
                    rec = buf._compiled = CompiledStateRecorder(buf, group, variable, self.driver)
                g_state.append(rec)
            else:
                buf._variable = variable
                tail.append(PyItem(lambda k, buf=buf: write_state(k, buf),
                                   f"recording of {variable!r} of population {name!r}: cells recorded twice"))
        args = self.group_args(group, g_spike, g_state)
        kernel.add_model_args(args)
        block = kernel.threads_per_block
        return [Kernel(kernel.function, args, f"population {name!r}", spike_recs=g_spike, state_recs=g_state,
                       launch=(max(1, min((group.n + block - 1) // block, 65535)), block))]

    def _plan(self):
        """(items, hooks): items in step order, each a Kernel or a PyItem; hooks run at the end of the steps
        they name."""
        from . import electrodes, plasticity, rewiring
        net, dt = self.net, self.net.dt
        items, tail, hooks = [], [], []
        for group in net.groups:
            items.extend(self._group_items(group, tail))
        # propagation, in network order; consecutive static projections from one source share a launch
        run, run_pre = [], None
        for p in net.projections + [None]:
            static = p is not None and type(p) is SynapseGroup
            if run and (not static or p.pre is not run_pre):
                items.append(Kernel(self.function(f"pynn_sparsegpu_propagation_static_{self.real}"),
                                    self._static_args(run, run_pre), "static propagation",
                                    launch=(max(1, min(run_pre.n_total, 8192)), 128), source=run_pre))
                run = []
            if p is None:
                break
            if static:
                run.append(p)
                run_pre = p.pre
                continue
            try:
                kernel = plasticity.propagation_kernel(self, p)
                kernel.source = p.pre
                items.append(kernel)
            except Unsupported as err:
                pre_rt = self.runtime(p.pre)
                items.append(PyItem(lambda k, p=p, rt=pre_rt: p.propagate(rt.counts, k),
                                    f"projection {p.label!r} ({type(p.model).__name__} synapses): {err}",
                                    source=p.pre))
        if net.electrodes:
            try:
                items.extend(electrodes.electrode_kernels(self))
            except Unsupported as err:
                stimulated = list({id(g): g for e in net.electrodes for g, _ in e.targets}.values())

                def inject(k):
                    for group in stimulated:
                        group.i_stim[...] = 0
                    for electrode in net.electrodes:
                        electrode.inject((k + 1) * dt, dt)
                items.append(PyItem(inject, f"current sources: {err}"))
        items.extend(tail)
        for p in net.projections:
            if getattr(type(p), "after_step", None) is not SynapseGroup.after_step:
                hooks.append(Hook(p.after_step, f"projection {p.label!r}: per-step hook", lambda k: k))
            if p.rewirer is None:
                continue
            try:
                kernels, extra_hooks = rewiring.rewiring_parts(self, p)
                items.extend(kernels)
                hooks.extend(extra_hooks)
            except Unsupported as err:
                hooks.append(Hook(p.rewirer.after_step, f"rewiring of projection {p.label!r}: {err}",
                                  _rewirer_due(p.rewirer)))
        return items, hooks

    # --- running ---------------------------------------------------------------------------------------------
    def run(self, n_steps: int) -> None:
        if self.net.comm.size > 1:
            self._prepare_exchange()
        items, hooks = self._plan()
        compiled = [item for item in items if isinstance(item, Kernel)]
        self.reference_parts = [item.label for item in items if not isinstance(item, Kernel)]
        self.reference_parts += [hook.label for hook in hooks if hook.reference]
        for rt in self._runtime.values():
            rt.spike_count[...] = 0
        self._refresh(compiled)
        spike_recs = [r for item in compiled for r in item.spike_recs]
        state_recs = [r for item in compiled for r in item.state_recs]
        self.driver.set_threads(self.backend.threads)
        k = self.net.step_index
        end = k + int(n_steps)
        self.driver.advance(self.clock, k)
        self._k = k
        try:
            with self.driver.session():
                if self.exchange is not None:
                    self._run_blocks(items, hooks, spike_recs, state_recs, k, end)
                elif len(compiled) == len(items):
                    self._run_chunks(compiled, hooks, spike_recs, state_recs, k, end)
                else:
                    self._run_mixed(items, hooks, spike_recs, state_recs, k, end)
        finally:
            for rec in spike_recs:
                rec.drain()
            self.net.step_index = self._k
            for item in compiled:
                if item.finish is not None:
                    item.finish()

    def _refresh(self, compiled):
        for item in compiled:
            item.args.refresh(self.xp)

    def _drain_full(self, spike_recs, steps_done):
        """Empty the spike record buffers that might not hold another step (on the CPU the driver read their
        counters; on the GPU they are emptied after as many steps as are sure to fit)."""
        for rec in spike_recs:
            rec.since_drain = getattr(rec, "since_drain", 0) + steps_done
            if self.driver.target == "cpu":
                full = int(rec.ev_n[0]) > rec.limit
            else:
                full = rec.since_drain >= max(rec.capacity // max(rec.n_rec, 1) - 1, 1)
            if full:
                rec.drain()
                rec.since_drain = 0

    @staticmethod
    def _run_due_hooks(hooks, k) -> bool:
        """Run the hooks due at the end of step k; returns whether any ran."""
        ran = False
        for hook in hooks:
            if hook.due(k) == k:
                hook.fn(k)
                ran = True
        return ran

    def _stops(self, spike_recs):
        """(address of the event counter, limit) of each spike recorder: the CPU driver ends a chunk early when
        one might not hold another step."""
        if self.driver.target != "cpu":
            return np.zeros(0, np.int64)
        return np.array([v for r in spike_recs for v in (r.ev_n.ctypes.data, r.limit)], dtype=np.int64)

    def _chunk(self, program, stops, safe, spike_recs, state_recs, k, limit) -> int:
        """Steps k .. at most limit - 1 in the driver, as many as the record buffers allow; returns the number
        done (at least one)."""
        for rec in state_recs:
            if rec.rows_left() == 0:
                rec.buf.flush()
        m = limit - k
        for rec in state_recs:
            m = min(m, rec.max_steps(k))
        if safe is not None:
            m = min(m, max(safe - max(getattr(r, "since_drain", 0) for r in spike_recs), 1))
        for rec in state_recs:
            rec.begin(k)
        done = self.driver.run(program, self.clock, k, m, stops)
        for rec in state_recs:
            rec.end(k, k + done)
        self._drain_full(spike_recs, done)
        return done

    def _run_chunks(self, compiled, hooks, spike_recs, state_recs, k, end):
        program = self.driver.program(compiled)
        stops = self._stops(spike_recs)
        safe = self.driver.chunk_limit(spike_recs)
        while k < end:
            limit = min([end] + [hook.due(k) + 1 for hook in hooks])
            k += self._chunk(program, stops, safe, spike_recs, state_recs, k, limit)
            self._k = k
            if self._run_due_hooks(hooks, k - 1):   # a hook may replace arrays the kernels hold (rewired rows)
                self._refresh(compiled)

    # --- several processes -----------------------------------------------------------------------------------
    def _prepare_exchange(self) -> None:
        """The block length (the network's shortest delay over all processes) and the exchange's buffers."""
        from ..parallel.exchange import SpikeExchange
        missing = []
        for p in self.net.projections:
            name = f"projection {p.label!r}" if p.label else f"a projection of {type(p.model).__name__} synapses"
            if p.deep_r is not None:
                missing.append(f"{name}: DEEP R rewiring")
        if missing:
            raise NotImplementedError(f"with {self.net.comm.size} MPI processes these parts of the network cannot "
                                      "run yet (they run in one process):\n  - " + "\n  - ".join(missing))
        local = [p.min_delay_steps for p in self.net.projections]
        local += [p.rewirer.initial_delay_steps(self.net.dt) for p in self.net.projections if p.rewirer is not None]
        shortest = [d for d in self.net.comm.allgather(min([d for d in local if d is not None], default=None))
                    if d is not None]
        block = max(min(shortest), 1) if shortest else 1
        for group in self.net.groups:       # plastic synapses see their targets' spikes of up to D - 1 steps
            if group.history is not None:   # after a spike: room for those stamps in the history
                group.history.widen(block - 1)
        ex = self.exchange
        if ex is None or ex.D != block or ex.groups != list(self.net.groups):
            self.exchange = SpikeExchange(self, block)
        self.exchange.gather_last_spikes()

    def _run_blocks(self, items, hooks, spike_recs, state_recs, k, end):
        """Blocks of D steps (parallel/exchange.py): the populations' steps, one exchange, the propagation."""
        ex = self.exchange
        propagation = [item for item in items if item.source is not None]
        batches = [item for item in items if getattr(item, "batch", False)]
        steps = [item for item in items if item.source is None and not getattr(item, "batch", False)]
        rest = [item for item in propagation if not isinstance(item, Kernel)] + \
            [hook for hook in hooks if hook.reference]
        if rest:
            raise NotImplementedError(f"with {self.net.comm.size} MPI processes every projection must run in "
                                      "compiled kernels, and nothing may act on the synapses between steps; "
                                      "these do not:\n  - " + "\n  - ".join(item.label for item in rest))
        sources = list({id(item.source): item.source for item in propagation}.values())
        collect = [ex.collect_kernel(group) for group in sources]
        load = [ex.load_kernel(group) for group in sources]
        self._refresh(collect + load)
        program_b = self.driver.program(load + propagation)
        programs_c = [self.driver.program([item for item in batches if item.batch == phase]) for phase in (1, 2)] \
            if batches else None
        placing = [item for item in batches if item.before is not None]
        if all(isinstance(item, Kernel) for item in steps):
            program_a = self.driver.program(steps + collect)
        else:               # parts on the reference path (e.g. a recorded current source): step by step
            program_a = None
            segments = self._segments(steps + collect)
        stops = self._stops(spike_recs)
        no_stops = np.zeros(0, np.int64)
        safe = self.driver.chunk_limit(spike_recs)
        while k < end:
            block_end = min(k + ex.D, end)       # a block ends where a rewiring batch or a host read is due
            for item in batches:
                block_end = min(block_end, k + (-(k + item.phase)) % item.period + 1)
            for hook in hooks:
                block_end = min(block_end, hook.due(k) + 1)
            ex.begin(k)
            i = k
            while program_a is None and i < block_end:
                self._mixed_step(segments, spike_recs, state_recs, i)
                i += 1
                self.driver.advance(self.clock, i)
            while i < block_end:
                i += self._chunk(program_a, stops, safe, spike_recs, state_recs, i, block_end)
            if propagation:
                if ex.exchange():
                    self._refresh(load)
                self.driver.advance(self.clock, k)
                done = self.driver.run(program_b, self.clock, k, block_end - k, no_stops)
                self.counters.steps -= done
                if done != block_end - k:
                    raise RuntimeError("internal error: the propagation of a block stopped early")
            last = block_end - 1            # the batches and host reads due at the block's last step
            if programs_c is not None:
                self.driver.advance(self.clock, last)
                self.driver.run_ops(programs_c[0], self.clock, last)      # begin .. settle
                for item in placing:                                     # (places in the whole rows)
                    if (last + item.phase) % item.period == 0:
                        item.before(last)
                self.driver.run_ops(programs_c[1], self.clock, last)      # append, commit
            ran_hook = self._run_due_hooks(hooks, last)
            self.driver.advance(self.clock, block_end)
            if ran_hook:                    # a hook may replace arrays the kernels hold
                self._refresh([item for item in items if isinstance(item, Kernel)] + collect + load)
            k = block_end
            self._k = k

    def _segments(self, items):
        """Items as runs of consecutive kernels (a program each) and Python callables, in order."""
        segments, run = [], []
        for item in items:
            if isinstance(item, Kernel):
                run.append(item)
                continue
            if run:
                segments.append(self.driver.program(run))
                run = []
            segments.append(item.fn)
        if run:
            segments.append(self.driver.program(run))
        return segments

    def _mixed_step(self, segments, spike_recs, state_recs, k):
        """Step k item by item (the clock reads k; the caller advances it)."""
        for rec in state_recs:
            if rec.rows_left() == 0:
                rec.buf.flush()
            rec.begin(k)
        for segment in segments:
            if callable(segment):
                segment(k)
            else:
                self.driver.run_ops(segment, self.clock, k)
        for rec in state_recs:
            rec.end(k, k + 1)
        self._drain_full(spike_recs, 1)
        self.counters.steps += 1

    def _run_mixed(self, items, hooks, spike_recs, state_recs, k, end):
        segments = self._segments(items)
        compiled = [item for item in items if isinstance(item, Kernel)]
        while k < end:
            self._mixed_step(segments, spike_recs, state_recs, k)
            ran_hook = self._run_due_hooks(hooks, k)
            k += 1
            self._k = k
            self.driver.advance(self.clock, k)
            if ran_hook:
                self._refresh(compiled)


def _rewirer_due(rewirer):
    """The next step >= k at whose end the rewirer acts (a batch, or a sample of its recorder)."""
    def due(k):
        intervals = [rewirer.interval] + ([rewirer.recorder.interval] if rewirer.recorder is not None else [])
        return min(k + (-(k + 1)) % i for i in intervals)
    return due
