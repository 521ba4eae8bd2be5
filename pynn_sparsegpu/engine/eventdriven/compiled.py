"""The compiled event loop (kernels/psg_eventdriven.cpp): building it and calling it on a network's arrays.

The library is built alone (it is no part of the clock-driven engine's core library or CUDA module) by the
project's toolchain and cached on disk like the other kernels. Every array is owned by the
EventDrivenNetwork and passed by pointer; the call returns early when the spike buffer is full or the delivery
heap needs room, and is called again after the buffer is emptied or the heap grown: it resumes exactly.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

from ..compiled.toolchain import KERNEL_DIR, default_toolchain

SOURCE = "psg_eventdriven.cpp"
DONE, SPIKES_FULL, QUEUE_FULL = 0, 1, 2
SPIKE_BUFFER = 4096       # spikes per call before the call returns for a larger buffer
_FN = None


def library_function():
    """psg_ed_run from the compiled library (built once per process, cached on disk)."""
    global _FN
    if _FN is None:
        with open(os.path.join(KERNEL_DIR, SOURCE)) as f:
            lib = default_toolchain().build(f.read(), "psg_eventdriven")
        fn = lib.psg_ed_run
        P, I, D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
        fn.restype = ctypes.c_int
        fn.argtypes = [I, P, P, P, P, P, P, P, P, P, P, P, P, I, P, P, I, P, I, P, I, D, I, P, P, P, I, P, D]
        _FN = fn
    return _FN


def _ptr(arr):
    assert arr.flags.c_contiguous
    return arr.ctypes.data


def run_compiled(net, until, last_sample, samples):
    """Advance `net` to `until`; returns the new spikes (ids, times) in processing order; fills `samples`."""
    fn = library_function()
    c = net.counters
    c[4] = 0
    c[5] = 0
    cap = SPIKE_BUFFER
    chunks = []
    while True:
        spk_id = np.empty(cap, dtype=np.int32)
        spk_time = np.empty(cap)
        status = fn(net.n_cells, _ptr(net.tau_m), _ptr(net.v_inf), _ptr(net.v_thresh), _ptr(net.v_reset),
                    _ptr(net.tau_refrac), _ptr(net.t_free), _ptr(net.v_free), _ptr(net.t_spike),
                    _ptr(net.row_ptr), _ptr(net.syn_post), _ptr(net.syn_w), _ptr(net.syn_d), net.max_row,
                    _ptr(net.src_time), _ptr(net.src_id), net.src_time.size,
                    _ptr(net.queue), net.queue.size,
                    _ptr(net.rec_idx), net.rec_idx.size, net.interval or 1.0, last_sample, _ptr(samples),
                    _ptr(spk_id), _ptr(spk_time), cap, _ptr(c), until)
        n = int(c[4])
        chunks.append((spk_id[:n], spk_time[:n]))
        c[4] = 0
        if status == DONE:
            break
        if status == SPIKES_FULL:
            cap = min(cap * 4, 1 << 24)
        elif status == QUEUE_FULL:
            grown = np.zeros(max(2 * net.queue.size, int(c[1]) + net.max_row), dtype=net.queue.dtype)
            grown[:int(c[1])] = net.queue[:int(c[1])]
            net.queue = grown
        else:
            raise RuntimeError(f"psg_ed_run returned the unknown status {status}")
    assert int(c[5]) == samples.shape[0]
    return (np.concatenate([ch[0] for ch in chunks]).astype(np.int64), np.concatenate([ch[1] for ch in chunks]))
