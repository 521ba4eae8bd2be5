"""Shared pieces of the conductance-based (and other non-linear) models: synaptic kernels and RK4.

Synaptic kernels are linear, so they are propagated exactly; the membrane equation that they drive is
integrated with classical RK4 on fixed substeps of h = dt / substeps, reading each kernel at the RK4 stage
times 0, h/2 and h from its exact solution:

  exp    g' = -g/tau                                        a spike of weight w adds w to g
  alpha  dg' = -dg/tau,     g' = dg - g/tau                 adds w e/tau to dg   (peak of g = w)
  beta   dg' = -dg/tau_r,   g' = dg - g/tau_d               adds w/peak(tau_r, tau_d) to dg (peak = w)

so that g(s) = P_gg(s) g(0) + P_gd(s) dg(0) and dg(s) = P_dd(s) dg(0), with
  P_gg = exp(-s/tau_d),  P_dd = exp(-s/tau_r),
  P_gd = (exp(-s/tau_r) - exp(-s/tau_d)) / (1/tau_d - 1/tau_r)   (-> s exp(-s/tau) when tau_r = tau_d).
A receptor with a reversal potential E contributes g (E - V) to the membrane current (nA, g in uS after
`scale`); one without (a current-based receptor, "isyn" in nA) contributes its value directly. For one
substep, `advance` returns the sums G = sum g and J = sum g E + sum I at the three stage times, so every
membrane right-hand side reads I_syn(V) = J[c] - G[c] V.

Membranes that are linear in V apart from a clamp (the conductance-based LIF: V on the right-hand side is
min(V, v_thresh)) use a cheaper form: with k = (h/2)/cm, every stage's right-hand side, times h/2, reads

  (h/2) dV/dt = A_c - B_c min(V, v_thresh),   A_c = k (gL v_rest + i_offset + I_stim + J_c),  B_c = k (gL + G_c),

and each receptor adds its g(0) (and dg(0)) times per-stage constants to A_c and B_c
(`ClampedLinearMembrane`); `rk4_clamped` then takes the RK4 step in a few array operations per stage.

The constants are flat per-neuron arrays named "<state>|<constant>" (e.g. "gsyn_exc|gg"), so that a model's
derived dict holds only 1-D arrays (and plain ints, such as the substep count), as the compiled step kernels
(engine/compiled/codegen.py) need.
"""

from __future__ import annotations

import numpy as np

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Receptor:
    kind: str                      # "exp", "alpha" or "beta"
    g: str                         # state holding the conductance (uS * scale) or current (nA)
    tau: str                       # parameter: decay time constant (ms)
    e_rev: str | None = None       # parameter: reversal potential (mV); None for a current
    tau_rise: str | None = None    # parameter: rise time constant (beta only)
    scale: float = 1.0             # conductance unit of the state in uS (1e-3 when it is held in nS)

    @property
    def dg(self) -> str | None:
        return None if self.kind == "exp" else "_d" + self.g


def _gd(s, tau_r, tau_d, xp):
    """P_gd(s) = (exp(-s/tau_r) - exp(-s/tau_d)) / (1/tau_d - 1/tau_r) = exp(-s/tau_d) expm1(a s)/a."""
    a = 1.0 / tau_d - 1.0 / tau_r
    same = a == 0.0
    safe = xp.where(same, 1.0, a)
    return xp.exp(-s / tau_d) * xp.where(same, s, xp.expm1(a * s) / safe)


def beta_peak_factor(tau_r, tau_d, xp):
    """Jump of dg per unit weight so that g peaks at the weight (NEST's beta normalisation)."""
    same = xp.abs(tau_d - tau_r) < 1e-12 * tau_d
    tr = xp.where(same, tau_d * 0.5, tau_r)           # placeholder where the alpha limit applies
    t_peak = tau_d * tr * xp.log(tau_d / tr) / (tau_d - tr)
    peak = xp.exp(-t_peak / tau_d) - xp.exp(-t_peak / tr)
    return xp.where(same, math.e / tau_d, (1.0 / tr - 1.0 / tau_d) / peak)


