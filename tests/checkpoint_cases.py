"""Networks for the checkpoint tests (test_checkpoint.py), run as a script in fresh processes:

    python tests/checkpoint_cases.py KIND BACKEND full   OUT.npz              # one run to T
    python tests/checkpoint_cases.py KIND BACKEND first  OUT.npz CKPT.npz     # to T/2, then sim.checkpoint
    python tests/checkpoint_cases.py KIND BACKEND second OUT.npz CKPT.npz     # build, sim.restore, on to T

(each also under mpiexec -n P: rank 0 writes OUT.npz.)

KIND: static, stdp, tm, rewiring or eprop (on the time grid); event (the event-driven engine) or offgrid (precise
spike times on the grid; offgrid_dc without its AC and noise sources), where changes made between the halves
(set(), initialize(), new spike times) are pending when the checkpoint is written. BACKEND: numpy, cpu, cupy, or numpy-ref (NumPy without a C++ compiler:
the precise engines' Python reference loops). OUT.npz gets what a user sees at the end (spikes, signals,
weights, every synapse variable in row order, rewiring data, the trainer's history) for comparison.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
T = 60.0
KINDS = ("static", "stdp", "tm", "rewiring", "eprop")
PRECISE = ("event", "offgrid", "offgrid_dc")      # offgrid_dc: no AC or noise source (as the GPU path takes it)


def build(sim, kind, backend):
    sim.setup(timestep=0.1, min_delay=0.1, backend=backend, precision="float64", spike_precision="on_grid",
              rng_seed=4321)
    rng = sim.NumpyRNG(seed=11)
    stim = sim.Population(40, sim.SpikeSourcePoisson(rate=80.0), label="stim")
    exc = sim.Population(60, sim.IF_curr_exp(tau_refrac=2.0, i_offset=0.3), label="exc",
                         initial_values={"v": sim.RandomDistribution("uniform", (-65.0, -52.0), rng=rng)})
    inh = sim.Population(20, sim.IF_cond_exp(), label="inh")
    delay = sim.RandomDistribution("uniform", (0.2, 4.0), rng=rng)
    if kind == "stdp":
        syn = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=15.0, tau_minus=25.0, A_plus=0.02,
                                                                      A_minus=0.025),
                                weight_dependence=sim.MultiplicativeWeightDependence(w_min=0.0, w_max=1.5),
                                weight=0.8, delay=delay, dendritic_delay_fraction=0.5)
    elif kind == "tm":
        syn = sim.TsodyksMarkramSynapse(U=0.4, tau_rec=150.0, tau_facil=20.0, weight=1.0, delay=delay)
    elif kind == "rewiring":
        syn = sim.StructuralPlasticityMechanism(
            formation=sim.DistanceDependentFormation(p_form_forward=0.5, sigma_form_forward=4.0),
            elimination=sim.RandomByWeightElimination(threshold=0.5, prob_elim_depressed=0.2,
                                                      prob_elim_potentiated=0.05),
            partner_selection=sim.LastNeuronSelection(), f_rew=20_000.0, initial_weight=0.6,
            initial_delay=1.0, weight=sim.RandomDistribution("uniform", (0.2, 1.0), rng=rng), delay=1.0,
            row_capacity=40)
    else:
        syn = sim.StaticSynapse(weight=0.7, delay=delay)
    p_in = sim.Projection(stim, exc, sim.FixedProbabilityConnector(0.2, rng=rng), syn, label="input")
    if kind == "rewiring":
        p_in.record_rewiring(sampling_interval=5.0, events=True)
    p_ee = sim.Projection(exc, exc, sim.FixedProbabilityConnector(0.1, rng=rng),
                          sim.StaticSynapse(weight=0.2, delay=delay), label="ee")
    p_ei = sim.Projection(exc, inh, sim.FixedProbabilityConnector(0.2, rng=rng),
                          sim.StaticSynapse(weight=0.01, delay=1.5), label="ei")
    p_ie = sim.Projection(inh, exc, sim.FixedProbabilityConnector(0.3, rng=rng),
                          sim.StaticSynapse(weight=-0.5, delay=0.8), receptor_type="inhibitory", label="ie")
    noise = sim.NoisyCurrentSource(mean=0.1, stdev=0.3, start=5.0, stop=50.0, dt=0.5)
    noise.inject_into(exc[:30])
    sim.ACSource(amplitude=0.2, offset=0.05, frequency=40.0, start=10.0).inject_into(inh)
    stim.record("spikes")
    exc.record(["spikes", "v"])
    inh.record("spikes")
    inh.record("gsyn_exc", sampling_interval=0.5)
    return [stim, exc, inh], [p_in, p_ee, p_ei, p_ie]


def build_precise(sim, kind, backend):
    """IF_curr_delta (event) or IF_curr_exp and IF_curr_delta (offgrid) cells driven by Poisson and given spikes,
    DC, step (and on the off-grid engine AC and noise) currents, with delays of many steps: spikes and inputs
    are on their way at T/2, and every spike time is exact."""
    from pyNN.parameters import Sequence
    sim.setup(timestep=0.1, min_delay=0.1, backend=backend, precision="float64", spike_precision="off_grid",
              engine="auto" if kind == "event" else "time", rng_seed=4321)
    dc_only, kind = kind == "offgrid_dc", "offgrid" if kind == "offgrid_dc" else kind
    rng = sim.NumpyRNG(seed=11)
    poisson = sim.Population(30, sim.SpikeSourcePoisson(rate=60.0, start=2.0), label="poisson")
    times = np.random.default_rng(3).uniform(0.0, T, (10, 12))
    given = sim.Population(10, sim.SpikeSourceArray(spike_times=[Sequence(np.sort(t)) for t in times]),
                           label="given")
    v0 = sim.RandomDistribution("uniform", (-65.0, -52.0), rng=rng)
    if kind == "event":
        exc = sim.Population(60, sim.IF_curr_delta(tau_refrac=2.0, i_offset=1.0), label="exc",
                             initial_values={"v": v0})
        w_in, w_ee, w_ie = 1.5, 0.4, -1.2
    else:
        exc = sim.Population(60, sim.IF_curr_exp(tau_refrac=2.0, i_offset=1.0, tau_syn_E=2.0), label="exc",
                             initial_values={"v": v0})
        w_in, w_ee, w_ie = 0.8, 0.3, -0.2
    inh = sim.Population(20, sim.IF_curr_delta(tau_refrac=1.5, i_offset=0.5), label="inh")
    delay = sim.RandomDistribution("uniform", (0.2, 4.0), rng=rng)
    prj = [sim.Projection(poisson, exc, sim.FixedProbabilityConnector(0.2, rng=rng),
                          sim.StaticSynapse(weight=w_in, delay=delay), label="input"),
           sim.Projection(given, inh, sim.FixedProbabilityConnector(0.5, rng=rng),
                          sim.StaticSynapse(weight=2.0, delay=1.0), label="given"),
           sim.Projection(exc, exc, sim.FixedProbabilityConnector(0.1, rng=rng),
                          sim.StaticSynapse(weight=w_ee, delay=delay), label="ee"),
           sim.Projection(exc, inh, sim.FixedProbabilityConnector(0.2, rng=rng),
                          sim.StaticSynapse(weight=0.8, delay=2.5), label="ei"),
           sim.Projection(inh, exc, sim.FixedProbabilityConnector(0.3, rng=rng),
                          sim.StaticSynapse(weight=w_ie, delay=0.8), receptor_type="inhibitory", label="ie")]
    sim.DCSource(amplitude=0.3, start=12.0, stop=45.0).inject_into(exc[:20])
    sim.StepCurrentSource(times=[5.0, 20.0, 40.0], amplitudes=[0.2, -0.1, 0.3]).inject_into(inh)
    if kind == "offgrid" and not dc_only:
        sim.ACSource(amplitude=0.2, offset=0.05, frequency=40.0, start=10.0).inject_into(exc[30:])
        sim.NoisyCurrentSource(mean=0.1, stdev=0.3, start=5.0, stop=50.0, dt=0.5).inject_into(exc[:30])
    for pop in (poisson, given, inh):
        pop.record("spikes")
    exc.record(["spikes", "v"])
    return [poisson, given, exc, inh], prj


def change_between_halves(sim, populations):
    """Changes made after the first half and before the checkpoint: the second half runs with them."""
    from pyNN.parameters import Sequence
    _, given, exc, inh = populations
    inh.set(i_offset=0.7)
    exc.initialize(v=np.linspace(-60.0, -51.0, exc.size))
    given[:3].set(spike_times=[Sequence([T / 2 + 0.35 + k, T / 2 + 7.0]) for k in range(3)])


def build_eprop(sim, backend):
    from pyNN.parameters import Sequence
    sys.path.insert(0, HERE)
    import test_eprop_training as t
    sim.setup(timestep=t.DT, min_delay=t.DT, backend=backend, precision="float64", spike_precision="on_grid",
              rng_seed=4321)
    net = t.build(sim, "deep_r", l1=1e-2, temperature=1e-5)
    trainer = t.trainer_for(sim, net, seed=5)
    inp, hidden, readout = net[:3]
    inp.set(spike_times=[Sequence(np.arange(1.0 + i % 5, 60.0, 7.0)) for i in range(inp.size)])
    hidden.record(["spikes", "v"])
    readout.record("v")
    return [inp, hidden, readout], [p for p in net[3:] if p is not None], trainer, t.synthetic_dataset()


def results(sim, populations, projections, trainer=None) -> dict:
    out = {"t": np.asarray(sim.get_current_time())}
    for k, pop in enumerate(populations):
        block = pop.get_data()
        seg = block.segments[-1]
        ids = [np.full(len(st), st.annotations["source_index"]) for st in seg.spiketrains]
        out[f"pop{k}/spike_ids"] = np.concatenate(ids) if ids else np.zeros(0)
        out[f"pop{k}/spike_times"] = np.concatenate([st.magnitude for st in seg.spiketrains]) \
            if seg.spiketrains else np.zeros(0)
        for sig in seg.analogsignals:
            out[f"pop{k}/signal/{sig.name}"] = sig.magnitude
            out[f"pop{k}/signal_t/{sig.name}"] = sig.times.magnitude
        out[f"pop{k}/segments"] = np.asarray(len(block.segments))
    for k, prj in enumerate(projections):
        out[f"prj{k}/weight"] = np.asarray(prj.get("weight", format="list"), float)
        for g, group in enumerate(prj._groups.values()):
            pre, post, values = group.rows.to_coo()
            out[f"prj{k}.{g}/pre"], out[f"prj{k}.{g}/post"] = pre, post
            for name, v in values.items():
                out[f"prj{k}.{g}/var/{name}"] = v
        if group.rewirer is not None:
            out[f"prj{k}/counts"] = np.asarray(json.dumps(prj.rewiring_counts(), sort_keys=True))
            block = prj.get_rewiring_data()
            out[f"prj{k}/rewiring_segments"] = np.asarray(len(block.segments))
            for s, seg in enumerate(block.segments):
                for sig in seg.analogsignals:
                    out[f"prj{k}/rewiring/{s}/{sig.name}"] = sig.magnitude
                    out[f"prj{k}/rewiring/{s}/{sig.name}/t"] = sig.times.magnitude
                for ev in seg.events:
                    out[f"prj{k}/rewiring/{s}/events/t"] = ev.times.magnitude
                    out[f"prj{k}/rewiring/{s}/events/labels"] = np.asarray(ev.labels)
                    out[f"prj{k}/rewiring/{s}/events/pre"] = np.asarray(ev.array_annotations["pre"])
                    out[f"prj{k}/rewiring/{s}/events/post"] = np.asarray(ev.array_annotations["post"])
    if trainer is not None:
        history = {k: v for k, v in trainer.history.items() if k != "time"}
        out["history"] = np.asarray(json.dumps(history, sort_keys=True, default=float))
    return out


def main(kind, backend, mode, out_path, ckpt=None):
    import pynn_sparsegpu as sim
    trainer = data = None
    if backend == "numpy-ref":            # as on a machine without a C++ compiler
        from pynn_sparsegpu.engine.eventdriven import driver
        driver._compiler_works = lambda: False
        backend = "numpy"
    if kind == "eprop":
        populations, projections, trainer, data = build_eprop(sim, backend)
    elif kind in PRECISE:
        populations, projections = build_precise(sim, kind, backend)
    else:
        populations, projections = build(sim, kind, backend)
    if mode in ("full", "first"):
        if trainer is not None:
            trainer.fit(data, epochs=1, progress=False)
        sim.run(T / 2)
        if kind in PRECISE:
            change_between_halves(sim, populations)
        if mode == "first":
            sim.checkpoint(ckpt)
    if mode in ("full", "second"):
        if mode == "second":
            sim.restore(ckpt)
        sim.run(T / 2)
        if trainer is not None:
            trainer.fit(data, epochs=1, progress=False)
    out = results(sim, populations, projections, trainer)
    from pynn_sparsegpu import simulator
    out["engine"] = np.asarray(simulator.state.network.engine_description())
    if sim.rank() == 0:                   # (under MPI: the gathered data; rows are rank 0's own)
        np.savez(out_path, **out)
    sim.end()


if __name__ == "__main__":
    main(*sys.argv[1:])
