"""Synapse models: what happens at a synapse when its presynaptic neuron fires.

Every model is event-driven, as NEST's synapses are: its state (per synapse, in the ragged rows, so it moves
with the synapse when rows are rewritten) is advanced only when a presynaptic spike reaches the row, by
`on_pre(ev)`, which returns the weight transmitted by each event. `ev` gathers the step's events (one per
synapse that a spike reaches in the step, vectorised; each synapse at most once per step):

    ev.vars[name]    per-event values of the synapse's variables (writing back: ev.store(name, values))
    ev.post          postsynaptic index of each event
    ev.t_pre         spike stamp in steps: a neuron that fires during step k is stamped k + 1 (NEST's rule);
                     for a spike that reaches the synapse D_a steps later (axonal delay), k + D_a + 1
    ev.dendritic_delay  dendritic part of each event's delay in steps (the whole delay unless STDP's
                     dendritic_delay_fraction is below 1; see plastic.py)
    ev.uniform_pair(p)  two arrays of uniforms on [0, 1), one number each per event: draw pair p of the event's
                     synapse in this step, from the projection's counter-based stream (engine/random.py), so
                     the reference, the compiled kernels and CUDA draw the same numbers
    ev.dt, ev.xp, ev.rng, ev.post_group, ev.receptor

Time is held in integer steps, so NEST's spike-time comparisons become exact integer comparisons.

Models (NEST equivalents in brackets):
  Static                  w
  TsodyksMarkram          [tsodyks_synapse] u, x, y propagated exactly over the inter-spike interval, then
                          u += U (1 - u); release u x; transmits weight * u * x. tau_psc is the target's
                          synaptic time constant of the receptor.
  SimpleStochastic        [bernoulli_synapse] transmits w with probability p (the first number of pair 0)
  StochasticTsodyksMarkram  one release site: recovers with probability 1 - exp(-h/tau_rec), releases with
                          probability u (u facilitates as in TsodyksMarkram); pair 0: recovery, release
  MultiQuantal            [quantal_stp_synapse] n sites: releases Binomial(a, u) quanta, then u and the
                          recovered sites Binomial(n - a, 1 - exp(-h/tau_rec)) are updated; each binomial is
                          a sum of Bernoulli draws, site j drawing from pair j (release, recovery)
  STDP                    [stdp_synapse, vogels_sprekeler_synapse] pair-based, all-to-all: at a presynaptic
                          spike at t, the postsynaptic spikes in (t_last - d, t - d] potentiate with the
                          presynaptic trace Kplus(t_last) exp(-(t_post + d - t_last)/tau_plus), one by one in
                          time order; then depression with the postsynaptic trace K_minus(t - d); then
                          Kplus <- Kplus exp(-(t - t_last)/tau_plus) + 1. t is when the spike reaches the
                          synapse, its stamp plus the axonal delay D_a, and d the dendritic delay: of a delay
                          of D steps with dendritic_delay_fraction f, D_a = rint((1 - f) D) (at most D - 1)
                          and d = D - D_a, so a pair is seen with the lag (t_post + d) - (t_spike + D_a).
                          f = 1 (the default, NEST's convention): d = D, D_a = 0.
"""

from __future__ import annotations

import numpy as np

from .neurons.group import NEVER


class PostHistory:
    """The most recent `depth` spike stamps of each neuron of a group, newest first (a shift register per
    neuron, updated only for the neurons that fire). STDP reads the postsynaptic spikes of a window and the
    postsynaptic trace from it. If a window needs spikes older than the register holds, the loss is
    counted in `overflow` (raise `depth` then).

    A row may hold `extra` stamps more (width = depth + extra): with several processes, a spike's plastic
    synapses are updated up to a block of steps after the spike, when its target may have fired again; the
    kernels skip those newer stamps and read the `depth` newest before them (psg_stdp.cuh's psg_stdp_row)."""

    def __init__(self, backend, n: int, depth: int = 32):
        self.backend, self.n, self.depth = backend, int(n), int(depth)
        self.extra = 0
        self.overflow = 0
        self.reset()

    @property
    def width(self) -> int:
        return self.depth + self.extra

    def reset(self):
        xp = self.backend.xp
        self.stamps = xp.full((self.n, self.width), NEVER, dtype=xp.int64)
        self.count = xp.zeros(self.n, dtype=xp.int64)

    def widen(self, extra: int) -> None:
        """Hold at least `extra` stamps beyond depth, keeping the stamps recorded so far."""
        if extra <= self.extra:
            return
        xp = self.backend.xp
        stamps = xp.full((self.n, self.depth + extra), NEVER, dtype=xp.int64)
        stamps[:, :self.width] = self.stamps
        self.stamps, self.extra = stamps, int(extra)

    def record(self, counts, step: int):
        xp = self.backend.xp
        fired = xp.nonzero(counts)[0]
        if fired.shape[0] == 0:
            return
        self.stamps[fired, 1:] = self.stamps[fired, :-1]
        self.stamps[fired, 0] = step + 1
        self.count[fired] += 1

    def trace(self, post, t, tau, dt):
        """K(t) = sum over spikes stamped before t of exp(-(t - t_spike) dt / tau), per event."""
        xp = self.backend.xp
        s = self.stamps[post]
        before = s < t[:, None]
        return xp.where(before, xp.exp(-(t[:, None] - s) * (dt / tau[:, None])), 0.0).sum(axis=1)


