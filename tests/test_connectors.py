"""Every PyNN connector through the vectorised builders: the connections they make (exactly, where the rule
is deterministic; within binomial bounds, where it is random), the synapse parameters evaluated at each
pair, the storage options, and the generic fallback."""

import numpy as np
import pytest
from pyNN import errors
from pyNN.core import IndexBasedExpression
from pyNN.random import NumpyRNG, RandomDistribution
from pyNN.space import Grid2D, Line, Space

from pynn_sparsegpu import connectors as native
from pynn_sparsegpu.engine.generation import CounterStream


def pairs(prj):
    pre, post = prj._coo()[:2]
    return pre, post


def pair_set(prj):
    return set(zip(*(x.tolist() for x in pairs(prj))))


@pytest.fixture
def net(sim):
    sim.setup(timestep=0.1, min_delay=0.1, spike_precision="on_grid")   # the grid engine's rows
    return sim


def test_all_to_all_with_and_without_self_connections(net):
    sim = net
    p = sim.Population(7, sim.IF_curr_exp())
    q = sim.Population(5, sim.IF_curr_exp())
    assert len(sim.Projection(p, q, sim.AllToAllConnector())) == 35
    prj = sim.Projection(p, p, sim.AllToAllConnector(allow_self_connections=False))
    assert pair_set(prj) == {(i, j) for i in range(7) for j in range(7) if i != j}
    # views are compared by cell identity, as in PyNN: p[0:5] -> p[3:7] shares cells 3 and 4
    prj = sim.Projection(p[0:5], p[3:7], sim.AllToAllConnector(allow_self_connections=False))
    assert len(prj) == 5 * 4 - 2
    assert (3, 0) not in pair_set(prj) and (4, 1) not in pair_set(prj)
    prj = sim.Projection(p, p, sim.FixedProbabilityConnector(1.0, allow_self_connections="NoMutual"))
    assert pair_set(prj) == {(i, j) for i in range(7) for j in range(7) if i > j}


@pytest.mark.parametrize("n", [1, 2, 50])
def test_one_to_one_any_size_including_one(net, n):
    """PyNN 0.13's generic OneToOne path fails for size-1 populations on NumPy >= 2.1; ours must not."""
    sim = net
    a = sim.Population(n, sim.SpikeSourceArray(spike_times=[1.0]))
    b = sim.Population(n, sim.IF_curr_exp())
    prj = sim.Projection(a, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.5, delay=1.0))
    assert pair_set(prj) == {(i, i) for i in range(n)}
    assert np.all(prj.get("weight", format="array")[np.arange(n), np.arange(n)] == 0.5)


@pytest.mark.parametrize("p", [0.02, 0.1, 0.5])
def test_fixed_probability_counts_within_binomial_bounds(net, p):
    sim = net
    a, b = sim.Population(300, sim.IF_curr_exp()), sim.Population(200, sim.IF_curr_exp())
    prj = sim.Projection(a, b, sim.FixedProbabilityConnector(p, rng=NumpyRNG(seed=7)))
    n_pairs = 300 * 200
    mean, sd = n_pairs * p, np.sqrt(n_pairs * p * (1 - p))
    assert abs(len(prj) - mean) < 5 * sd
    pre, post = pairs(prj)
    assert len(pair_set(prj)) == len(prj)                       # Bernoulli per pair: no duplicates
    # every region of the matrix is hit at the same rate (no skipping artefact)
    quarter = (pre < 150).astype(int) * 2 + (post < 100)
    counts = np.bincount(quarter, minlength=4)
    q_mean, q_sd = n_pairs / 4 * p, np.sqrt(n_pairs / 4 * p * (1 - p))
    assert np.all(np.abs(counts - q_mean) < 5 * q_sd), counts


def test_fixed_probability_seed_reproduces_and_self_connections(net):
    sim = net
    a = sim.Population(100, sim.IF_curr_exp())
    c1 = sim.Projection(a, a, sim.FixedProbabilityConnector(0.1, rng=NumpyRNG(seed=3)))
    c2 = sim.Projection(a, a, sim.FixedProbabilityConnector(0.1, rng=NumpyRNG(seed=3)))
    c3 = sim.Projection(a, a, sim.FixedProbabilityConnector(0.1, rng=NumpyRNG(seed=4)))
    assert pair_set(c1) == pair_set(c2) != pair_set(c3)
    c4 = sim.Projection(a, a, sim.FixedProbabilityConnector(0.3, allow_self_connections=False,
                                                            rng=NumpyRNG(seed=5)))
    pre, post = pairs(c4)
    assert not np.any(pre == post)
    assert len(sim.Projection(a, a, sim.FixedProbabilityConnector(0.0))) == 0
    assert len(sim.Projection(a, a, sim.FixedProbabilityConnector(1.0, allow_self_connections=False))) == 9900


