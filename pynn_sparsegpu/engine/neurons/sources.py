"""Spike generators. A spike found in the step from t to t+dt has time t+dt; a generator is active for
spike times T with start < T <= start + duration (NEST's device activity window). The window is kept in
steps (`steps_of`: times rounded to NEST's 1 µs tic, then divided by the step), so a window of 50 ms holds
500 steps of 0.1 ms and one from 12.3 ms for 7.7 ms holds 77, as in NEST, where t + dt in floating point
would have lost a step to rounding.

Poisson:          a Poisson process of the given rate: each neuron holds the time of its next spike and draws
                  an exponential interval when it fires, so the number of spikes in a step is Poisson(rate dt)
                  and independent between steps (several spikes in one step are kept as a count).
Poisson with dead time, gamma, inhomogeneous gamma: renewal processes in the same way:
  dead time:  ISI = tau_refrac + Exp(mean = 1/rate - tau_refrac)
  gamma:      ISI ~ Gamma(shape=alpha, scale=1/beta)            (mean rate beta/alpha)
  inh. gamma: a gamma process of shape a(t) in operational time, whose clock runs at 1/(a(t) b(t)) per s
  A process starts in equilibrium at `start` (or now, when start is past): Poisson and the dead-time
  process from their forward recurrence time, gamma from the forward recurrence time of an integer shape.
  After set() a process redraws its next spike from now under the new parameters.
Array:            given spike times rounded up to the time grid (exact grid times stay where they are).

Random numbers: every draw comes from the population's counter-based Philox stream (engine/random.py, key
NeuronGroup.key from the network's seed), at counter (neuron index, draw number, step), through
engine/variates.py. The compiled kernels (kernels/psg_sources.cu) draw the same numbers, so the NumPy
reference and the compiled path give the same spikes bit for bit. The arithmetic is float64 whatever the
precision of the network; the renewal processes' spike times (`_next`, `_op`) are kept in float64.
"""

from __future__ import annotations

import numpy as np

from .. import variates
from ..timegrid import steps_of  # noqa: F401  (also imported from here)
from .base import NeuronModel, _first_bad


def grid_index(times, dt):
    """The grid point k (time k*dt) at which a spike given at `times` is emitted: times are rounded up to the
    grid, exact grid times (within float error) stay where they are. It is emitted by step k - 1."""
    return np.ceil(np.asarray(times, dtype=float) / dt - 1e-6).astype(np.int64)


def float64_state(state: dict, name: str):
    """The state array `name` as float64, converted in place in the dict where the network's precision is
    float32 (renewal processes keep spike times in float64)."""
    values = state[name]
    if values.dtype != np.float64:
        values = state[name] = values.astype(np.float64)
    return values


def _f64(values, xp):
    return xp.asarray(values, dtype=xp.float64)


class _Generator(NeuronModel):
    is_source = True
    receptors = ()
    nonnegative = ("start", "duration")
    infinite_ok = ("duration",)

    @staticmethod
    def window(p, dt, xp) -> dict:
        """The activity window as float64 arrays: lo (start, ms: where a process starts) and, in steps,
        lo_step and hi_step: step k (spike time (k + 1) dt) is active when lo_step < k + 1 <= hi_step."""
        lo = _f64(p["start"], xp)
        hi = lo + _f64(p["duration"], xp)
        lo_step, hi_step = steps_of(lo, dt, xp), steps_of(hi, dt, xp)
        # the earliest end of a window, a host float (the reference skips the per-neuron test before it)
        return {"lo": lo, "lo_step": lo_step, "hi_step": hi_step,
                "hi_step_min": float(xp.min(hi_step)) if hi.shape[0] else np.inf}  # synchronize!


