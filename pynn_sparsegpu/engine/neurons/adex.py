"""Adaptive exponential integrate-and-fire neurons (Brette & Gerstner 2005; NEST's aeif_cond_exp and
aeif_cond_alpha).

    cm dV/dt = gL (v_rest - V) + gL delta_T exp((V - v_thresh)/delta_T) - w + I_syn(V) + i_offset + I_stim
    tau_w dw/dt = a (V - v_rest) - w                                  gL = cm/tau_m, a in nS, w and b in nA
    I_syn(V) = g_exc (e_rev_E - V) + g_inh (e_rev_I - V), exponential or alpha-shaped conductances (uS).
    On the right-hand side V is min(V, v_spike), and v_reset while refractory (when dV/dt = 0).
    Spikes at V >= V_peak = v_spike (v_thresh when delta_T = 0).

Integration: conductances exactly; (V, w) with RK4 on `substeps` fixed substeps per step. As NEST does
inside its adaptive ODE loop, the threshold is checked after every substep: V >= V_peak fires, resets V
to v_reset, adds b to w and makes the neuron refractory for the rest of this step plus
tau_refrac/dt steps, rounded up (none at all when that is 0, so that a neuron may fire more than once per step).
After the substeps the refractory counter counts down and this step's input is added to the kernels.
"""

from __future__ import annotations

import math

import numpy as np

from .base import NeuronModel, first_bad_values, refractory_counts
from .conductance import Receptor, advance, internal_states, receive, receptor_constants, rk4

ADEX_PARAMETERS = {
    "cm": 0.281, "tau_refrac": 0.1, "v_spike": -40.0, "v_reset": -70.6, "v_rest": -70.6, "tau_m": 9.3667,
    "i_offset": 0.0, "a": 4.0, "b": 0.0805, "delta_T": 2.0, "tau_w": 144.0, "v_thresh": -50.4,
}
ADEX_POSITIVE = ("cm", "tau_m", "tau_w")
ADEX_NONNEGATIVE = ("tau_refrac", "delta_T")


# NEST's bound on (V_peak - V_th) / Delta_T (aeif models): exp() of more overflows at spike time
MAX_EXP_ARG = math.log(np.finfo(np.float64).max / 1e20)
RK4_STABLE = 2.5          # h |lambda| within RK4's region of absolute stability (2.78 on the real axis)


def adex_validate(name, params, xp):
    """NEST's rule: (v_spike - v_thresh) / delta_T < MAX_EXP_ARG where delta_T > 0, else the exponential
    overflows (and the membrane becomes NaN) at spike time."""
    if not all(k in params for k in ("v_spike", "v_thresh", "delta_T")):
        return
    slope = xp.asarray(params["delta_T"], dtype=float)
    arg = (xp.asarray(params["v_spike"], dtype=float) - xp.asarray(params["v_thresh"], dtype=float)) \
        / xp.where(slope > 0, slope, 1.0)
    found = first_bad_values((slope > 0) & (arg >= MAX_EXP_ARG), (params["v_spike"], params["v_thresh"], slope), xp)
    if found is not None:
        _, (v_spike, v_thresh, delta_t) = found
        raise ValueError(f"{name}: (v_spike - v_thresh) / delta_T = ({v_spike} - "
                         f"{v_thresh}) / {delta_t} is not allowed; it must be < "
                         f"{MAX_EXP_ARG:.1f} (as in NEST), else exp() overflows at spike time: increase delta_T "
                         "or lower v_spike")


def adex_check_timestep(name, params, dt, substeps, xp):
    """The (V, w) system is integrated with RK4 on fixed substeps of h = dt / substeps: refuse time constants so
    fast that it would blow up (NaN), i.e. h |lambda| > RK4_STABLE for an eigenvalue lambda of the linear part
    [[-1/tau_m, -1/cm], [a/tau_w, -1/tau_w]] (a in uS)."""
    if not all(k in params for k in ("tau_m", "tau_w", "cm", "a")):
        return
    f = (lambda k: xp.asarray(params[k], dtype=float))
    tau_m, tau_w, cm, a = f("tau_m"), f("tau_w"), f("cm"), f("a") * 1e-3
    if not (bool(xp.all(tau_m > 0)) and bool(xp.all(tau_w > 0)) and bool(xp.all(cm > 0))):
        return                                    # (refused by validate)
    trace = -(1.0 / tau_m + 1.0 / tau_w)
    det = 1.0 / (tau_m * tau_w) + a / (cm * tau_w)
    disc = trace * trace - 4.0 * det
    root = xp.sqrt(xp.abs(disc))
    lam = xp.where(disc >= 0, (xp.abs(trace) + root) / 2.0, xp.sqrt(xp.abs(det)))
    h = dt / substeps
    found = first_bad_values(~(h * lam <= RK4_STABLE), (lam, tau_m, tau_w, a, cm), xp)
    if found is not None:
        _, (lam_k, tau_m_k, tau_w_k, a_k, cm_k) = found
        fastest = 1.0 / lam_k
        raise ValueError(f"{name}: tau_m = {tau_m_k} ms, tau_w = {tau_w_k} ms, a = {a_k * 1e3} nS "
                         f"and cm = {cm_k} nF are too fast for the timestep {dt} ms: the membrane is "
                         f"integrated on {substeps} fixed RK4 substeps of {h:g} ms, which needs its fastest time "
                         f"scale ({fastest:.3g} ms) >= {h / RK4_STABLE:.3g} ms; use timestep <= "
                         f"{fastest * RK4_STABLE * substeps:.3g} ms, or slower time constants")


