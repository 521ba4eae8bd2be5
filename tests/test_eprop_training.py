"""sim.EpropTrainer end to end: training simulates the network sim.run simulates, checkpoints, DEEP R through the
trainer, learning on an easy task (dense, static sparse, random feedback, float32), frozen weights, the readout
biases written back, and clear errors for bad input.

The networks are small (20 input channels, 16-24 hidden neurons, 4 readouts, 30-40 ms samples) so that the whole
file runs in a few seconds on the NumPy path.
"""

import json

import numpy as np
import pytest

from pynn_sparsegpu import datasets
from pynn_sparsegpu.rewiring import NotRewiringError

DT = 1.0
N_IN, N_HIDDEN, N_OUT = 20, 24, 4


# --- data and networks ---------------------------------------------------------------------------------------
def easy_dataset(n_per_class=6, n_classes=N_OUT, n_channels=N_IN, duration_ms=30.0, seed=0):
    """Class c: the channels of block c (n_channels // n_classes of them) fire about 5 spikes each at random
    times; every other channel fires about one spike at a random time (noise). Samples are in random order."""
    rng = np.random.default_rng(seed)
    block = n_channels // n_classes
    labels = rng.permutation(np.repeat(np.arange(n_classes), n_per_class))
    times, units = [], []
    for c in labels:
        rate = np.full(n_channels, 1.0)
        rate[c * block:(c + 1) * block] = 5.0
        counts = rng.poisson(rate)
        u = np.repeat(np.arange(n_channels), counts)
        times.append(rng.uniform(0.0, duration_ms - 1.0, u.size))
        units.append(u)
    return datasets.SpikeDataset(times, units, labels, n_channels=n_channels, n_classes=n_classes,
                                 duration_ms=duration_ms, name="easy")


def synthetic_dataset(n_samples=24, seed=3):
    """SHD-shaped random data, small: 20 channels, 4 classes, 40 ms."""
    return datasets.make_shd_like_synthetic(n_samples, n_channels=N_IN, n_classes=N_OUT, duration_ms=40.0,
                                            rate_hz=20.0, signal_rate_hz=200.0, n_segments=4, seed=seed)


def build(sim, kind="deep_r", n_in=N_IN, n_hidden=N_HIDDEN, n_out=N_OUT, density=0.3, l1=0.0, temperature=0.0,
          seed=1, alif=True, recurrent=True, feedback="symmetric", capacity=16, input_synapse=None,
          readout_trainable=True):
    """(inp, hidden, readout, p_in, p_rec, p_out) after examples/deep_r_classifier.py build_classifier. kind:
    "dense" (all to all), "static" (FixedProbability(density)) or "deep_r" (the same, rewired by DEEP R, row
    capacity `capacity`). Every delay is one time step. input_synapse replaces the input projection's synapse."""
    rng = sim.NumpyRNG(seed=seed)
    inp = sim.Population(n_in, sim.SpikeSourceArray(), label="input")
    cell = sim.EpropALIF(tau_refrac=1.0) if alif else sim.EpropLIF(tau_refrac=1.0)
    hidden = sim.Population(n_hidden, cell, label="hidden")
    readout = sim.Population(n_out, sim.LeakyIntegratorReadout(), label="readout")
    p = 1.0 if kind == "dense" else density
    w_in = sim.RandomDistribution("normal", (0.0, 1.0 / np.sqrt(n_in * p)), rng=rng)
    w_rec = sim.RandomDistribution("normal", (0.0, 0.5 / np.sqrt(n_hidden * p)), rng=rng)
    w_out = sim.RandomDistribution("normal", (0.0, 1.0 / np.sqrt(n_hidden)), rng=rng)

    def synapse(weight):
        eprop = sim.EpropSynapse(weight=weight, delay=DT)
        if kind != "deep_r":
            return eprop, {}
        return (sim.StructuralPlasticityMechanism(rewiring=sim.DeepR(l1=l1, temperature=temperature),
                                                  weight_dynamics=eprop), {"row_capacity": capacity})

    def connector(safe=True):             # safe=False: mixed signs on a StaticSynapse (PyNN's sign check)
        if kind == "dense":
            return sim.AllToAllConnector(allow_self_connections=True, safe=safe)
        return sim.FixedProbabilityConnector(p, allow_self_connections=True, rng=rng, safe=safe)

    syn_in, opts_in = synapse(w_in)
    if input_synapse is not None:
        syn_in, opts_in = input_synapse(w_in), {}
    p_in = sim.Projection(inp, hidden, connector(input_synapse is None), syn_in, label="input", **opts_in)
    p_rec = None
    if recurrent:
        syn_rec, opts_rec = synapse(w_rec)
        p_rec = sim.Projection(hidden, hidden, connector(), syn_rec, label="recurrent", **opts_rec)
    p_out = sim.Projection(hidden, readout, sim.AllToAllConnector(),
                           sim.EpropSynapse(weight=w_out, delay=DT, feedback=feedback, trainable=readout_trainable),
                           label="readout")
    return inp, hidden, readout, p_in, p_rec, p_out