class _Renewal(_Generator):
    """A renewal process: `_next` is each neuron's next spike time (ms), drawn lazily (NaN = not drawn).

    Per neuron and step k (the kernel does the same): once the window is over (k + 1 > hi_step), nothing is drawn
    and `_next` becomes +inf (set() makes it NaN again); an undrawn neuron draws its first spike at
    max(start, t) + first_interval; then every spike due by t + dt is counted (when the window is open) and
    followed by a new interval."""
    state = {"_next": np.nan}

    def first_interval(self, d, idx, key, draw, step, xp):
        """(intervals in ms, draw numbers after) of the neurons idx; draw: their draw numbers."""
        raise NotImplementedError

    def interval(self, d, idx, key, draw, step, xp):
        raise NotImplementedError

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        nxt = float64_state(s, "_next")
        t = ctx.t
        t_end = t + ctx.dt
        k1 = float(ctx.step + 1)                               # this step's spike time, in steps
        counts = xp.zeros(nxt.shape[0], dtype=xp.int32)
        if k1 <= d["hi_step_min"]:
            if nxt.shape[0] and bool(nxt.min() > t_end):     # none undrawn (NaN), no spike due, none over
                return counts
        else:
            nxt[k1 > d["hi_step"]] = xp.inf
        draw = xp.zeros(nxt.shape[0], dtype=xp.int64)
        undrawn = xp.flatnonzero(xp.isnan(nxt))
        if undrawn.shape[0]:
            iv, draw[undrawn] = self.first_interval(d, undrawn, ctx.key, draw[undrawn], ctx.step, xp)
            nxt[undrawn] = xp.maximum(d["lo"][undrawn], t) + iv
        due = xp.flatnonzero(nxt <= t_end)
        if due.shape[0]:
            active = (k1 > d["lo_step"]).astype(xp.int32)
        while due.shape[0]:   # more than one spike per step is rare: this loops once or twice
            counts[due] += active[due]
            iv, draw[due] = self.interval(d, due, ctx.key, draw[due], ctx.step, xp)
            nxt[due] = nxt[due] + iv
            due = due[nxt[due] <= t_end]
        return counts


class _Exponential(_Renewal):
    """Exponential intervals after a dead time: ISI = ref + Exp(1) * mean_free (mean_free = +inf: silent).
    First interval: with probability p_dead the process is inside a dead time and the first spike is
    uniform in [0, ref] away (one call: the test uniform and this one); otherwise a full interval."""

    def first_interval(self, d, idx, key, draw, step, xp):
        out = xp.zeros(idx.shape[0], dtype=xp.float64)
        rest = xp.arange(idx.shape[0])
        dead_possible = xp.flatnonzero(d["p_dead"][idx] > 0.0)
        if dead_possible.shape[0]:
            u0, u1, draw[dead_possible] = variates.pair(key, idx[dead_possible], draw[dead_possible], step, xp)
            dead = u0 < d["p_dead"][idx[dead_possible]]
            out[dead_possible[dead]] = u1[dead] * d["ref"][idx[dead_possible[dead]]]
            live = xp.ones(idx.shape[0], dtype=bool)
            live[dead_possible[dead]] = False
            rest = xp.flatnonzero(live)
        if rest.shape[0]:
            out[rest], draw[rest] = self.interval(d, idx[rest], key, draw[rest], step, xp)
        return out, draw

    def interval(self, d, idx, key, draw, step, xp):
        mean_free = d["mean_free"][idx]
        out = xp.full(idx.shape[0], xp.inf)
        live = xp.flatnonzero(~xp.isinf(mean_free))
        if live.shape[0]:
            e, draw[live] = variates.exponential(key, idx[live], draw[live], step, xp)
            out[live] = d["ref"][idx[live]] + e * mean_free[live]
        return out, draw


MAX_RATE = 1e7      # Hz: every interval is drawn, so a step costs as many draws as it has spikes (and a rate so
                    # high that the intervals vanish next to t would never finish a step)


def _check_rate(model, rate, xp, what="rate"):
    value = _first_bad(xp.asarray(rate, dtype=float), lambda a: ~(a <= MAX_RATE), xp)
    if value is not None:
        raise ValueError(f"{type(model).__name__}: {what} = {value:g} Hz is not allowed; it must be <= "
                         f"{MAX_RATE:g} Hz (each spike interval is drawn: at {value:g} Hz a step would take too long)")


