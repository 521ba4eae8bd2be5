"""Composed point neurons: a LIF or AdExp membrane with any number of named synaptic receptors (PyNN's
PointNeuron; NEST's iaf_psc_exp_multisynapse, aeif_cond_alpha_multisynapse, aeif_cond_beta_multisynapse).

    LIF:    cm dV/dt = (cm/tau_m) (v_rest - V) + I_syn(V) + i_offset + I_stim
    AdExp:  as in adex.py, with I_syn(V) in place of the two standard conductances
    I_syn(V) = sum over receptors: g_k (e_syn_k - V) for conductances (uS), I_k for currents (nA)
    receptor kinds:  curr_exp (tau_syn), cond_exp (tau_syn, e_syn), cond_alpha (tau_syn, e_syn; peak = weight),
                     cond_beta (tau_rise, tau_decay, e_syn; peak = weight)

Parameters of receptor R are named "R.tau_syn", "R.e_syn", ...; its recordable state is "R.isyn" (nA) or
"R.gsyn" (uS). The model's receptors are the receptor names in sorted order (PyNN's receptor_types).

Integration:
  LIF with current receptors only: exact propagators, NEST iaf_psc_exp_multisynapse's step order (lif.py).
  LIF with conductances: as the conductance-based LIF (cond_lif.py): RK4 (1 substep when dt <= 0.05 x the
      shortest kernel time constant, else 2), V <= v_thresh on the right-hand side, threshold after the step.
  AdExp: as adex.py: RK4 substeps with the threshold checked after each substep.
"""

from __future__ import annotations

from .adex import (ADEX_NONNEGATIVE, ADEX_PARAMETERS, ADEX_POSITIVE, adex_check_timestep, adex_constants,
                   adex_step, adex_validate)
from .base import NeuronModel, decay, psc_exp_to_v, refractory_counts
from .conductance import ClampedLinearMembrane, Receptor, internal_states, receive, receptor_constants, rk4_substeps

LIF_PARAMETERS = {"cm": 1.0, "tau_refrac": 0.1, "v_reset": -65.0, "v_rest": -65.0, "tau_m": 20.0,
                  "i_offset": 0.0, "v_thresh": -50.0}
RECEPTOR_PARAMETERS = {
    "curr_exp": {"tau_syn": 5.0},
    "cond_exp": {"e_syn": 0.0, "tau_syn": 5.0},
    "cond_alpha": {"e_syn": 0.0, "tau_syn": 5.0},
    "cond_beta": {"e_syn": 0.0, "tau_rise": 0.2, "tau_decay": 1.7},
}


def _receptor(name, kind):
    if kind == "curr_exp":
        return Receptor("exp", f"{name}.isyn", f"{name}.tau_syn")
    if kind == "cond_beta":
        return Receptor("beta", f"{name}.gsyn", f"{name}.tau_decay", f"{name}.e_syn", f"{name}.tau_rise")
    return Receptor(kind[5:], f"{name}.gsyn", f"{name}.tau_syn", f"{name}.e_syn")


