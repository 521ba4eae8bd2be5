"""Compiled structural plasticity: rewiring batches as kernels that run inside the compiled step loop.

Not built yet: rewiring batches run on the reference path at the steps they are due.
"""

from __future__ import annotations

from .runner import Unsupported


def rewiring_parts(engine, projection):
    """([Kernel], [Hook]) carrying out the projection's rewiring (raises Unsupported when there are none)."""
    raise Unsupported("rewiring has no compiled kernel yet")