class SynapseModel:
    """Base: parameters (PyNN names, per synapse), per-synapse state with initial values, and on_pre."""
    parameters: dict = {}
    state: dict = {}
    needs_history = False
    stochastic = False

    def var_dtypes(self, real):
        out = {name: real for name in self.parameters}
        out.update({name: (np.int64 if name.startswith("_t") else real) for name in self.state})
        return out

    def validate(self, values: dict) -> None:
        """Raise ValueError naming the parameter for values outside the model's domain."""

    def on_pre(self, ev):
        return ev.vars["weight"]


class Static(SynapseModel):
    pass


class Eprop(SynapseModel):
    """A synapse trained by e-prop (engine/learning): it transmits its weight like a static synapse; the
    trainer keeps its sign (DEEP R: +1/-1, 0 until the trainer assigns one) and its optimiser moments here,
    so they move with the synapse when rows are rewired."""
    state = {"sign": 0.0, "opt_m": 0.0, "opt_v": 0.0}


def _check(values, name, ok, allowed):
    if name in values:
        v = np.asarray(values[name], dtype=float)
        bad = ~ok(v) | np.isnan(v)
        if np.any(bad):
            raise ValueError(f"{name}={float(np.atleast_1d(v[bad])[0]):g} is not allowed; {name} must be {allowed}")


class TsodyksMarkram(SynapseModel):
    parameters = {"U": 0.5, "tau_rec": 100.0, "tau_facil": 0.0}
    state = {"x": 1.0, "y": 0.0, "u": 0.0, "_tlast": 0}

    def validate(self, values):
        _check(values, "U", lambda v: (v >= 0) & (v <= 1), "within [0, 1]")
        # (an infinite tau_rec makes the release 0 * inf = NaN)
        _check(values, "tau_rec", lambda v: (v > 0) & np.isfinite(v), "a finite number > 0 ms")
        _check(values, "tau_facil", lambda v: (v >= 0) & np.isfinite(v), "a finite number >= 0 ms")

    def on_pre(self, ev):
        xp, v = ev.xp, ev.vars
        h = (ev.t_pre - v["_tlast"]) * ev.dt
        tau_psc = ev.tau_psc()
        tau_rec, tau_fac = v["tau_rec"], v["tau_facil"]
        Puu = xp.where(tau_fac == 0.0, 0.0, xp.exp(-h / xp.where(tau_fac == 0.0, 1.0, tau_fac)))
        Pyy = xp.exp(-h / tau_psc)
        Pzz = xp.exp(-h / tau_rec)
        same = xp.abs(tau_psc - tau_rec) < 1e-12 * tau_rec
        Pxy = xp.where(same, h / tau_rec * Pzz,      # limit tau_psc -> tau_rec
                       ((Pzz - 1.0) * tau_rec - (Pyy - 1.0) * tau_psc) / xp.where(same, 1.0, tau_psc - tau_rec))
        x, y, u = v["x"], v["y"], v["u"]
        z = 1.0 - x - y
        u = u * Puu
        x = x + Pxy * y + (1.0 - Pzz) * z
        y = y * Pyy
        u = u + v["U"] * (1.0 - u)
        release = u * x
        ev.store("x", x - release)
        ev.store("y", y + release)
        ev.store("u", u)
        ev.store("_tlast", ev.t_pre)
        return v["weight"] * release


class SimpleStochastic(SynapseModel):
    parameters = {"p": 0.5}
    stochastic = True

    def validate(self, values):
        _check(values, "p", lambda v: (v >= 0) & (v <= 1), "a probability within [0, 1]")

    def on_pre(self, ev):
        u, _ = ev.uniform_pair(0)
        return ev.xp.where(u < ev.vars["p"], ev.vars["weight"], 0.0)


