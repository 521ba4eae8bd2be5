"""Compiled structural plasticity: a projection's rewiring batches as kernels inside the compiled step loop.

`rewiring_parts(engine, projection)` gives the six batch kernels of kernels/psg_rewiring.cu, called at the batch
steps only (period = the rewiring interval, phase 1: the steps k with (k + 1) % interval == 0), on the ragged rows
in place; and, when the projection's rewiring is recorded, a hook at the recorder's sampling steps that reads the
device counters and event buffer. Nothing else leaves the device during a run: at its end (Kernel.finish) the
totals, the fractional attempt accumulator, the stream's batch counter, the recorder's open interval and size,
and the last events come back, so `Rewirer.totals` and the recorder are right after every run and a later run
(compiled or not) continues where this one stopped.

Every array the kernels read or write lives on the engine's array module (NumPy on the CPU build, CuPy on the
GPU path): the state (`st`, `due`), the rules' constants (positions, local -> engine indices), the scratch arrays
of a batch and the event buffer. The host copies them back only in `read` (the recorder's samples and events)
and `finish` (end of the run), each copy counted as a record synchronisation by the GPU driver; what the host
sets during a run (clearing the recorder's open interval after a sample, emptying the event buffer) is written
into the device arrays. On CUDA `begin` runs as one block (its compaction of recent sources scans within a
block); the other kernels take grid-stride loops over the attempts and run on any grid.

The kernels carry out exactly what Rewirer.rewire does (engine/structural.py), with the same Philox draws, for
the built-in rules only (exact types: DistanceDependentFormation, RandomByWeightElimination, RandomSelection,
LastNeuronSelection); anything else raises Unsupported and the Rewirer runs as array code on the reference path.
"""

from __future__ import annotations

import numpy as np

from ..structural import (DistanceDependentFormation, LastNeuronSelection, RandomByWeightElimination,
                          RandomSelection, RewiringRecorder, Rewirer, SlotSelection)
from ..synapse_models import STDP
from .program import Args
from .runner import Hook, Kernel, Unsupported

OPS = ("begin", "decide", "resolve", "settle", "append", "commit")

# st[] layout and option bits: kernels/psg_rewiring.cu
ST_N, ST_SERIAL, ST_N_RECENT, ST_EV_N, ST_SIZE, ST_ERROR = 0, 1, 3, 5, 6, 7
ST_TOTALS, ST_OPEN, ST_SLOTS = 15, 22, 26
ROOM = 1                         # att_settle: a formation that passed max_in_degree
FORMATION, ELIMINATION, LAST_NEURON, ALLOW_SELF, LATERAL, WITH_REPLACEMENT, MAX_IN_DEGREE, EVENTS = \
    1, 2, 4, 8, 16, 32, 64, 128
VAR_KIND_BITS, VAR_KIND_STEP = 0, 1

EVENT_BUFFER_LIMIT = 1 << 20     # events held on the device between two reads (more often read when reached)
BEGIN_THREADS = 256              # CUDA: begin's one block (fits whatever registers the compiler gives it)
ATTEMPT_THREADS = 128            # CUDA: threads per block of the kernels that loop over the attempts

_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _device(xp, values, dtype):
    """`values` as a C-contiguous array of `dtype` on the engine's array module (the array itself when it is
    one already, as the Rewirer's arrays are: they live on the backend's module, which is the engine's)."""
    return xp.ascontiguousarray(xp.asarray(values, dtype=dtype))


def _check_supported(rewirer: Rewirer) -> None:
    if type(rewirer.partner) is SlotSelection:
        raise Unsupported("the partner selection SlotSelection has no kernel (it counts the in-degrees of every "
                          "projection sharing its slots at each batch): it runs as array code on the reference path")
    for role, rule, allowed in (("formation", rewirer.formation, (DistanceDependentFormation,)),
                                ("elimination", rewirer.elimination, (RandomByWeightElimination,)),
                                ("partner selection", rewirer.partner, (RandomSelection, LastNeuronSelection))):
        if rule is not None and type(rule) not in allowed:
            raise Unsupported(f"the {role} rule {type(rule).__name__} is not a built-in rule (rules written as "
                              "array code run on the reference path)")
    model = rewirer.group.model
    if rewirer.elimination is not None and hasattr(model, "current_weight") and type(model) is not STDP:
        raise Unsupported(f"the elimination rule reads the weight of {type(model).__name__} synapses as of the "
                          "attempt, which has no kernel")
    if len(rewirer.geometry.axes) > 3:
        raise Unsupported(f"the Space's axes {rewirer.geometry.axes} repeat an axis")