class Poisson(_Exponential):
    parameters = {"rate": 1.0, "start": 0.0, "duration": 1e10}
    nonnegative = ("rate", "start", "duration")

    def validate(self, params, xp):
        super().validate(params, xp)
        if "rate" in params:
            _check_rate(self, params["rate"], xp)

    def derived(self, p, dt, xp):
        rate = _f64(p["rate"], xp)
        safe = xp.where(rate > 0, rate, 1.0)
        return {**self.window(p, dt, xp), "ref": xp.zeros_like(rate), "p_dead": xp.zeros_like(rate),
                "mean_free": xp.where(rate > 0, 1e3 / safe, xp.inf)}


class PoissonRefractory(_Exponential):
    parameters = {"rate": 1.0, "tau_refrac": 0.0, "start": 0.0, "duration": 1e10}
    nonnegative = ("rate", "tau_refrac", "start", "duration")

    def validate(self, params, xp):
        super().validate(params, xp)
        _check_rate(self, params["rate"], xp)
        rate, ref = xp.asarray(params["rate"]), xp.asarray(params["tau_refrac"])
        bad = (rate * ref * 1e-3) >= 1.0
        if bool(bad.any()):
            raise ValueError("SpikeSourcePoissonRefractory: rate * tau_refrac must be < 1 "
                             f"(rate={float(xp.max(rate))} Hz, tau_refrac={float(xp.max(ref))} ms)")

    def derived(self, p, dt, xp):
        # start in equilibrium: with probability rate * tau_refrac the process is inside a dead time, and
        # its first spike is uniform in [0, tau_refrac]; otherwise it is a full interval away
        rate, ref = _f64(p["rate"], xp), _f64(p["tau_refrac"], xp)
        safe = xp.where(rate > 0, rate, 1.0)
        return {**self.window(p, dt, xp), "ref": ref, "p_dead": rate * ref * 1e-3,
                "mean_free": xp.where(rate > 0, 1e3 / safe - ref, xp.inf)}


class Gamma(_Renewal):
    """ISI ~ Gamma(alpha, scale 1/beta) (scale = +inf: silent). First interval: the forward recurrence time,
    which for integer shape k is Gamma(j, scale) with j uniform on 1..k (one call for j)."""
    parameters = {"alpha": 2.0, "beta": 1.0, "start": 0.0, "duration": 1e10}
    positive = ("alpha",)
    nonnegative = ("beta", "start", "duration")

    def validate(self, params, xp):
        super().validate(params, xp)
        if "alpha" in params and "beta" in params:
            alpha = xp.asarray(params["alpha"], dtype=float)
            if bool(xp.all(alpha > 0)):
                _check_rate(self, xp.asarray(params["beta"], dtype=float) / alpha, xp, "the mean rate beta / alpha")

    def derived(self, p, dt, xp):
        beta, shape = _f64(p["beta"], xp), _f64(p["alpha"], xp)
        return {**self.window(p, dt, xp), "shape": shape, "k_max": xp.maximum(xp.floor(shape), 1.0),
                "scale": xp.where(beta > 0, 1e3 / xp.where(beta > 0, beta, 1.0), xp.inf)}

    def _scaled(self, d, idx, key, draw, step, shape, xp):
        scale = d["scale"][idx]
        out = xp.full(idx.shape[0], xp.inf)
        live = xp.flatnonzero(~xp.isinf(scale))
        if live.shape[0]:
            g, draw[live] = variates.gamma(key, idx[live], draw[live], step, shape[live], xp)
            out[live] = g * scale[live]
        return out, draw

    def first_interval(self, d, idx, key, draw, step, xp):
        live = xp.flatnonzero(~xp.isinf(d["scale"][idx]))
        j = xp.ones(idx.shape[0], dtype=xp.float64)
        if live.shape[0]:
            u, draw[live] = variates.uniform(key, idx[live], draw[live], step, xp)
            j[live] = xp.floor(u * d["k_max"][idx[live]]) + 1.0
        return self._scaled(d, idx, key, draw, step, j, xp)

    def interval(self, d, idx, key, draw, step, xp):
        return self._scaled(d, idx, key, draw, step, d["shape"][idx], xp)


