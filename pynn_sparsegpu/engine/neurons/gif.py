"""Generalised integrate-and-fire neuron with escape noise (Mensi et al. 2012, Pozzorini et al. 2015;
NEST's gif_cond_exp).

    cm dV/dt = (cm/tau_m) (v_rest - V) + g_exc (e_rev_E - V) + g_inh (e_rev_I - V) - i_eta + i_offset + I_stim
    i_eta = sum_k eta_k,              eta_k decays with tau_eta[k], jumps by a_eta[k] (nA) at a spike
    v_t   = v_t_star + sum_k gamma_k, gamma_k decays with tau_gamma[k], jumps by a_gamma[k] (mV) at a spike
    firing intensity lambda = lambda0 exp((V - v_t)/delta_v) (lambda0 in Hz); in a step of dt a free
    neuron fires with probability 1 - exp(-lambda dt).

Step order (NEST): i_eta and v_t are summed from their elements, which then decay; V (held while
refractory) and the exponential conductances are integrated (conductances exactly, V with RK4) with i_eta
held for the step; this step's input is added; a free neuron draws its spike (V is not reset at the spike);
a refractory one counts down and is clamped to v_reset. tau_eta, tau_gamma, a_eta, a_gamma are
per-neuron sequences (PyNN ArrayParameters); their elements are held as [n, K] arrays. The escape-noise draw of
neuron i in step k is the first uniform of the population's Philox stream at counter (i, 0, k).
"""

from __future__ import annotations

import numpy as np

from .base import NeuronModel, refractory_counts
from .conductance import Receptor, advance, internal_states, receive, receptor_constants, rk4

_SEQUENCES = ("tau_eta", "tau_gamma", "a_eta", "a_gamma")


def _stack(seqs, xp, dtype, fill):
    """Per-neuron sequences -> [n, K] array, shorter sequences padded with `fill`."""
    width = max([len(q) for q in seqs] + [0])
    out = np.full((len(seqs), width), fill, dtype=float)
    for i, q in enumerate(seqs):
        out[i, :len(q)] = q
    return xp.asarray(out, dtype=dtype)


class GIFCondExp(NeuronModel):
    parameters = {"v_rest": -65.0, "cm": 1.0, "tau_m": 20.0, "tau_refrac": 4.0, "tau_syn_E": 5.0,
                  "tau_syn_I": 5.0, "e_rev_E": 0.0, "e_rev_I": -70.0, "v_reset": -65.0, "i_offset": 0.0,
                  "delta_v": 0.5, "v_t_star": -48.0, "lambda0": 1.0,
                  "tau_eta": None, "tau_gamma": None, "a_eta": None, "a_gamma": None}
    synapses = (Receptor("exp", "gsyn_exc", "tau_syn_E", "e_rev_E"),
                Receptor("exp", "gsyn_inh", "tau_syn_I", "e_rev_I"))
    state = {"v": -65.0, "v_t": -48.0, "i_eta": 0.0, **internal_states(synapses), "_eta": 0.0, "_gamma": 0.0,
             "_r": 0}
    receptors = ("excitatory", "inhibitory")
    receptor_units = "uS"
    positive = ("cm", "tau_m", "tau_syn_E", "tau_syn_I", "delta_v")
    nonnegative = ("tau_refrac", "lambda0")
    substeps = 2

    def derived(self, p, dt, xp):
        dtype = p["cm"].dtype
        for name in ("tau_eta", "tau_gamma"):
            for seq in p[name]:
                if np.any(np.asarray(seq) <= 0):
                    raise ValueError(f"GIFCondExp: parameter {name!r} = {[float(x) for x in seq]} is not allowed; "
                                     "every time constant must be > 0")
        return {"gL": p["cm"] / p["tau_m"], "ref_counts": refractory_counts(p["tau_refrac"], dt, xp),
                **receptor_constants(self.synapses, p, dt / self.substeps, xp),
                "P_eta": xp.exp(-dt / _stack(p["tau_eta"], xp, dtype, 1.0)),
                "P_gamma": xp.exp(-dt / _stack(p["tau_gamma"], xp, dtype, 1.0)),
                "a_eta": _stack(p["a_eta"], xp, dtype, 0.0), "a_gamma": _stack(p["a_gamma"], xp, dtype, 0.0),
                "p_rate": p["lambda0"] * 1e-3}

    def fit_state(self, s, d, xp):
        """The elements of eta and gamma, one row per neuron as wide as the longest sequence, start at 0 (made
        before each run when the parameters changed their number, and after reset)."""
        for name, shape in (("_eta", d["P_eta"].shape), ("_gamma", d["P_gamma"].shape)):
            if s[name].shape != shape:
                s[name] = xp.zeros(shape, dtype=s["v"].dtype)

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        s["i_eta"] = s["_eta"].sum(axis=1)
        s["_eta"] = s["_eta"] * d["P_eta"]
        s["v_t"] = p["v_t_star"] + s["_gamma"].sum(axis=1)
        s["_gamma"] = s["_gamma"] * d["P_gamma"]

        free = s["_r"] == 0
        i0 = p["i_offset"] + i_stim - s["i_eta"]
        v = s["v"]
        for _ in range(self.substeps):
            G, J = advance(s, p, self.synapses, d)

            def rhs(y, c):
                return [(d["gL"] * (p["v_rest"] - y[0]) + J[c] - G[c] * y[0] + i0) / p["cm"]]

            v, = rk4(rhs, [v], ctx.dt / self.substeps)
        v = xp.where(free, v, s["v"])
        receive(s, self.synapses, d, syn)

        intensity = d["p_rate"] * xp.exp(xp.minimum((v - s["v_t"]) / p["delta_v"], 50.0))
        draw = ctx.uniform(v.shape[0]).astype(v.dtype)     # the population's counter-based stream
        spiking = free & (draw < -xp.expm1(-intensity * ctx.dt))
        s["_eta"] = s["_eta"] + xp.where(spiking[:, None], d["a_eta"], 0.0)
        s["_gamma"] = s["_gamma"] + xp.where(spiking[:, None], d["a_gamma"], 0.0)
        s["v"] = xp.where(free, v, p["v_reset"])
        s["_r"] = xp.where(free, xp.where(spiking, d["ref_counts"], 0), s["_r"] - 1)
        return spiking
