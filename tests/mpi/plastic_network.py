"""Plastic synapses on however many processes the script was started with: STDP (additive, with dendritic
delays), Tsodyks-Markram and the three stochastic models; rank 0 writes spikes, traces and final weights to a
pickle file (tests/test_mpi.py)."""

import pickle
import sys

import numpy as np

import pyNN.sparsegpu as sim
from pyNN.random import NumpyRNG, RandomDistribution

out = sys.argv[1]
sim.setup(timestep=0.1, min_delay=0.5, spike_precision="on_grid", backend="cpu")
rng = NumpyRNG(seed=11, parallel_safe=True)
stim = sim.Population(60, sim.SpikeSourcePoisson(rate=40.0), label="stim")
cells = sim.Population(50, sim.IF_curr_exp(tau_m=15.0, i_offset=0.3), label="cells")
stdp = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=16.0, tau_minus=20.0, A_plus=0.02,
                                                              A_minus=0.021),
                         weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=1.2),
                         weight=RandomDistribution("uniform", (0.2, 0.8), rng=rng),
                         delay=RandomDistribution("uniform", (0.5, 3.0), rng=rng), dendritic_delay_fraction=1.0)
plastic = sim.Projection(stim, cells, sim.FixedProbabilityConnector(0.3, rng=rng), stdp, label="stdp")
mult = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=10.0, tau_minus=10.0, A_plus=0.05,
                                                              A_minus=0.05),
                         weight_dependence=sim.MultiplicativeWeightDependence(w_min=0.0, w_max=0.5),
                         weight=0.2, delay=0.5)
recurrent = sim.Projection(cells, cells, sim.FixedProbabilityConnector(0.15, allow_self_connections=False, rng=rng),
                           mult, label="recurrent")
tm = sim.Projection(stim, cells, sim.FixedNumberPreConnector(5, rng=rng),
                    sim.TsodyksMarkramSynapse(U=0.5, tau_rec=200.0, tau_facil=20.0, weight=0.4, delay=1.2),
                    label="tm")
stochastic = [
    sim.Projection(stim, cells, sim.FixedProbabilityConnector(0.2, rng=rng),
                   sim.SimpleStochasticSynapse(p=0.4, weight=0.5, delay=0.8), label="simple_stochastic"),
    sim.Projection(stim, cells, sim.FixedNumberPostConnector(6, rng=rng),
                   sim.StochasticTsodyksMarkramSynapse(U=0.4, tau_rec=80.0, tau_facil=10.0, weight=0.6, delay=1.0),
                   label="stochastic_tm"),
    sim.Projection(cells, cells, sim.FixedProbabilityConnector(0.1, rng=rng),
                   sim.MultiQuantalSynapse(U=0.3, n=4, tau_rec=100.0, tau_facil=5.0, weight=0.1, delay=0.6),
                   label="multi_quantal"),
]
cells.record(["spikes", "v"])
sim.run(150.0)
result = {"processes": sim.num_processes(), "stats": sim.kernel_statistics()}
block = cells.get_data(gather=True)
weights = {p.label: p.get("weight", format="array", gather=True) for p in [plastic, recurrent, tm] + stochastic}
if sim.rank() == 0:
    seg = block.segments[0]
    result.update(spikes={"cells": {int(st.annotations["source_index"]): np.asarray(st.magnitude)
                                    for st in seg.spiketrains}},
                  signals={"cells": {sig.name: (np.asarray(sig.magnitude),
                                                [int(i) for i in sig.array_annotations["channel_index"]])
                                     for sig in seg.analogsignals}},
                  conn={k: [v] for k, v in weights.items()}, lists={}, sizes={}, counts={}, tau_m=np.zeros(1))
    with open(out, "wb") as f:
        pickle.dump(result, f)
sim.end()
