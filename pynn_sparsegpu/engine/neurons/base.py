"""The neuron-model contract of the engine, and the group that runs one population of a model.

Units inside the engine (documented once, here): time ms, potential mV, current nA, capacitance nF,
conductance uS, rate Hz. Parameter and state names are PyNN's standard names wherever PyNN has one.

A model is a small class with:
  parameters   {name: default}                  per-neuron parameters
  state        {name: default initial value}    per-neuron state variables (all recordable)
  receptors    ("excitatory", "inhibitory")     input channels read from the ring buffer each step
  positive     names that must be > 0;  nonnegative: names that must be >= 0
  derived(p, dt, xp)         -> dict of per-neuron constants (propagators), computed once per change
  step(s, p, d, syn, i_stim, ctx) -> spike counts for this step (integer array, 0 = no spike)

`step` updates the state dict `s` in place, reading `syn[r]` (input that arrives this step on receptor r)
and `i_stim` (injected current, nA). Spike times are on the grid: a spike found in the step from t to
t+dt has time t+dt, as in NEST.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..timegrid import refractory_steps


@dataclass
class StepContext:
    """What a model's step may need besides its own arrays."""
    xp: object
    dt: float
    t: float            # time at the start of the step (ms)
    step: int           # index of the step (t = step * dt)
    rng: object         # the population's random stream (numpy.random.Generator or cupy equivalent)
    key: int = 0        # the population's counter-based stream key (engine/random.py), set by NeuronGroup.step

    def uniform(self, n: int, draw: int = 0):
        """One uniform on [0, 1) per neuron from the population's counter-based stream at counter (neuron,
        draw, step): the same numbers on every path (the compiled kernels draw them with psg_random.h)."""
        from ..variates import uniform
        xp = self.xp
        index = xp.arange(n, dtype=xp.int64)
        u, _ = uniform(self.key, index, xp.full(n, int(draw), dtype=xp.int64), self.step, xp)
        return u


MAX_MAGNITUDE = 1e100    # no parameter (ms, mV, nA, nF, uS, Hz) means anything beyond these; the state would
MIN_MAGNITUDE = 1e-100   # overflow (a cm of 1e-300 nF turns any input into an infinite V, then NaN)


class NeuronModel:
    parameters: dict = {}
    state: dict = {}
    receptors: tuple = ()
    positive: tuple = ()
    nonnegative: tuple = ()
    is_source = False          # spike generators: no input, not injectable
    infinite_ok: tuple = ()    # parameters that may be +inf (a source's duration: for ever); others must be finite
    receptor_units = "nA"      # what a unit weight means on the receptors ("nA", "uS" or "mV")
    # integrated with explicit (Euler or RK4) steps of non-linear equations, which extreme but valid parameters
    # can make diverge: the network checks such a model's state for NaN and infinity after each run
    explicit = False

    def validate(self, params: dict, xp) -> None:
        """Raise ValueError naming the parameter, the offending value and what is allowed."""
        for name, values in params.items():
            arr = xp.asarray(values)
            if arr.dtype.kind == "f" and bool(xp.isnan(arr).any()):
                raise ValueError(f"{type(self).__name__}: parameter {name!r} contains NaN; "
                                 "a finite number is required")
            if arr.dtype.kind == "f" and name not in self.infinite_ok:     # (inf and -inf would give NaN)
                bad = _first_bad(arr, xp.isinf, xp)
                if bad is not None:
                    raise ValueError(f"{type(self).__name__}: parameter {name!r} = {bad} is not allowed; "
                                     "a finite number is required")
            if arr.dtype.kind == "f":        # astronomic magnitudes overflow the state (to inf, then NaN)
                arr = arr.astype(xp.float64)          # (the bounds in float32 would overflow)
                magnitude = xp.abs(arr)
                bad = _first_bad(arr, lambda a: xp.isfinite(a) & ((magnitude > MAX_MAGNITUDE)
                                                                  | ((a != 0) & (magnitude < MIN_MAGNITUDE))), xp)
                if bad is not None:
                    raise ValueError(f"{type(self).__name__}: parameter {name!r} = {bad:g} is not allowed; its "
                                     f"magnitude must be 0 or within [{MIN_MAGNITUDE:g}, {MAX_MAGNITUDE:g}]")
        for name in self.positive:
            if name in params:
                bad = _first_bad(params[name], lambda a: a <= 0, xp)
                if bad is not None:
                    raise ValueError(f"{type(self).__name__}: parameter {name!r} = {bad} is not allowed; "
                                     "it must be > 0")
        for name in self.nonnegative:
            if name in params:
                bad = _first_bad(params[name], lambda a: a < 0, xp)
                if bad is not None:
                    raise ValueError(f"{type(self).__name__}: parameter {name!r} = {bad} is not allowed; "
                                     "it must be >= 0")

    def check_timestep(self, params: dict, dt: float, xp) -> None:
        """Raise ValueError naming the parameters if the model cannot be integrated with time step dt (a
        fixed-step solver that would blow up); NeuronGroup calls it with validate() once it knows dt."""

    def derived(self, p: dict, dt: float, xp) -> dict:
        return {}

    def step(self, s: dict, p: dict, d: dict, syn, i_stim, ctx: StepContext):
        raise NotImplementedError


