"""The fused-step adapter (one CUDA kernel per population per step on CuPy), exercised on NumPy through an
identity fuser: the flattened call must give exactly the same trajectory as the model's own step."""

import numpy as np
import pytest

from pynn_sparsegpu.engine.backend import select_backend
from pynn_sparsegpu.engine.neurons import (IFCondAlpha, IFCondExp, IFCondExpGsfaGrr, IFCurrAlpha, IFCurrDelta,
                                           IFCurrExp, NeuronGroup, StepContext)
from pynn_sparsegpu.engine.neurons.fused import build_fused_step, can_fuse

from conftest import GPU


def _drive(group, n_steps, fused, seed=1):
    rng = np.random.default_rng(seed)
    xp = group.backend.xp
    spikes = []
    for k in range(n_steps):
        syn = rng.normal(0.0, 0.5, size=group.ring.shape[1:]) * (rng.random(group.ring.shape[1:]) < 0.05)
        group.i_stim[...] = 0.3 + 0.2 * np.sin(k / 50.0)
        ctx = StepContext(xp=xp, dt=0.1, t=k * 0.1, step=k, rng=None)
        if fused is None:
            out = group.model.step(group.state, group.params, group._derived, syn, group.i_stim, ctx)
        else:
            out = fused(group.state, group.params, group._derived, syn, group.i_stim, ctx)
        spikes.append(np.asarray(out).astype(int))
    return np.array(spikes), {k: np.array(v) for k, v in group.state.items()}


@pytest.mark.parametrize("model_cls", [IFCurrExp, IFCurrAlpha, IFCurrDelta, IFCondExp, IFCondAlpha,
                                       IFCondExpGsfaGrr])
def test_fused_adapter_matches_direct_step(model_cls):
    backend = select_backend("numpy", "float64")
    groups = []
    for _ in range(2):
        g = NeuronGroup(model_cls(), 50, backend, np.random.SeedSequence(3))
        g.set_parameters({"tau_refrac": np.linspace(0.1, 3.0, 50), "v_thresh": -55.0})
        g.prepare(0.1, 1)
        groups.append(g)
    assert can_fuse(groups[1].model, groups[1].params, groups[1]._derived)
    fused = build_fused_step(groups[1].model, groups[1].state, groups[1].params, groups[1]._derived,
                             len(model_cls.receptors), 0.1, np, fuser=lambda f: f)
    assert fused is not None
    s_direct, st_direct = _drive(groups[0], 2000, None)
    s_fused, st_fused = _drive(groups[1], 2000, fused)
    assert s_direct.sum() > 10                      # the drive makes the neurons fire
    np.testing.assert_array_equal(s_direct, s_fused)
    for name in st_direct:
        np.testing.assert_array_equal(st_direct[name], st_fused[name])
        assert st_direct[name].dtype == st_fused[name].dtype


def test_sources_are_not_fused():
    from pynn_sparsegpu.engine.neurons import Poisson
    backend = select_backend("numpy", "float64")
    g = NeuronGroup(Poisson(), 10, backend, np.random.SeedSequence(0))
    g.prepare(0.1, 1)
    assert not can_fuse(g.model, g.params, g._derived)


@pytest.mark.gpu
def test_fused_kernel_on_gpu_matches_numpy():
    if not GPU:
        pytest.skip("no usable CUDA device")
    results = []
    for name in ("numpy", "cupy"):
        backend = select_backend(name, "float64")
        g = NeuronGroup(IFCurrExp(), 100, backend, np.random.SeedSequence(3))
        g.prepare(0.1, 1)
        if name == "cupy":
            assert g._fused is not None
        fused = g._fused
        spikes, state = _drive(g, 1000, fused)
        if name == "cupy":
            assert not g._fused.failed
        results.append((spikes, state))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1]["v"], results[1][1]["v"], atol=1e-9)
