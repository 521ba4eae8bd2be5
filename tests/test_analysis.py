"""pynn_sparsegpu.analysis: degrees, connection probability and mean weight against distance, and the
receptive-field metrics, on connectivity given by hand (FromListConnector) so every number is known, and
the same numbers from a pyNN.nest projection (the path for other backends)."""

import numpy as np
import pytest
from pyNN.space import Grid2D, Line, Space

from pynn_sparsegpu import analysis

SIDE = 8
PERIODIC = Space(periodic_boundaries=((-0.5, SIDE - 0.5), (-0.5, SIDE - 0.5), None))


def _grid(sim, n_side=SIDE):
    return sim.Population(n_side * n_side, sim.IF_curr_exp(),
                          structure=Grid2D(aspect_ratio=1.0, dx=1.0, dy=1.0, fill_order="sequential"))


def _index(x, y, n_side=SIDE):
    """Grid2D(fill_order="sequential") puts neuron k at (k // n_side, k % n_side)."""
    return x * n_side + y


def _project(sim, conns, space=PERIODIC, n_side=SIDE):
    sim.setup(timestep=0.1)
    pre, post = _grid(sim, n_side), _grid(sim, n_side)
    prj = sim.Projection(pre, post, sim.FromListConnector(conns, column_names=["weight", "delay"]),
                         sim.StaticSynapse(), space=space)
    return prj


def test_degrees_count_every_synapse(sim):
    conns = [(0, 1, 0.1, 1.0), (0, 2, 0.1, 1.0), (3, 1, 0.1, 1.0), (5, 1, 0.2, 1.0)]
    prj = _project(sim, conns)
    k_in, k_out = analysis.degrees(prj)
    expected_in = np.zeros(SIDE * SIDE, int)
    expected_in[[1, 2]] = [3, 1]
    expected_out = np.zeros(SIDE * SIDE, int)
    expected_out[[0, 3, 5]] = [2, 1, 1]
    np.testing.assert_array_equal(k_in, expected_in)
    np.testing.assert_array_equal(k_out, expected_out)
    pre, post, w = analysis.connections(prj)
    assert sorted(zip(pre.tolist(), post.tolist(), w.round(6).tolist())) == \
        sorted((i, j, round(x, 6)) for i, j, x, _ in conns)


def test_pairs_per_distance_on_a_periodic_grid(sim):
    """On a periodic 8 x 8 grid every target sees the same multiset of distances: 1 at d = 0, 4 at d = 1,
    4 at sqrt(2), 4 at 2, 8 at sqrt(5), ... ; pairs per bin are 64 times those counts."""
    prj = _project(sim, [(0, 0, 0.1, 1.0)])
    edges = np.array([0.0, 0.5, 1.2, 1.5, 2.1, 2.3])       # bins: 0 | 1 | sqrt 2 | 2 | sqrt 5
    profile = analysis.connectivity_vs_distance(prj, edges)
    np.testing.assert_array_equal(profile["pairs"], 64 * np.array([1, 4, 4, 4, 8]))
    offsets = np.arange(-3, 5)                                # the periodic displacements on one axis
    d = np.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2).ravel()
    assert int((d < 2.3).sum()) == 21                         # 1 + 4 + 4 + 4 + 8
    np.testing.assert_array_equal(profile["connected"], [1, 0, 0, 0, 0])


def test_probability_and_mean_weight_per_distance(sim):
    """Target 0 at (0, 0): two of its four d = 1 neighbours connected (one of them twice, counted once as a
    pair and twice as synapses), one d = 2 neighbour across the periodic edge."""
    t = _index(0, 0)
    conns = [(_index(1, 0), t, 0.2, 1.0), (_index(0, 1), t, 0.4, 1.0), (_index(0, 1), t, 0.6, 1.0),
             (_index(SIDE - 2, 0), t, 1.0, 1.0)]
    prj = _project(sim, conns)
    profile = analysis.connectivity_vs_distance(prj, [0.0, 0.5, 1.2, 1.5, 2.1])
    np.testing.assert_array_equal(profile["connected"], [0, 2, 0, 1])
    np.testing.assert_array_equal(profile["synapses"], [0, 3, 0, 1])
    np.testing.assert_allclose(profile["probability"], [0, 2 / 256, 0, 1 / 256])
    np.testing.assert_allclose(profile["mean_weight"][[1, 3]], [0.4, 1.0])
    assert np.isnan(profile["mean_weight"][0])


