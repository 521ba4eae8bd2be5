"""The off-grid loop in Python: the test oracle of kernels/psg_offgrid.cpp and the path without a compiler.

Same steps, same order, same expressions as psg_offgrid.cpp / psg_offgrid.cuh. Cells without inputs in a step
(and not ending their refractoriness in it) take the step as arrays, with the whole-step propagators of their
records (the same IEEE operations as the compiled loop, so the same values); cells with inputs take it one by
one in `cell_step`, which follows psg_og_cell_step line by line.
"""

from __future__ import annotations

import math

import numpy as np


class ReferenceRing:
    """The reference engine of an OffGridNetwork (as compiled.EngineHandle is the compiled one): the inputs on
    their way, slot -> list of (theta, weight, target, receptor) in the order sent, and `run`."""

    def run(self, net, src_step, src_theta, interval, last_sample, samples, k0, k1, stim=None):
        return run_reference(net, self, src_step, src_theta, interval, last_sample, samples, k0, k1, stim)

    def __init__(self):
        self.slots = []

    def resize(self, n_slots, k):
        old = len(self.slots)
        if n_slots <= old:
            return
        ring = [[] for _ in range(n_slots)]
        for s in range(k, k + old):
            ring[s % n_slots] = self.slots[s % old]
        self.slots = ring

    @property
    def pending(self) -> int:
        return sum(len(s) for s in self.slots)

    def inputs(self, k):
        """(steps, targets, receptors, weights, thetas) of every input on its way, each slot in arrival order
        (the ring is unchanged)."""
        n = len(self.slots)
        rows = [(s, target, r, w, theta) for s in range(k, k + n) for theta, w, target, r in self.slots[s % n]]
        if not rows:
            return (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0),
                    np.zeros(0))
        steps, targets, recs, weights, thetas = zip(*rows)
        return (np.asarray(steps, np.int64), np.asarray(targets, np.int32), np.asarray(recs, np.int32),
                np.asarray(weights, np.float64), np.asarray(thetas, np.float64))

    def take_inputs(self, k):
        """(steps, targets, receptors, weights) of every input on its way (the ring is emptied)."""
        out = self.inputs(k)[:4]
        self.slots = [[] for _ in self.slots]
        return out

    def put_inputs(self, net, k, steps, targets, recs, weights, thetas):
        """The ring holds these inputs (in this order within each slot) and nothing else."""
        self.slots = [[] for _ in range(net.n_slots)]
        for step, target, rec, weight, theta in zip(np.asarray(steps).tolist(), np.asarray(targets).tolist(),
                                                    np.asarray(recs).tolist(), np.asarray(weights).tolist(),
                                                    np.asarray(thetas).tolist()):
            self.slots[step % net.n_slots].append((theta, weight, target, rec))


def _p21(tau_s, tau_m, cm, tau, em):
    a = 1.0 / tau_m - 1.0 / tau_s
    at = a * tau
    if abs(at) < 1e-5:
        return em * tau * (1.0 + at / 2.0 + at * at / 6.0) / cm
    return em * math.expm1(at) / a / cm


def _exp_u(c, u0, ie0, ii0, tau):
    em = math.exp(-tau / c["tau_m"])
    p20 = -c["tau_m"] / c["cm"] * math.expm1(-tau / c["tau_m"])
    pe = _p21(c["tau_se"], c["tau_m"], c["cm"], tau, em)
    pi = pe if c["tau_si"] == c["tau_se"] else _p21(c["tau_si"], c["tau_m"], c["cm"], tau, em)
    return p20 * c["i_e"] + pe * ie0 + pi * ii0 + u0 * em


def _exp_crossing(c, u0, ie0, ii0, tau):
    a, b = 0.0, tau
    fa, fb = u0 - c["thr"], _exp_u(c, u0, ie0, ii0, tau) - c["thr"]
    if not fa < 0.0:
        return 0.0
    if not fb > 0.0:
        return tau
    root, side = b, 0
    for _ in range(200):
        root = (a * fb - b * fa) / (fb - fa)
        fr = _exp_u(c, u0, ie0, ii0, root) - c["thr"]
        if abs(fr) < 1e-14:
            break
        if fr < 0.0:
            a, fa = root, fr
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = root, fr
            if side == 1:
                fa *= 0.5
            side = 1
        if not b - a > 0.0:
            break
    return root


def _fire(c, k, theta):
    c["u"] = c["reset"]
    c["refractory"] = 1
    c["free_step"] = k + c["ref_steps"]
    c["free_theta"] = theta


def _exp_propagate(c, tau):
    if not c["refractory"]:
        c["u"] = _exp_u(c, c["u"], c["ie"], c["ii"], tau)
    es = math.exp(-tau / c["tau_se"])
    c["ie"] *= es
    c["ii"] *= es if c["tau_si"] == c["tau_se"] else math.exp(-tau / c["tau_si"])


def _delta_propagate(c, tau):
    e = math.expm1(-tau / c["tau_m"])
    v_inf = c["tau_m"] / c["cm"] * c["i_e"]
    c["u"] = -v_inf * e + c["u"] * e + c["u"]


