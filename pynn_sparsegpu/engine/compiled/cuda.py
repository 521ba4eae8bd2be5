"""The GPU driver: the same kernel sources as the CPU build, compiled by NVRTC (cupy.RawModule), launched from
Python or replayed as CUDA graphs.

A step launches each kernel of the program that is due (a kernel with a period only at its steps; the host
knows the step index, so deciding needs no synchronisation), then a one-thread kernel that advances the device
clock (psg_clock.cu). With graphs on (the default), a run of steps is captured once as a CUDA graph of G steps,
G a multiple of every kernel's period, and replayed: one host launch per G steps. Kernels read every argument
from device memory (their argument slots) and the step index from the device clock, so a captured graph stays
valid when the engine replaces an array (the slots are rewritten in place) and replays at any step with the same
phase modulo G.

All work of a run goes to one stream of the engine's; the default stream waits for it at the end of the run
(an event, not a host synchronisation). The only device-to-host copies are record flushes (counted in
`counters.record_syncs`) and user requests; any other synchronisation would be counted in `counters.syncs`.

`LaunchDriver(backend, counters, runtime=None)`: `runtime` supplies RawModule, Stream and asnumpy; tests pass
a stand-in that runs the CPU build of each kernel, which checks the launch logic without a GPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os

from .toolchain import KERNEL_DIR

NVRTC_OPTIONS = ("-std=c++17", "--fmad=false", f"-I{KERNEL_DIR}")
GRAPH_STEPS = 64          # steps per captured graph (rounded up to a multiple of every period)


class CupyRuntime:
    """The real thing: CuPy's RawModule, streams and graphs."""

    def __init__(self, cupy):
        self.xp = cupy

    def module(self, code: str):
        return self.xp.RawModule(code=code, options=NVRTC_OPTIONS)

    def stream(self):
        return self.xp.cuda.Stream(non_blocking=True)

    def current_stream(self):
        return self.xp.cuda.get_current_stream()

    def event(self):
        return self.xp.cuda.Event(disable_timing=True)

    def asnumpy(self, array):
        return self.xp.asnumpy(array)


def _core_source() -> str:
    names = sorted(n for n in os.listdir(KERNEL_DIR) if n.startswith("psg_") and n.endswith(".cu"))
    parts = []
    for name in names:
        with open(os.path.join(KERNEL_DIR, name)) as f:
            parts.append(f"// ---- {name}\n" + f.read())
    return "\n".join(parts)


class _Launch:
    __slots__ = ("fn", "grid", "block", "args", "period", "phase")

    def __init__(self, fn, grid, block, args, period, phase):
        self.fn, self.grid, self.block, self.args = fn, int(grid), int(block), args
        self.period, self.phase = max(int(period), 1), int(phase)

    def due(self, k: int) -> bool:
        return self.period == 1 or (k + self.phase) % self.period == 0


