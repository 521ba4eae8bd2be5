"""Random numbers for building connectivity, the same on NumPy and on CuPy.

Connectors build their connections with array code written against an array module `xp` (numpy or
cupy), so on the CuPy path the index arrays are generated on the device and never cross the bus. For
the NumPy and the CuPy builds of one seed to give the same network, the random numbers cannot come
from the libraries' own generators (numpy's MT19937 and cupy's XORWOW differ). They come from a
counter-based stream instead: value n of the stream with key k is

    splitmix64(k + (n + 1) * 0x9E3779B97F4A7C15)

(SplitMix64 evaluated at position n, so any block of values is one vectorised expression of integer
multiplies, shifts and xors: bitwise identical in numpy and in cupy). A stream remembers how far it has
been read; every draw takes the next block.

The key of a connector's stream is drawn from the connector's PyNN rng, so a seeded NumpyRNG
reproduces the network and two projections sharing one rng get independent connections.
"""

from __future__ import annotations

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_TO_MINUS_53 = 1.0 / (1 << 53)


class CounterStream:
    """An indexable stream of uniform random numbers on the array module `xp`."""

    def __init__(self, xp, key: int):
        self.xp = xp
        self.key = np.uint64(int(key) % (1 << 64))
        self.position = 0

    def bits(self, n: int):
        """The next n 64-bit values (uint64)."""
        xp = self.xp
        z = xp.arange(self.position + 1, self.position + 1 + int(n), dtype=xp.uint64)
        self.position += int(n)
        z *= _GAMMA
        z += self.key
        z ^= z >> np.uint64(30)
        z *= _MIX1
        z ^= z >> np.uint64(27)
        z *= _MIX2
        z ^= z >> np.uint64(31)
        return z

    def uniform(self, n: int):
        """The next n floats, uniform on [0, 1) with 53 random bits each."""
        return (self.bits(n) >> np.uint64(11)).astype(self.xp.float64) * _TWO_TO_MINUS_53

    def below(self, high, n: int | None = None):
        """Integers uniform on [0, high): `high` a positive scalar (then n values) or an array (one value
        per element). The bias of scaling 53 bits is below 2^-53 * high."""
        xp = self.xp
        if n is None:
            high = xp.asarray(high, dtype=xp.int64)
            n = high.shape[0]
        v = (self.uniform(n) * high).astype(xp.int64)
        return xp.minimum(v, xp.asarray(high, dtype=xp.int64) - 1)

    def geometric(self, p: float, n: int):
        """n draws of the number of Bernoulli(p) trials up to and including the first success (>= 1)."""
        xp = self.xp
        u = self.uniform(n)
        return (xp.floor(xp.log1p(-u) / np.log1p(-p)) + 1).astype(xp.int64)


def stream_for(rng, xp, network):
    """A CounterStream on `xp` for one connector. Its key is drawn from a NumpyRNG's own generator (so the
    seed reproduces and the rng advances); any other rng gives its seed, or none, to
    `network.connection_key`."""
    from pyNN.random import NumpyRNG
    if isinstance(rng, NumpyRNG):
        key = int(rng.rng.randint(0, 2 ** 62, dtype=np.int64)) * 4 + int(rng.rng.randint(0, 4))
    else:
        seed = getattr(rng, "seed", None)
        key = network.connection_key(None if seed is None else int(seed))
    return CounterStream(xp, key)


def repeat_index(xp, counts):
    """numpy.repeat(arange(counts.size), counts), written with searchsorted so that it also runs on
    cupy, whose repeat takes no array of counts."""
    counts = xp.asarray(counts, dtype=xp.int64)
    ends = xp.cumsum(counts)
    total = int(ends[-1]) if counts.shape[0] else 0
    return xp.searchsorted(ends, xp.arange(total, dtype=xp.int64), side="right")