def receptor_constants(receptors, p, h, xp) -> dict:
    """Per receptor: propagators over h/2 and h (and, for alpha and beta, the jump per unit weight)."""
    out = {}
    for r in receptors:
        tau_d = xp.asarray(p[r.tau])
        c = {"gg_h": xp.exp(-0.5 * h / tau_d), "gg": xp.exp(-h / tau_d)}
        if r.kind != "exp":
            tau_r = tau_d if r.kind == "alpha" else xp.asarray(p[r.tau_rise])
            c.update(dd=xp.exp(-h / tau_r), gd_h=_gd(0.5 * h, tau_r, tau_d, xp), gd=_gd(h, tau_r, tau_d, xp))
            c["jump"] = math.e / tau_d if r.kind == "alpha" else beta_peak_factor(tau_r, tau_d, xp)
        out.update({f"{r.g}|{name}": value for name, value in c.items()})
    return out


def advance(s, p, receptors, consts):
    """Propagate every receptor over one substep; return G[3] (uS) and J[3] (nA) at stages 0, h/2, h."""
    G, J = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    for r in receptors:
        gg_h, gg = consts[r.g + "|gg_h"], consts[r.g + "|gg"]
        g0 = s[r.g]
        if r.dg is None:
            stages = (g0, gg_h * g0, gg * g0)
        else:
            dg0 = s[r.dg]
            stages = (g0, gg_h * g0 + consts[r.g + "|gd_h"] * dg0, gg * g0 + consts[r.g + "|gd"] * dg0)
            s[r.dg] = consts[r.g + "|dd"] * dg0
        s[r.g] = stages[2]
        for k, g in enumerate(stages):
            if r.e_rev is None:
                J[k] = J[k] + g
            else:
                gs = g * r.scale if r.scale != 1.0 else g
                G[k] = G[k] + gs
                J[k] = J[k] + gs * p[r.e_rev]
    return G, J


def receive(s, receptors, consts, inputs):
    """Add this step's synaptic input (one array per receptor, in weight units) to the kernels."""
    for r, x in zip(receptors, inputs):
        if r.dg is None:
            s[r.g] = s[r.g] + x
        else:
            s[r.dg] = s[r.dg] + consts[r.g + "|jump"] * x


def rk4(f, y, h):
    """One classical RK4 step of y' = f(y, c) over h; c = 0, 1, 2 selects the stage time 0, h/2, h."""
    k1 = f(y, 0)
    k2 = f([a + (0.5 * h) * k for a, k in zip(y, k1)], 1)
    k3 = f([a + (0.5 * h) * k for a, k in zip(y, k2)], 1)
    k4 = f([a + h * k for a, k in zip(y, k3)], 2)
    return [a + (h / 6.0) * (q1 + 2.0 * (q2 + q3) + q4) for a, q1, q2, q3, q4 in zip(y, k1, k2, k3, k4)]


def internal_states(receptors) -> dict:
    """The state entries a list of receptors needs (its recordable values and hidden derivatives)."""
    out = {}
    for r in receptors:
        out[r.g] = 0.0
        if r.dg is not None:
            out[r.dg] = 0.0
    return out


def rk4_substeps(taus, dt: float, most: int, xp) -> int:
    """RK4 substeps per step: 1 when dt <= 0.05 x the shortest of the time scales `taus` (the kernels' time
    constants, and any faster scale of the membrane such as cm / g after a large conductance jump), else
    `most`. The stages read the kernels exactly, so the error is RK4's on the membrane alone (iaf_cond_exp
    against NEST's adaptive solver: 1e-8 mV with 1 substep, 6e-10 mV with 2). Called when the constants are
    (re)computed, never per step."""
    shortest = min((float(xp.min(xp.asarray(t))) for t in taus if xp.asarray(t).size),   # synchronize! (not in
                   default=np.inf)                                                          # the step)
    return 1 if dt <= 0.05 * shortest else int(most)