class PointNeuron(NeuronModel):
    """`neuron` is "LIF" or "AdExp"; `receptor_kinds` maps each receptor name to a kind listed above."""
    fusable = True

    def __init__(self, neuron: str, receptor_kinds: dict):
        if neuron not in ("LIF", "AdExp"):
            raise ValueError(f"PointNeuron: neuron {neuron!r} is not available; use 'LIF' or 'AdExp'")
        unknown = {k for k in receptor_kinds.values() if k not in RECEPTOR_PARAMETERS}
        if unknown or not receptor_kinds:
            raise ValueError(f"PointNeuron: receptor kinds {sorted(unknown)} are not available; "
                             f"use one or more of {sorted(RECEPTOR_PARAMETERS)}")
        self.neuron = neuron
        self.receptors = tuple(sorted(receptor_kinds))
        self.kinds = {name: receptor_kinds[name] for name in self.receptors}
        self.synapses = tuple(_receptor(name, self.kinds[name]) for name in self.receptors)
        self.current_only = all(k == "curr_exp" for k in self.kinds.values())
        self.receptor_units = "nA" if self.current_only else "uS"
        base = ADEX_PARAMETERS if neuron == "AdExp" else LIF_PARAMETERS
        self.parameters = dict(base)
        for name in self.receptors:
            for pname, value in RECEPTOR_PARAMETERS[self.kinds[name]].items():
                self.parameters[f"{name}.{pname}"] = value
        taus = [n for n in self.parameters if n.split(".")[-1] in ("tau_syn", "tau_rise", "tau_decay")]
        self.positive = (ADEX_POSITIVE if neuron == "AdExp" else ("cm", "tau_m")) + tuple(taus)
        self.nonnegative = ADEX_NONNEGATIVE if neuron == "AdExp" else ("tau_refrac",)
        self.state = {"v": base["v_rest"], **({"w": 0.0} if neuron == "AdExp" else {}),
                      **internal_states(self.synapses), "_r": 0}
        self.substeps = 10 if neuron == "AdExp" else 2
        self.explicit = neuron == "AdExp"          # (RK4 of the exponential membrane, as EIF_cond_exp_isfa_ista)
        self.membrane = ClampedLinearMembrane(self.synapses)

    def validate(self, params, xp):
        super().validate(params, xp)
        if self.neuron == "AdExp":
            adex_validate("PointNeuron(AdExp)", params, xp)

    def check_timestep(self, params, dt, xp):
        if self.neuron == "AdExp":
            adex_check_timestep("PointNeuron(AdExp)", params, dt, self.substeps, xp)

    def derived(self, p, dt, xp):
        if self.neuron == "AdExp":
            d = adex_constants(p, dt, self.substeps, xp)
        else:
            d = {"gL": p["cm"] / p["tau_m"], "P22": decay(p["tau_m"], dt, xp),
                 "ref_counts": refractory_counts(p["tau_refrac"], dt, xp)}
            d["P20"] = p["tau_m"] / p["cm"] * (1.0 - d["P22"])
            if self.current_only:
                for r in self.synapses:
                    d[r.g + "|P11"] = decay(p[r.tau], dt, xp)
                    d[r.g + "|P21"] = psc_exp_to_v(p[r.tau], p["tau_m"], p["cm"], dt, xp).astype(p["cm"].dtype)
                return d
            taus = [p[r.tau] for r in self.synapses] + [p[r.tau_rise] for r in self.synapses if r.tau_rise]
            n = rk4_substeps(taus, dt, self.substeps, xp)
            d.update(self.membrane.constants(p, dt / n, d["gL"], p["v_thresh"], xp), substeps=n)
            return d
        d.update(receptor_constants(self.synapses, p, dt / self.substeps, xp))
        return d

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        if self.neuron == "AdExp":
            n_spikes = adex_step(s, p, d, self.synapses, i_stim, self.substeps, ctx.dt, xp)
            receive(s, self.synapses, d, syn)
            return n_spikes
        free = s["_r"] == 0
        if self.current_only:
            u = (s["v"] - p["v_rest"]) * d["P22"] + (p["i_offset"] + i_stim) * d["P20"]
            for r, x in zip(self.synapses, syn):
                u = u + d[r.g + "|P21"] * s[r.g]
                s[r.g] = s[r.g] * d[r.g + "|P11"] + x
            v = u + p["v_rest"]
        else:
            v = self.membrane.integrate(s, p, d, i_stim, s["v"], d["substeps"], xp)
            receive(s, self.synapses, d, syn)
        v = xp.where(free, v, s["v"])
        threshold = p["v_thresh"]
        spiking = free & (v >= threshold)
        s["v"] = xp.where(free & ~spiking, v, p["v_reset"])
        s["_r"] = xp.where(free, xp.where(spiking, d["ref_counts"], 0), s["_r"] - 1)
        return spiking
