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


def library():
    """The compiled library (built once per process, cached on disk), with its functions' signatures."""
    global _LIB
    if _LIB is None:
        with open(os.path.join(KERNEL_DIR, SOURCE)) as f:
            lib = default_toolchain().build(f.read(), "psg_eventdriven")
        P, I, D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
        lib.psg_ed_create.restype = P
        lib.psg_ed_create.argtypes = []
        lib.psg_ed_destroy.restype = None
        lib.psg_ed_destroy.argtypes = [P]
        lib.psg_ed_pending.restype = I
        lib.psg_ed_pending.argtypes = [P]
        lib.psg_ed_spike_count.restype = I
        lib.psg_ed_spike_count.argtypes = [P]
        lib.psg_ed_take_spikes.restype = None
        lib.psg_ed_take_spikes.argtypes = [P, P, P]
        lib.psg_ed_run.restype = None
        lib.psg_ed_run.argtypes = [P, I, P, P, P, P, P, P, P, P, I, P, I, D, I, P, P, D]
        _LIB = lib
    return _LIB


def _ptr(arr):
    assert arr.flags.c_contiguous
    return arr.ctypes.data


class EngineHandle:
    """The C++ Engine object of one network (freed with the handle)."""

    def __init__(self):
        self.lib = library()
        self.ptr = self.lib.psg_ed_create()

    def __del__(self):
        if getattr(self, "ptr", None):
            self.lib.psg_ed_destroy(self.ptr)
            self.ptr = None

    @property
    def pending(self) -> int:
        return int(self.lib.psg_ed_pending(self.ptr))

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
        n = int(self.lib.psg_ed_spike_count(self.ptr))
        ids = np.empty(n, dtype=np.int32)
        times = np.empty(n)
        self.lib.psg_ed_take_spikes(self.ptr, _ptr(ids), _ptr(times))
        return ids.astype(np.int64), times
