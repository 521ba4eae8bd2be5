"""The engine's batched e-prop equals an independent float64 loop implementation (tests/eprop_reference.py)
of Bellec et al. (2020)'s equations, for LIF and ALIF, dense and sparse connectivity."""

import numpy as np
import pytest

from eprop_reference import eprop_gradients
from pynn_sparsegpu.engine.learning import EpropNetwork, EpropParameters, SynapseList


def _network(seed, density):
    rng = np.random.default_rng(seed)
    n_in, n_rec, n_out = 6, 5, 3
    w_in = rng.normal(0, 0.6, (n_rec, n_in)) * (rng.random((n_rec, n_in)) < density)
    w_rec = rng.normal(0, 0.4, (n_rec, n_rec)) * (rng.random((n_rec, n_rec)) < density)
    np.fill_diagonal(w_rec, 0.0)
    w_out = rng.normal(0, 0.5, (n_out, n_rec))
    b_out = rng.normal(0, 0.1, n_out)
    x = (rng.random((3, 40, n_in)) < 0.25).astype(float)
    target = rng.integers(0, n_out, 3)
    return x, target, w_in, w_rec, w_out, b_out


def _sparse(matrix):
    post, pre = np.nonzero(matrix)
    return SynapseList(np, pre, post, matrix[post, pre], matrix.shape[1], matrix.shape[0]), (post, pre)


def _assert_equal_gradients(got, ref, in_pairs, rec_pairs):
    """Same spikes, and the engine's per-synapse gradients equal the reference's at each synapse's pair."""
    np.testing.assert_array_equal(got["z"], ref["z"])
    for name, (post, pre) in (("w_in", in_pairs), ("w_rec", rec_pairs)):
        expected = ref[name][post, pre]
        assert np.abs(expected).max() > 1e-3
        np.testing.assert_allclose(got[name], expected, rtol=1e-6, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(got["w_out"], ref["w_out"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(got["b_out"], ref["b_out"], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("beta, n_ref, c_reg", [(0.0, 0, 0.0), (0.2, 2, 0.0), (0.2, 2, 0.5)])
@pytest.mark.parametrize("density", [1.0, 0.5])
def test_gradients_equal_reference(beta, n_ref, c_reg, density):
    x, target, w_in, w_rec, w_out, b_out = _network(3, density)
    params = dict(beta=beta, n_ref=n_ref, c_reg=c_reg, tau_a=200.0, f_target=0.02)
    ref = eprop_gradients(x, target, w_in, w_rec, w_out, b_out, **params)
    assert ref["z"].sum() > 10                       # the network is active: the gradients are not trivial
    s_in, (pi, qi) = _sparse(w_in)
    s_rec, (pr, qr) = _sparse(w_rec)
    net = EpropNetwork(np, EpropParameters(**params), s_in, s_rec, w_out, b_out)
    got = net.gradients(x, target)
    _assert_equal_gradients(got, ref, (pi, qi), (pr, qr))


def test_dense_synapse_list_covers_every_pair():
    w = np.arange(12.0).reshape(3, 4)
    s = SynapseList.dense(np, w)
    signal = np.random.default_rng(0).random((2, 4))
    np.testing.assert_allclose(s.drive(signal), signal @ w.T)


@pytest.mark.parametrize("beta", [0.0, 0.2])
@pytest.mark.parametrize("density", [1.0, 0.5])
def test_delayed_readout_and_input_equal_backward_reference(beta, density):
    """With one step of delay on the input and the readout (a PyNN network whose projections all have
    delay dt), the engine's forward-filtered gradients equal the reference's backward sums."""
    x, target, w_in, w_rec, w_out, b_out = _network(4, density)
    w_in *= 1.5
    params = dict(beta=beta, n_ref=2, c_reg=0.3, tau_a=200.0, f_target=0.02, input_delay=1, readout_delay=1)
    ref = eprop_gradients(x, target, w_in, w_rec, w_out, b_out, **params)
    assert ref["z"].sum() > 10
    s_in, (pi, qi) = _sparse(w_in)
    s_rec, (pr, qr) = _sparse(w_rec)
    got = EpropNetwork(np, EpropParameters(**params), s_in, s_rec, w_out, b_out).gradients(x, target)
    _assert_equal_gradients(got, ref, (pi, qi), (pr, qr))
    # and the readout delay changes the answer (the test can tell the two conventions apart)
    plain = eprop_gradients(x, target, w_in, w_rec, w_out, b_out, **dict(params, readout_delay=0))
    assert np.abs(plain["w_out"] - ref["w_out"]).max() > 1e-3


@pytest.mark.parametrize("beta", [0.0, 0.2])
def test_dense_synapses_equal_synapse_list(beta):
    """The broadcast (dense) representation gives the per-pair gradients of the flat list of all pairs."""
    from pynn_sparsegpu.engine.learning import DenseSynapses
    x, target, w_in, w_rec, w_out, b_out = _network(5, 1.0)
    params = EpropParameters(beta=beta, n_ref=1, c_reg=0.2, tau_a=300.0, readout_delay=1, input_delay=1)
    flat = EpropNetwork(np, params, SynapseList.dense(np, w_in), SynapseList.dense(np, w_rec), w_out, b_out)
    dense = EpropNetwork(np, params, DenseSynapses(np, w_in), DenseSynapses(np, w_rec), w_out, b_out)
    a, b = flat.gradients(x, target), dense.gradients(x, target)
    for name in ("w_in", "w_rec"):
        np.testing.assert_allclose(b[name].ravel(), a[name], rtol=1e-10, atol=1e-14)
    for name in ("w_out", "b_out", "y_sum", "counts"):
        np.testing.assert_allclose(b[name], a[name], rtol=1e-10, atol=1e-14)
    inference = dense.forward(x, target)               # inference alone gives the same readout and loss
    np.testing.assert_allclose(inference["y_sum"], a["y_sum"], rtol=1e-12)
    np.testing.assert_array_equal(inference["counts"], a["counts"])
    assert inference["loss"] == pytest.approx(a["loss"], rel=1e-12)
    assert inference["accuracy"] == a["accuracy"]