class StochasticTsodyksMarkram(SynapseModel):
    parameters = {"U": 0.5, "tau_rec": 800.0, "tau_facil": 0.0}
    state = {"R": 1.0, "u": 0.0, "_tlast": 0}
    stochastic = True

    validate = TsodyksMarkram.validate

    def on_pre(self, ev):
        xp, v = ev.xp, ev.vars
        h = (ev.t_pre - v["_tlast"]) * ev.dt
        tau_fac = v["tau_facil"]
        decay = xp.where(tau_fac == 0.0, 0.0, xp.exp(-h / xp.where(tau_fac == 0.0, 1.0, tau_fac)))
        u = v["U"] + v["u"] * (1.0 - v["U"]) * decay
        draw_recover, draw_release = ev.uniform_pair(0)
        recovered = (v["R"] > 0) | (draw_recover < -xp.expm1(-h / v["tau_rec"]))
        release = recovered & (draw_release < u)
        ev.store("R", xp.where(release, 0.0, xp.where(recovered, 1.0, 0.0)))
        ev.store("u", u)
        ev.store("_tlast", ev.t_pre)
        return xp.where(release, v["weight"], 0.0)


class MultiQuantal(SynapseModel):
    parameters = {"U": 0.5, "n": 1.0, "tau_rec": 800.0, "tau_facil": 0.0}
    state = {"a": -1.0, "u": -1.0, "_tlast": 0}          # -1: not yet initialised (a = n, u = U)
    stochastic = True

    def validate(self, values):
        TsodyksMarkram.validate(self, values)
        _check(values, "n", lambda v: (v >= 1) & (v == np.round(v)), "an integer >= 1")

    def on_pre(self, ev):
        xp, v = ev.xp, ev.vars
        fresh = v["a"] < 0
        a = xp.where(fresh, v["n"], v["a"])
        u = xp.where(fresh, v["U"], v["u"])
        h = (ev.t_pre - v["_tlast"]) * ev.dt
        # Binomial draws as sums of Bernoulli draws: site j < n uses draw pair j, the first number for its
        # release, the second for its recovery
        sites = int(v["n"].max()) if ev.size else 0
        draws = [ev.uniform_pair(j) for j in range(sites)]
        released = xp.zeros(ev.size, dtype=xp.int64)
        for j, (first, _) in enumerate(draws):
            released += (j < a) & (first < u)
        released = released.astype(a.dtype)
        a = a - released
        tau_fac = v["tau_facil"]
        decay = xp.where(tau_fac < 1e-10, 0.0, xp.exp(-h / xp.where(tau_fac < 1e-10, 1.0, tau_fac)))
        u = v["U"] + u * (1.0 - v["U"]) * decay
        p_recover = -xp.expm1(-h / v["tau_rec"])
        empty = v["n"] - a
        recovered = xp.zeros(ev.size, dtype=xp.int64)
        for j, (_, second) in enumerate(draws):
            recovered += (j < empty) & (second < p_recover)
        a = a + recovered.astype(a.dtype)
        ev.store("a", a)
        ev.store("u", u)
        ev.store("_tlast", ev.t_pre)
        return released * v["weight"]


