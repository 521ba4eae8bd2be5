"""Compiled propagation through synapses with dynamics (STDP, Tsodyks-Markram, stochastic synapses).

Not built yet: such projections propagate on the reference path.
"""

from __future__ import annotations

from .runner import Unsupported


def propagation_kernel(engine, projection):
    """The Kernel propagating one projection with synapse dynamics (raises Unsupported when there is none)."""
    raise Unsupported("synapses with dynamics have no compiled kernel yet")
