"""The e-prop cell types (EpropALIF, EpropLIF, LeakyIntegratorReadout) through the PyNN face: driven by
SpikeSourceArray populations through Projections, recorded to Neo, and compared with an explicit float64
loop of the discrete-time equations (those of tests/eprop_reference.py).

Timing convention (dt = 1 ms, delay d = 1 ms), found in engine/network.py, neurons/sources.py and recording:
  - a SpikeSourceArray spike at time t is emitted by the step from t - dt to t (step index t/dt - 1);
  - the projection writes its weight into the ring slot read d/dt steps later, i.e. by the step from t to
    t + dt (step index k = t/dt, for d = dt);
  - a recorded signal has sample n = the state after step n - 1 (sample 0 = the initial value, at t = 0), and a
    spike found in step k is reported at (k + 1) dt.
So a source spike at t with delay 1 ms is in I of step k = t/dt and first shows in v at t + 1 ms (in general:
at t + d). The reference below is fed inp[k] = the summed weights of the source spikes at t = k dt.
"""

import math

import numpy as np
import pytest
from pyNN import errors

from pynn_sparsegpu.engine import neurons as en
from pynn_sparsegpu.engine.backend import select_backend
from pynn_sparsegpu.engine.neurons.base import StepContext, refractory_counts
from pynn_sparsegpu.engine.neurons.group import NeuronGroup

DT = 1.0
T = 200          # steps of the run (200 ms)


# --- the reference: explicit float64 loops of the equations ---------------------------------------------
def reference_alif(inp, v0, a0, tau_m, tau_adapt, beta, v_thresh, n_ref):
    """One neuron: inp[k] = weights arriving in step k. Returns v and a samples (T + 1 values: initial, then
    after each step), the spike flags of each step, and the steps where v crossed the baseline threshold
    but no spike came: blocked by refractoriness, or by adaptation (v_thresh <= v < A)."""
    alpha, rho = math.exp(-DT / tau_m), math.exp(-DT / tau_adapt)
    v, a, z, r = float(v0), float(a0), 0.0, 0
    vs, as_, spikes, by_refractoriness, by_adaptation = [v], [a], [], [], []
    for k in range(len(inp)):
        v = alpha * v + float(inp[k]) - v_thresh * z
        a = rho * a + z
        threshold = v_thresh + beta * a
        spike = r == 0 and v >= threshold
        if v >= threshold and r > 0:
            by_refractoriness.append(k)
        if v_thresh <= v < threshold:
            by_adaptation.append(k)
        r = n_ref if spike else max(r - 1, 0)
        z = 1.0 if spike else 0.0
        vs.append(v)
        as_.append(a)
        spikes.append(spike)
    return np.array(vs), np.array(as_), np.array(spikes), by_refractoriness, by_adaptation


def reference_readout(inp, tau_m, bias):
    kappa = math.exp(-DT / tau_m)
    v, vs = 0.0, [0.0]
    for k in range(len(inp)):
        v = kappa * v + float(inp[k]) + bias
        vs.append(v)
    return np.array(vs)


# --- the network side ------------------------------------------------------------------------------------
def source_trains(n, rate_per_step, seed, extra=()):
    """Spike times (whole ms in 1..T-1, so each arrives within the run) of n sources."""
    rng = np.random.default_rng(seed)
    trains = [np.flatnonzero(rng.random(T - 1) < rate_per_step) + 1.0 for _ in range(n)]
    for i, times in extra:
        trains[i] = np.asarray(times, dtype=float)
    return trains


def per_step_input(trains, weights):
    """inp[k, j]: the weights onto neuron j of the source spikes at t = k dt (the convention above)."""
    inp = np.zeros((T, weights.shape[1]))
    for i, times in enumerate(trains):
        for t in times:
            k = int(round(t / DT))
            if k < T:
                inp[k] += weights[i]
    return inp


def connect_split_by_sign(sim, source, target, weights):
    """W >= 0 on "excitatory", W < 0 on "inhibitory" (PyNN's weight-sign check; both receptors add to v)."""
    for receptor, mask in (("excitatory", weights > 0), ("inhibitory", weights < 0)):
        pairs = [(i, j, float(weights[i, j]), DT) for i, j in zip(*np.nonzero(mask))]
        sim.Projection(source, target, sim.FromListConnector(pairs), sim.StaticSynapse(), receptor_type=receptor)


