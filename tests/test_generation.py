"""The counter-based random stream that connectors build from, and connectivity generated on the device.

The stream (engine.generation.CounterStream) must be uniform, reproducible from its key, the same however
its reads are split, and independent between keys. Connectors draw a key from their PyNN rng, so a seed
reproduces a network and projections sharing an rng differ. On a GPU, the index-arithmetic connectors
must build on the device and make exactly the connections the NumPy build makes for the same seed.
"""

import numpy as np
import pytest
from pyNN.random import NativeRNG as PyNNNativeRNG
from pyNN.random import NumpyRNG, RandomDistribution
from scipy import stats

from conftest import GPU
from pynn_sparsegpu.engine.generation import CounterStream, repeat_index


# --- the stream ------------------------------------------------------------------------------------
def test_uniform_is_uniform_and_in_range():
    u = CounterStream(np, 7).uniform(200_000)
    assert u.dtype == np.float64 and u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 0.01
    # consecutive values are uncorrelated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_reads_split_anywhere_give_the_same_values_and_keys_reproduce():
    a = CounterStream(np, 99)
    pieces = np.concatenate([a.uniform(5), a.uniform(0), a.uniform(1000), a.uniform(17)])
    assert np.array_equal(pieces, CounterStream(np, 99).uniform(1022))
    assert a.position == 1022


def test_different_keys_are_independent():
    u, v = CounterStream(np, 1).uniform(100_000), CounterStream(np, 2).uniform(100_000)
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.015
    assert not np.array_equal(u[:10], v[:10])


def test_known_values_pin_the_generator():
    """SplitMix64 at positions 1..3 of key 0: the published SplitMix64 outputs for seed 0."""
    bits = CounterStream(np, 0).bits(3)
    assert [int(b) for b in bits] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_below_is_uniform_for_scalar_and_per_element_bounds():
    s = CounterStream(np, 3)
    v = s.below(7, 70_000)
    assert v.min() == 0 and v.max() == 6
    assert stats.chisquare(np.bincount(v, minlength=7)).pvalue > 0.01
    high = np.repeat(np.array([1, 2, 5, 13]), 20_000)
    w = s.below(high)
    assert np.all((w >= 0) & (w < high))
    for h in (2, 5, 13):
        assert stats.chisquare(np.bincount(w[high == h], minlength=h)).pvalue > 0.01
    assert np.all(w[high == 1] == 0)


@pytest.mark.parametrize("p", [0.3, 0.01])
def test_geometric_matches_its_distribution(p):
    g = CounterStream(np, 5).geometric(p, 1_000_000)
    assert g.min() >= 1
    assert abs(g.mean() - 1 / p) < 4 * np.sqrt((1 - p) / p ** 2 / g.size)
    k = np.arange(1, 8)
    observed = np.array([np.sum(g == x) for x in k] + [np.sum(g >= 8)])
    expected = np.append((1 - p) ** (k - 1) * p, (1 - p) ** 7) * g.size
    assert stats.chisquare(observed, expected).pvalue > 0.01


def test_repeat_index_is_numpy_repeat():
    counts = np.array([0, 3, 1, 0, 5, 0])
    assert np.array_equal(repeat_index(np, counts), np.repeat(np.arange(6), counts))
    assert repeat_index(np, np.zeros(0, int)).size == 0


# --- keys from PyNN rngs --------------------------------------------------------------------------------
def _pairs(prj):
    pre, post = prj._coo()[:2]
    return set(zip(pre.tolist(), post.tolist()))


def test_a_seed_reproduces_and_a_shared_rng_gives_different_projections(sim):
    def build(seed):
        sim.setup(timestep=0.1)
        p = sim.Population(200, sim.IF_curr_exp())
        rng = NumpyRNG(seed=seed)
        a = sim.Projection(p, p, sim.FixedProbabilityConnector(0.05, rng=rng))
        b = sim.Projection(p, p, sim.FixedProbabilityConnector(0.05, rng=rng))
        return _pairs(a), _pairs(b)

    a1, b1 = build(11)
    a2, b2 = build(11)
    a3, _ = build(12)
    assert a1 == a2 and b1 == b2
    assert a1 != b1 and a1 != a3
    assert len(a1 & b1) < 0.15 * len(a1)        # independent: overlap ~ p * size