@pytest.mark.parametrize("with_replacement", [False, True])
def test_fixed_number_pre_exact_in_degree(net, with_replacement):
    sim = net
    a = sim.Population(40, sim.IF_curr_exp())
    prj = sim.Projection(a, a, sim.FixedNumberPreConnector(7, with_replacement=with_replacement,
                                                           allow_self_connections=False,
                                                           rng=NumpyRNG(seed=11)))
    pre, post = pairs(prj)
    assert np.all(np.bincount(post, minlength=40) == 7)
    assert not np.any(pre == post)
    if not with_replacement:
        assert len(pair_set(prj)) == len(prj)


def test_fixed_number_post_exact_out_degree_and_full_sets(net):
    sim = net
    a, b = sim.Population(30, sim.IF_curr_exp()), sim.Population(4, sim.IF_curr_exp())
    prj = sim.Projection(a, b, sim.FixedNumberPostConnector(3, rng=NumpyRNG(seed=2)))
    pre, post = pairs(prj)
    assert np.all(np.bincount(pre, minlength=30) == 3)
    assert len(pair_set(prj)) == len(prj)
    # n larger than the population without replacement: refused, as NEST refuses it (PyNN's generic rule would
    # repeat every target n // 4 times); with replacement, n draws each
    with pytest.raises(errors.ConnectionError):
        sim.Projection(a, b, sim.FixedNumberPostConnector(9, rng=NumpyRNG(seed=2)))
    prj = sim.Projection(a, b, sim.FixedNumberPostConnector(9, with_replacement=True, rng=NumpyRNG(seed=2)))
    pre, post = pairs(prj)
    assert np.all(np.bincount(pre, minlength=30) == 9)


def test_fixed_number_pre_with_random_counts(net):
    sim = net
    a, b = sim.Population(50, sim.IF_curr_exp()), sim.Population(60, sim.IF_curr_exp())
    n = RandomDistribution("uniform_int", low=2, high=9, rng=NumpyRNG(seed=1))
    prj = sim.Projection(a, b, sim.FixedNumberPreConnector(n, rng=NumpyRNG(seed=2)))
    counts = np.bincount(pairs(prj)[1], minlength=60)
    assert counts.min() >= 2 and counts.max() <= 8 and len(set(counts.tolist())) > 3


def test_distinct_sampling_is_uniform():
    """Each owner's subset is uniform over the allowed items (chi-square on 20000 owners)."""
    counts = np.full(20000, 3)
    exclude = np.arange(20000) % 10
    owner, value = native._sample_distinct(CounterStream(np, 12345), 10, counts, exclude)
    assert np.all(np.bincount(owner) == 3)
    assert not np.any(value == exclude[owner])
    pairs_ = owner * 10 + value
    assert np.unique(pairs_).size == pairs_.size
    # frequency of each (excluded item, chosen item) combination: expected 20000/10 * 3/9 each
    table = np.zeros((10, 10))
    np.add.at(table, (exclude[owner], value), 1)
    expected = 2000 * 3 / 9
    off = ~np.eye(10, dtype=bool)
    chi2 = np.sum((table[off] - expected) ** 2 / expected)
    assert chi2 < 90 * 2.0, chi2              # 90 cells; a biased sampler gives thousands
    assert np.all(table[~off] == 0)


def test_fixed_total_number(net):
    sim = net
    a, b = sim.Population(20, sim.IF_curr_exp()), sim.Population(30, sim.IF_curr_exp())
    prj = sim.Projection(a, b, sim.FixedTotalNumberConnector(250, with_replacement=False, rng=NumpyRNG(seed=3)))
    assert len(prj) == 250 and len(pair_set(prj)) == 250
    prj = sim.Projection(a, a, sim.FixedTotalNumberConnector(300, allow_self_connections=False,
                                                             rng=NumpyRNG(seed=3)))
    pre, post = pairs(prj)
    assert len(prj) == 300 and not np.any(pre == post)
    with pytest.raises(Exception, match="n=700"):
        sim.Projection(a, b, sim.FixedTotalNumberConnector(700, with_replacement=False))


def test_distance_dependent_probability_is_exact_for_a_step_function(net):
    sim = net
    a = sim.Population(10, sim.IF_curr_exp(), structure=Line(dx=1.0))
    prj = sim.Projection(a, a, sim.DistanceDependentProbabilityConnector("d < 1.5", allow_self_connections=False))
    assert pair_set(prj) == {(i, j) for i in range(10) for j in range(10) if abs(i - j) == 1}
    # periodic boundaries join the ends
    prj = sim.Projection(a, a, sim.DistanceDependentProbabilityConnector("d < 1.5", allow_self_connections=False),
                         space=Space(periodic_boundaries=((0, 10), None, None)))
    assert (0, 9) in pair_set(prj) and (9, 0) in pair_set(prj) and len(prj) == 20


