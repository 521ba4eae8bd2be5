"""The compiled event loop (kernels/psg_eventdriven.cpp): building it and calling it on a network's arrays.

The library is built alone (it is no part of the clock-driven engine's core library or CUDA module) by the
project's toolchain and cached on disk like the other kernels. The network's parameters and state are NumPy
arrays owned by the EventDrivenNetwork (the cells' records: one structured array, CELL_DTYPE) and passed by
pointer; the pending arrivals and the spikes of a call
live in a C++ Engine object (`EngineHandle`) that persists between calls, so repeated runs continue exactly.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

from ..compiled.toolchain import KERNEL_DIR, default_toolchain

SOURCE = "psg_eventdriven.cpp"
_LIB = None


def build(source: str, prefix: str, run_argtypes):
    """Build one of the sequential C++ engines (kernels/<source>) and declare its functions: <prefix>_create,
    _destroy, _pending, _spike_count, _take_spikes (common to the engines) and <prefix>_run."""
    with open(os.path.join(KERNEL_DIR, source)) as f:
        lib = default_toolchain().build(f.read(), source.rsplit(".", 1)[0])
    P, I = ctypes.c_void_p, ctypes.c_int64
    for name, restype, argtypes in (("create", P, []), ("destroy", None, [P]), ("pending", I, [P]),
                                    ("spike_count", I, [P]), ("take_spikes", None, [P, P, P]),
                                    ("run", None, run_argtypes)):
        fn = getattr(lib, f"{prefix}_{name}")
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def library():
    """The compiled library (built once per process, cached on disk), with its functions' signatures."""
    global _LIB
    if _LIB is None:
        P, I, D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
        _LIB = build(SOURCE, "psg_ed", [P, I, P, P, P, P, P, P, P, P, I, P, I, D, I, P, P, D])
        _LIB.psg_ed_peek_queue.restype, _LIB.psg_ed_peek_queue.argtypes = None, [P, P, P, P]
        _LIB.psg_ed_put_queue.restype, _LIB.psg_ed_put_queue.argtypes = None, [P, I, P, P, P]
    return _LIB


def _ptr(arr):
    assert arr.flags.c_contiguous
    return arr.ctypes.data


class Handle:
    """The C++ Engine object of one network (freed with the handle); `prefix` names the engine's functions."""

    prefix = "psg_ed"

    def __init__(self, lib=None):
        self.lib = lib or library()
        self.ptr = getattr(self.lib, f"{self.prefix}_create")()

    def __del__(self):
        if getattr(self, "ptr", None):
            getattr(self.lib, f"{self.prefix}_destroy")(self.ptr)
            self.ptr = None

    @property
    def pending(self) -> int:
        return int(getattr(self.lib, f"{self.prefix}_pending")(self.ptr))

    def _take_spikes(self):
        """The spikes the engine found since they were last taken: (ids int64, times)."""
        n = int(getattr(self.lib, f"{self.prefix}_spike_count")(self.ptr))
        ids = np.empty(n, dtype=np.int32)
        times = np.empty(n)
        getattr(self.lib, f"{self.prefix}_take_spikes")(self.ptr, _ptr(ids), _ptr(times))
        return ids.astype(np.int64), times


class EngineHandle(Handle):
    """The event-driven engine's C++ Engine object."""

    def queue(self):
        """(times, sequence numbers, segments) of the pending arrivals (copies; the queue is unchanged)."""
        n = self.pending
        out = (np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64))
        self.lib.psg_ed_peek_queue(self.ptr, *(_ptr(a) for a in out))
        return out

    def put_queue(self, times, seq, seg):
        """Replace the pending arrivals."""
        times, seq, seg = (np.ascontiguousarray(a, dtype=d) for a, d in
                           ((times, np.float64), (seq, np.int64), (seg, np.int64)))
        self.lib.psg_ed_put_queue(self.ptr, times.size, _ptr(times), _ptr(seq), _ptr(seg))

    def run(self, net, until, last_sample, samples):
        """Advance `net` to `until`; returns the new spikes (ids, times) in processing order; fills `samples`."""
        c = net.counters
        c[3] = 0
        self.lib.psg_ed_run(
            self.ptr, net.n_cells, _ptr(net.cells), _ptr(net.row_seg), _ptr(net.seg_ptr), _ptr(net.seg_delay),
            _ptr(net.syn_post), _ptr(net.syn_w),
            _ptr(net.src_time), _ptr(net.src_id), net.src_time.size,
            _ptr(net.rec_idx), net.rec_idx.size, net.interval or 1.0, last_sample, _ptr(samples), _ptr(c), until)
        assert int(c[3]) == samples.shape[0]
        return self._take_spikes()