def signals(population):
    segment = population.get_data().segments[0]
    out = {sig.name: np.asarray(sig.magnitude) for sig in segment.analogsignals}
    out["spikes"] = [np.asarray(st.rescale("ms").magnitude) for st in segment.spiketrains]
    return out


ALIF_PARAMS = {                       # four neurons: what each one exercises
    "tau_m": [20.0, 20.0, 20.0, 5.0],
    "tau_adapt": [2000.0, 60.0, 2000.0, 300.0],
    "beta": [0.0174, 0.4, 0.0, 0.1],  # 1: strong, fast adaptation; 2: none
    "v_thresh": [0.6, 0.6, 0.6, 1.0],
    "tau_refrac": [5.0, 2.0, 0.0, 3.0],
}
ALIF_V0, ALIF_A0 = [0.0, 0.3, -0.2, 0.5], [0.0, 1.0, 0.0, 0.0]


def test_refractory_steps_are_round_tau_refrac_over_dt():
    assert int(refractory_counts(5.0, 1.0, np)) == round(5.0 / 1.0) == 5
    assert refractory_counts(np.array([0.0, 2.0, 3.0, 5.0]), DT, np).tolist() == [0, 2, 3, 5]


def test_one_source_spike_enters_v_at_t_plus_delay(sim):
    """The convention of the module docstring, on a readout (no leak to speak of, no bias)."""
    sim.setup(timestep=DT, min_delay=DT, backend="numpy")
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[10.0]))
    readout = sim.Population(1, sim.LeakyIntegratorReadout(tau_m=1e12))
    sim.Projection(source, readout, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.25, delay=DT))
    readout.record("v")
    sim.run(20.0)
    v = signals(readout)["v"][:, 0]
    assert v.shape == (21,)
    np.testing.assert_array_equal(v[:11], 0.0)            # samples at t = 0 .. 10 ms
    np.testing.assert_allclose(v[11:], 0.25, rtol=0, atol=1e-9)