def check_reset_below_threshold(model, params, xp):
    """NEST's rule for its integrate-and-fire models: v_reset < v_thresh (a neuron reset at or above its
    threshold would fire again at once; the precise-time engines cannot run it)."""
    if "v_reset" not in params or "v_thresh" not in params:
        return
    reset, thresh = xp.asarray(params["v_reset"], dtype=float), xp.asarray(params["v_thresh"], dtype=float)
    found = first_bad_values(reset >= thresh, (reset, thresh), xp)
    if found is not None:
        k, (r, t) = found
        raise ValueError(f"{type(model).__name__}: v_reset = {r} is not allowed with v_thresh = {t} (neuron {k}); "
                         "v_reset must be < v_thresh (as in NEST)")


def _first_bad(values, predicate, xp):
    arr = xp.asarray(values)
    mask = predicate(arr)
    if bool(mask.any()):
        return float(arr.reshape(-1)[xp.argmax(mask.reshape(-1))])
    return None


def first_bad_values(mask, arrays, xp):
    """Where a rule over several parameters fails: (flat index of the first True of `mask`, [the value of each
    of `arrays` there]), the arrays broadcast against the mask (a scalar stands for every cell); None when the
    mask holds nowhere."""
    mask = xp.asarray(mask)
    if not bool(xp.any(mask)):
        return None
    arrays = [xp.asarray(a, dtype=float) for a in arrays]
    shape = np.broadcast_shapes(mask.shape, *(a.shape for a in arrays))
    k = int(xp.argmax(xp.broadcast_to(mask, shape).reshape(-1)))
    return k, [float(xp.broadcast_to(a, shape).reshape(-1)[k]) for a in arrays]


def refractory_counts(tau_refrac, dt, xp):
    """Number of whole steps a neuron stays refractory: t_ref rounded up to the grid, as NEST does (2.01 ms at
    dt 0.1 ms is 21 steps)."""
    return refractory_steps(tau_refrac, dt, xp)


def decay(tau, dt, xp):
    return xp.exp(-dt / xp.asarray(tau))


def psc_exp_to_v(tau_syn, tau_m, cm, dt, xp):
    """Exact propagator from an exponentially decaying current (nA) to V (mV) over one step.

    V(h) gains I0/C * integral_0^h exp(-(h-s)/tau_m) exp(-s/tau_syn) ds
         = I0/C * (exp(-h/tau_syn) - exp(-h/tau_m)) / (1/tau_m - 1/tau_syn),
    with the limit h/C * exp(-h/tau_m) when the time constants coincide (series used near it).
    """
    tau_syn, tau_m, cm = (xp.asarray(x, dtype=float) for x in (tau_syn, tau_m, cm))
    a = 1.0 / tau_m - 1.0 / tau_syn
    ah = a * dt
    small = xp.abs(ah) < 1e-5
    safe_a = xp.where(small, 1.0, a)
    regular = xp.exp(-dt / tau_m) * xp.expm1(ah) / safe_a / cm
    series = xp.exp(-dt / tau_m) * dt * (1.0 + ah / 2.0 + ah * ah / 6.0) / cm
    return xp.where(small, series, regular)


def psc_alpha_to_v(tau_syn, tau_m, cm, dt, xp):
    """Exact propagator from the derivative state y1 of an alpha current to V over one step.

    With y1' = -y1/tau_s, I' = y1 - I/tau_s:  I(s) = s exp(-s/tau_s) y1(0), and
    V(h) gains y1/C * exp(-h/tau_m) * integral_0^h s exp(a s) ds, a = 1/tau_m - 1/tau_s
              = y1/C * exp(-h/tau_m) * (h exp(ah)/a - expm1(ah)/a^2).
    """
    tau_syn, tau_m, cm = (xp.asarray(x, dtype=float) for x in (tau_syn, tau_m, cm))
    a = 1.0 / tau_m - 1.0 / tau_syn
    ah = a * dt
    small = xp.abs(ah) < 1e-4
    safe_a = xp.where(small, 1.0, a)
    regular = xp.exp(-dt / tau_m) * (dt * xp.exp(ah) / safe_a - xp.expm1(ah) / (safe_a * safe_a)) / cm
    # series of h exp(ah)/a - expm1(ah)/a^2 = h^2 (1/2 + ah/3 + (ah)^2/8 + ...)
    series = xp.exp(-dt / tau_m) * dt * dt * (0.5 + ah / 3.0 + ah * ah / 8.0) / cm
    return xp.where(small, series, regular)


E = math.e