def test_rngs_without_a_generator_of_their_own_use_their_seed_or_the_simulator_seed(sim):
    """PyNN's NativeRNG has no generator: its seed, or else the seed given to setup(), keys the streams,
    one fresh key per projection."""
    def build(rng_seed, make_rng):
        sim.setup(timestep=0.1, rng_seed=rng_seed)
        p = sim.Population(100, sim.IF_curr_exp())
        a = sim.Projection(p, p, sim.FixedNumberPreConnector(5, rng=make_rng()))
        b = sim.Projection(p, p, sim.FixedNumberPreConnector(5, rng=make_rng()))
        return _pairs(a), _pairs(b)

    seeded = lambda: PyNNNativeRNG(seed=4)                    # noqa: E731
    a1, b1 = build(None, seeded)
    a2, b2 = build(None, seeded)
    assert (a1, b1) == (a2, b2) and a1 != b1
    unseeded = lambda: PyNNNativeRNG()                        # noqa: E731
    c1, d1 = build(8, unseeded)
    c2, d2 = build(8, unseeded)
    e1, _ = build(9, unseeded)
    assert (c1, d1) == (c2, d2) and c1 != d1 and c1 != e1


# --- generation on the device --------------------------------------------------------------------------
CONNECTORS = {
    "all_to_all_no_self": lambda sim, rng: sim.AllToAllConnector(allow_self_connections=False),
    "one_to_one": lambda sim, rng: sim.OneToOneConnector(),
    "fixed_probability_sparse": lambda sim, rng: sim.FixedProbabilityConnector(0.02, rng=rng),
    "fixed_probability_dense": lambda sim, rng: sim.FixedProbabilityConnector(0.6, rng=rng,
                                                                                 allow_self_connections=False),
    "fixed_number_pre": lambda sim, rng: sim.FixedNumberPreConnector(30, rng=rng, allow_self_connections=False),
    "fixed_number_pre_dense": lambda sim, rng: sim.FixedNumberPreConnector(250, rng=rng),
    "fixed_number_pre_replacement": lambda sim, rng: sim.FixedNumberPreConnector(40, rng=rng,
                                                                                 with_replacement=True),
    "fixed_number_post": lambda sim, rng: sim.FixedNumberPostConnector(25, rng=rng),
    "fixed_total_number": lambda sim, rng: sim.FixedTotalNumberConnector(5000, rng=rng,
                                                                         allow_self_connections=False),
    "fixed_total_number_replacement": lambda sim, rng: sim.FixedTotalNumberConnector(
        5000, rng=rng, with_replacement=True),
}


def _build(sim, backend, name):
    sim.setup(timestep=0.1, backend=backend, precision="float64")
    p = sim.Population(300, sim.IF_curr_exp())
    weight = RandomDistribution("uniform", low=0.1, high=0.2, rng=NumpyRNG(seed=3))
    prj = sim.Projection(p, p, CONNECTORS[name](sim, NumpyRNG(seed=21)),
                         sim.StaticSynapse(weight=weight, delay=0.5))
    group = prj._groups[(0, 0)]
    pending_types = {type(part[0]).__module__.split(".")[0] for part in group._pending}
    pre, post, w, d = prj._coo()
    return pending_types, pre, post, w, d


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_device_generation_matches_the_numpy_build(sim, name):
    if not GPU:
        pytest.skip("no usable CUDA device")
    host_types, *host = _build(sim, "numpy", name)
    sim.end()
    device_types, *device = _build(sim, "cupy", name)
    assert host_types == {"numpy"} and device_types == {"cupy"}     # indices were generated on the device
    for a, b in zip(host[:2], device[:2]):
        assert np.array_equal(a, b)
    assert np.array_equal(host[2], device[2]) and np.allclose(host[3], device[3])