class CompiledRewiring:
    """The device state of one projection's rewiring for one run, and what the host does with it."""

    def __init__(self, engine, projection):
        r = projection.rewirer
        _check_supported(r)
        self.engine, self.group, self.rewirer = engine, projection, r
        xp = engine.xp
        self.k0 = engine.net.step_index
        rows = projection.rows
        self.per_batch = r.attempts_per_batch()
        self.n_max = int(self.per_batch) + 2
        recorder = r.recorder
        events = recorder is not None and recorder.events
        options = ((FORMATION if r.formation is not None else 0) | (ELIMINATION if r.elimination is not None else 0)
                   | (LAST_NEURON if type(r.partner) is LastNeuronSelection else 0)
                   | (ALLOW_SELF if r.allow_self else 0) | (LATERAL if r.lateral else 0)
                   | (WITH_REPLACEMENT if r.with_replacement else 0)
                   | (MAX_IN_DEGREE if r.max_in_degree is not None else 0) | (EVENTS if events else 0))
        # state kept on the device between batches, copied in here and out in finish()
        st = np.zeros(ST_SLOTS, dtype=np.int64)
        st[ST_SERIAL] = r.batches
        if recorder is not None:
            st[ST_SIZE] = recorder.size
            for k, name in enumerate(RewiringRecorder.FIELDS):
                st[ST_OPEN + k] = recorder._open[name]
        self.st = xp.asarray(st)
        self.due = xp.asarray(np.array([r._due], dtype=np.float64))
        # the rules' constants, computed as the reference computes them
        p_form = two_sigma2 = threshold = p_dep = p_pot = 0.0
        if r.formation is not None:
            f = r.formation
            p_form, sigma = ((f.p_form_lateral, f.sigma_form_lateral) if r.lateral
                             else (f.p_form_forward, f.sigma_form_forward))
            two_sigma2 = 2.0 * sigma ** 2
        if r.elimination is not None:
            e = r.elimination
            threshold, p_dep, p_pot = e.threshold, e.prob_elim_depressed, e.prob_elim_potentiated
        window = 0.0
        if options & LAST_NEURON:
            window = r.interval * r.dt if r.partner.window is None else r.partner.window
        geometry = r.geometry
        # the Rewirer's arrays are on the backend's module (the engine's: the same arrays, no copy)
        self.pre_pos = _device(xp, geometry.pre_pos, np.float64)
        self.post_pos = _device(xp, geometry.post_pos, np.float64)
        spans = [np.nan if s is None else float(s) for s in geometry.spans]
        axes = list(geometry.axes) + [0] * (3 - len(geometry.axes))
        self.pre_ix = _device(xp, r.pre_ix, np.int64)
        self.post_ix = _device(xp, r.post_ix, np.int64)
        # scratch: the attempt arrays, the per-row / per-target attempt lists, the removal marks
        n_max, n_rows, n_targets = self.n_max, projection.pre.n_total, projection.post.n
        self.recent = xp.zeros(max(r.n_pre, 1), dtype=np.int32)
        self.att_i = xp.zeros(n_max, dtype=np.int64)
        self.att_j = xp.zeros(n_max, dtype=np.int64)
        self.att_int = xp.zeros((5, n_max), dtype=np.int32)       # slot, flags, resolve, settle, append
        self.att_length = xp.zeros(n_max, dtype=np.int64)
        self.next_row = xp.zeros(n_max, dtype=np.int32)
        self.head_row = xp.full(max(n_rows, 1), -1, dtype=np.int32)
        self.next_tgt = xp.zeros(n_max, dtype=np.int32)
        self.head_tgt = xp.full(max(n_targets, 1) if options & MAX_IN_DEGREE else 1, -1, dtype=np.int32)
        self.mask = xp.zeros(max(n_rows * rows.capacity, 1), dtype=np.uint8)
        self.touched = xp.zeros(max(n_rows, 1), dtype=np.int32)
        self.touched_flag = xp.zeros(max(n_rows, 1), dtype=np.int32)
        # the event buffer, sized to hold what can happen between two reads
        self.drain_period = None             # steps between extra reads when the buffer cannot hold a sample's
        capacity = 1
        if events:
            per_batch_events = 2 * n_max
            batches = -(-recorder.interval // r.interval) + 1
            capacity = max(min(per_batch_events * batches, EVENT_BUFFER_LIMIT), per_batch_events)
            if capacity < per_batch_events * batches:
                self.drain_period = (capacity // per_batch_events) * r.interval
        self.ev_capacity = capacity
        self.ev = xp.zeros((4, capacity), dtype=np.int64)        # step, pre, post, attempt
        self.ev_formed = xp.zeros(capacity, dtype=np.uint8)
        self.var_rows = self._var_table(r, rows)

        group = projection
        self.args = (Args().ptr(engine.clock).ptr(self.st).ptr(self.due).real(self.per_batch).int(n_max)
                     .int(r.key).int(options).int(r.n_pre).int(r.n_post).ptr(self.pre_ix).ptr(self.post_ix)
                     .ptr(lambda: group.rows.ind).int(lambda: group.rows.ind.dtype.itemsize)
                     .ptr(lambda: group.rows.row_length).int(lambda: group.rows.capacity)
                     .ptr(lambda: group.rows.vars["weight"]).int(len(self.var_rows)).table(self._var_args)
                     .ptr(lambda: r.in_degree if options & MAX_IN_DEGREE else None)
                     .int(r.max_in_degree if r.max_in_degree is not None else 0)
                     .ptr(self.pre_pos).ptr(self.post_pos).real(spans[0]).real(spans[1]).real(spans[2])
                     .int(len(geometry.axes)).int(axes[0]).int(axes[1]).int(axes[2])
                     .real(p_form).real(two_sigma2 if two_sigma2 else 1.0).real(threshold).real(p_dep).real(p_pot)
                     .ptr(lambda: self._last_spike() if options & LAST_NEURON else None).real(window)
                     .real(r.dt).ptr(self.recent)
                     .ptr(self.att_i).ptr(self.att_j).ptr(self.att_int[0]).ptr(self.att_int[1])
                     .ptr(self.att_int[2]).ptr(self.att_int[3]).ptr(self.att_int[4]).ptr(self.att_length)
                     .ptr(self.next_row).ptr(self.head_row).ptr(self.next_tgt).ptr(self.head_tgt)
                     .ptr(self.mask).ptr(self.touched).ptr(self.touched_flag)
                     .ptr(self.ev[0]).ptr(self.ev[1]).ptr(self.ev[2]).ptr(self.ev[3]).ptr(self.ev_formed)
                     .int(capacity))
        stdp = r.elimination is not None and type(group.model) is STDP
        if stdp:                          # the elimination reads the weight STDP owes the synapse
            from .plasticity import add_stdp_args
            table = Args()
            add_stdp_args(table, engine, group)
            self.args.table(lambda: [table]).ptr(lambda: group.rows.vars["delay"])
        else:
            self.args.ptr(None).ptr(None)
        self.args.int(group.post.cell0).int(group.post.n)     # the targets this process holds
        # with several processes: each formation's place in the whole row, from the host (place())
        self.global_position = xp.zeros(n_max, dtype=np.int64) if engine.net.comm.size > 1 else None
        self.args.ptr(lambda: self.global_position)

    def _last_spike(self):
        """The presynaptic cells' last-spike stamps: the population's own, or with several processes those of
        the whole population that the spike exchange keeps."""
        ex = self.engine.exchange
        return ex.last_spike(self.rewirer.pre_group) if ex is not None else self.rewirer.pre_group.last_spike

    @staticmethod
    def _var_table(r, rows):
        """(name, element bytes, bits of a new synapse's value, kind) per per-synapse variable: what
        Rewirer._initial_values gives, in the variable's dtype as RaggedRows.add_synapses stores it; a
        synapse's clock (`_tlast`) is the step after the batch's, written by the kernel."""
        values = r._initial_values(1, 0)
        clock = "_tlast" in r.group.model.state
        table = []
        for name, arr in rows.vars.items():
            size = arr.dtype.itemsize
            if size not in _UINT:
                raise Unsupported(f"the per-synapse variable {name!r} has {size}-byte elements")
            if name == "_tlast" and clock:
                if arr.dtype != np.int64:
                    raise Unsupported(f"the synapse clock {name!r} is {arr.dtype}, not int64")
                table.append((name, size, 0, VAR_KIND_STEP))
                continue
            value = np.asarray(values.get(name, 0), dtype=arr.dtype).reshape(1)
            table.append((name, size, int(value.view(_UINT[size])[0]), VAR_KIND_BITS))
        return table

    def _var_args(self):
        return [Args().ptr(lambda name=name: self.group.rows.vars[name]).int(size).int(bits).int(kind)
                for name, size, bits, kind in self.var_rows]

    # --- the parts ---------------------------------------------------------------------------------------
    def parts(self):
        r, engine = self.rewirer, self.engine
        label = f"rewiring of projection {self.group.label!r}"
        # CUDA grids: begin in one block; the others over the attempts (a batch's touched rows are fewer)
        blocks = max(1, min(-(-self.n_max // ATTEMPT_THREADS), 1024))
        launches = {op: (1, BEGIN_THREADS) if op == "begin" else (blocks, ATTEMPT_THREADS) for op in OPS}
        kernels = [Kernel(engine.function(f"pynn_sparsegpu_rewiring_{op}_{engine.real}"), self.args,
                          f"{label}: {op}", period=r.interval, phase=1, launch=launches[op]) for op in OPS]
        for op, kernel in zip(OPS, kernels):     # act on the rows at the end of a batch step, after its
            kernel.batch = 2 if op in ("append", "commit") else 1     # propagation (place() in between)
        if self.global_position is not None:
            kernels[OPS.index("append")].before = self.place
        kernels[-1].finish = self.finish
        hooks = []
        if r.recorder is not None:
            hooks.append(Hook(self.read, f"{label}: recorder read at its sampling steps", self.due_reads,
                              reference=False))
        return kernels, hooks

    def place(self, k: int) -> None:
        """Between settle and append at the end of batch step k, with several processes: the place in the whole
        row of each formation this process makes, so that append refuses what one process would refuse (a row
        of `capacity` synapses over all processes). The row lengths after the eliminations are summed over
        the processes, and the formations onto each row are ranked over the processes in attempt order. (The
        runner calls it at the steps the append kernel is due.)"""
        driver, comm = self.engine.driver, self.engine.net.comm
        n = int(driver.host(self.st, record=False)[ST_N])                 # synchronize! (once per batch)
        room = np.flatnonzero(driver.host(self.att_int[3][:n], record=False) & ROOM)
        rows = np.asarray(driver.host(self.att_i[:n], record=False))[room]
        lengths = comm.allreduce_array(np.asarray(driver.host(self.group.rows.row_length, record=False),
                                                  dtype=np.int64))
        everyone = comm.allgatherv(np.stack([rows, room], axis=1).astype(np.int64))
        key = np.sort(everyone[:, 0] * self.n_max + everyone[:, 1])      # by row, then attempt
        first = np.searchsorted(key, key // self.n_max * self.n_max, side="left")
        mine = (np.arange(key.shape[0]) - first)[np.searchsorted(key, rows * self.n_max + room)]
        position = np.zeros(n, dtype=np.int64)
        position[room] = lengths[rows] + mine
        self.global_position[:n] = self.engine.xp.asarray(position)

    def due_reads(self, k: int) -> int:
        """The first step >= k at whose end the host reads: a sample of the recorder, or an event buffer
        that could not hold another sampling interval's events."""
        due = k + (-(k + 1)) % self.rewirer.recorder.interval
        if self.drain_period is not None:
            due = min(due, k + (-(k + 1)) % self.drain_period)
        return due

    def _host(self, array):
        """A host copy of a device array (on the GPU: a copy the driver counts as a record synchronisation; on
        the CPU build: the array itself, read in place)."""
        return self.engine.driver.host(array)

    def read(self, k: int) -> None:
        """At the end of step k: the recorder's sample (when due) and the events so far. On the GPU: one copy of
        the state, and two more when there are events (their columns, their formed flags); the open interval's
        counters and the event count are cleared in the device state."""
        if self.engine.driver.target == "cpu":
            self.engine.counters.record_syncs += 1     # the CPU build reads in place: counted as a device's copy
        recorder = self.rewirer.recorder
        st = self._host(self.st)
        self._first_step(recorder, True)                # (step k ran)
        if (k + 1) % recorder.interval == 0:
            for i, name in enumerate(RewiringRecorder.FIELDS):
                recorder.samples[name].append(int(st[ST_OPEN + i]))
            recorder.samples["size"].append(int(st[ST_SIZE]))
            self.st[ST_OPEN:ST_OPEN + len(RewiringRecorder.FIELDS)] = 0
        self._drain_events(recorder, st)

    def _first_step(self, recorder, ran: bool):
        """The recorder's first step, once a step of this run has run (`ran`: known on the host)."""
        if recorder.first_step is None and ran:
            recorder.first_step = self.k0 - self.k0 % recorder.interval

    def _drain_events(self, recorder, st):
        """Move the events in the device buffer to the recorder's log (`st`: the host copy of the state just
        read) and empty the buffer."""
        n = int(st[ST_EV_N])
        if n > self.ev_capacity:
            raise RuntimeError("internal error: the rewiring event buffer overflowed (events were lost)")
        if n == 0 or not recorder.events:
            return
        step, pre, post, attempt = self._host(self.ev[:, :n])
        formed = self._host(self.ev_formed[:n]).astype(bool)
        order = np.lexsort((attempt, formed, step))     # per batch: eliminations, then formations, by attempt
        t = (step[order] + 1) * self.rewirer.dt
        post = post[order] + self.group.post.cell0       # (engine indices: local ones with several processes)
        recorder.event_log.append((t, pre[order].copy(), post, formed[order], attempt[order].copy()))
        self.st[ST_EV_N] = 0

    def finish(self) -> None:
        """After a run: everything the host keeps comes back from the device (on the GPU: one copy of the state,
        one of the attempt accumulator, and the events)."""
        r = self.rewirer
        st = self._host(self.st)
        error = int(st[ST_ERROR])
        if error:
            raise RuntimeError(f"internal error in the compiled rewiring of projection {self.group.label!r} "
                               f"(code {error}): " + ("a batch had more attempts than its arrays hold"
                                                      if error & 1 else "the event buffer overflowed"))
        r._due = float(self._host(self.due)[0])
        r.batches = int(st[ST_SERIAL])
        for i, name in enumerate(Rewirer.COUNTERS):
            r.totals[name] += int(st[ST_TOTALS + i])
            if name == "failed":
                self.group.rows.failed_additions += int(st[ST_TOTALS + i])
        self.st[ST_TOTALS:ST_TOTALS + len(Rewirer.COUNTERS)] = 0
        recorder = r.recorder
        if recorder is not None:
            self._first_step(recorder, self.engine.net.step_index > self.k0)
            for i, name in enumerate(RewiringRecorder.FIELDS):
                recorder._open[name] = int(st[ST_OPEN + i])
            recorder.size = int(st[ST_SIZE])
            self._drain_events(recorder, st)


def rewiring_parts(engine, projection):
    """([Kernel], [Hook]) carrying out the projection's rewiring, on the CPU build or the GPU path (raises
    Unsupported for rules that have no kernel)."""
    return CompiledRewiring(engine, projection).parts()
