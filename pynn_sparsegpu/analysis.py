"""Connectivity analysis at the PyNN level: degrees, connection probability versus distance, and the
receptive-field (map) metrics of Bamford et al. (2010) for topographic projections.

Everything works on a Projection of any PyNN backend (sparsegpu reads its synapse table directly; other
backends go through ``Projection.get(..., format="list")``) and is NumPy array code: no Python loop runs
over synapses, and loops over pre/post pairs run in blocks of bounded size.

Geometry follows PyNN's Space: the source positions are ``projection.pre.positions``, the target positions
are mapped into the source's frame as ``space.scale_factor * (post.positions + space.offset)``, distances
are Euclidean over ``space.axes``, and an axis with periodic boundaries (lo, hi) wraps displacements into
[-L/2, L/2] with L = hi - lo.

    from pynn_sparsegpu import analysis
    k_in, k_out = analysis.degrees(prj)
    profile = analysis.connectivity_vs_distance(prj, bins=np.arange(0, 12.5, 0.5))
    rf = analysis.receptive_field_metrics(prj)     # rf["mean_centre_error"], rf["mean_sigma_aff"]
    b = analysis.bamford_metrics(prj)              # the same, computed as Bamford et al. do

Receptive-field metrics (Bamford, Murray & Willshaw 2010, "Synaptic rewiring for topographic mapping and
receptive field development", Neural Networks 23:517-527). For a target j with afferents i (synapses with
weights w_i, a pair holding several synapses counted with each), on each axis a with periodic span L:

    theta_i = 2 pi (x_ia - lo_a) / L
    c_ja    = lo_a + L / (2 pi) * atan2(sum_i w_i sin theta_i, sum_i w_i cos theta_i)   (circular mean)
    c_ja    = sum_i w_i x_ia / sum_i w_i                                               (non-periodic axes)
    error_j = |c_j - ideal_j|                          (periodic distance)
    sigma_aff_j = sqrt(sum_i w_i |x_i - c_j|^2 / sum_i w_i)   (periodic distance)

The map's centre error and spread are the means over the targets that have afferents of positive total
weight; the others are excluded and counted.

Both measures depend on the number of afferents as well as on the map: a centre estimated from k afferents
scatters by about sigma / sqrt(k) even when the afferents are drawn from a perfectly centred profile, and
the spread about the afferents' own centre is biased low by sqrt(1 - 1/k). For comparisons across
in-degrees the result also carries k_eff = (sum w)^2 / sum w^2 (the effective number of afferents) and
sigma_aff_unbiased = sigma_aff / sqrt(1 - 1/k_eff) (the reliability-weights correction of a weighted
variance; NaN where k_eff <= 1).
"""

from __future__ import annotations

import numpy as np

__all__ = ["connections", "degrees", "connectivity_vs_distance", "afferent_displacements",
           "receptive_field_metrics", "bamford_metrics"]

_BLOCK = 1 << 22        # pre/post pairs evaluated at once in connectivity_vs_distance


# --- reading a projection ----------------------------------------------------------------------------
def connections(projection):
    """All synapses of `projection` as arrays (pre, post, weight): projection-level indices (0..pre.size-1,
    0..post.size-1) and weights in PyNN units. A pair holding several synapses appears once per synapse."""
    if hasattr(projection, "_coo"):                       # sparsegpu: one vectorised pass over the rows
        pre, post, weight, _ = projection._coo()
        return np.asarray(pre, np.int64), np.asarray(post, np.int64), np.asarray(weight, float)
    rows = projection.get(["weight"], format="list", with_address=True)   # other backends (e.g. nest)
    table = np.asarray(rows, float).reshape(-1, 3)
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]


def degrees(projection):
    """(in_degree per postsynaptic neuron, out_degree per presynaptic neuron), counting synapses (a pair
    holding several synapses counts each)."""
    pre, post, _ = connections(projection)
    return (np.bincount(post, minlength=projection.post.size),
            np.bincount(pre, minlength=projection.pre.size))


