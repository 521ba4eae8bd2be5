"""The off-grid steps as kernels (kernels/psg_offgrid.cu) run by the clock-driven engine's drivers: on the GPU
by its LaunchDriver (CUDA launches, replayed as graphs), on the CPU by its CpuDriver (the CPU build of the same
kernels, which is how tests check their logic without a GPU).

`KernelEngine` stands in for compiled.EngineHandle behind an OffGridNetwork (engine="kernels"): the network's
records stay the canonical state on the host; a run copies the cells to the device, runs the steps in chunks of
CHUNK steps with no synchronisation inside a chunk, and after each chunk copies the spikes found and the v
samples back (record copies, counted as such); the cells come back at the end of the run. The inputs on their
way stay on the device between runs.

Capacity: a slot of the input ring holds `cap` inputs, the most it can ever receive: a cell fires at most once
per step, so every synapse of a cell adds at most one input to a slot, and a source's synapse at most as many as
its source fires in one step (known from the spikes queued). A ring too small for new source spikes grows
between runs, its inputs kept.
"""

from __future__ import annotations

import numpy as np

from ..compiled.program import Args
from .network import CELL_DTYPE

CHUNK = 256                    # steps between record copies (a few CUDA graphs of 64 steps)
THREADS = 128


class _Call:
    def __init__(self, function, args, launch):
        self.function, self.args, self.launch, self.period, self.phase = function, args, launch, 1, 0