def test_distance_dependent_probability_statistics(net):
    sim = net
    a = sim.Population(400, sim.IF_curr_exp(), structure=Grid2D(dx=1.0, dy=1.0))
    prj = sim.Projection(a, a, sim.DistanceDependentProbabilityConnector("exp(-d/3.0)", rng=NumpyRNG(seed=9)))
    pos = a.positions.T
    d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    expected = np.exp(-d / 3.0)
    mean, sd = expected.sum(), np.sqrt((expected * (1 - expected)).sum())
    assert abs(len(prj) - mean) < 5 * sd
    pre, post = pairs(prj)
    assert np.mean(d[pre, post]) < np.mean(d) / 2          # short connections dominate


def test_displacement_and_index_based_probability(net):
    sim = net
    a = sim.Population(6, sim.IF_curr_exp(), structure=Line(dx=1.0))
    prj = sim.Projection(a, a, sim.DisplacementDependentProbabilityConnector(lambda d: d[0] == 1.0))
    assert pair_set(prj) == {(i, i + 1) for i in range(5)}          # post x - pre x == 1

    class EveryThird(IndexBasedExpression):
        def __call__(self, i, j):
            return ((i + j) % 3 == 0).astype(float)

    prj = sim.Projection(a, a, sim.IndexBasedProbabilityConnector(EveryThird()))
    assert pair_set(prj) == {(i, j) for i in range(6) for j in range(6) if (i + j) % 3 == 0}


def test_small_world_without_and_with_rewiring(net):
    sim = net
    a = sim.Population(30, sim.IF_curr_exp(), structure=Line(dx=1.0))
    local = {(i, j) for i in range(30) for j in range(30) if 0 < abs(i - j) < 2.5}
    prj = sim.Projection(a, a, sim.SmallWorldConnector(degree=2.5, rewiring=0.0, allow_self_connections=False))
    assert pair_set(prj) == local
    prj = sim.Projection(a, a, sim.SmallWorldConnector(degree=2.5, rewiring=1.0, allow_self_connections=False,
                                                       rng=NumpyRNG(seed=1)))
    pre, post = pairs(prj)
    assert len(prj) == len(local) and not np.any(pre == post)
    assert np.all(np.bincount(pre, minlength=30) == np.bincount([i for i, _ in local], minlength=30))
    assert len(pair_set(prj) - local) > len(local) // 2           # most targets moved
    prj = sim.Projection(a, a, sim.SmallWorldConnector(degree=2.5, rewiring=0.0, n_connections=2,
                                                       allow_self_connections=False, rng=NumpyRNG(seed=1)))
    assert np.all(np.bincount(pairs(prj)[0], minlength=30) == 2) and pair_set(prj) <= local


def test_from_list_columns_and_defaults(net):
    sim = net
    a, b = sim.Population(4, sim.IF_curr_exp()), sim.Population(3, sim.IF_curr_exp())
    conn = [(0, 1, 0.5, 1.0), (3, 2, 0.25, 2.5), (0, 1, 0.125, 0.3)]       # two synapses on one pair
    prj = sim.Projection(a, b, sim.FromListConnector(conn))
    got = sorted(prj.get(["weight", "delay"], format="list"))
    assert got == sorted((i, j, w, pytest.approx(d)) for i, j, w, d in conn)
    prj = sim.Projection(a, b, sim.FromListConnector([(1, 0), (2, 2)]), sim.StaticSynapse(weight=0.7, delay=0.4))
    assert sorted(prj.get(["weight", "delay"], format="list")) == [(1, 0, 0.7, pytest.approx(0.4)),
                                                                    (2, 2, 0.7, pytest.approx(0.4))]
    with pytest.raises(Exception, match="target index 5"):
        sim.Projection(a, b, sim.FromListConnector([(0, 5, 0.1, 1.0)]))


def test_from_file_round_trip(net, tmp_path):
    sim = net
    a, b = sim.Population(10, sim.IF_curr_exp()), sim.Population(8, sim.IF_curr_exp())
    syn = sim.StaticSynapse(weight=RandomDistribution("uniform", low=0.1, high=0.2, rng=NumpyRNG(seed=1)),
                            delay=RandomDistribution("uniform", low=0.5, high=2.0, rng=NumpyRNG(seed=2)))
    prj = sim.Projection(a, b, sim.FixedProbabilityConnector(0.3, rng=NumpyRNG(seed=4)), syn)
    path = str(tmp_path / "conns.txt")
    prj.save(["weight", "delay"], path, format="list")
    copy = sim.Projection(a, b, sim.FromFileConnector(path))
    np.testing.assert_allclose(np.array(copy.get(["weight", "delay"], format="list")),
                               np.array(prj.get(["weight", "delay"], format="list")), rtol=1e-6)


