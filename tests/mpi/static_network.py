"""A network with several populations, connectors, delays, sources and current sources, run on however many
processes the script was started with; rank 0 writes what it recorded and the connectivity to a pickle file.

    mpiexec -n 2 python tests/mpi/static_network.py out.pkl      (tests/test_mpi.py compares 1, 2 and 3 ranks)
"""

import pickle
import sys

import numpy as np

import pyNN.sparsegpu as sim
from pyNN.random import NumpyRNG, RandomDistribution

out = sys.argv[1]
sim.setup(timestep=0.1, min_delay=0.3, spike_precision="on_grid", backend="cpu")
rng = NumpyRNG(seed=7, parallel_safe=True)
exc = sim.Population(90, sim.IF_curr_exp(tau_m=RandomDistribution("uniform", (15.0, 25.0), rng=rng),
                                         i_offset=0.2), label="exc")
inh = sim.Population(31, sim.IF_cond_exp(tau_m=12.0, i_offset=0.45), label="inh")
noise = sim.Population(40, sim.SpikeSourcePoisson(rate=80.0), label="noise")
given = sim.Population(5, sim.SpikeSourceArray(spike_times=[[2.0, 7.5, 30.1], [4.0], [], [11.1, 12.2], [50.0]]),
                       label="given")
exc.initialize(v=RandomDistribution("uniform", (-65.0, -55.0), rng=rng))
inh.initialize(v=-60.0)
delays = RandomDistribution("uniform", (0.3, 2.5), rng=rng)
ee = sim.Projection(exc, exc, sim.FixedProbabilityConnector(0.1, rng=rng),
                    sim.StaticSynapse(weight=0.15, delay=delays), label="ee")
ei = sim.Projection(exc, inh, sim.FixedNumberPreConnector(8, rng=rng),
                    sim.StaticSynapse(weight=0.004, delay=0.7), receptor_type="excitatory", label="ei")
ie = sim.Projection(inh, exc, sim.AllToAllConnector(),
                    sim.StaticSynapse(weight=-0.05, delay=RandomDistribution("uniform", (0.5, 1.5), rng=rng)),
                    receptor_type="inhibitory", label="ie")
ne = sim.Projection(noise, exc, sim.FixedNumberPostConnector(12, rng=rng),
                    sim.StaticSynapse(weight=0.4, delay=0.3), label="ne")
ni = sim.Projection(noise, inh, sim.FromListConnector([(i, (7 * i) % 31, 0.003, 0.4 + 0.1 * (i % 4))
                                                       for i in range(40)]),
                    receptor_type="excitatory", label="ni")
gi = sim.Projection(given, exc, sim.OneToOneConnector(), sim.StaticSynapse(weight=2.0, delay=1.0), label="gi")
sim.DCSource(amplitude=0.3, start=20.0, stop=60.0).inject_into(exc[10:50])
sim.NoisyCurrentSource(mean=0.05, stdev=0.2, start=5.0, stop=80.0, dt=0.5).inject_into(inh)
steps = sim.StepCurrentSource(times=[15.0, 35.0, 70.0], amplitudes=[0.4, -0.2, 0.1])
steps.inject_into(exc[60:75])
steps.record()         # a recorded current source runs on the reference path: the steps go one by one

exc.record(["spikes", "v"])
inh.record("spikes")
inh[3:9].record("gsyn_exc")
noise.record("spikes")
sim.run(60.0)
exc.set(i_offset=0.25)
sim.run(40.0)

trace = steps.get_data()
result = {"processes": sim.num_processes(), "rank": sim.rank(), "info": sim.backend_info(),
          "electrode": (np.asarray(trace.times), np.asarray(trace.magnitude)),
          "local_exc": [int(i) for i in exc.local_cells]}
blocks = {p.label: p.get_data(gather=True) for p in (exc, inh, noise)}
counts = exc.get_spike_counts(gather=True)
tau = exc.get("tau_m", gather=True)
conn = {p.label: p.get(["weight", "delay"], format="array", gather=True) for p in (ee, ei, ie, ne, ni, gi)}
lists = {p.label: p.get(["weight", "delay"], format="list", gather=True) for p in (ee, ni)}
lists["ie weights"] = ie.get("weight", format="list", gather=True, with_address=False)
sizes = {p.label: p.size(gather=True) for p in (ee, ei, ie, ne, ni, gi)}
stats = sim.kernel_statistics()
if sim.rank() == 0:
    def spikes(block):
        return {int(st.annotations["source_index"]): np.asarray(st.magnitude) for st in block.segments[0].spiketrains}

    def signals(block):
        return {sig.name: (np.asarray(sig.magnitude), [int(i) for i in sig.array_annotations["channel_index"]])
                for sig in block.segments[0].analogsignals}
    def layout(block):          # everything of the Neo block but the numbers compared above
        seg = block.segments[0]
        trains = [(sorted((k, str(v)) for k, v in st.annotations.items()), float(st.t_start), float(st.t_stop),
                   str(st.units)) for st in seg.spiketrains]
        sigs = [(sig.name, str(sig.units), float(sig.sampling_period), float(sig.t_start), sig.shape,
                 sorted((k, str(v)) for k, v in sig.annotations.items()),
                 sorted((k, str(list(v))) for k, v in sig.array_annotations.items())) for sig in seg.analogsignals]
        return {"name": block.name, "segments": len(block.segments), "trains": trains, "signals": sigs,
                "annotations": sorted((k, str(v)) for k, v in block.annotations.items() if k != "mpi_processes")}
    result["layout"] = {k: layout(b) for k, b in blocks.items()}
    result.update(spikes={k: spikes(b) for k, b in blocks.items()},
                  signals={k: signals(b) for k, b in blocks.items()},
                  counts=counts, tau_m=np.asarray(tau), conn=conn, lists=lists, sizes=sizes, stats=stats)
    with open(out, "wb") as f:
        pickle.dump(result, f)
sim.end()
