"""The off-grid kernels (kernels/psg_offgrid.cu) under the GPU driver's launch logic, without a GPU: the
stand-in runtime of test_cuda_launcher runs each kernel's CPU build when it is launched (and replays captured
graphs), with device memory told apart from host memory (a kernel handed a host pointer fails). Results must
equal the Python reference bit for bit, with no host synchronisation inside a run."""

import types

import numpy as np
import pytest

from pynn_sparsegpu.engine.compiled.cuda import LaunchDriver
from pynn_sparsegpu.engine.compiled.program import Counters
from test_cuda_launcher import DEVICE, DeviceStandIn, device_checks  # noqa: F401  (a fixture)
from test_offgrid import _random_network


def _launch_driver(graphs):
    backend = types.SimpleNamespace(xp=DEVICE, _kernel_cache={})
    return LaunchDriver(backend, Counters(), runtime=DeviceStandIn(), graphs=graphs)


@pytest.mark.parametrize("graphs", [True, False])
@pytest.mark.parametrize("kind", [1, "mixed"])
def test_kernels_on_the_launcher_equal_the_reference(device_checks, graphs, kind):  # noqa: F811
    driver = _launch_driver(graphs)
    results = []
    for engine in ("kernels", "reference"):
        rng_kind = np.arange(120) % 2 if kind == "mixed" else kind
        net = _random_network(engine, rng_kind)
        if engine == "kernels":
            net._engine.__init__(driver)
        net.record_v([0, 3, 50, 119], 0.5)
        net.run(70.0)
        net.run(150.0)
        results.append((*net.spikes(), net.v_samples()[1], net.pending_arrivals, net.cells.copy()))
    (ia, ta, va, pa, ca), (ib, tb, vb, pb, cb) = results
    assert (ia < 120).sum() > 500
    assert np.array_equal(ia, ib) and np.array_equal(ta, tb)
    assert np.array_equal(va, vb) and pa == pb and np.array_equal(ca, cb)
    c = driver.counters
    assert c.syncs == 0 and c.steps == 1500
    assert c.launches / c.steps == pytest.approx(5, abs=0.01)     # cells, sources, deliver, finish, clock
    if graphs:
        assert c.host_launches < c.launches / 10
    for name in ("cells", "sources", "deliver", "finish", "start"):
        assert DeviceStandIn.executed[f"pynn_sparsegpu_offgrid_{name}"] >= 1


def test_pynn_network_on_the_device_path(sim, device_checks):  # noqa: F811
    """The PyNN network of test_offgrid_pynn on the GPU path (its arrays made by the device module, the engine's
    kernels launched by the GPU driver) gives the spikes and v of the compiled CPU loop."""
    import test_offgrid_pynn
    from pynn_sparsegpu.engine.offgrid.driver import OffGridEngine
    plain = test_offgrid_pynn._exp_network(sim, record_v=True)
    original = OffGridEngine.__init__

    def on_device(self, net, compiled=True, driver=None):
        net.backend.xp = DEVICE
        original(self, net, compiled, _launch_driver(True))
    OffGridEngine.__init__ = on_device
    try:
        device = test_offgrid_pynn._exp_network(sim, record_v=True)
    finally:
        OffGridEngine.__init__ = original
    assert "kernels on the GPU" in device["info"]["engine"]
    for a, b in zip(plain["spikes"], device["spikes"]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain["v"], device["v"])
    assert DeviceStandIn.executed["pynn_sparsegpu_offgrid_cells"] >= 1200
