"""Hodgkin-Huxley neuron with Traub & Miles' (1991) sodium and potassium kinetics (NEST's hh_cond_exp_traub).

    cm dV/dt = gbar_Na m^3 h (e_rev_Na - V) + gbar_K n^4 (e_rev_K - V) + g_leak (e_rev_leak - V)
               + g_exc (e_rev_E - V) + g_inh (e_rev_I - V) + i_offset + I_stim
    dx/dt = alpha_x(U) (1 - x) - beta_x(U) x   for x = m, h, n, with U = V - v_offset:
      alpha_n = 0.032 (15 - U)/(exp((15 - U)/5) - 1)   beta_n = 0.5 exp((10 - U)/40)
      alpha_m = 0.32 (13 - U)/(exp((13 - U)/4) - 1)    beta_m = 0.28 (U - 40)/(exp((U - 40)/5) - 1)
      alpha_h = 0.128 exp((17 - U)/18)                 beta_h = 4/(1 + exp((40 - U)/5))
    g_exc, g_inh: exponentially decaying conductances (uS).

Integration: conductances exactly, (V, m, h, n) with RK4 on `substeps` fixed substeps per step.
A spike is emitted (as in NEST) at the end of a step in which V >= v_offset + 30 mV and V has fallen
since the start of the step (just after the peak), unless the neuron is within t_ref (NEST's 2 ms; PyNN
has no parameter for it) of its previous spike. V is never reset.
"""

from __future__ import annotations

from .base import NeuronModel, refractory_counts
from .conductance import Receptor, advance, internal_states, receive, receptor_constants, rk4


def _x_over_expm1(x, k, xp):
    """x / (exp(x/k) - 1); z + 1e-30 gives the limit k at x = 0 and changes nothing measurable elsewhere."""
    z = x * (1.0 / k) + 1e-30
    return k * z / xp.expm1(z)


def rates(u, xp):
    """(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n) at U = V - v_offset (1/ms)."""
    return (0.32 * _x_over_expm1(13.0 - u, 4.0, xp), 0.28 * _x_over_expm1(u - 40.0, 5.0, xp),
            0.128 * xp.exp((17.0 - u) / 18.0), 4.0 / (1.0 + xp.exp((40.0 - u) / 5.0)),
            0.032 * _x_over_expm1(15.0 - u, 5.0, xp), 0.5 * xp.exp((10.0 - u) / 40.0))


class HHCondExp(NeuronModel):
    parameters = {"gbar_Na": 20.0, "gbar_K": 6.0, "g_leak": 0.01, "cm": 0.2, "v_offset": -63.0,
                  "e_rev_Na": 50.0, "e_rev_K": -90.0, "e_rev_leak": -65.0, "e_rev_E": 0.0, "e_rev_I": -80.0,
                  "tau_syn_E": 0.2, "tau_syn_I": 2.0, "i_offset": 0.0, "t_ref": 2.0}
    synapses = (Receptor("exp", "gsyn_exc", "tau_syn_E", "e_rev_E"),
                Receptor("exp", "gsyn_inh", "tau_syn_I", "e_rev_I"))
    state = {"v": -65.0, "m": 0.0, "h": 1.0, "n": 0.0, **internal_states(synapses), "_r": 0}
    receptors = ("excitatory", "inhibitory")
    receptor_units = "uS"
    positive = ("cm", "tau_syn_E", "tau_syn_I")
    nonnegative = ("gbar_Na", "gbar_K", "g_leak", "t_ref")
    substeps = 5
    fusable = True
    explicit = True

    def derived(self, p, dt, xp):
        return {"ref_counts": refractory_counts(p["t_ref"], dt, xp),
                **receptor_constants(self.synapses, p, dt / self.substeps, xp)}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        i0 = p["i_offset"] + i_stim
        v_start = s["v"]
        y = [s["v"], s["m"], s["h"], s["n"]]
        for _ in range(self.substeps):
            G, J = advance(s, p, self.synapses, d)

            def rhs(y, c):
                v, m, h, n = y
                a_m, b_m, a_h, b_h, a_n, b_n = rates(v - p["v_offset"], xp)
                n2 = n * n
                current = (p["gbar_Na"] * m * m * m * h * (p["e_rev_Na"] - v)
                           + p["gbar_K"] * n2 * n2 * (p["e_rev_K"] - v)
                           + p["g_leak"] * (p["e_rev_leak"] - v) + J[c] - G[c] * v + i0)
                return [current / p["cm"], a_m - (a_m + b_m) * m, a_h - (a_h + b_h) * h, a_n - (a_n + b_n) * n]

            y = rk4(rhs, y, ctx.dt / self.substeps)
        s["v"], s["m"], s["h"], s["n"] = y
        receive(s, self.synapses, d, syn)
        free = s["_r"] == 0
        spiking = free & (s["v"] >= p["v_offset"] + 30.0) & (v_start > s["v"])
        s["_r"] = xp.where(free, xp.where(spiking, d["ref_counts"], 0), s["_r"] - 1)
        return spiking
