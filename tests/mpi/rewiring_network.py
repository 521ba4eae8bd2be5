"""Structural plasticity on however many processes the script was started with: a forward projection with
STDP weights, distance-dependent formation and weight-dependent elimination (random partners, max_in_degree),
and a lateral one whose partners are the recently active cells (LastNeuronSelection) and whose rows fill up;
rewiring recorded with every event. Rank 0 writes spikes, final connectivity, counts and the rewiring record
(tests/test_mpi.py)."""

import pickle
import sys

import numpy as np

import pyNN.sparsegpu as sim
from pyNN.random import NumpyRNG
from pyNN.space import Grid2D, Line, Space

out = sys.argv[1]
sim.setup(timestep=0.1, min_delay=0.2, spike_precision="on_grid", backend="cpu", rng_seed=31)
src = sim.Population(36, sim.SpikeSourcePoisson(rate=60.0), structure=Grid2D(dx=1.0, dy=1.0), label="src")
tgt = sim.Population(36, sim.IF_curr_exp(i_offset=0.75, tau_m=15.0), structure=Grid2D(dx=1.0, dy=1.0),
                     label="tgt")
forward = sim.StructuralPlasticityMechanism(
    formation=sim.DistanceDependentFormation(p_form_forward=0.4, sigma_form_forward=2.0),
    elimination=sim.RandomByWeightElimination(threshold=0.12, prob_elim_depressed=0.4, prob_elim_potentiated=0.05),
    timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=40.0, A_plus=0.04, A_minus=0.03),
    weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.3),
    f_rew=20_000.0, initial_weight=0.12, weight=0.15, delay=0.4, row_capacity=36, max_in_degree=14)
ff = sim.Projection(src, tgt, sim.FixedProbabilityConnector(0.15, rng=NumpyRNG(seed=4)), forward,
                    space=Space(axes="xy", periodic_boundaries=((-0.5, 5.5), (-0.5, 5.5), None)),
                    receptor_type="excitatory", label="ff")
lateral = sim.StructuralPlasticityMechanism(
    formation=sim.DistanceDependentFormation(0.5, 6.0, 0.6, 3.0),
    elimination=sim.RandomByWeightElimination(0.5, 0.3, 0.1), partner_selection=sim.LastNeuronSelection(),
    f_rew=10_000.0, initial_weight=0.2, weight=0.2, delay=0.2, row_capacity=9)
lat = sim.Projection(tgt, tgt, sim.FixedProbabilityConnector(0.1, rng=NumpyRNG(seed=6)), lateral,
                     receptor_type="excitatory", label="lat")
ff.record_rewiring(sampling_interval=5.0, events=True)
lat.record_rewiring(sampling_interval=5.0, events=True)
tgt.record(["spikes", "v"])
sim.run(60.0)
sim.run(40.0)
block = tgt.get_data(gather=True)
conn = {p.label: p.get(["weight", "delay"], format="list", gather=True) for p in (ff, lat)}
counts = {p.label: p.rewiring_counts() for p in (ff, lat)}
records = {}
for p in (ff, lat):
    rec = p.get_rewiring_data()
    seg = rec.segments[-1]
    records[p.label] = ({sig.name: np.asarray(sig.magnitude).ravel() for sig in seg.analogsignals},
                        [(np.asarray(e.times), list(e.labels), np.asarray(e.array_annotations["pre"]),
                          np.asarray(e.array_annotations["post"])) for e in seg.events])
sizes = {p.label: p.size(gather=True) for p in (ff, lat)}
stats = sim.kernel_statistics()
if sim.rank() == 0:
    seg = block.segments[0]
    result = {"processes": sim.num_processes(), "stats": stats, "conn": conn, "counts": counts,
              "records": records, "sizes": sizes,
              "spikes": {"tgt": {int(st.annotations["source_index"]): np.asarray(st.magnitude)
                                 for st in seg.spiketrains}},
              "signals": {"tgt": {sig.name: (np.asarray(sig.magnitude),
                                             [int(i) for i in sig.array_annotations["channel_index"]])
                                  for sig in seg.analogsignals}}}
    with open(out, "wb") as f:
        pickle.dump(result, f)
sim.end()
