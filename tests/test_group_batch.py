"""Populations of one fusable model are stepped together on the NumPy path (engine/neurons/batch.py): the
results must be exactly those of stepping each population on its own, across runs, with electrodes,
Poisson input, recording and set/initialize between runs."""

import numpy as np
import pytest
from pyNN.random import NumpyRNG, RandomDistribution

from pynn_sparsegpu.engine import network
from pynn_sparsegpu.engine.neurons.batch import make_batches


def _network(sim, celltype, gain):
    sim.setup(timestep=0.1, min_delay=0.2, rng_seed=5, backend="numpy", spike_precision="on_grid")   # the batching of the reference path
    rng = NumpyRNG(seed=1)
    exc = sim.Population(120, celltype)
    inh = sim.Population(40, celltype)
    source = sim.Population(10, sim.SpikeSourcePoisson(rate=300.0))
    for pop in (exc, inh):
        pop.initialize(v=RandomDistribution("uniform", low=-60.0, high=-50.0, rng=rng))
    sim.DCSource(amplitude=0.3 * gain, start=20.0, stop=60.0).inject_into(inh)
    sign = -1.0 if "curr" in type(celltype).__name__ else 1.0
    connector = sim.FixedProbabilityConnector(0.1, rng=rng)
    for pre, post, weight, receptor in ((exc, exc, 0.01, "excitatory"), (exc, inh, 0.01, "excitatory"),
                                        (inh, exc, 0.03 * sign, "inhibitory"), (inh, inh, 0.03 * sign, "inhibitory"),
                                        (source, exc, 0.02, "excitatory"), (source, inh, 0.02, "excitatory")):
        sim.Projection(pre, post, connector, sim.StaticSynapse(weight=weight * gain, delay=0.2), receptor_type=receptor)
    exc.record(["spikes", "v"])
    inh.record(["spikes", "v"])
    return exc, inh


def _run(sim, celltype, gain, batched, monkeypatch):
    made = []

    def batches(groups):
        out = make_batches(groups) if batched else []
        made.extend(out)
        return out

    monkeypatch.setattr(network, "make_batches", batches)
    exc, inh = _network(sim, celltype, gain)
    sim.run(60.0)
    exc.set(tau_m=15.0)
    inh.initialize(v=-55.0)
    sim.run(40.0)
    results = []
    for pop in (exc, inh):
        segment = pop.get_data().segments[0]
        results.append(([np.asarray(st.magnitude) for st in segment.spiketrains],
                        np.asarray(segment.filter(name="v")[0].magnitude)))
    sim.end()
    return results, made


@pytest.mark.parametrize("cell,gain", [("IF_cond_exp", 1.0), ("IF_curr_exp", 30.0), ("IF_cond_alpha", 1.5)])
def test_batched_populations_match_unbatched(sim, monkeypatch, cell, gain):
    celltype = getattr(sim, cell)(tau_refrac=2.0)
    batched, made = _run(sim, celltype, gain, True, monkeypatch)
    assert made and all(len(b.groups) == 2 for b in made)
    alone, made = _run(sim, celltype, gain, False, monkeypatch)
    assert not made
    n_spikes = [sum(len(st) for st in spikes) for spikes, _ in batched]
    assert min(n_spikes) > 20, f"the network must be active: {n_spikes} spikes (exc, inh)"
    for (spikes_a, v_a), (spikes_b, v_b) in zip(batched, alone):
        assert all(np.array_equal(a, b) for a, b in zip(spikes_a, spikes_b))
        np.testing.assert_array_equal(v_a, v_b)