class _Frame:
    """The projection's Space: source positions, target positions mapped into the source frame, the axes
    distances are taken over and the periodic span of each axis (None where not periodic)."""

    def __init__(self, projection):
        space = projection.space
        self.pre_pos = np.asarray(projection.pre.positions, float).T               # (n_pre, 3)
        self.post_pos = space.scale_factor * (np.asarray(projection.post.positions, float).T + space.offset)
        self.axes = [int(a) for a in space.axes]
        bounds = space.periodic_boundaries
        self.lo = [None if bounds is None or bounds[a] is None else float(bounds[a][0]) for a in range(3)]
        self.span = [None if bounds is None or bounds[a] is None else float(bounds[a][1] - bounds[a][0])
                     for a in range(3)]

    def wrap(self, d, axis):
        """Displacements along `axis` wrapped into [-L/2, L/2] on a periodic axis (in place)."""
        span = self.span[axis]
        if span is not None:
            d -= span * np.round(d / span)
        return d

    def displacement(self, a, b):
        """a - b, (..., 3) arrays, wrapped on the periodic axes; non-distance axes are zeroed."""
        d = np.zeros(np.broadcast_shapes(a.shape, b.shape))
        for axis in self.axes:
            d[..., axis] = self.wrap(a[..., axis] - b[..., axis], axis)
        return d

    def distance(self, a, b):
        return np.sqrt((self.displacement(a, b) ** 2).sum(axis=-1))


def _lateral_self_excluded(projection, exclude_self):
    """Whether self pairs (i, i) of a projection from a population onto itself are left out of the pairs."""
    same = projection.pre is projection.post or (
        projection.pre.size == projection.post.size and
        getattr(projection.pre, "first_id", None) is not None and
        getattr(projection.pre, "first_id", None) == getattr(projection.post, "first_id", None))
    if exclude_self is None:
        allow = getattr(projection.synapse_type, "allow_self_connections", True)
        connector_allow = getattr(projection._connector, "allow_self_connections", True) \
            if hasattr(projection, "_connector") else True
        exclude_self = not (allow and connector_allow)
    return bool(same and exclude_self)


