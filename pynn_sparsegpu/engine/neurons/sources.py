"""Spike generators. A spike found in the step from t to t+dt has time t+dt; a generator is active for
spike times T with start < T <= start + duration (NEST's device activity window).

Poisson:          per step, counts ~ Poisson(rate * dt) (several spikes in one step are kept as a count).
Poisson with dead time, gamma, inhomogeneous gamma: renewal processes; each neuron holds the time of its
next spike and draws the next inter-spike interval when it fires:
  dead time:  ISI = tau_refrac + Exp(mean = 1/rate - tau_refrac)
  gamma:      ISI ~ Gamma(shape=alpha, scale=1/beta)            (mean rate beta/alpha)
  inh. gamma: a gamma process of shape a(t) in operational time, whose clock runs at 1/(a(t) b(t)) per s
Array:            given spike times rounded up to the time grid (exact grid times stay where they are).
"""

from __future__ import annotations

import numpy as np

from .base import NeuronModel


def grid_index(times, dt):
    """The grid point k (time k*dt) at which a spike given at `times` is emitted: times are rounded up to the
    grid, exact grid times (within float error) stay where they are. It is emitted by step k - 1."""
    return np.ceil(np.asarray(times, dtype=float) / dt - 1e-6).astype(np.int64)


class _Generator(NeuronModel):
    is_source = True
    receptors = ()
    nonnegative = ("start", "duration")

    @staticmethod
    def _active(p, ctx):
        t_spike = ctx.t + ctx.dt
        return (t_spike > p["start"]) & (t_spike <= p["start"] + p["duration"])


class Poisson(_Generator):
    parameters = {"rate": 1.0, "start": 0.0, "duration": 1e10}
    state = {}
    nonnegative = ("rate", "start", "duration")

    def derived(self, p, dt, xp):
        """The span of all activity windows (host floats): outside it no source can fire."""
        n = int(p["rate"].shape[0])
        if n == 0:
            return {"n": 0, "first": 0.0, "last": 0.0}
        return {"n": n, "first": float(xp.min(p["start"])),                  # synchronize! (not per step)
                "last": float(xp.max(p["start"] + p["duration"]))}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        t_spike = ctx.t + ctx.dt
        if not d["first"] < t_spike <= d["last"]:      # none active: no draws (Poisson(0) draws none either)
            return xp.zeros(d["n"], dtype=xp.int64)
        lam = xp.where(self._active(p, ctx), p["rate"] * (ctx.dt * 1e-3), 0.0)
        return ctx.rng.poisson(lam)


class _Renewal(_Generator):
    """A renewal process: `_next` is each neuron's next spike time (ms), drawn lazily (NaN = not drawn)."""
    state = {"_next": np.nan}

    def first_interval(self, p, xp, rng, n):
        return self.interval(p, xp, rng, n)

    def interval(self, p, xp, rng, n):  # ms
        raise NotImplementedError

    def step(self, s, p, d, syn, i_stim, ctx):
        xp, rng = ctx.xp, ctx.rng
        nxt = s["_next"]
        undrawn = xp.isnan(nxt)
        if bool(undrawn.any()):
            origin = xp.maximum(p["start"], ctx.t) if xp.ndim(p["start"]) else max(float(p["start"]), ctx.t)
            nxt = xp.where(undrawn, origin + self.first_interval(p, xp, rng, nxt.shape[0]), nxt)
        t_end = ctx.t + ctx.dt
        active = self._active(p, ctx)
        counts = xp.zeros(nxt.shape, dtype=xp.int32)
        due = nxt <= t_end
        while bool(due.any()):   # more than one spike per step is rare: this loops once or twice
            counts += (due & active).astype(xp.int32)
            nxt = xp.where(due, nxt + self.interval(p, xp, rng, nxt.shape[0]), nxt)
            due = nxt <= t_end
        s["_next"] = nxt
        return counts


class PoissonRefractory(_Renewal):
    parameters = {"rate": 1.0, "tau_refrac": 0.0, "start": 0.0, "duration": 1e10}
    nonnegative = ("rate", "tau_refrac", "start", "duration")

    def validate(self, params, xp):
        super().validate(params, xp)
        rate, ref = xp.asarray(params["rate"]), xp.asarray(params["tau_refrac"])
        bad = (rate * ref * 1e-3) >= 1.0
        if bool(bad.any()):
            raise ValueError("SpikeSourcePoissonRefractory: rate * tau_refrac must be < 1 "
                             f"(rate={float(xp.max(rate))} Hz, tau_refrac={float(xp.max(ref))} ms)")

    def interval(self, p, xp, rng, n):
        rate = xp.broadcast_to(xp.asarray(p["rate"], dtype=float), (n,))
        mean_free = xp.where(rate > 0, 1e3 / xp.where(rate > 0, rate, 1.0) - p["tau_refrac"], xp.inf)
        return p["tau_refrac"] + rng.exponential(1.0, n) * mean_free

    def first_interval(self, p, xp, rng, n):
        # start in equilibrium: with probability rate * tau_refrac the process is inside a dead time, and
        # its first spike is uniform in [0, tau_refrac]; otherwise it is a full interval away
        rate = xp.broadcast_to(xp.asarray(p["rate"], dtype=float), (n,))
        ref = xp.broadcast_to(xp.asarray(p["tau_refrac"], dtype=float), (n,))
        in_dead_time = rng.random(n) < rate * ref * 1e-3
        return xp.where(in_dead_time, rng.random(n) * ref, self.interval(p, xp, rng, n))