def test_alif_and_lif_equal_the_reference_loop(sim):
    """Two ALIF populations (batched on the NumPy path) and a LIF population, driven by 20 sources (one
    firing every ms) with weights of both signs; v, a and the spikes equal the float64 loop."""
    sim.setup(timestep=DT, min_delay=DT, backend="numpy")
    n_src = 20
    trains = source_trains(n_src, 0.15, seed=3, extra=[(0, np.arange(1.0, T))])
    rng = np.random.default_rng(7)
    weights = rng.normal(0.05, 0.25, size=(n_src, 4))
    weights[0] = [0.12, 0.12, 0.09, 0.3]                   # the steady source: repeated firing
    source = sim.Population(n_src, sim.SpikeSourceArray(spike_times=trains))
    halves = []
    for sl in (slice(0, 2), slice(2, 4)):
        cells = sim.Population(2, sim.EpropALIF(**{k: v[sl] for k, v in ALIF_PARAMS.items()}),
                               initial_values={"v": ALIF_V0[sl], "a": ALIF_A0[sl]})
        connect_split_by_sign(sim, source, cells, weights[:, sl])
        cells.record(["spikes", "v", "a"])
        halves.append(cells)
    lif = sim.Population(4, sim.EpropLIF(tau_m=[20.0, 10.0, 30.0, 20.0], tau_refrac=[5.0, 1.0, 0.0, 5.0]))
    # one projection with weights of both signs: PyNN's sign check is switched off with safe=False
    pairs = [(i, j, float(weights[i, j]), DT) for i in range(n_src) for j in range(4)]
    sim.Projection(source, lif, sim.FromListConnector(pairs, safe=False), sim.StaticSynapse(),
                   receptor_type="excitatory")
    lif.record(["spikes", "v"])
    sim.run(float(T))

    inp = per_step_input(trains, weights)
    recorded = [signals(cells) for cells in halves]
    refractory_blocks, adaptation_blocks, spike_counts = [], [], []
    for j in range(4):
        got = recorded[j // 2]
        p = {k: v[j] for k, v in ALIF_PARAMS.items()}
        v, a, spikes, by_ref, by_adapt = reference_alif(
            inp[:, j], ALIF_V0[j], ALIF_A0[j], p["tau_m"], p["tau_adapt"], p["beta"], p["v_thresh"],
            round(p["tau_refrac"] / DT))
        assert got["v"].shape == (T + 1, 2)
        np.testing.assert_allclose(got["v"][:, j % 2], v, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got["a"][:, j % 2], a, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got["spikes"][j % 2], (np.flatnonzero(spikes) + 1) * DT, rtol=0, atol=1e-9)
        refractory_blocks.append(len(by_ref))
        adaptation_blocks.append(len(by_adapt))
        spike_counts.append(int(spikes.sum()))
    assert min(spike_counts) >= 5, spike_counts                        # every neuron fires repeatedly
    assert refractory_blocks[0] > 0 and refractory_blocks[3] > 0, refractory_blocks
    assert adaptation_blocks[1] > 0, adaptation_blocks
    assert refractory_blocks[2] == 0                                     # tau_refrac = 0: nothing blocks
    isi = np.diff(recorded[0]["spikes"][0])
    assert isi.min() == pytest.approx(6 * DT)            # n_ref = 5: the next spike 6 steps later at the earliest

    got = signals(lif)
    for j, (tau_m, tau_refrac) in enumerate(zip([20.0, 10.0, 30.0, 20.0], [5.0, 1.0, 0.0, 5.0])):
        v, _, spikes, _, _ = reference_alif(inp[:, j], 0.0, 0.0, tau_m, 1.0, 0.0, 0.6, round(tau_refrac / DT))
        np.testing.assert_allclose(got["v"][:, j], v, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got["spikes"][j], (np.flatnonzero(spikes) + 1) * DT, rtol=0, atol=1e-9)
        assert spikes.sum() >= 3


def test_readout_geometric_sum_and_driven_trace(sim):
    sim.setup(timestep=DT, min_delay=DT, backend="numpy")
    biases, tau_m = np.array([0.1, -0.05, 0.0]), 20.0
    still = sim.Population(3, sim.LeakyIntegratorReadout(tau_m=tau_m, bias=biases))
    trains = source_trains(5, 0.1, seed=11)
    weights = np.random.default_rng(5).normal(0.0, 0.5, size=(5, 2))
    source = sim.Population(5, sim.SpikeSourceArray(spike_times=trains))
    driven = sim.Population(2, sim.LeakyIntegratorReadout(tau_m=[10.0, 40.0], bias=[0.02, -0.01]))
    connect_split_by_sign(sim, source, driven, weights)
    still.record("v")
    driven.record("v")
    sim.run(float(T))
    kappa = math.exp(-DT / tau_m)
    n = np.arange(T + 1)[:, None]
    np.testing.assert_allclose(signals(still)["v"], biases * (1 - kappa ** n) / (1 - kappa), rtol=0, atol=1e-9)
    inp = per_step_input(trains, weights)
    got = signals(driven)
    assert got["spikes"] == []
    for j, (tau, bias) in enumerate([(10.0, 0.02), (40.0, -0.01)]):
        np.testing.assert_allclose(got["v"][:, j], reference_readout(inp[:, j], tau, bias), rtol=0, atol=1e-9)


# --- the PyNN face: names, defaults, units, errors -------------------------------------------------------
EXPECTED = {
    "EpropALIF": ({"tau_m": 20.0, "tau_adapt": 2000.0, "beta": 0.0174, "v_thresh": 0.6, "tau_refrac": 5.0,
                   "gamma": 0.3}, ["spikes", "v", "a"], {"v": 0.0, "a": 0.0}),
    "EpropLIF": ({"tau_m": 20.0, "v_thresh": 0.6, "tau_refrac": 5.0, "gamma": 0.3}, ["spikes", "v"], {"v": 0.0}),
    "LeakyIntegratorReadout": ({"tau_m": 20.0, "bias": 0.0}, ["v"], {"v": 0.0}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_defaults_units_and_description(sim, name):
    defaults, recordable, initial = EXPECTED[name]
    cls = getattr(sim, name)
    assert name in sim.list_standard_models()
    assert cls.default_parameters == defaults
    assert sorted(cls().get_parameter_names()) == sorted(defaults)
    assert cls.recordable == recordable and cls.default_initial_values == initial
    assert cls.receptor_types == ("excitatory", "inhibitory") and cls.conductance_based is False
    assert set(cls.units) >= set(defaults) | set(initial)
    assert cls.units["v"] == "mV" and cls.units["tau_m"] == "ms"
    assert cls.__doc__ and "exp(-dt/tau_m)" in cls.__doc__
    sim.setup(timestep=DT, min_delay=DT, backend="numpy")
    cells = sim.Population(3, cls())
    assert name in cells.describe() and name in cls().describe()
    for pname, value in defaults.items():
        np.testing.assert_allclose(cells.get(pname), value)
    cells.record("v")
    sim.run(3.0)
    signal = cells.get_data().segments[0].filter(name="v")[0]
    assert str(signal.units.dimensionality) == "mV"


INVALID = [("EpropALIF", "tau_m", 0.0), ("EpropALIF", "tau_adapt", -1.0), ("EpropALIF", "v_thresh", 0.0),
           ("EpropALIF", "tau_refrac", -0.5), ("EpropALIF", "beta", -0.01), ("EpropALIF", "gamma", 0.0),
           ("EpropLIF", "tau_m", -2.0), ("EpropLIF", "v_thresh", -0.6), ("EpropLIF", "tau_refrac", -1.0),
           ("EpropLIF", "gamma", -0.3), ("LeakyIntegratorReadout", "tau_m", 0.0)]


@pytest.mark.parametrize("name,parameter,value", INVALID)
def test_invalid_parameters_raise_naming_the_parameter(sim, name, parameter, value):
    sim.setup(timestep=DT, min_delay=DT, backend="numpy")
    cls = getattr(sim, name)
    with pytest.raises(errors.InvalidParameterValueError, match=repr(parameter)):
        sim.Population(2, cls(**{parameter: value}))
    cells = sim.Population(2, cls())
    with pytest.raises(errors.InvalidParameterValueError, match=repr(parameter)):
        cells.set(**{parameter: value})


def test_sign_check_of_pynn_and_the_engine(sim):
    """PyNN's weight check wants >= 0 on "excitatory" and <= 0 on "inhibitory" (a negative weight on
    "excitatory" is refused unless the connector has safe=False); the engine takes either sign."""
    sim.setup(timestep=DT, min_delay=DT, backend="numpy")
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]))
    cells = sim.Population(1, sim.EpropLIF())
    sim.Projection(source, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.2, delay=DT),
                   receptor_type="inhibitory")
    with pytest.raises(errors.ConnectionError):
        sim.Projection(source, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.2, delay=DT),
                       receptor_type="excitatory")
    sim.Projection(source, cells, sim.AllToAllConnector(safe=False), sim.StaticSynapse(weight=-0.3, delay=DT),
                   receptor_type="excitatory")
    cells.record("v")
    sim.run(3.0)
    np.testing.assert_allclose(cells.get_data().segments[0].filter(name="v")[0].magnitude[:, 0],
                               [0.0, 0.0, -0.5, -0.5 * math.exp(-DT / 20.0)], rtol=0, atol=1e-12)