class InhGamma(_Generator):
    """Inhomogeneous gamma process: piecewise-constant shape a and scale b (s) starting at times tbins (ms).

    Operational time `_op` advances by dt / (a b) per ms-step (in units of mean ISIs) while the window is
    open; a spike occurs when it passes the neuron's next threshold `_next`, which moves on by a Gamma(a, 1/a)
    variate at each spike (a new threshold, drawn when there is none, lies that far beyond `_op`), so the
    rate in a bin is 1/(a b) Hz.
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
        return {**self.window(p, dt, xp), "tbins": xp.asarray(tb), "a": xp.asarray(aa), "b": xp.asarray(bb)}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        k = (d["tbins"] <= ctx.t).sum(axis=1) - 1           # current bin of each neuron (-1: before the first)
        rows = xp.arange(k.shape[0])
        kc = xp.maximum(k, 0)
        shape = d["a"][rows, kc]
        rate_hz = xp.where(k >= 0, 1.0 / (d["a"][rows, kc] * d["b"][rows, kc]), 0.0)
        nxt, op = float64_state(s, "_next"), float64_state(s, "_op")
        draw = xp.zeros(k.shape[0], dtype=xp.int64)
        undrawn = xp.flatnonzero(xp.isnan(nxt))
        if undrawn.shape[0]:
            g, draw[undrawn] = variates.gamma(ctx.key, undrawn, draw[undrawn], ctx.step, shape[undrawn], xp)
            nxt[undrawn] = op[undrawn] + g / shape[undrawn]
        k1 = float(ctx.step + 1)
        active = (k1 > d["lo_step"]) & (k1 <= d["hi_step"])
        op[...] = op + xp.where(active, rate_hz * ctx.dt * 1e-3, 0.0)
        counts = xp.zeros(k.shape[0], dtype=xp.int32)
        due = xp.flatnonzero(op >= nxt)
        while due.shape[0]:
            counts[due] += 1
            g, draw[due] = variates.gamma(ctx.key, due, draw[due], ctx.step, shape[due], xp)
            nxt[due] = nxt[due] + g / shape[due]
            due = due[op[due] >= nxt[due]]
        return counts


class SpikeArray(_Generator):
    """Spike times given per neuron (`spike_times`: a list of sorted arrays, ms)."""
    parameters = {"spike_times": None}
    state = {}
    nonnegative = ()

    def derived(self, p, dt, xp):
        """The events as a table sorted by step (the reference looks each step up in it), and the same events
        per neuron (row_start[i]..row_start[i + 1] of row_steps, sorted) with a cursor per neuron for the
        compiled kernel: host arrays."""
        times = p["spike_times"]
        steps = [grid_index(t, dt) - 1 for t in times]
        lengths = np.array([len(x) for x in steps], dtype=np.int64)
        flat_steps = np.concatenate(steps) if len(steps) else np.zeros(0, np.int64)
        owners = np.repeat(np.arange(len(steps)), lengths)
        order = np.argsort(flat_steps, kind="stable")
        by_owner = np.lexsort((flat_steps, owners))
        row_start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return {"event_step": flat_steps[order],          # host array: which step each event fires in
                "event_owner": xp.asarray(owners[order]), "n": len(steps),
                "row_start": row_start, "row_steps": np.ascontiguousarray(flat_steps[by_owner], dtype=np.int64),
                "cursor": row_start[:-1].copy()}

    def step(self, s, p, d, syn, i_stim, ctx):
        xp = ctx.xp
        ev = d["event_step"]
        lo, hi = np.searchsorted(ev, ctx.step, "left"), np.searchsorted(ev, ctx.step, "right")
        if hi == lo:
            return xp.zeros(d["n"], dtype=xp.int32)
        return xp.bincount(d["event_owner"][lo:hi], minlength=d["n"]).astype(xp.int32)
