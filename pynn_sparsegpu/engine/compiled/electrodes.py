"""Compiled current sources (DC, step, AC, noise): kernels that add each step's injected current.

Not built yet: current sources run on the reference path.
"""

from __future__ import annotations

from .runner import Unsupported


def electrode_kernels(engine):
    """Kernels that inject the network's current sources (raises Unsupported when there are none)."""
    raise Unsupported("current sources have no compiled kernel yet")