def _delta_crossing(c, t):
    v_inf = c["tau_m"] / c["cm"] * c["i_e"]
    back = -c["tau_m"] * math.log((v_inf - c["u"]) / (v_inf - c["thr"]))
    return t - back if 0.0 < back <= t else (0.0 if back > t else t)


def _exp_cannot_fire(c, h, inputs):
    """psg_og_exp_cannot_fire: V surely stays below threshold in this step."""
    i_max = c["i_e"] + (c["ie"] if c["ie"] > 0.0 else 0.0) + (c["ii"] if c["ii"] > 0.0 else 0.0)
    for _, w, _ in inputs:
        if w > 0.0:
            i_max += w
    rise = c["tau_m"] / c["cm"] * i_max - c["u"]
    bound = c["u"] + (rise * h / c["tau_m"] if rise > 0.0 else 0.0)
    return bound < c["thr"] - 1e-9 * (abs(c["thr"]) + 1.0)


def cell_step(c, k, h, inputs):
    """One step of one cell (a dict of its record's fields) with its inputs [(theta, weight, receptor)] in
    time order; returns the spike's theta or None (psg_og_cell_step)."""
    fired = None
    ends = bool(c["refractory"]) and c["free_step"] == k
    if c["refractory"] and c["free_step"] < k:
        c["refractory"] = 0
    if c["kind"] == 1 and not ends and not c["refractory"] and _exp_cannot_fire(c, h, inputs):
        c["u"] = c["p20"] * c["i_e"] + c["p21e"] * c["ie"] + c["p21i"] * c["ii"] + c["e_m"] * c["u"] + c["u"]
        c["ie"] *= c["e_se"]
        c["ii"] *= c["e_si"]
        for theta, w, r in inputs:                # (psg_og_input_factors)
            tau = h - theta
            ts = c["tau_se"] if r == 0 else c["tau_si"]
            c["u"] += _p21(ts, c["tau_m"], c["cm"], tau, math.exp(-tau / c["tau_m"])) * w
            c["ie" if r == 0 else "ii"] += w * math.exp(-tau / ts)
        return None
    t, pending_end, j, m = 0.0, ends, 0, len(inputs)
    while j < m or pending_end:
        is_end = pending_end and (j >= m or c["free_theta"] <= inputs[j][0])
        te = c["free_theta"] if is_end else inputs[j][0]
        if c["kind"] == 1:
            tau = te - t
            if tau > 0.0:
                u0, ie0, ii0 = c["u"], c["ie"], c["ii"]
                was_free = not c["refractory"]
                _exp_propagate(c, tau)
                if was_free and c["u"] >= c["thr"]:
                    fired = t + _exp_crossing(c, u0, ie0, ii0, tau)
                    _fire(c, k, fired)
            t = te
            if is_end:
                c["refractory"] = 0
                pending_end = False
            else:
                if inputs[j][2] == 0:
                    c["ie"] += inputs[j][1]
                else:
                    c["ii"] += inputs[j][1]
                j += 1
            continue
        if is_end:
            if c["refractory"]:
                t = te
            c["refractory"] = 0
            pending_end = False
            continue
        total = inputs[j][1]
        j += 1
        while j < m and inputs[j][0] == te:
            total += inputs[j][1]
            j += 1
        if c["refractory"]:
            t = te
            continue
        if te > t:
            _delta_propagate(c, te - t)
        t = te
        if c["u"] >= c["thr"]:
            fired = _delta_crossing(c, t)
            _fire(c, k, fired)
            continue
        c["u"] += total
        if c["u"] >= c["thr"]:
            fired = t
            _fire(c, k, t)
    if h - t > 0.0:
        if c["kind"] == 1:
            u0, ie0, ii0 = c["u"], c["ie"], c["ii"]
            was_free = not c["refractory"]
            _exp_propagate(c, h - t)
            if was_free and c["u"] >= c["thr"]:
                fired = t + _exp_crossing(c, u0, ie0, ii0, h - t)
                _fire(c, k, fired)
        elif not c["refractory"]:
            _delta_propagate(c, h - t)
            if c["u"] >= c["thr"]:
                fired = _delta_crossing(c, h)
                _fire(c, k, fired)
    return fired


def _record(cells, j):
    return {name: cells[name][j].item() for name in cells.dtype.names}


def _store(cells, j, c):
    for name in ("u", "ie", "ii", "free_theta", "free_step", "refractory"):
        cells[name][j] = c[name]


