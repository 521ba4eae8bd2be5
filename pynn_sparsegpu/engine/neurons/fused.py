"""One fused kernel per population per step on the GPU.

A model's `step` is a pure function of per-neuron arrays written with xp element-wise operations. On the
CuPy path, `FusedStep` traces it once with `cupy.fuse`, which compiles the whole update (integration,
threshold, reset, refractoriness) into a single element-wise CUDA kernel, instead of one launch per array
operation. The arrays are passed positionally in a fixed order:

    state[s_1..s_S], params[p_1..p_P], derived[d_1..d_D], syn[0..R-1], i_stim  ->  state'[s_1..s_S], spikes

Derived entries that are plain Python ints (such as a substep count) are compile-time constants: the step
sees them as they are, and a new kernel is traced whenever the derived constants are recomputed.

Models opt in with `fusable = True` (no random numbers, no dependence on ctx.t, no host-side loops).
If tracing fails, the step falls back to the unfused path once, with a warning that names the model.
The NumPy path never fuses: there, this class is only exercised by tests through an identity `fuser`.
"""

from __future__ import annotations

import warnings

from .base import StepContext


class FusedStep:
    def __init__(self, model, state_names, param_names, derived_names, n_receptors, dt, xp, fuser, static=None):
        self.model = model
        self.static = dict(static or {})
        self.s_names, self.p_names = list(state_names), list(param_names)
        self.d_names = [name for name in derived_names if name not in self.static]
        self.n_receptors, self.dt, self.xp = n_receptors, dt, xp
        self.failed = False
        self._kernel = fuser(self._flat_step)

    def _flat_step(self, *arrays):
        ns, npar, nd, nr = len(self.s_names), len(self.p_names), len(self.d_names), self.n_receptors
        s = dict(zip(self.s_names, arrays[:ns]))
        p = dict(zip(self.p_names, arrays[ns:ns + npar]))
        d = dict(zip(self.d_names, arrays[ns + npar:ns + npar + nd]), **self.static)
        syn = arrays[ns + npar + nd:ns + npar + nd + nr]
        i_stim = arrays[-1]
        ctx = StepContext(xp=self.xp, dt=self.dt, t=0.0, step=0, rng=None)
        spikes = self.model.step(s, p, d, syn, i_stim, ctx)
        return tuple(s[name] for name in self.s_names) + (spikes,)

    def __call__(self, state, params, derived, syn, i_stim, ctx):
        args = ([state[n] for n in self.s_names] + [params[n] for n in self.p_names]
                + [derived[n] for n in self.d_names] + [syn[r] for r in range(self.n_receptors)] + [i_stim])
        out = self._kernel(*args)
        for name, value in zip(self.s_names, out[:-1]):
            state[name] = value.astype(state[name].dtype, copy=False)
        return out[-1]


def can_fuse(model, params, derived) -> bool:
    """Only models that declare themselves fusable, with per-neuron array parameters and constants."""
    if not getattr(model, "fusable", False):
        return False
    values = list(params.values()) + [v for v in derived.values() if not _is_static(v)]
    return all(hasattr(v, "shape") and getattr(v, "ndim", 0) == 1 for v in values)


def _is_static(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def build_fused_step(model, state, params, derived, n_receptors, dt, xp, fuser=None):
    """A FusedStep for this group, or None when the model cannot be fused (the caller steps unfused)."""
    if not can_fuse(model, params, derived):
        return None
    if fuser is None:
        import cupy
        fuser = cupy.fuse
    try:
        static = {name: value for name, value in derived.items() if _is_static(value)}
        return FusedStep(model, state.keys(), params.keys(), derived.keys(), n_receptors, dt, xp, fuser, static)
    except Exception as err:  # tracing is lazy in CuPy; this guards eager fusers
        warnings.warn(f"{type(model).__name__}: fused GPU step unavailable ({err}); using array operations")
        return None