def trainer_for(sim, net, lr=0.01, batch_size=8, seed=1, **kwargs):
    _, _, _, p_in, p_rec, p_out = net
    return sim.EpropTrainer(p_in, p_out, recurrent_projection=p_rec, optimiser=sim.Adam(lr),
                            batch_size=batch_size, seed=seed, **kwargs)


def coo(projection):
    """(pre, post, weight) of every synapse, sorted by (pre, post, weight)."""
    pre, post, w, _ = projection._coo()
    order = np.lexsort((w, post, pre))
    return np.stack([pre[order].astype(float), post[order].astype(float), w[order]])


def weights_by_pair(projection):
    """{(pre, post): (weight, sign)} of a DEEP R projection (which has no multapses)."""
    pre, post, values = projection._groups[(0, 0)].rows.to_coo()
    return {(int(a), int(b)): (float(w), float(s)) for a, b, w, s in zip(pre, post, values["weight"],
                                                                          values["sign"])}


def setup(sim):
    sim.setup(timestep=DT, min_delay=DT, backend="numpy")


# --- 1. training simulates the network sim.run simulates ----------------------------------------------------
@pytest.mark.parametrize("kind, alif, run_first", [("deep_r", True, False), ("deep_r", True, True),
                                                    ("dense", False, False)])
def test_training_simulates_the_network_sim_run_simulates(sim, kind, alif, run_first):
    """After training (DEEP R has rewired, so the rows hold synapses the connector never made), sample i run by
    sim.run equals what the trainer computes for it.

    Alignment (dt = 1 ms, T = n_steps trainer steps, every delay one step): the trainer's step t (t = 0..T-1)
    is the simulator's step t + 1, which ends at (t + 1) dt. Input bin b is emitted (to_spike_source_arrays(i,
    dt)) by the step ending at (b + 1) dt and enters the hidden v one step later: the trainer's input_delay=1.
    A hidden spike of trainer step t (z[:, t]) is recorded at (t + 1) dt and enters the readout one step later:
    readout_delay=1. The recorded readout v has T + 1 samples, v[0] at 0 ms (the initial 0) and v[k] after
    step k, so the trainer's y^t is v[t + 1] and its summed readout is v[1:T + 1].sum(); v[0] is left out.
    sim.reset() between samples puts every state (v, a, refractory counters, spikes in flight) back to its
    initial value. run_first: the network has been simulated before it is trained (a primed network)."""
    setup(sim)
    data = synthetic_dataset()
    T = data.n_steps_for(DT)
    net = build(sim, kind, alif=alif, l1=1e-2, temperature=1e-5)
    inp, hidden, readout, p_in, p_rec, p_out = net
    if run_first:
        inp.set(spike_times=data.to_spike_source_arrays(0, dt=DT))
        sim.run(float(T))
        sim.reset()
    trainer = trainer_for(sim, net, lr=0.02)
    history = trainer.fit(data, epochs=2, progress=False)
    if kind == "deep_r":
        assert sum(e["input"]["formed"] + e["recurrent"]["formed"] for e in history["rewiring"]) > 0
    else:
        assert trainer._trained["input"].dense and trainer._trained["recurrent"].dense
    _, y_sum = trainer.predict(data)
    readout.record("v")
    hidden.record("spikes")
    total_spikes = 0
    for i in range(3):
        sim.reset()
        inp.set(spike_times=data.to_spike_source_arrays(i, dt=DT))
        sim.run(float(T))
        v = np.asarray(readout.get_data("v", clear=True).segments[-1].analogsignals[0].magnitude)
        assert v.shape == (T + 1, N_OUT)
        np.testing.assert_array_equal(v[0], 0.0)
        np.testing.assert_allclose(v[1:].sum(axis=0), y_sum[i], rtol=1e-9, atol=1e-9)
        # the spikes, step by step, from the same forward pass as training (gradients with recorded spikes)
        x = data.to_dense(DT, indices=[i])
        grads = trainer.engine._network().gradients(x, data.labels[[i]], record_spikes=True)
        np.testing.assert_allclose(grads["y_sum"][0], y_sum[i], rtol=1e-12, atol=1e-12)
        z = grads["z"][0]                                          # [T, n_hidden]
        trains = hidden.get_data("spikes", clear=True).segments[-1].spiketrains
        assert len(trains) == N_HIDDEN
        for j, st in enumerate(trains):
            expected = (np.flatnonzero(z[:, j]) + 1) * DT
            np.testing.assert_allclose(np.asarray(st.rescale("ms").magnitude), expected, rtol=0, atol=1e-9)
        counts = trainer.engine.predict(x)["counts"][0]
        np.testing.assert_array_equal(counts, z.sum(axis=0))
        total_spikes += int(z.sum())
    assert total_spikes > 10                                       # the comparison has spikes to compare