class KernelEngine:
    def __init__(self, driver):
        self.driver = driver
        self.xp = driver.xp
        self.clock = self.xp.zeros(1, dtype=np.int64)
        self.shape = None              # (n, n_slots, cap) of the ring allocated
        self.a = {}                    # device arrays by name
        self._syn_key = None
        self._calls = None

    # --- device memory -----------------------------------------------------------------------------------
    def _zeros(self, n, dtype):
        return self.xp.zeros(max(int(n), 1), dtype=dtype)

    def _host(self, array):
        return np.array(self.driver.host(array, record=True), copy=True)     # (the CPU driver returns views)

    def _capacity(self, net, src_step):
        n = net.n_cells
        cap = int(net.row_ptr[n])                                       # every cell's synapses, once
        if src_step.size:
            ids = net.src_id.astype(np.int64) - n
            pair = ids * (int(src_step.max()) + 2) + src_step
            _, first, counts = np.unique(pair, return_index=True, return_counts=True)
            most = np.zeros(net.n_sources, dtype=np.int64)
            np.maximum.at(most, ids[first], counts)
            rows = np.diff(net.row_ptr)[n:]
            cap += int((most * rows).sum())
        return max(cap, 1)

    def _allocate(self, net, cap, k):
        """(Re)allocate the ring for n cells, n_slots slots of cap inputs, keeping the inputs on their way."""
        xp, n, S = self.xp, net.n_cells, net.n_slots
        kept = self._inputs(k) if self.shape is not None else None
        self.shape = (n, S, cap)
        a = self.a
        a["head"] = xp.full(max(S * n, 1), -1, dtype=np.int32)
        a["next"] = self._zeros(S * cap, np.int32)
        a["in_theta"], a["in_w"] = self._zeros(S * cap, np.float64), self._zeros(S * cap, np.float64)
        a["in_rec"], a["in_target"] = self._zeros(S * cap, np.int8), self._zeros(S * cap, np.int32)
        a["in_count"] = self._zeros(S, np.int32)
        a["s_theta"], a["s_w"], a["s_rec"] = (self._zeros(cap, np.float64), self._zeros(cap, np.float64),
                                              self._zeros(cap, np.int8))
        a["s_count"], a["fire_count"], a["overflow"] = (self._zeros(1, np.int32) for _ in range(3))
        a["out_count"] = self._zeros(1, np.int64)
        if kept is not None and kept[0].size:
            self._put_inputs(*kept)

    def _put_inputs(self, steps, targets, recs, weights, thetas):
        """Queue inputs (in this order within each slot) on the host, then copy the ring to the device. Each
        (slot, target) has a linked list through `next` from `head`, newest first, as the kernels build it."""
        n, S, cap = self.shape
        steps, targets = np.asarray(steps, np.int64), np.asarray(targets, np.int64)
        slot = steps % S
        count = np.bincount(slot, minlength=S).astype(np.int32)
        by_slot = np.argsort(slot, kind="stable")
        pos = np.empty(slot.size, np.int64)              # each input's place in its slot, in the given order
        pos[by_slot] = np.arange(slot.size) - np.repeat(np.cumsum(count) - count, count)
        at = slot * cap + pos
        key = slot * n + targets
        order = np.argsort(key, kind="stable")           # the inputs of one (slot, target), in the given order
        k = key[order]
        first = np.r_[True, k[1:] != k[:-1]] if k.size else np.zeros(0, bool)
        last = np.r_[k[1:] != k[:-1], True] if k.size else np.zeros(0, bool)
        head = np.full(S * n, -1, dtype=np.int32)
        nxt = np.zeros(S * cap, np.int32)
        nxt[at[order]] = np.where(first, -1, pos[np.r_[order[:1], order[:-1]]])     # the one before it
        head[k[last]] = pos[order[last]]                                             # the newest
        th, w, r, t = (np.zeros(S * cap), np.zeros(S * cap), np.zeros(S * cap, np.int8),
                       np.zeros(S * cap, np.int32))
        th[at], w[at], r[at], t[at] = thetas, weights, recs, targets
        for name, values in (("head", head), ("next", nxt), ("in_theta", th), ("in_w", w), ("in_rec", r),
                             ("in_target", t), ("in_count", count)):
            self.a[name][...] = self.xp.asarray(values)

    def _inputs(self, k):
        """(steps, targets, receptors, weights, thetas) of the inputs on their way, each slot in arrival order."""
        if self.shape is None:
            z = np.zeros(0)
            return z.astype(np.int64), z.astype(np.int32), z.astype(np.int32), z, z
        n, S, cap = self.shape
        count = self._host(self.a["in_count"])[:S]
        host = {name: self._host(self.a[name]) for name in ("in_theta", "in_w", "in_rec", "in_target")}
        parts = [[] for _ in range(5)]
        for s in range(k, k + S):
            slot = s % S
            m = min(int(count[slot]), cap)
            at = slice(slot * cap, slot * cap + m)
            parts[0].append(np.full(m, s, dtype=np.int64))
            parts[1].append(host["in_target"][at])
            parts[2].append(host["in_rec"][at].astype(np.int32))
            parts[3].append(host["in_w"][at])
            parts[4].append(host["in_theta"][at])
        return tuple(np.concatenate(p) for p in parts)

    @property
    def pending(self) -> int:
        if self.shape is None:
            return 0
        return int(self._host(self.a["in_count"])[:self.shape[1]].sum())

    def inputs(self, k):
        """(steps, targets, receptors, weights, thetas) of the inputs on their way (the ring is unchanged)."""
        return self._inputs(k)

    def put_inputs(self, net, k, steps, targets, recs, weights, thetas):
        """The ring holds these inputs (in this order within each slot) and nothing else; it is allocated for
        `net` (at least as large as a run would make it)."""
        src_step, _ = net._grid_of_sources()
        steps = np.asarray(steps, np.int64)
        most = int(np.bincount(steps % net.n_slots).max()) if steps.size else 0
        self.shape = None
        self._allocate(net, max(self._capacity(net, src_step), most), k)
        self._calls = None
        self._put_inputs(steps, targets, recs, weights, thetas)

    def take_inputs(self, k):
        """(steps, targets, receptors, weights) of the inputs on their way; the ring is emptied."""
        steps, targets, recs, weights, _ = self._inputs(k)
        if self.shape is not None:
            self.a["head"][...] = -1
            self.a["in_count"][...] = 0
        return steps, targets, recs, weights

    # --- running -----------------------------------------------------------------------------------------
    def _args(self):
        g = (lambda name: (lambda: self.a[name]))
        args = (Args().ptr(self.clock).int(lambda: self.shape[0]).ptr(g("cells")).int(lambda: self.shape[1])
                .int(lambda: self.shape[2]).ptr(g("head")).ptr(g("next")).ptr(g("in_theta")).ptr(g("in_w"))
                .ptr(g("in_rec")).ptr(g("in_count")).ptr(g("s_theta")).ptr(g("s_w")).ptr(g("s_rec"))
                .ptr(g("s_count")).ptr(g("fire_id")).ptr(g("fire_theta")).ptr(g("fire_count"))
                .ptr(g("out_id")).ptr(g("out_time")).ptr(g("out_count")).ptr(g("row_ptr")).ptr(g("syn_post"))
                .ptr(g("syn_w")).ptr(g("syn_delay")).ptr(g("syn_rec")).ptr(g("src_ptr")).ptr(g("src_id"))
                .ptr(g("src_theta")).ptr(g("src_time")).int(lambda: self._k0).real(lambda: self._h)
                .ptr(g("overflow")).ptr(g("rec_idx")).int(lambda: self._n_rec).int(lambda: self._interval)
                .ptr(g("samples")).int(lambda: self._sample_base).int(lambda: self._sample_rows)
                .ptr(g("in_target")))
        return args

    def _programs(self):
        if self._calls is None:
            d = self.driver
            args = self._args()
            names = ("start", "cells", "sources", "deliver", "finish", "sample")
            fn = {name: d.function(f"pynn_sparsegpu_offgrid_{name}") for name in names}
            n = max(self.shape[0], 1)
            cells_launch = (max(1, min((n + THREADS - 1) // THREADS, 65535)), THREADS)
            step = [_Call(fn["cells"], args, cells_launch), _Call(fn["sources"], args, (64, THREADS)),
                    _Call(fn["deliver"], args, (1024, THREADS)), _Call(fn["finish"], args, (64, THREADS))]
            self._calls = (args, d.program(step), d.program([_Call(fn["start"], args, cells_launch)]),
                           d.program([_Call(fn["sample"], args, (64, THREADS))]))
        return self._calls

    def run(self, net, src_step, src_theta, interval, last_sample, samples, k0, k1, stim=None):
        xp, d = self.xp, self.driver
        n = net.n_cells
        cap = self._capacity(net, src_step)
        if self.shape is None or self.shape[0] != n or self.shape[1] < net.n_slots or self.shape[2] < cap:
            self._allocate(net, max(cap, self.shape[2] if self.shape else 0), k0)
            self._calls = None
        a = self.a
        a["cells"] = xp.asarray(net.cells.view(np.uint8).reshape(-1) if n else np.zeros(CELL_DTYPE.itemsize,
                                                                                           np.uint8))
        key = (id(net), getattr(net, "syn_version", 0))
        if key != self._syn_key:
            a["row_ptr"] = xp.asarray(net.row_ptr)
            for name in ("syn_post", "syn_w", "syn_delay", "syn_rec"):
                values = getattr(net, name)
                a[name] = xp.asarray(values) if values.size else self._zeros(1, values.dtype)
            self._syn_key = key
        lo = int(net.counters[0])
        hi = lo + int(np.searchsorted(src_step[lo:], k1, "left"))
        steps = src_step[lo:hi]
        ptr = np.searchsorted(steps, np.arange(k0, k1 + 1), "left").astype(np.int64)
        a["src_ptr"] = xp.asarray(ptr)
        a["src_id"] = xp.asarray(net.src_id[lo:hi]) if hi > lo else self._zeros(1, np.int32)
        a["src_theta"] = xp.asarray(src_theta[lo:hi]) if hi > lo else self._zeros(1, np.float64)
        a["src_time"] = xp.asarray(net.src_time[lo:hi]) if hi > lo else self._zeros(1, np.float64)
        most = int(np.diff(ptr).max()) if ptr.size > 1 else 0
        a["fire_id"], a["fire_theta"] = self._zeros(n + most, np.int32), self._zeros(n + most, np.float64)
        out_cap = n * (CHUNK + 1) + (hi - lo)
        if "out_id" not in a or a["out_id"].shape[0] < out_cap:
            a["out_id"], a["out_time"] = self._zeros(out_cap, np.int32), self._zeros(out_cap, np.float64)
        self._n_rec = int(net.rec_idx.size)
        self._interval = int(interval)
        self._sample_rows = CHUNK // max(int(interval), 1) + 2
        a["rec_idx"] = xp.asarray(net.rec_idx) if self._n_rec else self._zeros(1, np.int32)
        a["samples"] = self._zeros(self._sample_rows * max(self._n_rec, 1), np.float64)
        self._k0, self._h = int(k0), float(net.dt)
        self._sample_base = int(net.counters[2])
        args, step_prog, start_prog, sample_prog = self._programs()
        first = int(net.counters[2])
        ids, times = [], []

        def take_spikes():
            count = int(self._host(a["out_count"])[0])
            if count:
                ids.append(self._host(a["out_id"][:count]).astype(np.int64))
                times.append(self._host(a["out_time"][:count]))
                a["out_count"][...] = 0

        def take_samples(lo_step, hi_step):
            """Rows m with lo_step <= m * interval <= hi_step (written since sample_base was set)."""
            if not self._n_rec or last_sample < first:
                return
            m0 = max(-(-lo_step // self._interval), int(net.counters[2]))
            m1 = min(hi_step // self._interval, last_sample)
            if m1 < m0:
                return
            rows = self._host(a["samples"]).reshape(-1, self._n_rec)
            for m in range(m0, m1 + 1):
                samples[m - first] = rows[m - self._sample_base]
            net.counters[2] = m1 + 1

        k = int(k0)
        with d.session():
            d.advance(self.clock, k)
            self._sample_base = int(net.counters[2])
            args.refresh(xp)
            if self._n_rec and int(net.counters[2]) <= last_sample and int(net.counters[2]) * interval == k:
                d.run_ops(sample_prog, self.clock, k)
                take_samples(k, k)
            d.run_ops(start_prog, self.clock, k)
            no_stops = np.zeros(0, dtype=np.int64)
            while k < k1:
                m = min(CHUNK, k1 - k)
                self._sample_base = (k + 1 + self._interval - 1) // self._interval
                args.refresh(xp)
                done = d.run(step_prog, self.clock, k, m, no_stops)
                k += done
                take_spikes()
                take_samples(k - done + 1, k)
            d.advance(self.clock, k)
        if int(self._host(a["overflow"])[0]):
            raise RuntimeError("the input ring of the off-grid kernels overflowed (an internal error: its "
                               "capacity is an upper bound)")
        net.cells[...] = self._host(a["cells"]).view(CELL_DTYPE)[:n]
        net.counters[0] = hi
        if not ids:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(ids), np.concatenate(times)
