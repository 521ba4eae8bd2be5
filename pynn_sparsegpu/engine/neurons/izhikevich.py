"""Izhikevich's quadratic model (E. Izhikevich 2003, IEEE Trans. Neural Networks 14(6); NEST's izhikevich).

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I        (v in mV, t in ms, I = 1000 (i_offset + I_stim): nA -> "pA")
    du/dt = a (b v - u)
    v >= 30 mV: spike, v <- c, u <- u + d

Integration: NEST's default ("consistent_integration") forward Euler step of dt for both variables from
the values at the start of the step; synaptic input is a jump of v by the weight (mV), added in the same
step. No refractory period.
"""

from __future__ import annotations

from .base import NeuronModel

V_PEAK = 30.0   # mV, NEST's V_th for this model (not a PyNN parameter)


class Izhikevich(NeuronModel):
    parameters = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 2.0, "i_offset": 0.0}
    state = {"v": -70.0, "u": -14.0}
    receptors = ("excitatory", "inhibitory")
    receptor_units = "mV"
    fusable = True
    explicit = True

    def step(self, s, p, d, syn, i_stim, ctx):
        xp, h = ctx.xp, ctx.dt
        v, u = s["v"], s["u"]
        current = 1000.0 * (p["i_offset"] + i_stim)
        v_new = v + h * (0.04 * v * v + 5.0 * v + 140.0 - u + current) + syn[0] + syn[1]
        u_new = u + h * p["a"] * (p["b"] * v - u)
        spiking = v_new >= V_PEAK
        s["v"] = xp.where(spiking, p["c"], v_new)
        s["u"] = xp.where(spiking, u_new + p["d"], u_new)
        return spiking
