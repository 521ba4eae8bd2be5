"""Compiled spike sources: the step kernels of SpikeSourcePoisson, SpikeSourcePoissonRefractory,
SpikeSourceGamma, SpikeSourceInhGamma and SpikeSourceArray (kernels/psg_sources.cu).

The kernels follow the reference models (engine/neurons/sources.py) operation by operation and draw from the
same counter-based stream, so both paths give the same spikes bit for bit. Their constants are the models'
derived arrays (float64, computed by NumPy once per parameter change); the renewal processes' state (`_next`,
`_op`) is kept in float64 and updated in place by the kernel.
"""

from __future__ import annotations

import numpy as np

from ..neurons import sources as models
from ..neurons.sources import float64_state
from .runner import GroupKernel, Unsupported

# model class -> (kernel, state arrays, derived arrays) in slot order after key and dt
_RENEWAL = {
    models.Poisson: ("exponential", ("_next",), ("lo", "hi_step", "ref", "mean_free", "p_dead", "lo_step")),
    models.PoissonRefractory: ("exponential", ("_next",), ("lo", "hi_step", "ref", "mean_free", "p_dead",
                                                           "lo_step")),
    models.Gamma: ("gamma", ("_next",), ("lo", "hi_step", "shape", "k_max", "scale", "lo_step")),
    models.InhGamma: ("inh_gamma", ("_next", "_op"), ("lo", "hi_step", "tbins", "a", "b", "lo_step")),
}


def _derived_array(group, key, dtype):
    """A derived constant as a contiguous array of `dtype` on the group's array module (converted in place)."""
    xp = group.backend.xp
    values = group._derived[key]
    if not isinstance(values, xp.ndarray) or values.dtype != dtype or not values.flags.c_contiguous:
        values = group._derived[key] = xp.ascontiguousarray(xp.asarray(values, dtype=dtype))
    return values


def group_kernel(engine, group):
    """The GroupKernel of a spike source population (raises Unsupported when there is none)."""
    model = type(group.model)
    if model is models.SpikeArray:
        name = f"pynn_sparsegpu_source_array_{engine.real}"

        def add_model_args(a):
            for key in ("row_start", "row_steps", "cursor"):
                a.ptr(lambda key=key: _derived_array(group, key, np.int64))
        return GroupKernel(name, engine.function(name), add_model_args)
    if model not in _RENEWAL:
        raise Unsupported(f"{model.__name__} has no compiled kernel")
    kind, state, derived = _RENEWAL[model]
    name = f"pynn_sparsegpu_source_{kind}_{engine.real}"

    def add_model_args(a):
        a.int(lambda: group.key).real(engine.net.dt)
        for key in state:
            a.ptr(lambda key=key: float64_state(group.state, key))
        for key in derived[:-1]:
            a.ptr(lambda key=key: _derived_array(group, key, np.float64))
        if kind == "inh_gamma":
            a.int(lambda: group._derived["tbins"].shape[1])
        a.ptr(lambda key=derived[-1]: _derived_array(group, key, np.float64))
    return GroupKernel(name, engine.function(name), add_model_args)