def test_receptive_field_centre_and_spread_by_hand(sim):
    """Target (0, 0) with afferents at (1, 0) weight 3 and (SIDE - 1, 0) = (-1, 0) across the periodic edge
    weight 1: the circular mean on x is atan2(3 sin a - sin a, 3 cos a + cos a) / a with a = 2 pi / 8,
    the centre error its distance from 0, sigma_aff the weighted RMS periodic distance from the centre."""
    t = _index(0, 0)
    prj = _project(sim, [(_index(1, 0), t, 3.0, 1.0), (_index(SIDE - 1, 0), t, 1.0, 1.0)])
    rf = analysis.receptive_field_metrics(prj)
    a = 2 * np.pi / SIDE
    cx = np.arctan2(3 * np.sin(a) - np.sin(a), 3 * np.cos(a) + np.cos(a)) / a
    np.testing.assert_allclose(rf["centre"][t, :2], [cx, 0.0], atol=1e-12)
    np.testing.assert_allclose(rf["centre_error"][t], cx)
    sigma = np.sqrt((3 * (1 - cx) ** 2 + (1 + cx) ** 2) / 4)
    np.testing.assert_allclose(rf["sigma_aff"][t], sigma)
    assert rf["k_eff"][t] == pytest.approx(16 / 10)
    assert rf["sigma_aff_unbiased"][t] == pytest.approx(sigma / np.sqrt(1 - 10 / 16))
    assert rf["n_included"] == 1 and rf["n_excluded"] == SIDE * SIDE - 1
    assert rf["mean_sigma_aff"] == pytest.approx(sigma)
    unweighted = analysis.receptive_field_metrics(prj, weighted=False)
    np.testing.assert_allclose(unweighted["centre"][t, :2], [0.0, 0.0], atol=1e-12)
    assert unweighted["sigma_aff"][t] == pytest.approx(1.0)


def test_a_perfect_map_has_no_centre_error(sim):
    """Every target receives its own-position source and the four nearest ones with equal weights (a
    topographic map): centre error 0 everywhere, sigma_aff sqrt(4 / 5), also across the periodic edges."""
    conns = []
    for x in range(SIDE):
        for y in range(SIDE):
            t = _index(x, y)
            for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                conns.append((_index((x + dx) % SIDE, (y + dy) % SIDE), t, 0.5, 1.0))
    rf = analysis.receptive_field_metrics(_project(sim, conns))
    np.testing.assert_allclose(rf["centre_error"], 0.0, atol=1e-9)
    np.testing.assert_allclose(rf["sigma_aff"], np.sqrt(4 / 5))
    assert rf["n_excluded"] == 0


def test_non_periodic_space_uses_plain_means(sim):
    """Without periodic boundaries the afferents at x = 1 and x = 7 of target x = 0 average to 4."""
    t = _index(0, 0)
    prj = _project(sim, [(_index(1, 0), t, 1.0, 1.0), (_index(7, 0), t, 1.0, 1.0)], space=Space())
    rf = analysis.receptive_field_metrics(prj)
    np.testing.assert_allclose(rf["centre"][t, :2], [4.0, 0.0])
    assert rf["centre_error"][t] == pytest.approx(4.0)
    assert rf["sigma_aff"][t] == pytest.approx(3.0)


def test_one_dimensional_layers(sim):
    sim.setup(timestep=0.1)
    pre = sim.Population(10, sim.IF_curr_exp(), structure=Line(dx=1.0))
    post = sim.Population(10, sim.IF_curr_exp(), structure=Line(dx=1.0))
    prj = sim.Projection(pre, post, sim.FromListConnector([(2, 3, 1.0, 1.0), (4, 3, 1.0, 1.0)],
                                                          column_names=["weight", "delay"]),
                         sim.StaticSynapse(), space=Space(axes="x"))
    rf = analysis.receptive_field_metrics(prj)
    assert rf["centre"][3, 0] == pytest.approx(3.0)
    assert rf["centre_error"][3] == pytest.approx(0.0)
    assert rf["sigma_aff"][3] == pytest.approx(1.0)


def test_bins_must_increase(sim):
    prj = _project(sim, [(0, 0, 0.1, 1.0)])
    with pytest.raises(ValueError, match="bins"):
        analysis.connectivity_vs_distance(prj, [0.0, 2.0, 1.0])