def adex_constants(p, dt, substeps, xp) -> dict:
    counts = refractory_counts(p["tau_refrac"], dt, xp)
    slope = xp.asarray(p["delta_T"])
    gL = p["cm"] / p["tau_m"]
    return {"gL": gL, "inv_cm": 1.0 / p["cm"], "inv_tau_w": 1.0 / p["tau_w"],
            "a_tau": p["a"] * 1e-3 / p["tau_w"],                       # a: nS -> uS
            "v_peak": xp.where(slope > 0, p["v_spike"], p["v_thresh"]),
            "inv_slope": 1.0 / xp.where(slope > 0, slope, 1.0), "k_exp": gL * slope,   # 0 when delta_T = 0
            # NEST sets the counter to counts + 1 at a spike, to make up for the count-down at step end
            "r_start": xp.where(counts > 0, counts + 1, 0)}


def adex_step(s, p, d, kernels, i_stim, substeps, dt, xp):
    """Advance V, w and the kernels over one step; returns the number of spikes of each neuron."""
    drive = d["gL"] * p["v_rest"] + p["i_offset"] + i_stim
    v, w, r, h = s["v"], s["w"], s["_r"], dt / substeps
    n_spikes = 0
    for _ in range(substeps):
        G, J = advance(s, p, kernels, d)
        scale = (r == 0) * d["inv_cm"]               # dV/dt = 0 while refractory
        source = [(drive + J[c]) * scale for c in range(3)]     # dV/dt = source - sink V + ...
        sink = [(d["gL"] + G[c]) * scale for c in range(3)]
        k_exp = d["k_exp"] * scale

        def rhs(y, c):
            ve = xp.minimum(y[0], p["v_spike"])     # a refractory neuron sits at v_reset
            dv = source[c] - sink[c] * ve + k_exp * xp.exp((ve - p["v_thresh"]) * d["inv_slope"]) - y[1] * scale
            return [dv, d["a_tau"] * (ve - p["v_rest"]) - y[1] * d["inv_tau_w"]]

        v, w = rk4(rhs, [v, w], h)
        v = xp.where(r > 0, p["v_reset"], v)
        spiking = (r == 0) & (v >= d["v_peak"])
        v = xp.where(spiking, p["v_reset"], v)
        w = w + spiking * p["b"]
        r = xp.where(spiking, d["r_start"], r)
        n_spikes = n_spikes + spiking * 1
    s["v"], s["w"] = v, w
    s["_r"] = xp.where(r > 0, r - 1, r)
    return n_spikes


class _EIF(NeuronModel):
    parameters = dict(ADEX_PARAMETERS, e_rev_E=0.0, tau_syn_E=5.0, e_rev_I=-80.0, tau_syn_I=5.0)
    receptors = ("excitatory", "inhibitory")
    receptor_units = "uS"
    positive = ADEX_POSITIVE + ("tau_syn_E", "tau_syn_I")
    nonnegative = ADEX_NONNEGATIVE
    substeps = 10
    fusable = True
    explicit = True
    synapses: tuple = ()

    def validate(self, params, xp):
        super().validate(params, xp)
        adex_validate(type(self).__name__, params, xp)

    def check_timestep(self, params, dt, xp):
        adex_check_timestep(type(self).__name__, params, dt, self.substeps, xp)

    def derived(self, p, dt, xp):
        return {**adex_constants(p, dt, self.substeps, xp),
                **receptor_constants(self.synapses, p, dt / self.substeps, xp)}

    def step(self, s, p, d, syn, i_stim, ctx):
        n_spikes = adex_step(s, p, d, self.synapses, i_stim, self.substeps, ctx.dt, ctx.xp)
        receive(s, self.synapses, d, syn)
        return n_spikes


class EIFCondExp(_EIF):
    synapses = (Receptor("exp", "gsyn_exc", "tau_syn_E", "e_rev_E"),
                Receptor("exp", "gsyn_inh", "tau_syn_I", "e_rev_I"))
    state = {"v": -70.6, "w": 0.0, **internal_states(synapses), "_r": 0}


class EIFCondAlpha(_EIF):
    synapses = (Receptor("alpha", "gsyn_exc", "tau_syn_E", "e_rev_E"),
                Receptor("alpha", "gsyn_inh", "tau_syn_I", "e_rev_I"))
    state = {"v": -70.6, "w": 0.0, **internal_states(synapses), "_r": 0}
