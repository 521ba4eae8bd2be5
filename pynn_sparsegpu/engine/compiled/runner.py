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
    (double-buffered by step parity, psg_neuron.cuh)."""

    def __init__(self, group):
        self.counts = np.zeros(group.n, dtype=np.int32)
        self.spike_list = np.zeros(max(group.n, 1), dtype=np.int32)
        self.spike_count = np.zeros(2, dtype=np.int32)

    def publish(self, counts, step: int) -> None:
        """Store a step's counts computed by the reference path (a Python item)."""
        np.copyto(self.counts, counts, casting="unsafe")
        fired = np.flatnonzero(self.counts)
        self.spike_list[:fired.shape[0]] = fired
        self.spike_count[step & 1] = fired.shape[0]


def _unique_index(index) -> bool:
    index = np.asarray(index)
    return index.ndim == 1 and np.unique(index).shape[0] == index.shape[0]


def _channel_map(n, index):
    chan = np.full(n, -1, dtype=np.int32)
    chan[np.asarray(index, dtype=np.int64)] = np.arange(len(index), dtype=np.int32)
    return chan


class CompiledSpikeRecorder:
    """A SpikeBuffer filled by a population's step kernel with compact events (step, channel, count)."""

    def __init__(self, buf, n):
        self.buf = buf
        self.n_rec = int(buf.n)
        self.chan_of = _channel_map(n, buf.index)
        self.capacity = max(SPIKE_EVENT_MIN_CAPACITY, 4 * self.n_rec)
        self.ev_step = np.zeros(self.capacity, dtype=np.int64)
        self.ev_chan = np.zeros(self.capacity, dtype=np.int32)
        self.ev_mult = np.zeros(self.capacity, dtype=np.int32)
        self.ev_n = np.zeros(1, dtype=np.int64)
        self.limit = self.capacity - self.n_rec      # after a step with more, the next might not fit

    def row(self) -> Args:
        return (Args().ptr(self.chan_of).ptr(self.ev_step).ptr(self.ev_chan).ptr(self.ev_mult).ptr(self.ev_n)
                .int(self.capacity))

    def drain(self) -> None:
        n = int(self.ev_n[0])
        if n > self.capacity:
            raise RuntimeError("internal error: a spike record buffer overflowed (events were lost)")
        if n:
            self.buf.add_events(self.ev_step[:n], self.ev_chan[:n], self.ev_mult[:n])
            self.ev_n[0] = 0