def test_not_injectable(sim):
    sim.setup(timestep=DT, min_delay=DT, backend="numpy")
    cells = sim.Population(1, sim.EpropALIF())
    with pytest.raises(TypeError):
        cells.inject(sim.DCSource(amplitude=1.0))


# --- the engine models: fused-step adapter and dtype -----------------------------------------------------
def _engine_run(model, params, backend, n_steps=150):
    group = NeuronGroup(model, 3, backend, np.random.SeedSequence(1))
    group.set_parameters({k: np.asarray(v, dtype=float) for k, v in params.items()})
    group.prepare(DT, 1)
    drive = np.array([0.35, 0.5, 0.9])
    trace, counts = [], np.zeros(3, int)
    for k in range(n_steps):
        group.ring[0, k % 2] += drive * (1 if k % 3 else -0.5)
        counts += backend.to_host(group.step(StepContext(backend.xp, DT, k * DT, k, group.rng))).astype(int)
        trace.append(backend.to_host(group.state["v"]).copy())
        for name, arr in group.state.items():
            assert arr.dtype == (np.int32 if name == "_r" else backend.dtype), (name, arr.dtype)
    return np.array(trace), counts


@pytest.mark.parametrize("model,params", [
    (en.EpropALIF(), {"beta": [0.0, 0.2, 0.5], "tau_adapt": [100.0, 200.0, 2000.0], "tau_refrac": [0.0, 2.0, 5.0]}),
    (en.EpropLIF(), {"tau_refrac": [0.0, 2.0, 5.0]}),
])
def test_engine_float32(model, params):
    """The state keeps its dtype in float32 and the trajectory stays finite (the compiled path's agreement with
    this reference is checked in tests/test_compiled_engine.py)."""
    _, counts = _engine_run(model, params, select_backend("numpy", "float64"))
    assert counts.min() > 0
    single, _ = _engine_run(model, params, select_backend("numpy", "float32"))
    assert np.isfinite(single).all()
