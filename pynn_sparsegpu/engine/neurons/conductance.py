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

The constants are flat per-neuron arrays named "<state>|<constant>" (e.g. "gsyn_exc|gg"), so that a model's
derived dict holds only 1-D arrays, as the fused GPU step (fused.py) needs.
"""

from __future__ import annotations

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
