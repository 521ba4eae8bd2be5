"""Static propagation on the compiled path: projections whose synapses share one delay (and one weight) are
walked as target indices alone; the others read the per-synapse arrays. Both give the reference's sums bit for
bit, and a change of weights or delays between runs switches a projection between the two loops."""

import numpy as np
import pytest
from pyNN.random import NumpyRNG, RandomDistribution

from pynn_sparsegpu.engine.backend import select_backend
from pynn_sparsegpu.engine.compiled.runner import _uniform_values
from pynn_sparsegpu.engine.connectivity import RaggedRows


def _rows(weights, lengths, capacity=4):
    backend = select_backend("numpy")
    n_pre = len(lengths)
    pre = np.repeat(np.arange(n_pre), lengths)
    post = np.arange(pre.size) % 3
    return RaggedRows.from_coo(backend, n_pre, 3, pre, post, {"weight": np.asarray(weights, dtype=np.float64)},
                               {"weight": np.float64}, capacity=capacity)


def test_uniform_values_are_found_bit_for_bit_and_forgotten_after_writes():
    rows = _rows(0.25, [2, 0, 3])
    assert rows.uniform("weight") == 0.25
    rows.vars["weight"][2, 1] = 0.5                  # a write through the item: the cached answer is dropped
    assert rows.uniform("weight") is None
    rows.vars["weight"][2, 1] = 0.25
    assert rows.uniform("weight") == 0.25
    rows.vars["weight"][1, 3] = 9.0                  # a free slot (row 1 is empty) does not count
    assert rows.uniform("weight") == 0.25
    rows.vars["weight"][0, 0] = -0.0
    rows.vars["weight"][...] = 0.0
    rows.vars["weight"][0, 1] = -0.0                 # equal as numbers, not as bits
    assert rows.uniform("weight") is None
    empty = _rows(np.zeros(0), [0, 0])
    assert empty.uniform("weight") == 0.0
    many = _rows(np.arange(5.0), [2, 3])
    assert many.uniform("weight") is None


def _network(sim, backend, change):
    sim.setup(timestep=0.1, min_delay=0.1, backend=backend, rng_seed=4, spike_precision="on_grid")
    rng = NumpyRNG(seed=11)
    cells = sim.Population(80, sim.IF_curr_exp(tau_refrac=2.0))
    cells.set(i_offset=RandomDistribution("uniform", low=0.7, high=1.2, rng=rng))
    cells.initialize(v=RandomDistribution("uniform", low=-65.0, high=-52.0, rng=rng))
    connector = sim.FixedProbabilityConnector(0.15, rng=rng)
    shared = sim.Projection(cells, cells, connector, sim.StaticSynapse(weight=0.2, delay=0.8),
                            receptor_type="excitatory")
    weights = sim.Projection(cells, cells, connector,
                             sim.StaticSynapse(weight=RandomDistribution("uniform", low=-0.5, high=-0.1, rng=rng),
                                               delay=0.5), receptor_type="inhibitory")
    both = sim.Projection(cells, cells, connector,
                          sim.StaticSynapse(weight=RandomDistribution("uniform", low=0.05, high=0.3, rng=rng),
                                            delay=RandomDistribution("uniform", low=0.1, high=1.5, rng=rng)),
                          receptor_type="excitatory")
    cells.record(["spikes", "v"])
    kinds = []

    def kind():
        kinds.append(tuple(tuple(v is not None for v in _uniform_values(next(iter(p._groups.values()))))
                           for p in (shared, weights, both)))

    sim.run(60.0)
    kind()
    if change:
        shared.set(weight=RandomDistribution("uniform", low=0.1, high=0.3, rng=rng))
        weights.set(weight=-0.3)
        both.set(delay=1.2)
        sim.run(60.0)
        kind()
        shared[0].weight = 0.25
        shared.set(weight=0.15)
        sim.run(60.0)
        kind()
    seg = cells.get_data().segments[0]
    out = ([np.asarray(st) for st in seg.spiketrains], np.asarray(seg.filter(name="v")[0]), kinds)
    sim.end()
    return out


@pytest.mark.parametrize("change", [False, True])
def test_shared_and_per_synapse_values_give_the_reference_sums(sim, change):
    ref_spikes, ref_v, _ = _network(sim, "numpy", change)
    spikes, v, kinds = _network(sim, "cpu", change)
    assert sum(len(s) for s in spikes) > 200
    assert len(spikes) == len(ref_spikes) and all(np.array_equal(a, b) for a, b in zip(spikes, ref_spikes))
    np.testing.assert_array_equal(v, ref_v)
    # (delay shared, weight shared) per projection: shared, per-synapse weights, per-synapse both
    assert kinds[0] == ((True, True), (True, False), (False, False))
    if change:
        assert kinds[1] == ((True, False), (True, True), (True, False))
        assert kinds[2] == ((True, True), (True, True), (True, False))
