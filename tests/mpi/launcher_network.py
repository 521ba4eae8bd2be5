"""The GPU driver's path under MPI, checked without a GPU: the network runs under the CUDA launcher with the
stand-in device of tests/test_cuda_launcher.py (device memory told apart from host memory, each kernel's CPU
build run at its launch), with CUDA graphs; or, with "cpu" as second argument, on the CPU driver. Rank 0 writes
spikes, v and the STDP weights to a pickle file (tests/test_mpi.py compares 2 processes on the stand-in with
1 process on the CPU driver)."""

import os
import pickle
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pyNN.sparsegpu as sim  # noqa: E402
from pyNN.random import NumpyRNG, RandomDistribution  # noqa: E402

out, driver = sys.argv[1], sys.argv[2]
sim.setup(timestep=0.1, min_delay=0.3, backend="cpu", rng_seed=9, spike_precision="on_grid")
if driver == "launch":
    from test_cuda_launcher import DeviceArray, _on_the_device

    from pynn_sparsegpu.engine.compiled.program import Args
    refresh = Args.refresh

    def tagged(self, xp=None):          # as test_cuda_launcher's device_checks fixture
        slots = refresh(self, xp)
        if isinstance(slots, DeviceArray):
            slots.args = self
        return slots
    Args.refresh = tagged
    _on_the_device(sim, graphs=True)
rng = NumpyRNG(seed=5)
exc = sim.Population(80, sim.IF_cond_exp(tau_refrac=2.0), label="exc")
inh = sim.Population(20, sim.IF_cond_exp(tau_refrac=2.0), label="inh")
for pop in (exc, inh):
    pop.set(i_offset=RandomDistribution("uniform", low=0.6, high=1.0, rng=rng))
    pop.initialize(v=RandomDistribution("uniform", low=-65.0, high=-52.0, rng=rng))
c = sim.FixedProbabilityConnector(0.1, rng=rng)
stdp = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01,
                                                              A_minus=0.012),
                         weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.01),
                         weight=0.004, delay=0.5)
plastic = sim.Projection(exc, exc, c, stdp, receptor_type="excitatory", label="stdp")
for pre, receptor, w in ((exc, "excitatory", 0.004), (inh, "inhibitory", 0.03)):
    sim.Projection(pre, inh, c, sim.StaticSynapse(weight=w, delay=0.3), receptor_type=receptor)
sim.Projection(inh, exc, c, sim.StaticSynapse(weight=0.03, delay=0.4), receptor_type="inhibitory")
exc.record(["spikes", "v"])
sim.run(40.0)
sim.run(40.0)
block = exc.get_data(gather=True)
weights = plastic.get("weight", format="array", gather=True)
stats = sim.kernel_statistics()
if sim.rank() == 0:
    seg = block.segments[0]
    result = {"processes": sim.num_processes(), "stats": stats, "weights": weights,
              "spikes": {int(st.annotations["source_index"]): np.asarray(st.magnitude) for st in seg.spiketrains},
              "v": np.asarray(seg.filter(name="v")[0].magnitude)}
    with open(out, "wb") as f:
        pickle.dump(result, f)
sim.end()
