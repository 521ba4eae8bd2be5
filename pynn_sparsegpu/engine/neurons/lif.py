"""Current-based leaky integrate-and-fire neurons, integrated exactly (NEST's iaf_psc_* propagators).

    C dV/dt = -C (V - v_rest)/tau_m + I_syn + i_offset + I_stim
    I_syn:  exponential (tau_syn_E/I), alpha-shaped (I = y2, y2' = y1 - y2/tau, y1' = -y1/tau, a spike of
            weight w adds e*w/tau to y1 so that the peak current is w), or delta (a spike jumps V by w mV).

Step order (as NEST): V advances with the currents at the start of the step (unless refractory, when the
refractory counter counts down instead); currents decay; this step's spikes are added to the currents;
V >= v_thresh fires, resets V to v_reset and starts ceil(tau_refrac/dt) refractory steps. The injected
current I_stim read in a step is the one the electrodes delivered at the end of the previous step.
"""

from __future__ import annotations

import math

from .base import NeuronModel, check_reset_below_threshold, decay, psc_alpha_to_v, psc_exp_to_v, refractory_counts

_LIF_PARAMETERS = {
    "v_rest": -65.0, "cm": 1.0, "tau_m": 20.0, "tau_refrac": 0.1,
    "i_offset": 0.0, "v_reset": -65.0, "v_thresh": -50.0,
}


class _CurrentLIF(NeuronModel):
    fusable = True
    receptors = ("excitatory", "inhibitory")
    positive = ("cm", "tau_m", "tau_syn_E", "tau_syn_I")
    nonnegative = ("tau_refrac",)

    def validate(self, params, xp):
        super().validate(params, xp)
        check_reset_below_threshold(self, params, xp)

    def _membrane(self, p, dt, xp):
        p22 = decay(p["tau_m"], dt, xp)
        p20 = p["tau_m"] / p["cm"] * (1.0 - p22)
        # V(t+dt) = V P22 + V0 + I_stim P20 + ..., V0 = v_rest (1 - P22) + i_offset P20
        return {"P22": p22, "P20": p20, "V0": p["v_rest"] * (1.0 - p22) + p["i_offset"] * p20,
                "ref_counts": refractory_counts(p["tau_refrac"], dt, xp)}

    @staticmethod
    def _integrate(s, v_new, xp):
        """V moves to v_new unless refractory; returns the refractory counter counted down (not below 0)."""
        r = s["_r"]
        free = r == 0
        s["v"] = xp.where(free, v_new, s["v"])
        return r - ~free                 # (an int32 array minus a Python int is slower in NumPy)

    @staticmethod
    def _fire(s, p, d, r_down, xp):
        """Threshold, reset, and the refractory counter (r_down: counted down from the step's start)."""
        spiking = s["v"] >= p["v_thresh"]
        s["v"] = xp.where(spiking, p["v_reset"], s["v"])
        s["_r"] = xp.where(spiking, d["ref_counts"], r_down)
        return spiking


class IFCurrExp(_CurrentLIF):
    parameters = dict(_LIF_PARAMETERS, tau_syn_E=5.0, tau_syn_I=5.0)
    state = {"v": -65.0, "isyn_exc": 0.0, "isyn_inh": 0.0, "_r": 0}

    def derived(self, p, dt, xp):
        d = self._membrane(p, dt, xp)
        d["P11e"] = decay(p["tau_syn_E"], dt, xp)
        d["P11i"] = decay(p["tau_syn_I"], dt, xp)
        d["P21e"] = psc_exp_to_v(p["tau_syn_E"], p["tau_m"], p["cm"], dt, xp)
        d["P21i"] = psc_exp_to_v(p["tau_syn_I"], p["tau_m"], p["cm"], dt, xp)
        return d

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        v_new = (s["v"] * d["P22"] + d["V0"] + i_stim * d["P20"]
                 + s["isyn_exc"] * d["P21e"] + s["isyn_inh"] * d["P21i"])
        r_down = self._integrate(s, v_new, xp)
        # currents are signed: the face turns inhibitory weights negative, as pyNN.nest does
        s["isyn_exc"] = s["isyn_exc"] * d["P11e"] + syn[0]
        s["isyn_inh"] = s["isyn_inh"] * d["P11i"] + syn[1]
        return self._fire(s, p, d, r_down, xp)


class IFCurrAlpha(_CurrentLIF):
    parameters = dict(_LIF_PARAMETERS, tau_syn_E=0.5, tau_syn_I=0.5)
    state = {"v": -65.0, "isyn_exc": 0.0, "isyn_inh": 0.0, "_dIe": 0.0, "_dIi": 0.0, "_r": 0}

    def derived(self, p, dt, xp):
        d = self._membrane(p, dt, xp)
        for tag, tau in (("e", p["tau_syn_E"]), ("i", p["tau_syn_I"])):
            d["P11" + tag] = decay(tau, dt, xp)
            d["P21" + tag] = dt * d["P11" + tag]
            d["P31" + tag] = psc_alpha_to_v(tau, p["tau_m"], p["cm"], dt, xp)
            d["P32" + tag] = psc_exp_to_v(tau, p["tau_m"], p["cm"], dt, xp)
            d["init" + tag] = math.e / xp.asarray(tau, dtype=float)
        return d

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        v_new = (s["v"] * d["P22"] + d["V0"] + i_stim * d["P20"]
                 + d["P31e"] * s["_dIe"] + d["P32e"] * s["isyn_exc"]
                 + d["P31i"] * s["_dIi"] + d["P32i"] * s["isyn_inh"])
        r_down = self._integrate(s, v_new, xp)
        s["isyn_exc"] = d["P21e"] * s["_dIe"] + d["P11e"] * s["isyn_exc"]
        s["isyn_inh"] = d["P21i"] * s["_dIi"] + d["P11i"] * s["isyn_inh"]
        s["_dIe"] = s["_dIe"] * d["P11e"] + d["inite"] * syn[0]
        s["_dIi"] = s["_dIi"] * d["P11i"] + d["initi"] * syn[1]
        return self._fire(s, p, d, r_down, xp)


class IFCurrDelta(_CurrentLIF):
    """Delta synapses: a spike of weight w (mV) jumps V; input arriving while refractory is discarded."""
    parameters = dict(_LIF_PARAMETERS)
    state = {"v": -65.0, "_r": 0}
    positive = ("cm", "tau_m")
    receptor_units = "mV"

    def derived(self, p, dt, xp):
        return self._membrane(p, dt, xp)

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        v_new = s["v"] * d["P22"] + d["V0"] + i_stim * d["P20"] + syn[0] + syn[1]
        r_down = self._integrate(s, v_new, xp)
        return self._fire(s, p, d, r_down, xp)