class LaunchDriver:
    """Runs kernel calls on a GPU (the driver interface of program.CpuDriver)."""

    target = "cuda"
    DEFAULT_LAUNCH = (1024, 128)

    def __init__(self, backend, counters, runtime=None, graphs: bool = True):
        self.runtime = runtime or CupyRuntime(backend.xp)
        self.xp = self.runtime.xp
        self.counters = counters
        self.graphs = graphs
        cache = backend._kernel_cache
        key = ("compiled-core", hashlib.sha256(_core_source().encode()).hexdigest())
        if key not in cache:
            cache[key] = self.runtime.module(_core_source())
        self._core = cache[key]
        self._cache = cache
        self._functions = {}
        self._stream = None
        self._graph_cache = {}
        self._tick = None

    # --- kernels ------------------------------------------------------------------------------------
    def function(self, name: str):
        if name not in self._functions:
            self._functions[name] = self._core.get_function(name)
        return self._functions[name]

    def kernel(self, source: str, name: str):
        key = ("compiled-kernel", hashlib.sha256(source.encode()).hexdigest())
        if key not in self._cache:
            self._cache[key] = self.runtime.module(source)
        return self._cache[key].get_function(name)

    def program(self, calls):
        out = []
        for call in calls:
            grid, block = getattr(call, "launch", None) or self.DEFAULT_LAUNCH
            out.append(_Launch(call.function, grid, block, call.args, getattr(call, "period", 1),
                               getattr(call, "phase", 0)))
        return out

    def set_threads(self, threads: int) -> int:
        return 1

    def chunk_limit(self, spike_recs) -> int | None:
        """Steps after which a spike record buffer must be emptied (its counter is not read between)."""
        limits = [max(r.capacity // max(r.n_rec, 1) - 1, 1) for r in spike_recs]
        return min(limits) if limits else None

    def host(self, array, record: bool = True):
        if record:
            self.counters.record_syncs += 1
        else:
            self.counters.syncs += 1
        return self.runtime.asnumpy(array)

    def advance(self, clock, k: int) -> None:
        clock[...] = k                  # a host-to-device write, ordered on the stream

    # --- running ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self):
        """All launches of a run on the engine's stream; the default stream waits for them afterwards."""
        if self._stream is None:
            self._stream = self.runtime.stream()
        self._graph_cache.clear()       # graphs of the previous run's program
        before = self.runtime.event()
        before.record(self.runtime.current_stream())
        self._stream.wait_event(before)
        try:
            with self._stream:
                yield
        finally:
            after = self.runtime.event()
            after.record(self._stream)
            self.runtime.current_stream().wait_event(after)

    def _tick_launch(self, clock):
        if self._tick is None or self._tick[1] is not clock:
            from .program import Args
            args = Args().ptr(clock)
            args.refresh(self.xp)
            self._tick = (self.function("pynn_sparsegpu_clock_tick"), clock, args)
        return self._tick

    def _launch_step(self, program, k: int, tick) -> int:
        n = 0
        for op in program:
            if op.due(k):
                op.fn((op.grid,), (op.block,), (op.args._slots,))
                n += 1
        tick[0]((1,), (1,), (tick[2]._slots,))
        return n + 1

    def run(self, program, clock, k: int, n_steps: int, stops=None) -> int:
        """Run n_steps steps from step k; returns n_steps (the runner sizes chunks so record buffers fit)."""
        tick = self._tick_launch(clock)
        period = 1
        for op in program:
            period = period * op.period // math.gcd(period, op.period)
        length = period * max(1, -(-GRAPH_STEPS // period))
        done = 0
        if self.graphs and n_steps >= 2 * length:
            key = (id(program), k % length, length)
            graph = self._graph_cache.get(key)
            if graph is None or graph[0] is not program:
                stream = self._stream
                stream.begin_capture()
                for j in range(length):
                    self._launch_step(program, k + j, tick)
                graph = self._graph_cache[key] = (program, stream.end_capture(),
                                                  sum(op.due(k + j) for j in range(length) for op in program)
                                                  + length)
            for _ in range(n_steps // length):
                graph[1].launch(stream=self._stream)
                self.counters.host_launches += 1
                self.counters.launches += graph[2]
                done += length
        while done < n_steps:
            n = self._launch_step(program, k + done, tick)
            self.counters.launches += n
            self.counters.host_launches += n
            done += 1
        self.counters.steps += n_steps
        return n_steps

    def run_ops(self, program, clock, k: int) -> None:
        for op in program:
            if op.due(k):
                op.fn((op.grid,), (op.block,), (op.args._slots,))
                self.counters.launches += 1
                self.counters.host_launches += 1


def graph_steps(periods) -> int:
    """The steps of one captured graph for kernels with these periods (for reports)."""
    period = 1
    for p in periods:
        period = period * int(p) // math.gcd(period, int(p))
    return period * max(1, -(-GRAPH_STEPS // period))

