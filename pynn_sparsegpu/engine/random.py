"""Counter-based random numbers shared by every path: Philox4x32-10, the NumPy twin of kernels/psg_random.h.

A draw is a pure function of a 64-bit key (the stream) and a 128-bit counter, so the reference, the compiled
CPU kernels and CUDA draw the same numbers for the same (stream, index, draw, step), whatever order or thread
they are drawn in, and however the network is split over threads or ranks.

Convention: the counter is (index, draw, step & 0xFFFFFFFF, step >> 32); `index` is a global index (a neuron, a
synapse slot, an attempt), `draw` numbers the draws that one (index, step) needs. `uniform_pair` gives two
uniforms on [0, 1) with 53 random bits each per counter.

Keys come from the network's seed: `stream_key(seed_sequence)` draws one 64-bit key per stream.

Synapses (stochastic release, engine/synapse_models.py): a projection's stream has one key; the draws of the
synapse in (row, slot) at step k come in pairs, pair p from the counter
(row, slot * 64 + p % 64, k & 0xFFFFFFFF, (k >> 32) + (p // 64) * 2**24) (`synapse_uniform_pair`, and
psg_synapse_uniform_pair in kernels/psg_plasticity.cu). Rows longer than 2**26 slots would share counters.
"""

from __future__ import annotations

import numpy as np

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)
_SHIFT32, _SHIFT11 = np.uint64(32), np.uint64(11)
_TWO_TO_MINUS_53 = 1.0 / 9007199254740992.0


def stream_key(seed_sequence: np.random.SeedSequence) -> int:
    """A 64-bit key for one stream, from a seed sequence (reproducible from the network's seed)."""
    return int(seed_sequence.generate_state(1, np.uint64)[0])


def philox(key: int, c0, c1, c2, c3, xp=np):
    """Philox4x32-10 of `key` (64 bits) and counters c0..c3 (arrays or scalars of 32-bit values, broadcast);
    returns the four output words as uint64 arrays holding 32-bit values."""
    c = [xp.asarray(x, dtype=xp.uint64) & _MASK for x in (c0, c1, c2, c3)]
    shape = np.broadcast_shapes(*(x.shape for x in c))
    c = [xp.broadcast_to(x, shape).copy() for x in c]
    k0, k1 = int(key) & 0xFFFFFFFF, (int(key) >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = c[0] * _M0
        p1 = c[2] * _M1
        hi0, lo0 = p0 >> _SHIFT32, p0 & _MASK
        hi1, lo1 = p1 >> _SHIFT32, p1 & _MASK
        c = [hi1 ^ c[1] ^ np.uint64(k0), lo1, hi0 ^ c[3] ^ np.uint64(k1), lo0]
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return c


def _u53(hi, lo, xp):
    return (((hi << _SHIFT32) | lo) >> _SHIFT11).astype(xp.float64) * _TWO_TO_MINUS_53


def uniform_pair(key: int, index, draw, step, xp=np):
    """Two arrays of uniforms on [0, 1) for the counters (index, draw, step) (broadcast)."""
    step = xp.asarray(step, dtype=xp.int64).astype(xp.uint64)
    w = philox(key, index, draw, step & _MASK, step >> _SHIFT32, xp)
    return _u53(w[0], w[1], xp), _u53(w[2], w[3], xp)


SYNAPSE_PAIRS = 64      # pairs per synapse and step in the draw word; further pairs move to the step's high word


def synapse_uniform_pair(key: int, row, slot, pair, step, xp=np):
    """Two arrays of uniforms on [0, 1): draw pair `pair` of the synapses in (row, slot) at step `step`
    (broadcast); see the module's docstring for the counter."""
    step = xp.asarray(step, dtype=xp.int64).astype(xp.uint64)
    pair = xp.asarray(pair, dtype=xp.int64).astype(xp.uint64)
    slot = xp.asarray(slot, dtype=xp.int64).astype(xp.uint64)
    block = (pair // np.uint64(SYNAPSE_PAIRS)) << np.uint64(24)
    w = philox(key, row, slot * np.uint64(SYNAPSE_PAIRS) + pair % np.uint64(SYNAPSE_PAIRS), step & _MASK,
               (step >> _SHIFT32) + block, xp)
    return _u53(w[0], w[1], xp), _u53(w[2], w[3], xp)
