"""Neurons of e-prop networks (Bellec et al. 2020, Nat. Commun. 11:3625), in the discrete time of the paper,
so that a network trained by engine/learning can be simulated as it was trained (tests/eprop_reference.py).

One step of dt, with alpha = exp(-dt/tau_m), rho = exp(-dt/tau_adapt), kappa = exp(-dt/tau_m) (readout),
n_ref = refractory_counts(tau_refrac, dt) and I = syn[0] + syn[1] (the weights, in mV, arriving this step;
both receptors add, whatever the sign):

    EpropALIF   v = alpha v + I - v_thresh z        (reset by subtraction, one step after the spike)
                a = rho a + z
                A = v_thresh + beta a
                z' = (r == 0) & (v >= A);   r = n_ref if z' else max(r - 1, 0);   z = z'
    EpropLIF    the same with beta = 0 and no a
    LeakyIntegratorReadout   v = kappa v + I + bias      (never spikes)

z (`_z`, the previous step's spike, 0/1) and r (`_r`, refractory steps left) are internal state. Refractoriness
only blocks spiking: v keeps integrating. gamma (the pseudo-derivative dampening) is used in training only.
"""

from __future__ import annotations

from .base import NeuronModel, decay, refractory_counts


class EpropALIF(NeuronModel):
    """Adaptive LIF of e-prop: threshold v_thresh + beta a, a the low-passed spike train (tau_adapt)."""
    parameters = {"tau_m": 20.0, "tau_adapt": 2000.0, "beta": 0.0174, "v_thresh": 0.6, "tau_refrac": 5.0,
                  "gamma": 0.3}
    state = {"v": 0.0, "a": 0.0, "_z": 0.0, "_r": 0}
    receptors = ("excitatory", "inhibitory")
    receptor_units = "mV"
    positive = ("tau_m", "tau_adapt", "v_thresh", "gamma")
    nonnegative = ("tau_refrac", "beta")
    fusable = True

    def derived(self, p, dt, xp):
        return {"alpha": decay(p["tau_m"], dt, xp), "rho": decay(p["tau_adapt"], dt, xp),
                "ref_counts": refractory_counts(p["tau_refrac"], dt, xp)}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp, z = ctx.xp, s["_z"]
        s["v"] = d["alpha"] * s["v"] + (syn[0] + syn[1]) - p["v_thresh"] * z
        s["a"] = d["rho"] * s["a"] + z
        return self._fire(s, s["v"] >= p["v_thresh"] + p["beta"] * s["a"], d, xp)

    @staticmethod
    def _fire(s, above, d, xp):
        """Spikes where `above` and not refractory; the refractory counter and z follow."""
        r = s["_r"]
        free = r == 0
        spiking = above & free
        s["_r"] = xp.where(spiking, d["ref_counts"], r - ~free)
        s["_z"] = spiking.astype(s["_z"].dtype)
        return spiking


class EpropLIF(EpropALIF):
    """LIF of e-prop: EpropALIF with beta = 0 (fixed threshold v_thresh), no adaptation variable."""
    parameters = {"tau_m": 20.0, "v_thresh": 0.6, "tau_refrac": 5.0, "gamma": 0.3}
    state = {"v": 0.0, "_z": 0.0, "_r": 0}
    positive = ("tau_m", "v_thresh", "gamma")
    nonnegative = ("tau_refrac",)

    def derived(self, p, dt, xp):
        return {"alpha": decay(p["tau_m"], dt, xp), "ref_counts": refractory_counts(p["tau_refrac"], dt, xp)}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        s["v"] = d["alpha"] * s["v"] + (syn[0] + syn[1]) - p["v_thresh"] * s["_z"]
        return self._fire(s, s["v"] >= p["v_thresh"], d, xp)


class LeakyIntegratorReadout(NeuronModel):
    """Leaky readout y of e-prop: v = kappa v + I + bias, kappa = exp(-dt/tau_m); never spikes."""
    parameters = {"tau_m": 20.0, "bias": 0.0}
    state = {"v": 0.0}
    receptors = ("excitatory", "inhibitory")
    receptor_units = "mV"
    positive = ("tau_m",)

    def derived(self, p, dt, xp):
        return {"kappa": decay(p["tau_m"], dt, xp)}

    def step(self, s, p, d, syn, i_stim, ctx):
        s["v"] = d["kappa"] * s["v"] + (syn[0] + syn[1]) + p["bias"]
        return ctx.xp.zeros(s["v"].shape, dtype=bool)
