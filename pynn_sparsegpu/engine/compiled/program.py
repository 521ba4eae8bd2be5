"""Kernel calls as data: argument slots, kernels from the compiled libraries, and the CPU driver.

Every kernel takes one pointer to an array of 64-bit slots (psg_portable.h). `Args` builds that array from
entries that are re-read when `refresh()` is called, so a program survives the engine replacing an array
(a reset, a rewiring batch that rebinds row lengths): the slot array keeps its address, only its values change.

`CpuLibraries` compiles the hand-written kernel sources (engine/kernels/psg_*.cu and the driver) into one
library per process, on first use, through the toolchain's content-hash cache. `CpuDriver.run` runs a list of
kernel calls for many steps inside compiled code (psg_driver.cpp).
"""

from __future__ import annotations

import contextlib
import ctypes
import os

import numpy as np

from .toolchain import KERNEL_DIR, default_toolchain

def core_sources() -> list:
    """The hand-written kernel sources (every engine/kernels/psg_*.cu) and the CPU driver, in a fixed order."""
    names = sorted(n for n in os.listdir(KERNEL_DIR) if n.startswith("psg_") and n.endswith(".cu"))
    return names + ["psg_driver.cpp"]


def _pointer(array) -> int:
    """The address of a C-contiguous array's data (NumPy or CuPy), checked."""
    if array is None:
        return 0
    if not array.flags.c_contiguous:
        raise ValueError("a kernel argument must be a C-contiguous array")
    data = getattr(array, "data", None)
    if hasattr(data, "ptr"):          # cupy
        return int(data.ptr)
    return int(array.ctypes.data)


def _double_bits(value: float) -> int:
    return int(np.array([value], dtype=np.float64).view(np.uint64)[0])


class Args:
    """The argument slots of one kernel call.

    Entries are added in slot order: `ptr(get)` (get() returns an array or None), `int(get)`, `real(get)`,
    `table(get)` (get() returns a list of Args rows, laid out one after another in a slot array of their own).
    A getter may also be a plain value.
    """

    def __init__(self):
        self.xp = np
        self._entries = []
        self._slots = None
        self._tables = []
        self._keep = []

    def __len__(self):
        return len(self._entries)

    def ptr(self, get):
        self._entries.append(("ptr", get))
        return self

    def int(self, get):
        self._entries.append(("int", get))
        return self

    def real(self, get):
        self._entries.append(("real", get))
        return self

    def table(self, get):
        self._entries.append(("table", get))
        return self

    @staticmethod
    def _value(get):
        return get() if callable(get) else get

    def host_values(self) -> np.ndarray:
        """The slot values now (uint64), re-reading every entry."""
        out = np.zeros(max(len(self._entries), 1), dtype=np.uint64)
        keep, tables = [], []
        for k, (kind, get) in enumerate(self._entries):
            value = self._value(get)
            if kind == "ptr":
                keep.append(value)
                out[k] = _pointer(value)
            elif kind == "int":
                out[k] = np.uint64(int(value) % (1 << 64))
            elif kind == "real":
                out[k] = _double_bits(float(value))
            else:
                rows = list(value)
                for row in rows:
                    row.xp = self.xp
                flat = np.concatenate([row.host_values() for row in rows]) if rows else np.zeros(1, np.uint64)
                for row in rows:
                    keep.extend(row._keep)
                table = self.xp.asarray(flat)
                tables.append(table)
                out[k] = _pointer(table)
        self._keep, self._tables = keep, tables
        return out

    def refresh(self, xp=None):
        """Re-read every entry into the slot array (same address after the first call; on the GPU path `xp` is
        cupy and the slots live in device memory); returns the array."""
        if xp is not None and xp is not self.xp:
            self.xp, self._slots = xp, None
        values = self.host_values()
        if self._slots is None or self._slots.shape != values.shape:
            self._slots = self.xp.asarray(values)
        else:
            self._slots[...] = self.xp.asarray(values)
        return self._slots

    @property
    def address(self) -> int:
        if self._slots is None:
            self.refresh()
        return _pointer(self._slots)


class _Op(ctypes.Structure):
    _fields_ = [("fn", ctypes.c_void_p), ("args", ctypes.c_void_p), ("period", ctypes.c_longlong),
                ("phase", ctypes.c_longlong)]


class CpuLibraries:
    """The hand-written kernels and the driver, compiled for this CPU (once per process, cached on disk)."""

    def __init__(self, toolchain=None):
        self.toolchain = toolchain or default_toolchain()
        parts = []
        for name in core_sources():
            with open(os.path.join(KERNEL_DIR, name)) as f:
                parts.append(f"// ---- {name}\n" + f.read())
        self.core = self.toolchain.build("\n".join(parts), "pynn_sparsegpu_core")
        run = self.core.pynn_sparsegpu_run
        run.restype = ctypes.c_longlong
        run.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_void_p, ctypes.c_longlong,
                        ctypes.c_void_p, ctypes.c_longlong, ctypes.c_void_p]
        run_ops = self.core.pynn_sparsegpu_run_ops
        run_ops.restype = None
        run_ops.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p]
        self._run, self._run_ops = run, run_ops
        set_threads = self.core.pynn_sparsegpu_set_threads
        set_threads.restype = ctypes.c_int
        set_threads.argtypes = [ctypes.c_int]
        self._set_threads = set_threads

    def function(self, name: str, lib=None) -> int:
        """The address of kernel `name` (in the core library, or in `lib`)."""
        return ctypes.cast(getattr(lib or self.core, name), ctypes.c_void_p).value

    def kernel_library(self, source: str, stem: str):
        return self.toolchain.build(source, stem)