# --- 2. checkpoints ------------------------------------------------------------------------------------------
def _state(trainer, projections):
    return {"coo": [coo(p) for p in projections], "bias": np.asarray(trainer.engine.bias).copy(),
            "readout_bias": np.asarray(trainer.readout.get("bias"), float).copy(),
            "history": {k: v for k, v in trainer.history.items() if k != "time"},
            "totals": [p.rewiring_counts() for p in projections[:2]]}


def _assert_same_state(a, b):
    for x, y in zip(a["coo"], b["coo"]):
        assert x.shape == y.shape
        np.testing.assert_array_equal(x[:2], y[:2])                # connectivity
        np.testing.assert_allclose(x[2], y[2], rtol=0, atol=1e-12)  # weights
    np.testing.assert_allclose(a["bias"], b["bias"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a["readout_bias"], b["readout_bias"], rtol=0, atol=1e-12)
    assert a["totals"] == b["totals"]
    assert a["history"].keys() == b["history"].keys()
    for key in a["history"]:
        if key in ("loss", "accuracy", "rate", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(a["history"][key], b["history"][key], rtol=1e-12, atol=0, err_msg=key)
        else:
            assert a["history"][key] == b["history"][key], key


def test_checkpoint_round_trip_continues_training_exactly(sim, tmp_path):
    """A: 2 epochs. B: 1 epoch, save. C (built like B, but its trainer seeded differently): restore, 1 epoch.
    C ends where A ends: connectivity, weights, readout biases, DEEP R totals and history (all but wall times);
    the random feedback matrix, DEEP R noise, the sample order and the Adam moments and step come from the
    checkpoint."""
    data, val = synthetic_dataset(20, seed=4), synthetic_dataset(8, seed=5)
    kw = dict(l1=1e-2, temperature=1e-4, feedback="random")

    def run(epochs, before=None, after=None, seed=7):
        setup(sim)
        net = build(sim, "deep_r", **kw)
        trainer = trainer_for(sim, net, lr=0.02, batch_size=6, seed=seed)
        if before:
            before(trainer)
        trainer.fit(data, epochs=epochs, validation=val, progress=False)
        if after:
            after(trainer)
        state = _state(trainer, [net[3], net[4], net[5]])
        sim.end()
        return state

    path = tmp_path / "model.npz"
    a = run(2)
    assert sum(t["formed"] for t in a["totals"]) > 0                # DEEP R did rewire
    b = run(1, after=lambda t: t.save(path))
    c = run(1, before=lambda t: t.restore(path), seed=99)          # every random stream comes from the file
    assert len(c["history"]["epoch"]) == 2 and c["history"]["epoch"] == [1, 2]
    _assert_same_state(a, c)
    assert not np.array_equal(b["bias"], c["bias"])                # the second epoch did something

    with np.load(path, allow_pickle=False) as f:                    # no object arrays anywhere
        for key in f.files:
            assert f[key].dtype != object, key
        assert int(f["version"]) == 1
        assert json.loads(str(f["history"]))["epoch"] == [1]


def test_restore_into_a_different_network_raises(sim, tmp_path):
    path = tmp_path / "model.npz"
    setup(sim)
    data = synthetic_dataset(8)
    trainer = trainer_for(sim, build(sim, "static"))
    trainer.fit(data, epochs=1, progress=False)
    trainer.save(path)
    sim.end()
    setup(sim)
    other = trainer_for(sim, build(sim, "static", n_out=3))
    with pytest.raises(ValueError, match="readout"):
        other.restore(path)
    sim.end()
    setup(sim)
    smaller = trainer_for(sim, build(sim, "static", n_hidden=N_HIDDEN - 4))
    with pytest.raises(ValueError, match="saved as"):
        smaller.restore(path)
    with pytest.raises(ValueError, match="not an EpropTrainer checkpoint"):
        np.savez(tmp_path / "other.npz", a=np.zeros(3))
        smaller.restore(tmp_path / "other.npz")


def test_restore_into_a_larger_hidden_layer_raises(sim, tmp_path):
    """A checkpoint of a 24-neuron hidden layer restored into a 28-neuron one: every saved synapse "fits", so
    restore() accepts it, and neurons 24..27 silently lose all their synapses (the random feedback matrix
    keeps 24 rows). restore() should refuse a network whose populations differ from the saved ones."""
    path = tmp_path / "model.npz"
    setup(sim)
    data = synthetic_dataset(8)
    trainer = trainer_for(sim, build(sim, "static", feedback="random"))
    trainer.fit(data, epochs=1, progress=False)
    trainer.save(path)
    sim.end()
    setup(sim)
    larger = trainer_for(sim, build(sim, "static", n_hidden=N_HIDDEN + 4, feedback="random"))
    with pytest.raises(ValueError):
        larger.restore(path)


# --- 3. DEEP R through the trainer ---------------------------------------------------------------------------
def test_deep_r_keeps_counts_signs_and_capacity(sim):
    """Epochs of one batch (then of two): the synapse count of each DEEP R projection stays at its initial
    value, every synapse has sign * weight >= 0, a synapse that survives keeps its sign (checked in the
    one-batch epochs), no pair holds two synapses, rows stay within capacity, and the history's per-epoch
    counts add up to rewiring_counts(). With one batch per epoch, the synapses formed in it are exactly
    those with weight 0 (any synapse that took part in an update moved: l1 > 0 gives it a non-zero
    gradient)."""
    setup(sim)
    data = synthetic_dataset(16, seed=8)
    net = build(sim, "deep_r", l1=5e-2, temperature=1e-4, capacity=14)
    p_in, p_rec = net[3], net[4]
    trainer = trainer_for(sim, net, lr=0.05, batch_size=16, seed=2)
    projections = {"input": p_in, "recurrent": p_rec}
    initial = {name: len(p) for name, p in projections.items()}
    capacity = {name: p._groups[(0, 0)].rows.capacity for name, p in projections.items()}
    before = {name: weights_by_pair(p) for name, p in projections.items()}
    for name, pairs in before.items():                             # signs assigned at construction
        assert all(s == np.sign(w) for w, s in pairs.values()), name
    for epoch in range(6):
        if epoch == 4:
            trainer.batch_size = 8                                 # two batches per epoch from here on
        trainer.fit(data, epochs=1, progress=False)
        counts = trainer.history["rewiring"][-1]
        assert trainer.history["synapses"][-1] == {**initial, "readout": N_HIDDEN * N_OUT}
        for name, prj in projections.items():
            rows = prj._groups[(0, 0)].rows
            after = weights_by_pair(prj)
            assert len(prj) == rows.size() == initial[name] == len(after), name     # no duplicate pairs
            pre, post, values = rows.to_coo()
            assert np.unique(pre * rows.n_post + post).size == pre.size
            assert rows.capacity == capacity[name]
            assert int(np.max(rows.row_length)) <= rows.capacity
            np.testing.assert_array_equal(values["delay"], 1)
            assert np.all(np.abs(values["sign"]) == 1.0)
            assert np.all(values["sign"] * values["weight"] >= 0), name
            if trainer.batch_size == 16:
                # one batch per epoch: a pair with a non-zero weight after it is a synapse that survived
                # (formed ones start at 0). With two batches, a pair can be eliminated in the first and
                # re-formed, with a fresh random sign, and trained in the second: a new synapse.
                kept = [pair for pair in after if pair in before[name] and after[pair][0] != 0.0]
                assert all(after[pair][1] == before[name][pair][1] for pair in kept), name
                assert int(np.sum(values["weight"] == 0.0)) == counts[name]["formed"], (name, epoch)
            assert counts[name]["dormant"] == counts[name]["formed"] and counts[name]["failed"] == 0
            before[name] = after
    for name, prj in projections.items():
        total = {key: sum(e[name][key] for e in trainer.history["rewiring"]) for key in ("dormant", "formed",
                                                                                         "failed")}
        assert prj.rewiring_counts() == total
        per_batch = [b[name]["formed"] for epoch in trainer.history["rewiring_per_batch"] for b in epoch]
        assert [len(epoch) for epoch in trainer.history["rewiring_per_batch"]] == [1, 1, 1, 1, 2, 2]
        assert sum(per_batch) == total["formed"]          # recorded per batch, adding up to the totals
        assert total["formed"] > 0 and total["dormant"] == total["formed"], (name, total)
    with pytest.raises(NotRewiringError, match="DEEP R"):
        p_in.record_rewiring()
    with pytest.raises(NotRewiringError, match="DEEP R"):
        p_in.get_rewiring_data()


# --- 4. learning ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["dense", "static"])
def test_learns_an_easy_task(sim, kind):
    setup(sim)
    data = easy_dataset()
    net = build(sim, kind, density=0.3)
    trainer = trainer_for(sim, net, lr=0.02, batch_size=8)
    assert trainer._trained["input"].dense is (kind == "dense")
    assert trainer._trained["recurrent"].dense is (kind == "dense")
    assert trainer._trained["readout"].dense is False
    start = trainer.evaluate(data)
    history = trainer.fit(data, epochs=8, progress=False)
    end = trainer.evaluate(data)
    assert end["loss"] < 0.7 * start["loss"], (start, end)
    assert history["loss"][-1] < history["loss"][0]
    assert end["accuracy"] >= 0.9, (start, end)
    predicted, _ = trainer.predict(data)
    assert np.mean(predicted == data.labels) == pytest.approx(end["accuracy"])


# --- 5. frozen weights ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("frozen", ["static", "untrainable"])
def test_frozen_input_weights_do_not_change(sim, frozen):
    setup(sim)
    if frozen == "static":
        syn = lambda w: sim.StaticSynapse(weight=w, delay=DT)                    # noqa: E731
    else:
        syn = lambda w: sim.EpropSynapse(weight=w, delay=DT, trainable=False)    # noqa: E731
    net = build(sim, "static", input_synapse=syn)
    p_in, p_rec, p_out = net[3:]
    in0, rec0, out0 = coo(p_in), coo(p_rec), coo(p_out)
    trainer = trainer_for(sim, net, lr=0.02)
    assert trainer._trained["input"].trainable is False
    trainer.fit(easy_dataset(), epochs=2, progress=False)
    np.testing.assert_array_equal(coo(p_in), in0)
    assert not np.allclose(coo(p_out)[2], out0[2])
    assert not np.allclose(coo(p_rec)[2], rec0[2])


def test_untrainable_readout_keeps_its_weights(sim):
    setup(sim)
    net = build(sim, "static", readout_trainable=False)
    out0, in0 = coo(net[5]), coo(net[3])
    trainer = trainer_for(sim, net, lr=0.02)
    trainer.fit(easy_dataset(), epochs=1, progress=False)
    np.testing.assert_array_equal(coo(net[5]), out0)
    assert not np.allclose(coo(net[3])[2], in0[2])
    assert not np.allclose(net[2].get("bias"), 0.0)                # the biases still learn


# --- 6. bad input --------------------------------------------------------------------------------------------
def _populations(sim):
    return (sim.Population(N_IN, sim.SpikeSourceArray(), label="input"),
            sim.Population(N_HIDDEN, sim.EpropALIF(tau_refrac=1.0), label="hidden"),
            sim.Population(N_OUT, sim.LeakyIntegratorReadout(), label="readout"))


def test_delay_other_than_dt_is_refused(sim):
    from pyNN import errors
    setup(sim)
    inp, hidden, readout = _populations(sim)
    p_in = sim.Projection(inp, hidden, sim.AllToAllConnector(), sim.EpropSynapse(weight=0.1, delay=DT))
    p_out = sim.Projection(hidden, readout, sim.AllToAllConnector(), sim.EpropSynapse(weight=0.1, delay=2.0),
                           label="slow readout")
    with pytest.raises(errors.ConnectionError, match=r"'slow readout' has delay=2.0 ms.*time step"):
        sim.EpropTrainer(p_in, p_out)


def test_projections_the_trainer_does_not_know_are_refused(sim):
    """A second projection onto the hidden (or readout) layer would run in sim.run but not in training."""
    from pyNN import errors
    setup(sim)
    inp, hidden, readout, p_in, p_rec, p_out = build(sim, "static")
    sim.Projection(inp, hidden, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.2, delay=DT), label="extra")
    with pytest.raises(errors.ConnectionError, match="'extra' also ends on the hidden population"):
        sim.EpropTrainer(p_in, p_out, recurrent_projection=p_rec)
    with pytest.raises(errors.ConnectionError, match="'recurrent' also ends on the hidden population"):
        sim.EpropTrainer(p_in, p_out)                 # a recurrent projection left out is refused too


def test_wrong_cell_types_are_refused(sim):
    from pyNN import errors
    setup(sim)
    inp = sim.Population(N_IN, sim.SpikeSourceArray())
    lif = sim.Population(N_HIDDEN, sim.IF_curr_exp())
    hidden = sim.Population(N_HIDDEN, sim.EpropALIF())
    readout = sim.Population(N_OUT, sim.LeakyIntegratorReadout())
    not_readout = sim.Population(N_OUT, sim.EpropLIF())
    syn = lambda: sim.EpropSynapse(weight=0.1, delay=DT)            # noqa: E731
    p_in_lif = sim.Projection(inp, lif, sim.AllToAllConnector(), syn())
    p_out_lif = sim.Projection(lif, readout, sim.AllToAllConnector(), syn())
    with pytest.raises(errors.ConnectionError, match="EpropALIF or EpropLIF.*IF_curr_exp"):
        sim.EpropTrainer(p_in_lif, p_out_lif)
    p_in = sim.Projection(inp, hidden, sim.AllToAllConnector(), syn())
    p_bad_out = sim.Projection(hidden, not_readout, sim.AllToAllConnector(), syn())
    with pytest.raises(errors.ConnectionError, match="LeakyIntegratorReadout.*EpropLIF"):
        sim.EpropTrainer(p_in, p_bad_out)
    p_stdp = sim.Projection(hidden, readout, sim.AllToAllConnector(), sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(), weight_dependence=sim.AdditiveWeightDependence(), weight=0.1,
        delay=DT))
    with pytest.raises(errors.ConnectionError, match="cannot be trained by e-prop"):
        sim.EpropTrainer(p_in, p_stdp)