class ClampedLinearMembrane:
    """cm dV/dt = gL (v_rest - V) + I_syn(V) + i_offset + I_stim with V on the right-hand side clamped to at most
    v_clamp, for a fixed tuple of receptors, in the form of the module docstring. V is shifted by the reversal
    potential E0 of the first conductance (u = V - E0), so that this receptor adds nothing to A_c:

      (h/2) du/dt = A_c - B_c min(u, v_clamp - E0),
      A_c = k (gL (v_rest - E0) + i_offset + I_stim) + sum_r g_r(c) k scale_r (E_r - E0)   [currents: g_r(c) k]
      B_c = k gL + sum_r g_r(c) k scale_r,    k = (h/2)/cm,   g_r(c) = P_gg(c) g_r(0) + P_gd(c) dg_r(0).
    """

    def __init__(self, receptors):
        self.receptors = tuple(receptors)
        conductances = [r for r in self.receptors if r.e_rev is not None]
        self.reference = conductances[0].e_rev if conductances else None    # parameter name of E0
        self.kernels = []   # (g, dg, [(from dg?, stage, key in A or None, key in B or None)]) per receptor
        for r in self.receptors:
            terms = []
            for src, stages in (("", (0, 1, 2)), ("d", (1, 2))):
                if src == "d" and r.dg is None:
                    continue
                for c in stages:
                    a = None if r.e_rev is not None and r.e_rev == self.reference else f"{r.g}|a{src}{c}"
                    b = None if r.e_rev is None else f"{r.g}|b{src}{c}"
                    terms.append((src == "d", c, a, b))
            self.kernels.append((r.g, r.dg, r.g + "|gg", r.g + "|gd", r.g + "|dd", terms))

    def constants(self, p, h, gL, v_clamp, xp) -> dict:
        """receptor_constants over h, plus the factors of A_c and B_c (1-D arrays named "<g>|a<c>", ...)."""
        out = receptor_constants(self.receptors, p, h, xp)
        k = 0.5 * h / p["cm"]
        e0 = p[self.reference] if self.reference is not None else 0.0
        out.update(A_rest=k * (gL * (p["v_rest"] - e0) + p["i_offset"]), k_stim=k, B_leak=k * gL,
                   u_clamp=v_clamp - e0)
        for r in self.receptors:
            f = k * r.scale if r.scale != 1.0 else k
            stages = {"": (1.0, out[r.g + "|gg_h"], out[r.g + "|gg"])}
            if r.dg is not None:
                stages["d"] = (None, out[r.g + "|gd_h"], out[r.g + "|gd"])
            for src, factors in stages.items():
                for c, factor in enumerate(factors):
                    if factor is None:
                        continue
                    b = f * factor
                    if r.e_rev is None:
                        out[f"{r.g}|a{src}{c}"] = b
                        continue
                    out[f"{r.g}|b{src}{c}"] = b
                    if r.e_rev != self.reference:
                        out[f"{r.g}|a{src}{c}"] = b * (p[r.e_rev] - e0)
        return out

    def integrate(self, s, p, d, i_stim, v, substeps: int, xp):
        """Advance the kernels and V over one step of `substeps` RK4 substeps; returns the new V."""
        a = d["A_rest"] + i_stim * d["k_stim"]
        e0 = p[self.reference] if self.reference is not None else None
        u = v if e0 is None else v - e0
        for _ in range(substeps):
            A, B = [a, a, a], [d["B_leak"]] * 3
            for g, dg, gg, gd, dd, terms in self.kernels:
                g0 = s[g]
                if dg is None:
                    dg0 = None
                    s[g] = d[gg] * g0
                else:
                    dg0 = s[dg]
                    s[g] = d[gg] * g0 + d[gd] * dg0
                    s[dg] = d[dd] * dg0
                for from_dg, c, ka, kb in terms:
                    x = dg0 if from_dg else g0
                    if ka is not None:
                        A[c] = A[c] + x * d[ka]
                    if kb is not None:
                        B[c] = B[c] + x * d[kb]
            u = rk4_clamped(u, A, B, d["u_clamp"], xp)
        return u if e0 is None else u + e0


def rk4_clamped(v, A, B, v_max, xp):
    """One RK4 step of (h/2) dV/dt = A_c - B_c min(V, v_max), reading stage c = 0, 1, 1, 2."""
    k1 = A[0] - B[0] * xp.minimum(v, v_max)
    k2 = A[1] - B[1] * xp.minimum(v + k1, v_max)
    k3 = A[1] - B[1] * xp.minimum(v + k2, v_max)
    k4 = A[2] - B[2] * xp.minimum(v + (k3 + k3), v_max)
    return v + ((k1 + k4) + 2.0 * (k2 + k3)) * (1.0 / 3.0)