class Gamma(_Renewal):
    parameters = {"alpha": 2.0, "beta": 1.0, "start": 0.0, "duration": 1e10}
    positive = ("alpha",)
    nonnegative = ("beta", "start", "duration")

    def interval(self, p, xp, rng, n):
        beta = xp.broadcast_to(xp.asarray(p["beta"], dtype=float), (n,))
        shape = xp.broadcast_to(xp.asarray(p["alpha"], dtype=float), (n,))
        scale = xp.where(beta > 0, 1e3 / xp.where(beta > 0, beta, 1.0), xp.inf)
        return rng.standard_gamma(shape) * scale

    def first_interval(self, p, xp, rng, n):
        # start the process in equilibrium: the first interval is a forward recurrence time, which for
        # integer shape k is Gamma(j, scale) with j uniform on 1..k
        beta = xp.broadcast_to(xp.asarray(p["beta"], dtype=float), (n,))
        shape = xp.broadcast_to(xp.asarray(p["alpha"], dtype=float), (n,))
        j = xp.floor(rng.random(n) * xp.maximum(xp.floor(shape), 1.0)) + 1.0
        scale = xp.where(beta > 0, 1e3 / xp.where(beta > 0, beta, 1.0), xp.inf)
        return rng.standard_gamma(j) * scale


class InhGamma(_Generator):
    """Inhomogeneous gamma process: piecewise-constant shape a and scale b (s) starting at times tbins (ms).

    Operational time advances by dt / (a b) per ms-step (in units of mean ISIs); a spike occurs when
    it passes the neuron's next threshold, a Gamma(a, 1/a) variate, so the rate in a bin is 1/(a b) Hz.
    """
    parameters = {"a": None, "b": None, "tbins": None, "start": 0.0, "duration": 1e10}
    state = {"_op": 0.0, "_next": np.nan}

    def derived(self, p, dt, xp):
        """Pad the ragged per-neuron bin tables into [n, max_bins] arrays (tbins padded with +inf)."""
        a, b, tbins = p["a"], p["b"], p["tbins"]
        n = len(tbins)
        width = max([len(t) for t in tbins] + [1])
        tb, aa, bb = np.full((n, width), np.inf), np.ones((n, width)), np.ones((n, width))
        for i in range(n):   # once per parameter change, not per step
            k = len(tbins[i])
            tb[i, :k], aa[i, :k], bb[i, :k] = tbins[i], a[i], b[i]
        if np.any(aa <= 0) or np.any(bb <= 0):
            raise ValueError("SpikeSourceInhGamma: every value of 'a' and 'b' must be > 0")
        return {"tbins": xp.asarray(tb), "a": xp.asarray(aa), "b": xp.asarray(bb)}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp, rng = ctx.xp, ctx.rng
        k = (d["tbins"] <= ctx.t).sum(axis=1) - 1           # current bin of each neuron (-1: before the first)
        rows = xp.arange(k.shape[0])
        kc = xp.maximum(k, 0)
        shape = d["a"][rows, kc]
        rate_hz = xp.where(k >= 0, 1.0 / (d["a"][rows, kc] * d["b"][rows, kc]), 0.0)
        nxt = s["_next"]
        nxt = xp.where(xp.isnan(nxt), rng.standard_gamma(shape) / shape, nxt)
        active = self._active(p, ctx)
        s["_op"] = s["_op"] + xp.where(active, rate_hz * ctx.dt * 1e-3, 0.0)
        counts = xp.zeros(k.shape[0], dtype=xp.int32)
        due = s["_op"] >= nxt
        while bool(due.any()):
            counts += due.astype(xp.int32)
            nxt = xp.where(due, nxt + rng.standard_gamma(shape) / shape, nxt)
            due = s["_op"] >= nxt
        s["_next"] = nxt
        return counts


class SpikeArray(_Generator):
    """Spike times given per neuron (`spike_times`: a list of sorted arrays, ms)."""
    parameters = {"spike_times": None}
    state = {}
    nonnegative = ()

    def derived(self, p, dt, xp):
        times = p["spike_times"]
        steps = [grid_index(t, dt) - 1 for t in times]
        lengths = np.array([len(x) for x in steps], dtype=np.int64)
        flat_steps = np.concatenate(steps) if len(steps) else np.zeros(0, np.int64)
        owners = np.repeat(np.arange(len(steps)), lengths)
        order = np.argsort(flat_steps, kind="stable")
        return {"event_step": flat_steps[order],          # host array: which step each event fires in
                "event_owner": xp.asarray(owners[order]), "n": len(steps)}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        ev = d["event_step"]
        lo, hi = np.searchsorted(ev, ctx.step, "left"), np.searchsorted(ev, ctx.step, "right")
        if hi == lo:
            return xp.zeros(d["n"], dtype=xp.int32)
        return xp.bincount(d["event_owner"][lo:hi], minlength=d["n"]).astype(xp.int32)
