"""The compiled off-grid loop (kernels/psg_offgrid.cpp): building it and calling it on a network's arrays.

Built alone (no part of the clock-driven engine's core library) by the project's toolchain and cached on disk
like the other kernels. The cells' records (CELL_DTYPE) are owned by the OffGridNetwork and passed by pointer;
the inputs on their way and the spikes of a call live in a C++ Engine object that persists between calls.
"""

from __future__ import annotations

import ctypes

import numpy as np

from ..eventdriven.compiled import Handle, _ptr, build

SOURCE = "psg_offgrid.cpp"
_LIB = None


def library():
    """The compiled library (built once per process, cached on disk), with its functions' signatures."""
    global _LIB
    if _LIB is None:
        P, I, D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
        _LIB = build(SOURCE, "psg_og", [P, I, P, I, P, P, P, P, P, P, P, P, P, I, P, I, I, I, P, P, I, I, D, I,
                                        I, P, P, P])
        _LIB.psg_og_take_inputs.restype = None
        _LIB.psg_og_take_inputs.argtypes = [P, I, P, P, P, P]
        _LIB.psg_og_peek_inputs.restype, _LIB.psg_og_peek_inputs.argtypes = None, [P, I, P, P, P, P, P]
        _LIB.psg_og_put_inputs.restype, _LIB.psg_og_put_inputs.argtypes = None, [P, I, I, P, P, P, P, P]
    return _LIB


class EngineHandle(Handle):
    """The off-grid loop's C++ Engine object (the inputs on their way, the spikes of a call)."""

    prefix = "psg_og"

    def __init__(self):
        super().__init__(library())

    def take_inputs(self, k):
        """(steps, targets, receptors, weights) of every input on its way (the ring is emptied)."""
        n = self.pending
        out = (np.empty(n, np.int64), np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n))
        self.lib.psg_og_take_inputs(self.ptr, int(k), *(_ptr(a) for a in out))
        return out

    def inputs(self, k):
        """(steps, targets, receptors, weights, thetas) of every input on its way, each slot in arrival order
        (copies; the ring is unchanged)."""
        n = self.pending
        out = (np.empty(n, np.int64), np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n), np.empty(n))
        self.lib.psg_og_peek_inputs(self.ptr, int(k), *(_ptr(a) for a in out))
        return out

    def put_inputs(self, net, k, steps, targets, recs, weights, thetas):
        """The ring holds these inputs (in this order within each slot) and nothing else."""
        arrays = [np.ascontiguousarray(a, dtype=d) for a, d in ((steps, np.int64), (targets, np.int32),
                                                                (recs, np.int32), (weights, np.float64),
                                                                (thetas, np.float64))]
        self.lib.psg_og_put_inputs(self.ptr, int(net.n_slots), arrays[0].size, *(_ptr(a) for a in arrays))

    def run(self, net, src_step, src_theta, interval, last_sample, samples, k0, k1, stim=None):
        """Steps k0 .. k1-1 of `net`; returns the new spikes (ids, times); fills `samples`. stim: (cells, base,
        values[k - k0, r]) of currents that change every step, or None."""
        first = int(net.counters[2])
        idx, base, values = stim if stim is not None else (np.zeros(0, np.int32), np.zeros(0), np.zeros((0, 0)))
        idx = np.ascontiguousarray(idx, dtype=np.int32)
        base = np.ascontiguousarray(base, dtype=np.float64)
        values = np.ascontiguousarray(values, dtype=np.float64)
        self.lib.psg_og_run(
            self.ptr, net.n_cells, _ptr(net.cells), net.n_slots, _ptr(net.row_ptr), _ptr(net.syn_post),
            _ptr(net.syn_w), _ptr(net.syn_delay), _ptr(net.syn_rec), _ptr(src_step), _ptr(src_theta),
            _ptr(net.src_time), _ptr(net.src_id), net.src_time.size, _ptr(net.rec_idx), net.rec_idx.size,
            int(interval), int(last_sample), _ptr(samples), _ptr(net.counters), int(k0), int(k1), net.dt,
            int(getattr(net, "threads", 1)), idx.size, _ptr(idx), _ptr(base), _ptr(values))
        assert int(net.counters[2]) - first == samples.shape[0]
        return self._take_spikes()