@pytest.mark.nest
def test_same_numbers_from_a_nest_projection(sim, nest_sim):
    """The other-backend path (Projection.get) gives what sparsegpu's synapse table gives."""
    rng = np.random.default_rng(5)
    pre_ix = rng.integers(0, SIDE * SIDE, 300)
    post_ix = rng.integers(0, SIDE * SIDE, 300)
    pairs = sorted(set(zip(pre_ix.tolist(), post_ix.tolist())))
    conns = [(i, j, float(0.1 + 0.01 * (k % 7)), 1.0) for k, (i, j) in enumerate(pairs)]
    out = []
    for s in (sim, nest_sim):
        prj = _project(s, conns)
        out.append((analysis.degrees(prj), analysis.connectivity_vs_distance(prj, np.arange(0, 6.5, 0.5)),
                    analysis.receptive_field_metrics(prj)))
        s.end()
    (deg_a, prof_a, rf_a), (deg_b, prof_b, rf_b) = out
    for a, b in zip(deg_a, deg_b):
        np.testing.assert_array_equal(a, b)
    for key in ("pairs", "connected", "synapses"):
        np.testing.assert_array_equal(prof_a[key], prof_b[key])
    np.testing.assert_allclose(prof_a["mean_weight"], prof_b["mean_weight"], equal_nan=True, rtol=1e-6)
    for key in ("mean_centre_error", "mean_sigma_aff", "mean_k_eff"):
        assert rf_a[key] == pytest.approx(rf_b[key], rel=1e-6)


def test_bamford_metrics_by_hand(sim):
    """Bamford's centre minimises the weighted variance on each axis; afferents at x = 0 (three) and x = 3
    of target (0, 0) on the 8-periodic grid: the best cut keeps them in [0, 3], centre 0.75, variance
    (3 x 0.75^2 + 2.25^2) / 4 = 1.6875 on x and 0 on y, so sigma_aff = sqrt(1.6875) / 2. The circular mean
    (receptive_field_metrics) puts the centre elsewhere: atan2(sin 3a, 3 + cos 3a) / a with a = 2 pi / 8."""
    t = _index(0, 0)
    conns = [(_index(0, 0), t, 1.0, 1.0), (_index(0, 0), t, 1.0, 1.0), (_index(0, 0), t, 1.0, 1.0),
             (_index(3, 0), t, 1.0, 1.0)]
    prj = _project(sim, conns)
    b = analysis.bamford_metrics(prj)
    np.testing.assert_allclose(b["centre"][t, :2], [0.75, 0.0], atol=1e-12)
    np.testing.assert_allclose(b["sigma_axis"][t], [np.sqrt(1.6875), 0.0], atol=1e-12)
    assert b["sigma_aff"][t] == pytest.approx(np.sqrt(1.6875) / 2)
    assert b["centre_error"][t] == pytest.approx(0.75)
    assert b["n_included"] == 1
    a = 2 * np.pi / SIDE
    circular = analysis.receptive_field_metrics(prj)["centre"][t, 0]
    assert circular == pytest.approx(np.arctan2(np.sin(3 * a), 3 + np.cos(3 * a)) / a)
    assert abs(circular - 0.75) > 0.3


def test_bamford_metrics_equal_a_dense_search(sim):
    """On random afferents with random weights the exact minimum over cuts equals the minimum of the
    periodic weighted variance over 16,000 candidate centres per axis (to the grid's resolution)."""
    rng = np.random.default_rng(11)
    n = SIDE * SIDE
    pre_ix, post_ix = rng.integers(0, n, 600), rng.integers(0, n, 600)
    weights = rng.uniform(0.05, 1.0, 600)
    prj = _project(sim, [(int(i), int(j), float(x), 1.0) for i, j, x in zip(pre_ix, post_ix, weights)])
    b = analysis.bamford_metrics(prj)
    pre, post, w = analysis.connections(prj)
    pos = np.asarray(prj.pre.positions).T
    candidates = np.linspace(-0.5, SIDE - 0.5, 16000, endpoint=False)
    for j in np.unique(post)[:20]:
        sel = post == j
        for axis in (0, 1):
            d = pos[pre[sel], axis][:, None] - candidates[None, :]
            d -= SIDE * np.round(d / SIDE)
            var = (w[sel, None] * d ** 2).sum(axis=0) / w[sel].sum()
            assert b["sigma_axis"][j, axis] == pytest.approx(np.sqrt(var.min()), abs=2e-4)
            best = candidates[np.argmin(var)]
            gap = abs(b["centre"][j, axis] - best)
            assert min(gap, SIDE - gap) < 0.01
