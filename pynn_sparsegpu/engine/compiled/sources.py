"""Compiled spike sources: the step kernels of SpikeSourcePoisson, SpikeSourceArray and the renewal sources.

Not built yet: every spike source runs on the reference path (its counts are published to the compiled parts).
"""

from __future__ import annotations

from .runner import Unsupported


def group_kernel(engine, group):
    """The GroupKernel of a spike source population (raises Unsupported when there is none)."""
    raise Unsupported("spike sources have no compiled kernel yet")