def test_array_and_clone_connectors(net):
    sim = net
    a, b = sim.Population(5, sim.IF_curr_exp()), sim.Population(4, sim.IF_curr_exp())
    mask = np.random.RandomState(0).rand(5, 4) < 0.5
    prj = sim.Projection(a, b, sim.ArrayConnector(mask), sim.StaticSynapse(weight=0.3))
    assert pair_set(prj) == set(zip(*np.nonzero(mask)))
    clone = sim.Projection(a, b, sim.CloneConnector(prj), sim.StaticSynapse(weight=0.9))
    assert pair_set(clone) == pair_set(prj)
    assert np.all(np.array(clone.get("weight", format="list"))[:, 2] == 0.9)
    with pytest.raises(Exception, match="must match"):
        sim.Projection(b, a, sim.CloneConnector(prj))


def test_parameters_evaluated_at_each_pair(net):
    sim = net
    a = sim.Population(12, sim.IF_curr_exp(), structure=Line(dx=2.0))
    b = sim.Population(9, sim.IF_curr_exp(), structure=Line(dx=3.0, x0=1.0))
    # a function of distance, a 2-D array, a random distribution
    prj = sim.Projection(a, b, sim.FixedProbabilityConnector(0.5, rng=NumpyRNG(seed=1)),
                         sim.StaticSynapse(weight="0.01 * d + 0.1", delay=1.0))
    pre, post, w, _ = prj._coo()
    d = np.abs(a.positions[0][pre] - b.positions[0][post])
    np.testing.assert_allclose(w, 0.01 * d + 0.1)
    matrix = np.arange(12 * 9, dtype=float).reshape(12, 9) / 100 + 0.1
    prj = sim.Projection(a, b, sim.FixedProbabilityConnector(0.5, rng=NumpyRNG(seed=2)),
                         sim.StaticSynapse(weight=matrix, delay=matrix * 10))
    pre, post, w, dl = prj._coo()
    np.testing.assert_allclose(w, matrix[pre, post])
    np.testing.assert_allclose(dl, np.round(matrix[pre, post] * 10 / 0.1) * 0.1)
    prj = sim.Projection(a, b, sim.AllToAllConnector(),
                         sim.StaticSynapse(weight=RandomDistribution("normal", mu=1.0, sigma=0.1, rng=NumpyRNG(seed=3))))
    w = prj._coo()[2]
    assert w.size == 108 and np.unique(w).size == 108 and abs(w.mean() - 1.0) < 0.05


def test_bad_weight_sign_is_refused_before_anything_is_stored(net):
    sim = net
    a, b = sim.Population(5, sim.IF_cond_exp()), sim.Population(5, sim.IF_cond_exp())
    from pynn_sparsegpu import simulator
    n_before = len(simulator.state.network.projections)
    with pytest.raises(Exception, match="[Ww]eight"):
        sim.Projection(a, b, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.1))
    assert len(simulator.state.network.projections) == n_before


def test_row_capacity_and_spare_fraction(net):
    sim = net
    a, b = sim.Population(20, sim.IF_curr_exp()), sim.Population(50, sim.IF_curr_exp())
    conn = sim.FixedNumberPostConnector(10, rng=NumpyRNG(seed=1))
    prj = sim.Projection(a, b, conn, row_capacity=25)
    sim.run(0.1)
    group = next(iter(prj._groups.values()))
    assert group.rows.capacity == 25 and np.all(group.rows.backend.to_host(group.rows.row_length) == 10)
    prj = sim.Projection(a, b, conn, spare_fraction=0.5)
    sim.run(0.1)
    assert next(iter(prj._groups.values())).rows.capacity == 15
    with pytest.raises(Exception, match="row_capacity=5"):
        sim.Projection(a, b, conn, row_capacity=5)
    with pytest.raises(ValueError, match="spare_fraction=-1"):
        sim.Projection(a, b, conn, spare_fraction=-1)


def test_user_connector_subclass_keeps_its_own_connect(net):
    sim = net
    a, b = sim.Population(3, sim.IF_curr_exp()), sim.Population(3, sim.IF_curr_exp())

    class Reversed(sim.OneToOneConnector):
        def connect(self, projection):
            for j in range(projection.post.size):
                projection._convergent_connect([projection.pre.size - 1 - j], j, weight=0.2, delay=1.0)

    prj = sim.Projection(a, b, Reversed())
    assert pair_set(prj) == {(2, 0), (1, 1), (0, 2)}