class CompiledStateRecorder:
    """A StateBuffer filled by a population's step kernel: row (step + 1) / interval + row_offset."""

    def __init__(self, buf, group, variable):
        self.buf, self.group, self.variable = buf, group, variable
        self.chan_of = _channel_map(group.n, np.asarray(buf._host_index))
        self.row_offset = np.zeros(1, dtype=np.int64)
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
        self.row_offset[0] = self.buf._fill - (k0 // self.interval) - 1

    def end(self, k0: int, k1: int) -> None:
        """Steps k0 .. k1 - 1 ran: count their samples, and flush a full buffer."""
        self.buf._fill += k1 // self.interval - k0 // self.interval
        if self.buf._fill == self.buf._buf.shape[0]:
            self.buf.flush()


class _PyItem:
    """A part of the step that runs the reference code (called with the step index)."""

    def __init__(self, fn, label):
        self.fn, self.label = fn, label


class _Hook(_PyItem):
    """Reference code at the end of the steps it names (a rewiring batch)."""

    def __call__(self, k):
        self.fn(k)


class CompiledEngine:
    """Runs a Network's steps through compiled kernels (the backend's "cpu" path)."""

    def __init__(self, network):
        self.net = network
        self.backend = network.backend
        self.libs = cpu_libraries()
        self.counters = Counters()
        self.driver = CpuDriver(self.libs, self.counters)
        self.clock = np.zeros(1, dtype=np.int64)
        self._runtime = {}
        self._kernels = {}
        self.compiled_groups = {}      # gid -> kernel name, or the reason the group runs on the reference path
        self.reference_parts = []      # what the last run did on the reference path, and why

    # --- the parts -------------------------------------------------------------------------------------------
    def runtime(self, group) -> GroupRuntime:
        rt = self._runtime.get(group.gid)
        if rt is None or rt.counts.shape[0] != group.n:
            rt = self._runtime[group.gid] = GroupRuntime(group)
        return rt

    def neuron_kernel(self, group):
        """(function address, NeuronKernelSource) of the group's step kernel, or None (reason recorded)."""
        cached = self._kernels.get(group.gid)
        if cached is not None and cached[0] is group._derived:
            return cached[1]
        result = None
        if group.model.is_source:
            self.compiled_groups[group.gid] = "reference path: spike sources have no compiled kernel yet"
        else:
            try:
                src = generate_neuron_kernel(group.model, group.state, group.params, group._derived,
                                             len(group.model.receptors), self.net.dt, self.backend.dtype, group.n)
                lib = self.libs.kernel_library(src.source, src.name)
                result = (self.libs.function(src.name, lib), src)
                self.compiled_groups[group.gid] = src.name
            except TraceError as err:
                self.compiled_groups[group.gid] = f"reference path: {err}"
        self._kernels[group.gid] = (group._derived, result)
        return result

    def _neuron_args(self, group, src, spike_recs, state_recs) -> Args:
        rt = self.runtime(group)
        a = (Args().ptr(self.clock).int(group.n).ptr(lambda: group.ring).int(lambda: group.ring.shape[0])
             .int(len(group.model.receptors)).ptr(lambda: group.i_stim).ptr(rt.counts).ptr(rt.spike_list)
             .ptr(rt.spike_count)
             .ptr(lambda: group.history.stamps if group.history is not None else None)
             .ptr(lambda: group.history.count if group.history is not None else None)
             .int(lambda: group.history.depth if group.history is not None else 0)
             .ptr(lambda: group.last_spike)
             .int(len(spike_recs)).table([r.row() for r in spike_recs])
             .int(len(state_recs)).table([r.row() for r in state_recs]))
        for kind, key in src.slots:
            if kind == "state":
                a.ptr(lambda key=key: group.state[key])
            elif kind == "param":
                a.ptr(lambda key=key: group.params[key])
            elif kind == "derived":
                a.ptr(lambda key=key: group._derived[key])
            else:
                source = group.params if kind == "param_shared" else group._derived
                value = source[key]
                first = (lambda key=key, source=source: np.asarray(source[key]).reshape(-1)[0]) if group.n or \
                    kind == "derived_scalar" else (lambda: 0)
                if np.dtype(value.dtype).kind == "f":
                    a.real(lambda first=first: float(first()))
                else:
                    a.int(lambda first=first: int(first()))
        return a

    def _static_args(self, projections, pre) -> Args:
        rt = self.runtime(pre)
        rows = []
        for p in projections:
            rows.append(Args().ptr(lambda p=p: p.rows.ind).int(lambda p=p: p.rows.ind.dtype.itemsize)
                        .ptr(lambda p=p: p.rows.row_length).ptr(lambda p=p: p.rows.vars["weight"])
                        .ptr(lambda p=p: p.rows.vars["delay"]).int(lambda p=p: p.rows.capacity)
                        .ptr(lambda p=p: p.post.ring).int(lambda p=p: p.post.ring.shape[0])
                        .int(lambda p=p: p.post.ring.shape[1]).int(p.receptor).int(p.post.n))
        return (Args().ptr(self.clock).ptr(rt.counts).ptr(rt.spike_list).ptr(rt.spike_count).int(len(rows))
                .table(rows))

    # --- the plan --------------------------------------------------------------------------------------------
    def _plan(self):
        """(items, hooks, spike recorders, state recorders): items in step order, each ("c", fn, Args) or
        ("py", _PyItem); hooks run at the end of a step, only at the steps they name."""
        net, xp, dt = self.net, self.backend.xp, self.net.dt
        real = "f64" if np.dtype(self.backend.dtype) == np.float64 else "f32"
        items, spike_recs, state_recs = [], [], []
        for group in net.groups:
            kernel = self.neuron_kernel(group)
            rt = self.runtime(group)
            if kernel is None:
                ctx = StepContext(xp=xp, dt=dt, t=0.0, step=0, rng=group.rng)

                def step_group(k, group=group, rt=rt, ctx=ctx):
                    ctx.t, ctx.step, ctx.rng = k * dt, k, group.rng
                    rt.publish(group.step(ctx), k)
                name = group.label or type(group.model).__name__
                items.append(("py", _PyItem(step_group, f"population {name!r} ({type(group.model).__name__}): "
                                                        f"{self.compiled_groups[group.gid]}")))
                for buf in net.spike_buffers.get(group.gid, []):
                    items_write = _PyItem(lambda k, buf=buf, rt=rt: buf.write(k, rt.counts),
                                          "spike recording of a population on the reference path")
                    spike_recs.append(("py", items_write))
                for variable, buf in net.state_buffers.get(group.gid, []):
                    def write(k, buf=buf, group=group, variable=variable):
                        if (k + 1) % buf.interval == 0:
                            buf.write(group.state[variable])
                    state_recs.append(("py", _PyItem(write, "state recording of a population on the reference path")))
                continue
            fn, src = kernel
            g_spike, g_state = [], []
            for buf in net.spike_buffers.get(group.gid, []):
                if _unique_index(buf._host_index):
                    rec = buf._compiled
                    if rec is None or rec.chan_of.shape[0] != group.n:
                        rec = buf._compiled = CompiledSpikeRecorder(buf, group.n)
                    g_spike.append(rec)
                else:
                    spike_recs.append(("py", _PyItem(lambda k, buf=buf, rt=rt: buf.write(k, rt.counts),
                                                     "spike recording of repeated cells")))
            for variable, buf in net.state_buffers.get(group.gid, []):
                ok = (_unique_index(buf._host_index) and group.state[variable].dtype == buf._buf.dtype)
                if ok:
                    rec = buf._compiled
                    if rec is None or rec.group is not group:
                        rec = buf._compiled = CompiledStateRecorder(buf, group, variable)
                    g_state.append(rec)
                else:
                    def write(k, buf=buf, group=group, variable=variable):
                        if (k + 1) % buf.interval == 0:
                            buf.write(group.state[variable])
                    state_recs.append(("py", _PyItem(write, f"recording of {variable!r}: repeated cells or "
                                                            "another dtype")))
            items.append(("c", fn, self._neuron_args(group, src, g_spike, g_state), g_spike, g_state))
        # propagation, in network order; consecutive static projections from one source share a launch
        run, run_pre = [], None
        for p in net.projections + [None]:
            static = p is not None and type(p) is SynapseGroup
            if run and (not static or p.pre is not run_pre):
                items.append(("c", self.libs.function(f"pynn_sparsegpu_propagation_static_{real}"),
                              self._static_args(run, run_pre), [], []))
                run = []
            if p is None:
                break
            if static:
                run.append(p)
                run_pre = p.pre
            else:
                pre_rt = self.runtime(p.pre)
                items.append(("py", _PyItem(lambda k, p=p, rt=pre_rt: p.propagate(rt.counts, k),
                                            f"projection {p.label!r} ({type(p.model).__name__} synapses): "
                                            "reference path")))
        if net.electrodes:
            stimulated = list({id(g): g for e in net.electrodes for g, _ in e.targets}.values())

            def electrodes(k):
                for group in stimulated:
                    group.i_stim[...] = 0
                for electrode in net.electrodes:
                    electrode.inject((k + 1) * dt, dt)
            items.append(("py", _PyItem(electrodes, "current sources: reference path")))
        items.extend(spike_recs)
        items.extend(state_recs)
        hooks = []
        for p in net.projections:
            if getattr(type(p), "after_step", None) is not SynapseGroup.after_step:
                hooks.append((_Hook(p.after_step, f"projection {p.label!r}: per-step hook"), lambda k: k))
            if p.rewirer is not None:
                hooks.append((_Hook(p.rewirer.after_step, f"projection {p.label!r}: rewiring (reference path)"),
                              _rewirer_due(p.rewirer)))
        return items, hooks

    # --- running ---------------------------------------------------------------------------------------------
    def run(self, n_steps: int) -> None:
        items, hooks = self._plan()
        self.reference_parts = [item[1].label for item in items if item[0] == "py"]
        self.reference_parts += [getattr(hook, "label", "a hook") for hook, _ in hooks]
        for rt in self._runtime.values():
            rt.spike_count[:] = 0
        for item in items:
            if item[0] == "c":
                item[2].refresh()
        compiled = [item for item in items if item[0] == "c"]
        spike_recs = [r for item in compiled for r in item[3]]
        state_recs = [r for item in compiled for r in item[4]]
        k = self.net.step_index
        end = k + int(n_steps)
        self.clock[0] = k
        try:
            if all(item[0] == "c" for item in items):
                self._run_chunks(compiled, hooks, spike_recs, state_recs, k, end)
            else:
                self._run_mixed(items, hooks, spike_recs, state_recs, k, end)
        finally:
            for rec in spike_recs:
                rec.drain()
            self.net.step_index = int(self.clock[0])

    def _refresh(self, compiled):
        for item in compiled:
            item[2].refresh()

    def _run_chunks(self, compiled, hooks, spike_recs, state_recs, k, end):
        ops = CpuDriver.op_array([(item[1], item[2]) for item in compiled])
        stops = np.array([v for r in spike_recs for v in (r.ev_n.ctypes.data, r.limit)], dtype=np.int64)
        while k < end:
            m = end - k
            for _, due in hooks:
                m = min(m, due(k) - k + 1)
            for rec in state_recs:
                m = min(m, rec.max_steps(k))
            for rec in state_recs:
                rec.begin(k)
            done = self.driver.run(ops, len(compiled), self.clock, m, stops)
            for rec in state_recs:
                rec.end(k, k + done)
            for rec in spike_recs:
                if rec.ev_n[0] > rec.limit:
                    rec.drain()
            k += done
            ran_hook = False
            for hook, due in hooks:
                if due(k - 1) == k - 1:
                    hook(k - 1)
                    ran_hook = True
            if ran_hook:             # a hook may replace arrays the kernels hold (rewired rows)
                self._refresh(compiled)

    def _run_mixed(self, items, hooks, spike_recs, state_recs, k, end):
        segments, run = [], []
        for item in items:
            if item[0] == "c":
                run.append(item)
                continue
            if run:
                segments.append(("c", CpuDriver.op_array([(i[1], i[2]) for i in run]), len(run)))
                run = []
            segments.append(("py", item[1].fn))
        if run:
            segments.append(("c", CpuDriver.op_array([(i[1], i[2]) for i in run]), len(run)))
        compiled = [item for item in items if item[0] == "c"]
        while k < end:
            for rec in state_recs:
                if rec.rows_left() == 0:
                    rec.buf.flush()
                rec.begin(k)
            for segment in segments:
                if segment[0] == "c":
                    self.driver.run_ops(segment[1], segment[2])
                else:
                    segment[1](k)
            for rec in state_recs:
                rec.end(k, k + 1)
            for rec in spike_recs:
                if rec.ev_n[0] > rec.limit:
                    rec.drain()
            ran_hook = False
            for hook, due in hooks:
                if due(k) == k:
                    hook(k)
                    ran_hook = True
            k += 1
            self.clock[0] = k
            self.counters.steps += 1
            if ran_hook:
                self._refresh(compiled)


def _rewirer_due(rewirer):
    """The next step >= k at whose end the rewirer acts (a batch, or a sample of its recorder)."""
    def due(k):
        intervals = [rewirer.interval] + ([rewirer.recorder.interval] if rewirer.recorder is not None else [])
        return min(k + (-(k + 1)) % i for i in intervals)
    return due
