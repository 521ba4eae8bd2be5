"""NumPy and CuPy paths give the same simulation (float64 on both): identical spikes, v within 1e-9 mV.

Poisson-free on purpose (random streams differ between NumPy and CuPy generators): SpikeSourceArray input,
IF_curr_exp cells with FromListConnector connections (heterogeneous weights and delays, excitatory and
inhibitory), and an IF_curr_alpha population driven by a DCSource and a StepCurrentSource.
"""

import numpy as np
import pytest

from conftest import GPU

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not GPU, reason="no usable CUDA device")]

DT = 0.1
T_STOP = 200.0


def network(sim, backend):
    sim.setup(timestep=DT, min_delay=DT, backend=backend, precision="float64")
    info = sim.backend_info()
    assert info["backend"] == backend and info["precision"] == "float64"
    rng = np.random.default_rng(99)
    n_in, n_exc, n_inh = 30, 40, 10
    inputs = sim.Population(n_in, sim.SpikeSourceArray(
        spike_times=[np.unique(np.round(rng.uniform(0.5, T_STOP, 20), 1)) for _ in range(n_in)]))
    cells = sim.Population(n_exc + n_inh, sim.IF_curr_exp(tau_refrac=2.0, tau_syn_E=3.0, tau_syn_I=6.0,
                                                          i_offset=rng.uniform(0.0, 0.5, n_exc + n_inh)))
    in_list = [(int(rng.integers(n_in)), post, float(rng.uniform(0.5, 2.0)), float(np.round(rng.uniform(0.1, 4.0), 1)))
               for post in range(n_exc + n_inh) for _ in range(8)]
    exc_list, inh_list = [], []
    for pre in range(n_exc + n_inh):
        for post in rng.choice(n_exc + n_inh, size=10, replace=False):
            delay = float(np.round(rng.uniform(0.1, 8.0), 1))
            if pre < n_exc:
                exc_list.append((pre, int(post), float(rng.uniform(0.1, 0.6)), delay))
            else:
                inh_list.append((pre, int(post), float(-rng.uniform(0.5, 2.0)), delay))
    columns = ["weight", "delay"]
    sim.Projection(inputs, cells, sim.FromListConnector(in_list, column_names=columns), sim.StaticSynapse())
    sim.Projection(cells, cells, sim.FromListConnector(exc_list, column_names=columns), sim.StaticSynapse(),
                   receptor_type="excitatory")
    sim.Projection(cells, cells, sim.FromListConnector(inh_list, column_names=columns), sim.StaticSynapse(),
                   receptor_type="inhibitory")
    alpha = sim.Population(5, sim.IF_curr_alpha(tau_syn_E=1.0, tau_refrac=1.0))
    sim.DCSource(amplitude=1.2, start=10.0, stop=150.0).inject_into(alpha[0:3])
    sim.StepCurrentSource(times=[5.0, 60.0, 120.0], amplitudes=[0.9, 1.8, 0.4]).inject_into(alpha[2:])
    sim.Projection(inputs[0:5], alpha, sim.OneToOneConnector(), sim.StaticSynapse(weight=3.0, delay=1.3))
    for p in (cells, alpha):
        p.record(["spikes", "v"])
    sim.run(T_STOP)
    out = []
    for p in (cells, alpha):
        segment = p.get_data().segments[0]
        out.append(([np.asarray(st.magnitude) for st in segment.spiketrains],
                    np.asarray(segment.filter(name="v")[0].magnitude)))
    sim.end()
    return out


def test_numpy_and_cupy_agree(sim):
    reference = network(sim, "numpy")
    on_gpu = network(sim, "cupy")
    total = 0
    for (trains_np, v_np), (trains_cp, v_cp) in zip(reference, on_gpu):
        assert len(trains_np) == len(trains_cp)
        for a, b in zip(trains_np, trains_cp):
            np.testing.assert_array_equal(np.rint(a / DT), np.rint(b / DT))
            total += len(a)
        assert v_np.shape == v_cp.shape
        diff = np.abs(v_np - v_cp).max()
        assert diff < 1e-9, f"max |v_numpy - v_cupy| = {diff} mV"
    assert total > 100, "the scenario must produce spikes"


def test_engine_state_lives_on_the_device(sim):
    import cupy
    sim.setup(timestep=DT, backend="cupy", precision="float64")
    cells = sim.Population(3, sim.IF_curr_exp())
    assert isinstance(cells._engine_group.state["v"], cupy.ndarray)
    assert sim.backend_info()["device"].startswith("cuda")