def test_bad_datasets_and_arguments_are_refused(sim):
    setup(sim)
    net = build(sim, "static")
    trainer = trainer_for(sim, net)
    wrong_channels = easy_dataset(n_channels=N_IN + 4)
    with pytest.raises(ValueError, match=f"{N_IN + 4} channels but the input population has {N_IN}"):
        trainer.fit(wrong_channels, progress=False)
    with pytest.raises(ValueError, match="validation has 24 channels"):
        trainer.fit(easy_dataset(), validation=wrong_channels, progress=False)
    with pytest.raises(ValueError, match="channels"):
        trainer.evaluate(wrong_channels)
    too_many_classes = easy_dataset(n_classes=N_OUT + 1, n_channels=N_IN)
    with pytest.raises(ValueError, match=f"labels up to {N_OUT} but the readout population has {N_OUT}"):
        trainer.fit(too_many_classes, progress=False)
    for kwargs, name in [({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
                         ({"dtype": "float16"}, "dtype")]:
        with pytest.raises(ValueError, match=name):
            trainer_for(sim, net, **kwargs)
    with pytest.raises(TypeError, match="optimiser"):
        sim.EpropTrainer(net[3], net[5], optimiser="adam")
    for epochs in (-1, 1.5, True):
        with pytest.raises(ValueError, match="epochs"):
            trainer.fit(easy_dataset(), epochs=epochs, progress=False)
    assert trainer.history["epoch"] == []                           # nothing ran


def test_non_uniform_hidden_parameters_are_refused(sim):
    setup(sim)
    net = build(sim, "static")
    net[1].set(tau_m=np.linspace(10.0, 30.0, N_HIDDEN))
    with pytest.raises(ValueError, match="tau_m of population 'hidden' differs between neurons"):
        trainer_for(sim, net)


def test_initial_values_are_refused_or_simulated(sim):
    """Training starts every trial from v = a = 0. A hidden population initialised elsewhere (v = 0.5) runs
    differently under sim.run, so the trainer must either refuse it or train the network sim.run simulates."""
    setup(sim)
    data = synthetic_dataset(8)
    net = build(sim, "static")
    inp, hidden, readout = net[:3]
    hidden.initialize(v=0.5)
    try:
        trainer = trainer_for(sim, net)
    except ValueError as error:
        assert "initial" in str(error)
        return
    _, y_sum = trainer.predict(data)
    readout.record("v")
    inp.set(spike_times=data.to_spike_source_arrays(0, dt=DT))
    sim.run(float(data.n_steps_for(DT)))
    v = np.asarray(readout.get_data("v").segments[-1].analogsignals[0].magnitude)
    np.testing.assert_allclose(v[1:].sum(axis=0), y_sum[0], rtol=1e-9, atol=1e-9)


def test_predict_checks_the_dataset(sim):
    """predict() with a data set of the wrong number of channels should say so, like fit() and evaluate()."""
    setup(sim)
    trainer = trainer_for(sim, build(sim, "static"))
    with pytest.raises(ValueError, match=f"{N_IN + 4} channels but the input population has {N_IN}"):
        trainer.predict(easy_dataset(n_channels=N_IN + 4))


def test_bad_synapse_types_are_refused(sim):
    setup(sim)
    with pytest.raises(ValueError, match="needs weight_dynamics=sim.EpropSynapse"):
        sim.StructuralPlasticityMechanism(rewiring=sim.DeepR())
    with pytest.raises(ValueError, match="replaces formation"):
        sim.StructuralPlasticityMechanism(rewiring=sim.DeepR(), weight_dynamics=sim.EpropSynapse(),
                                          formation=sim.DistanceDependentFormation())
    with pytest.raises(ValueError, match="goes with rewiring=sim.DeepR"):
        sim.StructuralPlasticityMechanism(weight_dynamics=sim.EpropSynapse())
    with pytest.raises(TypeError, match="rewiring"):
        sim.StructuralPlasticityMechanism(rewiring="deep_r", weight_dynamics=sim.EpropSynapse())
    with pytest.raises(ValueError, match="feedback='x'"):
        sim.EpropSynapse(feedback="x")
    with pytest.raises(ValueError, match="c_reg=-1"):
        sim.EpropSynapse(c_reg=-1)
    with pytest.raises(ValueError, match="trainable"):
        sim.EpropSynapse(trainable="yes")
    with pytest.raises(ValueError, match="l1"):
        sim.DeepR(l1=-1e-3)


def test_projections_into_the_hidden_layer_must_agree_on_regularisation(sim):
    setup(sim)
    inp, hidden, readout = _populations(sim)
    p_in = sim.Projection(inp, hidden, sim.AllToAllConnector(), sim.EpropSynapse(weight=0.1, delay=DT, c_reg=1.0))
    p_rec = sim.Projection(hidden, hidden, sim.AllToAllConnector(), sim.EpropSynapse(weight=0.1, delay=DT))
    p_out = sim.Projection(hidden, readout, sim.AllToAllConnector(), sim.EpropSynapse(weight=0.1, delay=DT))
    with pytest.raises(ValueError, match="c_reg, f_target"):
        sim.EpropTrainer(p_in, p_out, recurrent_projection=p_rec)


# --- 7. random feedback --------------------------------------------------------------------------------------
def test_random_feedback_takes_another_path_and_still_learns(sim):
    data = easy_dataset()
    results = {}
    for feedback in ("symmetric", "random"):
        setup(sim)
        net = build(sim, "dense", feedback=feedback)
        trainer = trainer_for(sim, net, lr=0.02)
        assert trainer.feedback_mode == feedback
        assert (trainer.engine.feedback is None) is (feedback == "symmetric")
        w0 = coo(net[3])
        trainer.fit(data, epochs=1, progress=False)
        w1 = coo(net[3])
        trainer.fit(data, epochs=7, progress=False)
        results[feedback] = (w0, w1, trainer.evaluate(data)["accuracy"])
        if feedback == "random":
            assert trainer.engine.feedback.shape == (N_HIDDEN, N_OUT)
        sim.end()
    (s0, s1, s_acc), (r0, r1, r_acc) = results["symmetric"], results["random"]
    np.testing.assert_array_equal(s0, r0)                           # the same start
    assert np.abs(s1[2] - r1[2]).max() > 1e-3                       # another gradient after one epoch
    assert s_acc >= 0.9 and r_acc >= 0.9, (s_acc, r_acc)


# --- 8. float32 ----------------------------------------------------------------------------------------------
def test_float32_learns_as_well_as_float64(sim):
    data = easy_dataset()
    acc = {}
    for dtype in ("float64", "float32"):
        setup(sim)
        net = build(sim, "static")
        trainer = trainer_for(sim, net, lr=0.02, dtype=dtype)
        trainer.fit(data, epochs=8, progress=False)
        _, y = trainer.predict(data)
        assert y.dtype == np.dtype(dtype)
        assert net[3]._groups[(0, 0)].rows.vars["weight"].dtype == np.float64    # weights stay in the rows' type
        acc[dtype] = trainer.evaluate(data)["accuracy"]
        sim.end()
    assert acc["float64"] >= 0.9 and acc["float32"] >= 0.9, acc
    assert abs(acc["float64"] - acc["float32"]) <= 0.1, acc


# --- 9. readout biases ---------------------------------------------------------------------------------------
def test_readout_biases_are_written_back(sim):
    setup(sim)
    net = build(sim, "static")
    readout = net[2]
    readout.set(bias=np.array([0.01, -0.02, 0.0, 0.03]))
    trainer = trainer_for(sim, net, lr=0.02)
    np.testing.assert_array_equal(np.asarray(trainer.engine.bias), [0.01, -0.02, 0.0, 0.03])   # read at start
    trainer.fit(easy_dataset(), epochs=1, progress=False)
    bias = np.asarray(readout.get("bias"), float)
    np.testing.assert_array_equal(bias, np.asarray(trainer.engine.bias))
    assert np.abs(bias - [0.01, -0.02, 0.0, 0.03]).max() > 1e-3

    setup_bias = bias.copy()
    fixed = trainer_for(sim, net, lr=0.02, train_bias=False)
    fixed.fit(easy_dataset(), epochs=1, progress=False)
    np.testing.assert_array_equal(np.asarray(readout.get("bias"), float), setup_bias)