def _whole_steps(cells, k, h, idle, out):
    """The step of the cells `idle` (no inputs, not ending refractoriness), as arrays; spikes into `out`."""
    kind, refr = cells["kind"][idle], cells["refractory"][idle]
    exp_free = idle[(kind == 1) & (refr == 0)]
    exp_refr = idle[(kind == 1) & (refr != 0)]
    delta_free = idle[(kind == 0) & (refr == 0)]
    u, ie, ii = cells["u"], cells["ie"], cells["ii"]
    if exp_free.size:
        c = cells[exp_free]
        u0, ie0, ii0 = c["u"].copy(), c["ie"].copy(), c["ii"].copy()
        u[exp_free] = c["p20"] * c["i_e"] + c["p21e"] * c["ie"] + c["p21i"] * c["ii"] + c["e_m"] * c["u"] + c["u"]
        ie[exp_free] = c["ie"] * c["e_se"]
        ii[exp_free] = c["ii"] * c["e_si"]
        for pos in np.flatnonzero(u[exp_free] >= c["thr"]):
            j = int(exp_free[pos])
            rec = _record(cells, j)
            s = _exp_crossing(rec, float(u0[pos]), float(ie0[pos]), float(ii0[pos]), h)
            _fire(rec, k, s)
            _store(cells, j, rec)
            out.append((j, s))
    if exp_refr.size:
        ie[exp_refr] = ie[exp_refr] * cells["e_se"][exp_refr]
        ii[exp_refr] = ii[exp_refr] * cells["e_si"][exp_refr]
    if delta_free.size:
        c = cells[delta_free]
        v_inf = c["tau_m"] / c["cm"] * c["i_e"]
        u[delta_free] = (-v_inf) * c["e_m"] + c["e_m"] * c["u"] + c["u"]
        for pos in np.flatnonzero(u[delta_free] >= c["thr"]):
            j = int(delta_free[pos])
            rec = _record(cells, j)
            s = _delta_crossing(rec, h)
            _fire(rec, k, s)
            _store(cells, j, rec)
            out.append((j, s))


def run_reference(net, ring, src_step, src_theta, interval, last_sample, samples, k0, k1, stim=None):
    """Steps k0 .. k1-1 of `net` with its inputs on their way in `ring` (engine="reference"); returns the new
    spikes (ids, times); fills `samples`. stim: (cells, base, values) of currents that change every step
    (OffGridNetwork.run), or None."""
    ring.resize(net.n_slots, k0)
    cells, h, n = net.cells, net.dt, net.n_cells
    counters = net.counters
    first_row = int(counters[2])
    spk_id, spk_time, fire = [], [], []

    def sample(m):
        row = samples[m - first_row]
        row[:] = cells["u"][net.rec_idx] + cells["v_rest"][net.rec_idx]

    if counters[2] <= last_sample and counters[2] * interval == k0:
        sample(int(counters[2]))
        counters[2] += 1
    stale = (cells["refractory"] != 0) & (cells["free_step"] < k0)
    cells["refractory"][stale] = 0
    for j in np.flatnonzero((cells["refractory"] == 0) & (cells["u"] >= cells["thr"])):
        rec = _record(cells, int(j))
        _fire(rec, k0, 0.0)
        _store(cells, int(j), rec)
        spk_id.append(int(j))
        spk_time.append(k0 * h)
        fire.append((int(j), 0.0))
    cursor = int(counters[0])
    every = np.arange(n)
    for k in range(k0, k1):
        if stim is not None:
            cells["i_e"][stim[0]] = stim[1] + stim[2][k - k0]
        slot = ring.slots[k % net.n_slots]
        by_target = {}
        for theta, w, target, r in slot:                  # grouped by target, in arrival order
            by_target.setdefault(target, []).append((theta, w, r))
        ring.slots[k % net.n_slots] = []
        ending = (cells["refractory"] != 0) & (cells["free_step"] == k)
        busy = np.zeros(n, dtype=bool)
        busy[list(by_target)] = True
        busy |= ending
        step_spikes = []
        _whole_steps(cells, k, h, every[~busy], step_spikes)
        for j in np.flatnonzero(busy):
            j = int(j)
            inputs = sorted(by_target.get(j, []), key=lambda x: x[0])    # stable
            rec = _record(cells, j)
            s = cell_step(rec, k, h, inputs)
            _store(cells, j, rec)
            if s is not None:
                step_spikes.append((j, s))
        for j, s in sorted(step_spikes):                  # in cell order, as the compiled loop finds them
            spk_id.append(j)
            spk_time.append(k * h + s)
            fire.append((j, s))
        while cursor < src_step.size and src_step[cursor] <= k:
            if src_step[cursor] == k:
                i = int(net.src_id[cursor])
                spk_id.append(i)
                spk_time.append(float(net.src_time[cursor]))
                fire.append((i, float(src_theta[cursor])))
            cursor += 1
        for i, theta in fire:
            for q in range(int(net.row_ptr[i]), int(net.row_ptr[i + 1])):
                ring.slots[(k + int(net.syn_delay[q])) % net.n_slots].append(
                    (theta, float(net.syn_w[q]), int(net.syn_post[q]), int(net.syn_rec[q])))
        fire = []
        if counters[2] <= last_sample and counters[2] * interval == k + 1:
            sample(int(counters[2]))
            counters[2] += 1
    counters[0] = cursor
    return np.asarray(spk_id, dtype=np.int64), np.asarray(spk_time, dtype=np.float64)