# --- STDP: timing rules x weight rules --------------------------------------------------------------
class STDP(SynapseModel):
    """Pair-based STDP with NEST's event order. `timing` is "pair" (SpikePairRule) or "vogels"
    (Vogels2011Rule); `weight` is "additive", "multiplicative", "apmd" or "gutig"."""
    needs_history = True
    state = {"_kplus": 0.0, "_tlast": 0}
    _TIMING = {"pair": {"tau_plus": 20.0, "tau_minus": 20.0, "A_plus": 0.01, "A_minus": 0.01},
               "vogels": {"tau": 20.0, "eta": 1e-10, "rho": 3.0}}
    _WEIGHT = {"additive": {"w_min": 0.0, "w_max": 1.0}, "multiplicative": {"w_min": 0.0, "w_max": 1.0},
               "apmd": {"w_min": 0.0, "w_max": 1.0},
               "gutig": {"w_min": 0.0, "w_max": 1.0, "mu_plus": 0.5, "mu_minus": 0.5}}

    def __init__(self, timing: str, weight: str):
        if timing not in self._TIMING or weight not in self._WEIGHT:
            raise ValueError(f"no STDP rule for timing {timing!r} and weight dependence {weight!r}")
        self.timing, self.weight_rule = timing, weight
        self.parameters = {**self._TIMING[timing], **self._WEIGHT[weight], "dendritic_delay_fraction": 1.0}

    def validate(self, values):
        for name in ("tau_plus", "tau_minus", "tau"):
            _check(values, name, lambda v: v > 0, "> 0 ms")
        _check(values, "dendritic_delay_fraction", lambda v: (v >= 0) & (v <= 1), "within [0, 1]")
        # every parameter enters the weight update: an infinite (or NaN) one makes the weights infinite or NaN
        for name in values:
            _check(values, name, np.isfinite, "a finite number")
        if "w_min" in values and "w_max" in values:
            lo, hi = np.asarray(values["w_min"], float), np.asarray(values["w_max"], float)
            if np.any(lo > hi):
                raise ValueError(f"w_min={np.atleast_1d(lo)[0]} is larger than w_max={np.atleast_1d(hi)[0]}")

    # weight dependence: potentiation / depression by a trace value k (on |w|, sign kept)
    def _potentiate(self, w, k, v, xp):
        lo, hi = v["w_min"], v["w_max"]
        if self.timing == "vogels":
            return xp.minimum(w + v["eta"] * k, hi)
        rule, a = self.weight_rule, v["A_plus"] * k
        if rule in ("additive", "apmd"):
            new = w + a * hi
        elif rule == "multiplicative":
            new = w + a * (hi - w)
        else:
            new = w + a * hi * xp.abs((hi - w) / hi) ** v["mu_plus"]
        return xp.minimum(new, hi)

    def _depress(self, w, k, v, xp):
        lo, hi = v["w_min"], v["w_max"]
        if self.timing == "vogels":
            return xp.maximum(w - 2.0 * v["rho"] * v["tau"] * 1e-3 * v["eta"], lo)
        rule, a = self.weight_rule, v["A_minus"] * k
        if rule == "additive":
            new = w - a * hi
        elif rule in ("multiplicative", "apmd"):
            new = w - a * (w - lo)
        else:
            new = w - a * hi * xp.abs((w - lo) / hi) ** v["mu_minus"]
        return xp.maximum(new, lo)

    def _tau_plus(self, v):
        return v["tau"] if self.timing == "vogels" else v["tau_plus"]

    def _potentiated(self, ev, count_overflow=True):
        """|w| after the potentiation owed for the postsynaptic spikes that reached each event's synapse since
        its last presynaptic spike (t_last - d, ev.t_pre - d] (applied lazily, at the next presynaptic spike)."""
        xp, v, dt = ev.xp, ev.vars, ev.dt
        tau_plus = self._tau_plus(v)
        d = ev.dendritic_delay
        t_last, kplus = v["_tlast"], v["_kplus"]
        w = xp.abs(v["weight"]).astype(xp.float64)            # the update is computed in double precision
        history = ev.post_group.history
        stamps = history.stamps[ev.post]                      # (events, depth), newest first
        window = (stamps > (t_last - d)[:, None]) & (stamps <= (ev.t_pre - d)[:, None])
        if count_overflow and history.depth and bool(window[:, -1].any()):
            full = history.count[ev.post] > history.depth
            history.overflow += int((window[:, -1] & full).sum())
        columns = np.nonzero(ev.backend.to_host(window.any(axis=0)))[0]
        for c in columns[::-1]:                                # oldest first
            sel = window[:, c]
            t_post = xp.where(sel, stamps[:, c], t_last - d)          # outside the window: harmless
            k = kplus * xp.exp((t_last - (t_post + d)) * (dt / tau_plus))
            w = xp.where(sel, self._potentiate(w, k, v, xp), w)
        return w

    def current_weight(self, ev):
        """The weights of the events' synapses as of ev.t_pre, with the potentiation they are owed but that is
        applied only at their next presynaptic spike (nothing is stored). Rewiring rules read this, so that a
        synapse its target's recent spikes have potentiated is not taken for a depressed one."""
        sign = ev.xp.where(ev.vars["weight"] < 0, -1.0, 1.0)
        return sign * self._potentiated(ev, count_overflow=False)

    def on_pre(self, ev):
        xp, v, dt = ev.xp, ev.vars, ev.dt
        tau_plus = self._tau_plus(v)
        tau_minus = v["tau"] if self.timing == "vogels" else v["tau_minus"]
        d = ev.dendritic_delay
        t_last, t_pre, kplus = v["_tlast"], ev.t_pre, v["_kplus"]
        sign = xp.where(v["weight"] < 0, -1.0, 1.0)
        w = self._potentiated(ev)
        history = ev.post_group.history
        k_minus = history.trace(ev.post, t_pre - d, tau_minus, dt)
        if self.timing == "vogels":
            w = self._potentiate(w, k_minus, v, xp)
            w = self._depress(w, 0.0, v, xp)
        else:
            w = self._depress(w, k_minus, v, xp)
        w = sign * w
        ev.store("weight", w)
        ev.store("_kplus", kplus * xp.exp((t_last - t_pre) * (dt / tau_plus)) + 1.0)
        ev.store("_tlast", t_pre)
        return w