# --- connection probability and weight against distance -----------------------------------------------
def connectivity_vs_distance(projection, bins, exclude_self=None, block=_BLOCK):
    """Connection probability and mean weight per distance bin.

    bins            increasing bin edges (distance units of the positions); a pair lands in bin k when
                    edges[k] <= d < edges[k+1]; farther pairs are dropped.
    exclude_self    leave pairs (i, i) of a population onto itself out of the pairs counted: default, when
                    the synapse type or the connector forbids self connections.

    Returns a dict of arrays (one value per bin): edges, centres, pairs (pre/post pairs at that distance),
    connected (pairs holding at least one synapse), probability (connected / pairs, NaN where no pairs),
    synapses (all synapses), mean_weight (mean weight over the synapses, NaN where none), sum_weight.
    The pair histogram is O(n_pre * n_post), evaluated in blocks of `block` pairs.
    """
    edges = np.asarray(bins, float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("bins must be at least two increasing bin edges")
    frame = _Frame(projection)
    n_bins = edges.size - 1
    n_pre, n_post = frame.pre_pos.shape[0], frame.post_pos.shape[0]
    drop_self = _lateral_self_excluded(projection, exclude_self)

    def bin_of(d):
        k = np.searchsorted(edges, d, side="right") - 1
        return np.where((k >= 0) & (k < n_bins), k, n_bins)          # n_bins: out of range

    pairs = np.zeros(n_bins + 1, np.int64)
    rows = max(1, int(block // max(n_pre, 1)))
    for start in range(0, n_post, rows):                               # blocks of targets
        stop = min(start + rows, n_post)
        d = frame.distance(frame.pre_pos[None, :, :], frame.post_pos[start:stop, None, :])   # (rows, n_pre)
        if drop_self:
            j = np.arange(start, stop)
            d[j - start, j] = np.inf
        pairs += np.bincount(bin_of(d.ravel()), minlength=n_bins + 1)
    pairs = pairs[:n_bins]

    pre, post, weight = connections(projection)
    d_syn = frame.distance(frame.pre_pos[pre], frame.post_pos[post])
    k_syn = bin_of(d_syn)
    synapses = np.bincount(k_syn, minlength=n_bins + 1)[:n_bins]
    sum_weight = np.bincount(k_syn, weights=weight, minlength=n_bins + 1)[:n_bins]
    key = pre * n_post + post
    _, first = np.unique(key, return_index=True)                        # a pair counted once
    connected = np.bincount(k_syn[first], minlength=n_bins + 1)[:n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        probability = np.where(pairs > 0, connected / np.maximum(pairs, 1), np.nan)
        mean_weight = np.where(synapses > 0, sum_weight / np.maximum(synapses, 1), np.nan)
    return {"edges": edges, "centres": 0.5 * (edges[1:] + edges[:-1]), "pairs": pairs,
            "connected": connected, "probability": probability, "synapses": synapses,
            "mean_weight": mean_weight, "sum_weight": sum_weight}


def afferent_displacements(projection):
    """Per synapse: (displacement (n, 3) of the source from the target's position in the source frame,
    wrapped on periodic axes; its distance; the weight; pre; post)."""
    frame = _Frame(projection)
    pre, post, weight = connections(projection)
    disp = frame.displacement(frame.pre_pos[pre], frame.post_pos[post])
    return disp, np.sqrt((disp ** 2).sum(axis=1)), weight, pre, post


# --- Bamford's map metrics -----------------------------------------------------------------------------
def receptive_field_metrics(projection, ideal_positions=None, weighted=True):
    """Receptive-field centre error and spread (sigma_aff) of each target (see the module docstring).

    ideal_positions   (n_post, 3) ideal receptive-field centre of each target in the source frame; default:
                      the target's own position mapped into the source frame by the projection's Space
                      (scale_factor, offset), i.e. the target's own position when the layers share their
                      geometry. For layers of different geometry give the Space a scale_factor/offset that
                      maps one onto the other, or pass ideal_positions.
    weighted          weight each afferent by its synaptic weight (Bamford's definition); False counts
                      every synapse once.

    Returns a dict: mean_centre_error, mean_sigma_aff (over targets with afferents of positive total
    weight), n_targets, n_included, n_excluded (targets without such afferents), mean_k_eff,
    mean_sigma_aff_unbiased (see the module docstring), and per target centre (n_post, 3; NaN for excluded
    targets), centre_error, sigma_aff, k_eff, sigma_aff_unbiased (NaN for excluded), total_weight.
    """
    frame = _Frame(projection)
    n_post = frame.post_pos.shape[0]
    ideal = frame.post_pos if ideal_positions is None else np.asarray(ideal_positions, float).reshape(n_post, 3)
    pre, post, weight = connections(projection)
    w = np.abs(weight) if weighted else np.ones_like(weight)
    x = frame.pre_pos[pre]                                               # (n_syn, 3) afferent positions
    total = np.bincount(post, weights=w, minlength=n_post)
    included = total > 0
    safe_total = np.where(included, total, 1.0)

    centre = np.full((n_post, 3), np.nan)
    for axis in range(3):
        if axis not in frame.axes:
            centre[:, axis] = ideal[:, axis]                             # not part of the metric
            continue
        span = frame.span[axis]
        if span is None:
            centre[:, axis] = np.bincount(post, weights=w * x[:, axis], minlength=n_post) / safe_total
        else:
            theta = 2.0 * np.pi * (x[:, axis] - frame.lo[axis]) / span
            s = np.bincount(post, weights=w * np.sin(theta), minlength=n_post)
            c = np.bincount(post, weights=w * np.cos(theta), minlength=n_post)
            angle = np.mod(np.arctan2(s, c), 2.0 * np.pi)
            centre[:, axis] = frame.lo[axis] + span * angle / (2.0 * np.pi)
    centre[~included] = np.nan

    error = frame.distance(centre, ideal)
    d2 = (frame.displacement(x, centre[post]) ** 2).sum(axis=1)
    sigma = np.sqrt(np.bincount(post, weights=w * np.nan_to_num(d2), minlength=n_post) / safe_total)
    error[~included] = np.nan
    sigma[~included] = np.nan
    k_eff = np.where(included, total ** 2 / np.maximum(np.bincount(post, weights=w * w, minlength=n_post),
                                                        1e-300), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        unbiased = np.where(k_eff > 1.0 + 1e-9, sigma / np.sqrt(1.0 - 1.0 / k_eff), np.nan)
    n_inc = int(included.sum())

    def mean(x):
        return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")

    return {"mean_centre_error": mean(error), "mean_sigma_aff": mean(sigma),
            "n_targets": int(n_post), "n_included": n_inc, "n_excluded": int(n_post - n_inc),
            "mean_k_eff": mean(k_eff), "mean_sigma_aff_unbiased": mean(unbiased),
            "centre": centre, "centre_error": error, "sigma_aff": sigma, "k_eff": k_eff,
            "sigma_aff_unbiased": unbiased, "total_weight": total}


def _padded_by_target(post, values, n_post, order):
    """values (one per synapse, already in `order`) laid out as an (n_post, k_max) matrix, row j holding
    target j's synapses; returns the matrix (NaN padding) and the count per target."""
    count = np.bincount(post, minlength=n_post)
    k_max = int(count.max()) if count.size else 0
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    sorted_post = post[order]
    rank = np.arange(post.size) - start[sorted_post]
    out = np.full((n_post, max(k_max, 1)), np.nan)
    out[sorted_post, rank] = values
    return out, count


def bamford_metrics(projection, ideal_positions=None, weighted=True):
    """Receptive-field centre error and spread as Bamford et al. (2010) compute them.

    Per target and per axis of the Space, the centre is the position c that minimises the weighted
    variance sum_i w_i wrap(x_i - c)^2 / sum_i w_i of the afferents (on a periodic axis the minimum is
    taken over every way of cutting the circle, so it is exact, not a grid search); the axis's spread is the
    square root of that minimum. sigma_aff is the mean of the per-axis spreads over the axes along which the
    sources are spread out (for a Grid2D layer x and y, not z). It is a per-axis standard deviation, about
    1/sqrt(2) of receptive_field_metrics' 2-D RMS distance for a round field. The centre error is the
    distance of the centre from the ideal position, as in receptive_field_metrics. weighted=False counts
    each synapse once (Bamford's connectivity-based variant).

    Returns a dict: mean_centre_error, mean_sigma_aff, n_included, n_excluded, centre (n_post, 3),
    centre_error, sigma_aff, sigma_axis (n_post, number of those axes)."""
    frame = _Frame(projection)
    n_post = frame.post_pos.shape[0]
    ideal = frame.post_pos if ideal_positions is None else np.asarray(ideal_positions, float).reshape(n_post, 3)
    pre, post, weight = connections(projection)
    w = np.abs(weight) if weighted else np.ones_like(weight)
    total = np.bincount(post, weights=w, minlength=n_post)
    included = total > 0
    centre = ideal.copy()
    axes = [a for a in frame.axes if np.ptp(frame.pre_pos[:, a]) > 0] or frame.axes   # a layer's own axes
    safe = np.where(included, total, 1.0)
    sigma_axis = np.full((n_post, len(axes)), np.nan)
    for a_index, axis in enumerate(axes):
        x = frame.pre_pos[pre, axis]
        order = np.lexsort((x, post))                       # by target, then position
        X, count = _padded_by_target(post, x[order], n_post, order)
        W, _ = _padded_by_target(post, w[order], n_post, order)
        W = np.nan_to_num(W)
        valid = ~np.isnan(X)
        X0 = np.where(valid, X, 0.0)
        span = frame.span[axis]
        if span is None:
            mean = (W * X0).sum(axis=1) / safe
            var = (W * (X0 - mean[:, None]) ** 2).sum(axis=1) / safe
        else:
            lo = frame.lo[axis]
            X0 = lo + np.mod(X0 - lo, span)
            best_var = np.full(n_post, np.inf)
            mean = np.zeros(n_post)
            for k in range(X.shape[1]):                     # cut the circle just before the k-th afferent
                has = count > k
                U = np.where(X0 < X0[:, k:k + 1], X0 + span, X0)
                m = (W * U).sum(axis=1) / safe
                v = (W * (U - m[:, None]) ** 2).sum(axis=1) / safe
                better = has & (v < best_var)
                best_var = np.where(better, v, best_var)
                mean = np.where(better, m, mean)
            var = best_var
            mean = lo + np.mod(mean - lo, span)
        centre[:, axis] = np.where(included, mean, np.nan)
        sigma_axis[:, a_index] = np.where(included, np.sqrt(np.maximum(var, 0.0)), np.nan)
    centre[~included] = np.nan
    error = np.where(included, frame.distance(centre, ideal), np.nan)
    sigma = sigma_axis.mean(axis=1)

    def mean_of(v):
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    n_inc = int(included.sum())
    return {"mean_centre_error": mean_of(error), "mean_sigma_aff": mean_of(sigma), "n_included": n_inc,
            "n_excluded": int(n_post - n_inc), "centre": centre, "centre_error": error, "sigma_aff": sigma,
            "sigma_axis": sigma_axis}
