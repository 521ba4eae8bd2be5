"""The spike exchange of the compiled engine when several processes share a network.

A run advances in blocks of D steps, D = the shortest delay of the network in steps (over all processes):

  1. the populations' step kernels (and the current sources and recorders) run for the D steps of the block;
     after each population's kernel, `exchange_collect` appends its spikes to the send buffer as
     (tag, population-wide cell index, count);
  2. one MPI_Allgatherv gives every process the spikes of all processes (`exchange()`), as one run per
     process, each in (tag, cell) order (on the GPU, sorted into one run), so that a population's spikes of a
     step come out in cell order whatever the number of processes;
  3. the propagation kernels run for the same D steps, each step preceded by `exchange_load`, which makes that
     step's population-wide spike list.

A spike of step k with delay d >= D lands in ring slot k + d >= the first step of the next block, so the
neurons read exactly the input they would have read with propagation in every step. Inputs reach each ring
slot in the same order (by step, projection, cell), so sums are bit for bit those of one process.
"""

from __future__ import annotations

import time

import numpy as np


class SpikeExchange:
    """Send and receive buffers, the collect/load kernels of every population, and the exchange itself."""

    def __init__(self, engine, block_steps: int):
        from ..compiled.runner import GroupRuntime
        self.engine, self.comm = engine, engine.net.comm
        self.xp, self.driver = engine.xp, engine.driver
        self.D = int(block_steps)
        self.groups = list(engine.net.groups)
        self.G = len(self.groups)
        xp = self.xp
        self.block_start = xp.zeros(1, dtype=np.int64)
        capacity = max(sum(g.n for g in self.groups) * self.D, 1)
        self.capacity = capacity
        self.out = xp.zeros((capacity, 3), dtype=np.int32)
        self.out_n = xp.zeros(1, dtype=np.int64)
        self.received = xp.zeros((1, 3), dtype=np.int32)
        self.tags = self.D * self.G + 1
        self.offsets = xp.zeros(self.comm.size * self.tags, dtype=np.int64)
        self.runs = 1
        self.runtimes = {g.gid: GroupRuntime(_Whole(g), xp) for g in self.groups}   # population-wide spikes
        self.last_spikes = {}       # gid -> population-wide last-spike stamps, for groups that keep them
        self.seconds = 0.0          # wall time in exchange(), including waiting for the other processes
        self.blocks = 0
        self.entries = 0            # spikes exchanged (all processes)

    def runtime(self, group):
        """The population-wide spike list and counts that propagation reads."""
        return self.runtimes[group.gid]

    def last_spike(self, group):
        """The population-wide last-spike stamps of a group that keeps them (structural plasticity's
        LastNeuronSelection reads its presynaptic cells'), kept by the load kernel."""
        return self.last_spikes[group.gid]

    def gather_last_spikes(self) -> None:
        """At the start of a run: every process's stamps so far (kept by the groups' own kernels), joined."""
        for group in self.groups:
            if group.last_spike is not None:
                whole = self.comm.allgatherv(np.asarray(self.driver.host(group.last_spike, record=False)))
                self.last_spikes[group.gid] = self.xp.asarray(whole.astype(np.int64))

    def collect_kernel(self, group):
        from ..compiled.program import Args
        from ..compiled.runner import Kernel
        rt = self.engine.runtime(group)
        g = self.groups.index(group)
        args = (Args().ptr(self.engine.clock).ptr(rt.counts).ptr(rt.spike_list).ptr(rt.spike_count)
                .int(group.cell0).int(g).int(self.G).ptr(self.block_start).ptr(self.out).ptr(self.out_n)
                .int(self.capacity))
        return Kernel(self.engine.function("pynn_sparsegpu_exchange_collect"), args,
                      f"spike exchange: collect the spikes of {group.label or type(group.model).__name__!r}")

    def load_kernel(self, group):
        from ..compiled.program import Args
        from ..compiled.runner import Kernel
        rt = self.runtime(group)
        g = self.groups.index(group)
        args = (Args().ptr(self.engine.clock).ptr(rt.counts).ptr(rt.spike_list).ptr(rt.spike_count)
                .ptr(lambda: self.received).ptr(self.offsets).int(self.G).int(g).ptr(self.block_start)
                .int(lambda: self.runs).int(self.tags).ptr(lambda: self.last_spikes.get(group.gid)))
        return Kernel(self.engine.function("pynn_sparsegpu_exchange_load"), args,
                      f"spike exchange: the spikes of {group.label or type(group.model).__name__!r} "
                      "from every process")

    def begin(self, k: int) -> None:
        """A block starts at step k."""
        self.block_start[...] = k

    def exchange(self) -> bool:
        """Gather every process's spikes of the block; returns True when the receive buffer moved or the number
        of runs changed (the load kernels' arguments must then be refreshed)."""
        started = time.perf_counter()
        runs_before = self.runs
        n = int(self.driver.host(self.out_n, record=False)[0])        # synchronize! (once per block)
        if n > self.capacity:
            raise RuntimeError("internal error: the spike exchange's send buffer overflowed")
        sent = np.asarray(self.driver.host(self.out[:n], record=False))
        gathered, sizes = self.comm.allgatherv(sent, sizes=True)
        tags = np.arange(self.tags)
        if self.driver.target == "cpu":
            # each process sent its spikes in (tag, cell) order (the collect kernels run step by step and
            # population by population) and holds a block of cells below the next process's: the processes'
            # parts are the runs the load kernel reads one after the other
            runs = len(sizes)
            key = np.repeat(np.arange(runs) * self.tags, sizes) + gathered[:, 0]
            per_tag = np.bincount(key, minlength=runs * self.tags).reshape(runs, self.tags)
            offsets = np.zeros((runs, self.tags), dtype=np.int64)
            np.cumsum(per_tag[:, :-1], axis=1, out=offsets[:, 1:])
            offsets += np.concatenate(([0], np.cumsum(sizes)[:-1]))[:, None]
            offsets = offsets.reshape(-1)
            self.runs = runs
        else:                   # the GPU's collect kernel appends in no particular order: one sorted run
            gathered = gathered[np.lexsort((gathered[:, 1], gathered[:, 0]))]
            offsets = np.searchsorted(gathered[:, 0], tags)
            self.runs = 1
        moved = gathered.shape[0] > self.received.shape[0]
        if moved:
            self.received = self.xp.zeros((max(gathered.shape[0], 2 * self.received.shape[0]), 3), np.int32)
        self.received[:gathered.shape[0]] = self.xp.asarray(gathered)
        self.offsets[:offsets.shape[0]] = self.xp.asarray(offsets.astype(np.int64))
        self.out_n[...] = 0
        self.seconds += time.perf_counter() - started
        self.blocks += 1
        self.entries += int(gathered.shape[0])
        return moved or runs_before != self.runs


class _Whole:
    """A stand-in with the population-wide size, for GroupRuntime."""

    def __init__(self, group):
        self.n = group.n_total
