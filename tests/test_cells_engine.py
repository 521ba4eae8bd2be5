"""Engine-level checks of the conductance-based and non-linear neuron models, on every array path.

- the state keeps the backend's dtype (float32 stays float32) and stays finite under strong drive;
- a heterogeneous population is exactly the set of its neurons simulated one by one (whole-array steps,
  no coupling between neurons);
- NumPy and CuPy give the same trajectories (skipped without a GPU).
"""

import numpy as np
import pytest

from conftest import GPU
from pynn_sparsegpu.engine import neurons as en
from pynn_sparsegpu.engine.backend import select_backend
from pynn_sparsegpu.engine.neurons.base import StepContext

DT = 0.1


def _models():
    return {
        "IFCondExp": (en.IFCondExp(), {"i_offset": [0.0, 0.9, 1.2, 2.0]}),
        "IFCondAlpha": (en.IFCondAlpha(), {"i_offset": [0.0, 0.9, 1.2, 2.0]}),
        "IFCondExpGsfaGrr": (en.IFCondExpGsfaGrr(), {"i_offset": [0.0, 0.9, 1.2, 2.0]}),
        "EIFCondExp": (en.EIFCondExp(), {"i_offset": [0.0, 0.5, 0.8, 1.5], "tau_refrac": [0.0, 0.0, 1.0, 2.0]}),
        "EIFCondAlpha": (en.EIFCondAlpha(), {"i_offset": [0.0, 0.5, 0.8, 1.5], "delta_T": [2.0, 0.0, 1.0, 2.0]}),
        "Izhikevich": (en.Izhikevich(), {"i_offset": [0.0, 0.005, 0.01, 0.02]}),
        "HHCondExp": (en.HHCondExp(), {"i_offset": [0.0, 0.3, 0.6, 1.0]}),
        "PointNeuron-LIF-curr": (en.PointNeuron("LIF", {"AMPA": "curr_exp", "GABA": "curr_exp"}),
                                 {"i_offset": [0.0, 0.9, 1.2, 2.0], "AMPA.tau_syn": [1.0, 2.0, 3.0, 4.0]}),
        "PointNeuron-LIF-cond": (en.PointNeuron("LIF", {"AMPA": "cond_exp", "NMDA": "cond_beta"}),
                                 {"i_offset": [0.0, 0.9, 1.2, 2.0]}),
        "PointNeuron-AdExp": (en.PointNeuron("AdExp", {"A": "cond_alpha", "B": "cond_beta", "C": "cond_exp"}),
                              {"i_offset": [0.0, 0.5, 0.8, 1.5], "B.tau_rise": [0.5, 1.0, 1.7, 1.7]}),
        "PointNeuron-AdExp-curr": (en.PointNeuron("AdExp", {"A": "curr_exp"}), {"i_offset": [0.0, 0.5, 0.8, 1.5]}),
        "GIFCondExp": (en.GIFCondExp(), {"i_offset": [0.0, 0.7, 0.9, 1.2], "lambda0": [1.0, 5.0, 10.0, 20.0],
                                         "tau_eta": [[1.0, 10.0, 100.0]] * 4, "tau_gamma": [[1.0, 10.0, 100.0]] * 4,
                                         "a_eta": [[0.1, 0.05, 0.01]] * 4, "a_gamma": [[2.0, 1.0, 0.5]] * 4}),
    }


MODELS = _models()
DETERMINISTIC = sorted(name for name in MODELS if name != "GIFCondExp")


def simulate(model, params, backend, n_steps=400, index=None):
    """Step a group of the given neurons with a fixed drive; return ({state: [steps, n]}, spike counts)."""
    from pynn_sparsegpu.engine.neurons.group import NeuronGroup
    values = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    if index is not None:
        values = {k: v[index:index + 1] for k, v in values.items()}
    n = len(next(iter(values.values())))
    group = NeuronGroup(model, n, backend, np.random.SeedSequence(1))
    group.set_parameters(values)
    group.prepare(DT, 1)
    xp = backend.xp
    weights = np.array([0.05 if model.receptor_units != "mV" else 4.0, 0.02])
    if model.receptor_units == "nA":
        weights = np.array([1.0, -0.5])
    trace, counts = {k: [] for k in group.state if not k.startswith("_")}, 0
    for k in range(n_steps):
        if k % 7 == 0:       # input on the first two receptors every 0.7 ms
            for r in range(min(2, len(model.receptors))):
                group.ring[0, r] += float(weights[r])
        counts = counts + backend.to_host(group.step(StepContext(xp, DT, k * DT, k, group.rng)))
        for name in trace:
            trace[name].append(backend.to_host(group.state[name]).copy())
        for name, arr in group.state.items():
            if arr.dtype.kind == "f":
                assert arr.dtype == backend.dtype, (name, arr.dtype)
    return {k: np.array(v) for k, v in trace.items()}, counts


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_keeps_dtype_and_stays_finite(backend, name):
    model, params = MODELS[name]
    for precision in ("float32", "float64"):
        be = select_backend(backend.name, precision)
        trace, counts = simulate(model, params, be, n_steps=200)
        assert all(np.isfinite(v).all() for v in trace.values())
        assert counts.sum() > 0


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_population_equals_neurons_one_by_one(name):
    model, params = MODELS[name]
    be = select_backend("numpy", "float64")
    together, counts = simulate(model, params, be, n_steps=250)
    for i in (1, 3):
        alone, count = simulate(model, params, be, n_steps=250, index=i)
        assert count[0] == counts[i]
        for var in together:
            np.testing.assert_allclose(alone[var][:, 0], together[var][:, i], rtol=0, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="no usable CUDA device")
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_numpy_and_cupy_agree(name):
    model, params = MODELS[name]
    cpu, _ = simulate(model, params, select_backend("numpy", "float64"))
    gpu, _ = simulate(model, params, select_backend("cupy", "float64"))
    for var in cpu:
        np.testing.assert_allclose(gpu[var], cpu[var], rtol=1e-9, atol=1e-9)


def test_gif_escape_noise_rate_matches_intensity():
    """At a clamped V far below reset, GIF's firing probability per step is 1 - exp(-lambda dt)."""
    be = select_backend("numpy", "float64")
    from pynn_sparsegpu.engine.neurons.group import NeuronGroup
    n = 20000
    group = NeuronGroup(en.GIFCondExp(), n, be, np.random.SeedSequence(3))
    group.set_parameters({"tau_eta": [np.zeros(0)] * n, "tau_gamma": [np.zeros(0)] * n,
                          "a_eta": [np.zeros(0)] * n, "a_gamma": [np.zeros(0)] * n,
                          "lambda0": 50.0, "v_t_star": -65.0, "tau_refrac": 0.0, "delta_v": 1.0})
    group.prepare(DT, 1)
    spikes = group.step(StepContext(np, DT, 0.0, 0, group.rng))   # V starts at v_rest = v_t_star
    expected = 1.0 - np.exp(-50.0e-3 * DT)
    assert abs(spikes.mean() - expected) < 5 * np.sqrt(expected / n)


def test_point_neuron_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="curr_alpha"):
        en.PointNeuron("LIF", {"A": "curr_alpha"})
    with pytest.raises(ValueError, match="'LIF' or 'AdExp'"):
        en.PointNeuron("Izhikevich", {"A": "cond_exp"})
