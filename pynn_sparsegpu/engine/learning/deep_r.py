"""DEEP R (Bellec et al. 2018, "Deep rewiring"): training a sparse network with a fixed number of synapses.

Each synapse k has a fixed sign s_k (+1 or -1) and a non-negative parameter theta_k; its weight is
w_k = s_k theta_k. The training update (done elsewhere, by an optimiser) changes w_k; this rule adds

    gradient:  g_k <- g_k + l1 s_k                                  (L1 shrinkage: pulls |w_k| toward 0)
    weight:    w_k <- w_k + s_k sqrt(2 eta T) N(0, 1)               (random walk at temperature T, after the step)

and, after each update, rewires:

    dormant:   s_k w_k < 0  (theta_k would be negative)  ->  the synapse is removed
    formed:    as many new synapses as were removed, at uniformly random free (pre, post) positions,
               with w = 0, s = +1 or -1 with probability 1/2, the given delay, every other variable 0

so the projection keeps its number of synapses. A position is free when it holds no synapse, its row is not
full and, when self connections are not allowed in a projection onto its own population, pre != post.
Positions freed by this step's removals are free again.

Placement (array code, the same on NumPy and CuPy): a candidate is the u-th free position of the projection,
u uniform in [0, F) over the F free positions in rows with room; it is mapped to (pre, post) through the
sorted keys of the blocked positions (existing synapses, forbidden self pairs), so candidates never hit a
synapse and the work is proportional to the number of synapses plus the number of candidates. Duplicates
among the candidates and candidates past their row's room are dropped (in draw order, so every new synapse
is uniform over the positions still free at its turn), and resampling rounds place what is left. When F is
small compared with the candidates needed, or after a few rounds (F <= 2e7), all F free positions are taken
in a random order instead, which places exactly as many synapses as there is room for. `failed` counts only
synapses for which no free position exists at all.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import check_number

ROUNDS_BEFORE_ENUMERATION = 4          # random-draw rounds before all free positions are enumerated
ENUMERATION_LIMIT = 20_000_000         # enumerate at most this many free positions in one round


def _check_non_negative(name, value):
    return float(check_number(name, value, lambda v: v >= 0, "a finite number >= 0"))


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is not allowed; it must be True or False")
    return bool(value)


class DeepR:
    """DEEP R structural rule (Bellec et al. 2018): fixed-sign synapses, dormant ones replaced at random.

    Per synapse with fixed sign s (+1/-1) and weight w = s theta, theta >= 0:

        penalise:  g <- g + l1 s                               (L1 shrinkage of |w|)
        perturb:   w <- w + s sqrt(2 eta T) N(0, 1)            (eta: learning rate, T: temperature)
        rewire:    remove every synapse with s w < 0; form as many at uniformly random free (pre, post)
                   positions with w = 0, s = +-1 (probability 1/2 each), the given delay, other variables 0.

    l1 >= 0 and temperature >= 0 are finite numbers; allow_self_connections says whether pre == post may be
    formed in a projection onto its own population. The per-synapse variables "weight" and "sign" live in the
    projection's RaggedRows.
    """

    def __init__(self, l1: float = 0.0, temperature: float = 0.0, allow_self_connections: bool = True):
        self.l1 = _check_non_negative("l1", l1)
        self.temperature = _check_non_negative("temperature", temperature)
        self.allow_self_connections = _check_bool("allow_self_connections", allow_self_connections)

    def __repr__(self):
        return (f"DeepR(l1={self.l1}, temperature={self.temperature}, "
                f"allow_self_connections={self.allow_self_connections})")

    # --- the training-update terms ------------------------------------------------------------------
    def penalise(self, grad, sign):
        """The gradient with the L1 term: grad + l1 * sign (a new array of the same shape)."""
        return grad + self.l1 * sign

    def perturb(self, weight, sign, learning_rate, rng):
        """The weight after the random-walk term: weight + sign * sqrt(2 * learning_rate * T) * N(0, 1).
        With T == 0 the same `weight` object is returned, untouched."""
        learning_rate = _check_non_negative("learning_rate", learning_rate)
        if self.temperature == 0.0:
            return weight
        scale = math.sqrt(2.0 * learning_rate * self.temperature)
        dtype = weight.dtype if weight.dtype in (np.float32, np.float64) else np.float64
        return weight + sign * (scale * rng.standard_normal(weight.shape, dtype=dtype))

    @staticmethod
    def initial_signs(weight, rng, xp):
        """sign(weight) as floats (the weight's float type, else float64); zero weights get +1 or -1 at
        random with probability 1/2."""
        weight = xp.asarray(weight)
        dtype = weight.dtype if weight.dtype.kind == "f" else np.float64
        coin = (2.0 * (rng.random(weight.shape) < 0.5) - 1.0).astype(dtype)
        sign = xp.sign(weight).astype(dtype)
        return xp.where(sign == 0, coin, sign)

    # --- rewiring -----------------------------------------------------------------------------------
    def rewire(self, rows, rng, same_population: bool, new_values: dict | None = None) -> dict:
        """Remove the dormant synapses of `rows` (sign * weight < 0) and form as many at uniformly random free
        positions. same_population: pre and post index the same neurons (pre == post is a self pair).
        new_values: values of the new synapses' other variables (e.g. {"delay": 1}); unnamed ones are 0.
        Returns {"dormant": removed, "formed": formed, "failed": not placed for want of any free position}."""
        same_population = _check_bool("same_population", same_population)
        new_values = dict(new_values or {})
        for name in ("weight", "sign"):
            if name not in rows.vars:
                raise ValueError(f"DEEP R needs the per-synapse variable {name!r}; the rows hold "
                                 f"{sorted(rows.vars)}")
        for name in new_values:
            if name not in rows.vars or name in ("weight", "sign"):
                allowed = sorted(set(rows.vars) - {"weight", "sign"})
                raise ValueError(f"new_values names {name!r}, which is not allowed; allowed names are "
                                 f"{allowed} (new synapses always start with weight 0 and a random sign)")
        xp = rows.backend.xp

        r, s = rows.synapse_slots()
        dormant = rows.vars["sign"][r, s] * rows.vars["weight"][r, s] < 0
        n_dormant = rows.remove_at(r[dormant], s[dormant])            # synchronize! (count, inside)
        if n_dormant == 0:
            return {"dormant": 0, "formed": 0, "failed": 0}

        forbid_self = same_population and not self.allow_self_connections
        remaining, formed, failed, rounds = n_dormant, 0, 0, 0
        while remaining > 0:
            free = _FreePositions(rows, forbid_self)
            if rounds == 0:
                placeable = int(free.placeable)                        # synchronize!
                failed = max(n_dormant - placeable, 0)
                remaining = min(remaining, placeable)
            total = int(free.total)                                   # synchronize!
            if remaining == 0 or total == 0:
                break
            n_draw = 2 * remaining + 32
            if total <= 4 * n_draw or (rounds >= ROUNDS_BEFORE_ENUMERATION and total <= ENUMERATION_LIMIT):
                u = xp.argsort(rng.random(total))                     # every free position, random order
            else:
                u = rng.integers(0, total, n_draw, dtype=np.int64)
            pre, post = free.locate(u)
            keep = _first_that_fit(pre, post, free.room, remaining, rows.n_post, xp)
            n = int(keep.shape[0])
            if n:
                sign = 2.0 * (rng.random(n) < 0.5) - 1.0
                rows.add_synapses(pre[keep], post[keep], {**new_values, "weight": 0, "sign": sign},
                                  check=False)                        # synchronize! (stored flags, inside)
            remaining -= n
            formed += n
            rounds += 1
        return {"dormant": int(n_dormant), "formed": int(formed), "failed": int(failed + remaining)}


class _FreePositions:
    """The free positions of a RaggedRows, numbered 0..total-1 row by row (post ascending), over rows with
    room, without listing them: a row's free posts are the complement of its blocked ones.

    blocked keys b = pre * n_post + post (existing synapses, plus self pairs when forbidden), sorted, unique;
    with i the rank of b within its row, adjusted = b - i is sorted too, and the j-th free post of row r is
    j + #{blocked posts of r with post - i <= j}.
    """

    def __init__(self, rows, forbid_self):
        xp = rows.backend.xp
        self.xp, self.n_post = xp, rows.n_post
        r, s = rows.synapse_slots()
        keys = r.astype(xp.int64) * self.n_post + rows.ind[r, s].astype(xp.int64)
        if forbid_self:
            diagonal = xp.arange(min(rows.n_pre, rows.n_post), dtype=xp.int64)
            keys = xp.concatenate((keys, diagonal * (self.n_post + 1)))
        keys = xp.sort(keys)
        if keys.shape[0] > 1:                                         # multapses block their pair once
            keys = keys[xp.concatenate((xp.ones(1, dtype=bool), keys[1:] != keys[:-1]))]
        key_pre = keys // self.n_post
        blocked = xp.zeros(rows.n_pre, dtype=xp.int64)
        if keys.shape[0]:
            blocked = xp.bincount(key_pre, minlength=rows.n_pre).astype(xp.int64)
        self.start = xp.cumsum(blocked) - blocked                     # first blocked key of each row
        self.adjusted = keys - (xp.arange(keys.shape[0], dtype=xp.int64) - self.start[key_pre])
        self.room = rows.capacity - rows.row_length.astype(xp.int64)
        n_free = self.n_post - blocked
        self.weight = n_free * (self.room > 0)                       # free positions counted per row
        self.cumulative = xp.cumsum(self.weight)
        self.total = self.cumulative[-1] if rows.n_pre else xp.zeros((), dtype=xp.int64)
        self.placeable = xp.minimum(self.room, n_free).sum()          # most new synapses that fit at all

    def locate(self, u):
        """(pre, post) of the free positions numbered u."""
        xp = self.xp
        pre = xp.searchsorted(self.cumulative, u, side="right")
        j = u - (self.cumulative[pre] - self.weight[pre])
        below = xp.searchsorted(self.adjusted, pre * self.n_post + j, side="right") - self.start[pre]
        return pre.astype(xp.int64), (j + below).astype(xp.int64)


def _first_that_fit(pre, post, room, limit, n_post, xp):
    """Indices (in draw order) of the first `limit` candidates that are the first draw of their pair and
    still fit in their row's room, taking the candidates one after the other."""
    n = pre.shape[0]
    keys = pre * n_post + post
    order = xp.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    first = xp.ones(n, dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    unique = xp.zeros(n, dtype=bool)
    unique[order[first]] = True
    index = xp.nonzero(unique)[0]                                     # synchronize!
    candidate_pre = pre[index]
    order = xp.argsort(candidate_pre, kind="stable")
    sorted_pre = candidate_pre[order]
    rank = xp.arange(index.shape[0]) - xp.searchsorted(sorted_pre, sorted_pre, side="left")
    fits = xp.zeros(index.shape[0], dtype=bool)
    fits[order] = rank < room[sorted_pre]
    return index[fits][:limit]                                        # synchronize!
