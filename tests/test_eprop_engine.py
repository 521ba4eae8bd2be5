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
    np.testing.assert_array_equal(got["z"], ref["z"])
    for name, (post, pre), grad in (("w_in", (pi, qi), got["w_in"]), ("w_rec", (pr, qr), got["w_rec"])):
        expected = ref[name][post, pre]
        assert np.abs(expected).max() > 1e-3
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(got["w_out"], ref["w_out"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(got["b_out"], ref["b_out"], rtol=1e-6, atol=1e-12)


def test_dense_synapse_list_covers_every_pair():
    w = np.arange(12.0).reshape(3, 4)
    s = SynapseList.dense(np, w)
    signal = np.random.default_rng(0).random((2, 4))
    np.testing.assert_allclose(s.drive(signal), signal @ w.T)