_LIBRARIES = None


def cpu_libraries() -> CpuLibraries:
    global _LIBRARIES
    if _LIBRARIES is None:
        _LIBRARIES = CpuLibraries()
    return _LIBRARIES


class Counters:
    """What the engine counts about itself: kernel launches (on the CPU build, kernel calls), host
    synchronisations, and steps. `per_step()` gives launches and syncs per step since the last `reset()`."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.launches = 0          # kernels executed (on the CPU build: kernel calls)
        self.host_launches = 0     # launch calls made by the host (a CUDA graph replay is one)
        self.syncs = 0             # device-to-host synchronisations inside the loop
        self.record_syncs = 0      # device-to-host copies that empty record buffers
        self.steps = 0

    def per_step(self) -> dict:
        steps = max(self.steps, 1)
        return {"steps": self.steps, "launches_per_step": self.launches / steps,
                "host_launches_per_step": self.host_launches / steps, "syncs_per_step": self.syncs / steps,
                "record_syncs_per_step": self.record_syncs / steps}


class CpuDriver:
    """Runs kernel calls on the CPU build. A call is any object with `function` (a kernel from function() or
    kernel()), `args` (Args), `period` and `phase` (called at the steps k with (k + phase) % period == 0).

    The driver interface (shared with cuda.LaunchDriver): xp; function(name); kernel(source, name);
    program(calls); set_threads(n); run(program, clock, k, n_steps, stops) -> steps done;
    run_ops(program, clock, k); advance(clock, k); chunk_limit(spike recorders); session();
    host(array, record=True) -> NumPy array (a copy that empties a record buffer when `record`, else a
    synchronisation inside the loop; counted on the GPU)."""

    xp = np
    target = "cpu"

    def __init__(self, libraries: CpuLibraries, counters: Counters):
        self.lib, self.counters = libraries, counters
        self._launches = np.zeros(1, dtype=np.int64)

    def function(self, name: str) -> int:
        """A hand-written kernel of the core library."""
        return self.lib.function(name)

    def kernel(self, source: str, name: str) -> int:
        """Kernel `name` of a generated source (compiled on first use, cached)."""
        return self.lib.function(name, self.lib.kernel_library(source, name))

    def program(self, calls):
        return (self.op_array(calls), len(calls))

    @staticmethod
    def chunk_limit(spike_recs) -> int | None:
        return None                    # the C driver stops by itself when a spike buffer might overflow

    def host(self, array, record: bool = True):
        return np.asarray(array)

    @staticmethod
    def session():
        return contextlib.nullcontext()

    @staticmethod
    def op_array(calls):
        ops = (_Op * max(len(calls), 1))()
        for k, call in enumerate(calls):
            ops[k].fn = call.function
            ops[k].args = call.args.address
            ops[k].period = max(int(getattr(call, "period", 1)), 1)
            ops[k].phase = int(getattr(call, "phase", 0))
        return ops

    def set_threads(self, threads: int) -> int:
        """Let the kernels use `threads` CPU threads; returns how many they will use (1 without OpenMP)."""
        return int(self.lib._set_threads(int(threads)))

    def run(self, program, clock: np.ndarray, k: int, n_steps: int, stops: np.ndarray) -> int:
        """Run up to n_steps steps from step k (= clock[0]); returns the steps done (fewer when a stop condition
        held)."""
        ops, n_ops = program
        self._launches[0] = 0
        done = self.lib._run(ctypes.addressof(ops), n_ops, clock.ctypes.data, int(n_steps),
                             stops.ctypes.data if stops.size else None, stops.size // 2, self._launches.ctypes.data)
        self.counters.launches += int(self._launches[0])
        self.counters.host_launches += int(self._launches[0])
        self.counters.steps += int(done)
        return int(done)

    def run_ops(self, program, clock: np.ndarray, k: int) -> None:
        """Call the kernels due at step k (= clock[0]) once, without advancing the clock."""
        ops, n_ops = program
        if n_ops:
            self._launches[0] = 0
            self.lib._run_ops(ctypes.addressof(ops), n_ops, clock.ctypes.data, self._launches.ctypes.data)
            self.counters.launches += int(self._launches[0])
            self.counters.host_launches += int(self._launches[0])

    def advance(self, clock, k: int) -> None:
        """Set the clock to step k (between the Python-driven steps of a mixed run)."""
        clock[0] = k
