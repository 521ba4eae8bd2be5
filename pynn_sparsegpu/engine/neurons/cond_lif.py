"""Conductance-based leaky integrate-and-fire neurons (NEST's iaf_cond_exp, iaf_cond_alpha,
iaf_cond_exp_sfa_rr).

    cm dV/dt = (cm/tau_m) (v_rest - V) + g_exc (e_rev_E - V) + g_inh (e_rev_I - V)
               [+ g_s (e_rev_sfa - V) + g_r (e_rev_rr - V)] + i_offset + I_stim
    with V on the right-hand side replaced by min(V, v_thresh), as NEST does.
    g_exc, g_inh: exponential (tau_syn_E/I) or alpha-shaped (peak = weight, uS) conductances.
    gsfa_grr: g_s, g_r (nS) decay with tau_sfa, tau_rr and jump by q_sfa, q_rr at each spike.

Integration: the conductances exactly, V with RK4 in the clamped linear form of conductance.py, on 1
substep per step when dt <= 0.05 x the shortest kernel time constant, else on `substeps` substeps.
Step order (NEST): integrate (a refractory neuron holds V); add this step's input to the kernels; a
refractory neuron counts down and is clamped to v_reset, otherwise V >= v_thresh fires, resets V to
v_reset, starts tau_refrac/dt (rounded up) refractory steps (and increments g_s, g_r).
"""

from __future__ import annotations

from .base import NeuronModel, check_reset_below_threshold, refractory_counts
from .conductance import ClampedLinearMembrane, Receptor, internal_states, receive, rk4_substeps

_PARAMETERS = {
    "v_rest": -65.0, "cm": 1.0, "tau_m": 20.0, "tau_refrac": 0.1, "tau_syn_E": 5.0, "tau_syn_I": 5.0,
    "e_rev_E": 0.0, "e_rev_I": -70.0, "v_thresh": -50.0, "v_reset": -65.0, "i_offset": 0.0,
}


def _synapses(kind):
    return (Receptor(kind, "gsyn_exc", "tau_syn_E", "e_rev_E"), Receptor(kind, "gsyn_inh", "tau_syn_I", "e_rev_I"))


class _CondLIF(NeuronModel):
    receptors = ("excitatory", "inhibitory")
    receptor_units = "uS"
    positive = ("cm", "tau_m", "tau_syn_E", "tau_syn_I")
    nonnegative = ("tau_refrac",)
    substeps = 2
    fusable = True                # an element-wise step: batched on the reference path (batch.py)
    synapses: tuple = ()          # driven by the receptors, in receptor order
    intrinsic: tuple = ()         # spike-triggered conductances

    def validate(self, params, xp):
        super().validate(params, xp)
        check_reset_below_threshold(self, params, xp)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.membrane = ClampedLinearMembrane(cls.synapses + cls.intrinsic)

    def derived(self, p, dt, xp):
        kernels = self.synapses + self.intrinsic
        n = rk4_substeps([p[r.tau] for r in kernels] + self.fast_scales(p, xp), dt, self.substeps, xp)
        return {"substeps": n, "ref_counts": refractory_counts(p["tau_refrac"], dt, xp),
                **self.membrane.constants(p, dt / n, p["cm"] / p["tau_m"], p["v_thresh"], xp)}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        v = self.membrane.integrate(s, p, d, i_stim, s["v"], d["substeps"], xp)
        receive(s, self.synapses, d, syn)
        r = s["_r"]
        free = r == 0
        spiking = free & (v >= p["v_thresh"])
        s["v"] = xp.where(free ^ spiking, v, p["v_reset"])      # free and below threshold: keep V
        s["_r"] = xp.where(spiking, d["ref_counts"], r - ~free)    # count down, not below 0
        self.on_spike(s, p, spiking, xp)
        return spiking

    def fast_scales(self, p, xp) -> list:
        """Time scales (ms) besides the kernels' that the substep count must resolve."""
        return []

    def on_spike(self, s, p, spiking, xp):
        pass


class IFCondExp(_CondLIF):
    parameters = dict(_PARAMETERS)
    synapses = _synapses("exp")
    state = {"v": -65.0, **internal_states(synapses), "_r": 0}


class IFFacetsHardware1(IFCondExp):
    """IFCondExp with the constants of the FACETS hardware stage 1 (PyNN's IF_facets_hardware1): cm = 0.2 nF,
    tau_refrac = 1 ms, e_rev_E = 0 mV; the leak is given as a conductance (tau_m = cm / g_leak)."""
    parameters = dict(_PARAMETERS, cm=0.2, tau_refrac=1.0, e_rev_E=0.0, tau_m=5.0, tau_syn_E=30.0, tau_syn_I=30.0,
                      v_reset=-80.0, e_rev_I=-80.0, v_thresh=-55.0)


class IFCondAlpha(_CondLIF):
    parameters = dict(_PARAMETERS, tau_syn_E=0.3, tau_syn_I=0.5)
    synapses = _synapses("alpha")
    state = {"v": -65.0, **internal_states(synapses), "_r": 0}


class IFCondExpGsfaGrr(_CondLIF):
    """g_s and g_r (and q_sfa, q_rr) are held in nS, as PyNN specifies for this model."""
    parameters = dict(_PARAMETERS, tau_sfa=100.0, e_rev_sfa=-75.0, q_sfa=15.0,
                      tau_rr=2.0, e_rev_rr=-75.0, q_rr=3000.0)
    positive = _CondLIF.positive + ("tau_sfa", "tau_rr")
    nonnegative = ("tau_refrac", "q_sfa", "q_rr")
    synapses = _synapses("exp")
    intrinsic = (Receptor("exp", "g_s", "tau_sfa", "e_rev_sfa", scale=1e-3),
                 Receptor("exp", "g_r", "tau_rr", "e_rev_rr", scale=1e-3))
    state = {"v": -65.0, **internal_states(synapses), "g_r": 0.0, "g_s": 0.0, "_r": 0}

    def fast_scales(self, p, xp):
        # a spike adds q (nS) to g: the membrane time constant cm / (q 1e-3) right after it can be far
        # shorter than tau_sfa, tau_rr
        return [p["cm"] / xp.maximum(p[q] * 1e-3, 1e-12) for q in ("q_sfa", "q_rr")]

    def on_spike(self, s, p, spiking, xp):
        s["g_s"] = s["g_s"] + xp.where(spiking, p["q_sfa"], 0.0)
        s["g_r"] = s["g_r"] + xp.where(spiking, p["q_rr"], 0.0)
