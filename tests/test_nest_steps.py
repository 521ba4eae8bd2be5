"""Step counts that must be NEST's: a generator's activity window and delays that fall on half steps.

NEST keeps times as whole tics (1 µs) and steps. A SpikeSourcePoisson is active for spike times T with
start < T <= start + duration, so a window of 50 ms holds 500 steps of 0.1 ms; t + dt in floating point would
lose the last one to rounding. A delay becomes floor(d × steps per ms + 0.5) steps: 0.15 ms is 2 steps of
0.1 ms, 0.25 ms is 3, where rint(d / dt) gives 1 and 2.
"""

import numpy as np
import pytest

from pynn_sparsegpu.engine.neurons.sources import steps_of
from pynn_sparsegpu.engine.synapses import delay_steps
from pynn_sparsegpu.engine.timegrid import refractory_steps

DT = 0.1
WINDOWS = [(0.0, 50.0), (12.3, 7.7), (0.0, 0.3), (5.0, 0.1), (0.7, 2.2), (33.3, 0.6)]
HALF_STEP_DELAYS = [0.15, 0.25, 0.35, 0.45, 0.55, 1.25, 2.05]


def _active_steps(sim, start, duration, **setup):
    """The steps (spike time / dt, rounded up) in which a 10^6 Hz Poisson source fires: every active step."""
    sim.setup(timestep=DT, min_delay=DT, **setup)
    source = sim.Population(1, sim.SpikeSourcePoisson(rate=1e6, start=start, duration=duration))
    source.record("spikes")
    sim.run(start + duration + 5.0)
    times = np.asarray(source.get_data().segments[0].spiketrains[0].rescale("ms").magnitude)
    sim.end()
    return np.unique(np.ceil(np.round(times / DT, 6)).astype(int))


@pytest.mark.nest
@pytest.mark.parametrize("start, duration", WINDOWS)
def test_poisson_windows_have_nest_steps(sim, nest_sim, start, duration):
    """As many active steps as NEST's poisson_generator (on_grid) and poisson_generator_ps (off_grid), and the
    steps of the window. (pyNN.nest records a Poisson source through a parrot neuron, which shifts its recorded
    times by the parrot's delay: NEST's steps are compared by number only.)"""
    ours = _active_steps(sim, start, duration)
    expected = np.arange(int(round(start / DT)) + 1, int(round((start + duration) / DT)) + 1)
    np.testing.assert_array_equal(ours, expected)
    for precision in ("on_grid", "off_grid"):
        theirs = _active_steps(nest_sim, start, duration, spike_precision=precision)
        assert theirs.size == expected.size, (precision, theirs.size, expected.size)
        assert np.all(np.diff(theirs) == 1)


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_poisson_window_on_both_paths(sim, backend):
    """50 ms from 0 is 500 active steps; 7.7 ms from 12.3 ms is 77 (the compiled kernel and the reference)."""
    for start, duration, n in ((0.0, 50.0, 500), (12.3, 7.7, 77)):
        steps = _active_steps(sim, start, duration, backend=backend)
        assert steps.size == n and steps[0] == round(start / DT) + 1


def _delays(sim, delays):
    """The delays (ms) the simulator stores for synapses made with the given delays."""
    sim.setup(timestep=DT, min_delay=DT)
    pre = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))
    post = sim.Population(1, sim.IF_curr_exp())
    got = []
    for d in delays:
        prj = sim.Projection(pre, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=float(d)))
        got.append(float(prj.get("delay", format="list", with_address=False)[0]))
    sim.end()
    return np.asarray(got)


@pytest.mark.nest
def test_half_step_delays_round_as_in_nest(sim, nest_sim):
    delays = np.asarray(HALF_STEP_DELAYS)
    ours = _delays(sim, delays)
    theirs = _delays(nest_sim, delays)
    np.testing.assert_allclose(theirs, [0.2, 0.3, 0.4, 0.5, 0.6, 1.3, 2.1], atol=1e-12)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def _first_response_step(sim, delay, backend):
    """The first recorded step at which a cell that receives one spike (sent at 5 ms) moves off rest."""
    sim.setup(timestep=DT, min_delay=DT, backend=backend)
    pre = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))
    post = sim.Population(1, sim.IF_curr_exp())
    sim.Projection(pre, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.5, delay=delay))
    post.record("v")
    sim.run(10.0)
    v = np.asarray(post.get_data().segments[0].filter(name="v")[0].magnitude)[:, 0]
    sim.end()
    return int(np.flatnonzero(v != v[0])[0])


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("delay", [0.15, 0.25, 1.25])
def test_half_step_delays_deliver_at_the_rounded_step(sim, backend, delay):
    """Delivery happens delay_steps later than with the shortest delay, on both paths (also after set())."""
    shortest = _first_response_step(sim, DT, backend)
    assert _first_response_step(sim, delay, backend) - shortest == int(delay_steps(delay, DT)) - 1


def test_step_conversions():
    np.testing.assert_array_equal(delay_steps([0.1, 0.15, 0.25, 0.45, 1.25, 1.5], 0.1), [1, 2, 3, 5, 13, 15])
    np.testing.assert_array_equal(delay_steps([0.0125, 0.0375], 0.025), [1, 2])
    np.testing.assert_array_equal(steps_of([12.3, 20.0, 50.0, 0.3, np.inf], 0.1), [123, 200, 500, 3, np.inf])
    # a step that is not a whole number of microseconds: plain division
    assert steps_of([1.0], 1.0 / 3.0)[0] == pytest.approx(3.0)


def test_set_delay_rounds_as_in_nest(sim):
    sim.setup(timestep=DT, min_delay=DT)
    pre = sim.Population(3, sim.SpikeSourceArray(spike_times=[[5.0]] * 3))
    post = sim.Population(3, sim.IF_curr_exp())
    prj = sim.Projection(pre, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.5, delay=1.0))
    prj.set(delay=0.25)
    np.testing.assert_allclose(prj.get("delay", format="list", with_address=False), [0.3] * 3)
    prj[0].delay = 0.45
    assert prj[0].delay == pytest.approx(0.5)


def _isis(sim, cell, tau_refrac, **setup):
    sim.setup(timestep=DT, **setup)
    extra = {"v_rest": -70.0, "v_reset": -70.0, "v_thresh": -55.0} if cell == "IF_curr_delta" else {}
    c = sim.Population(1, getattr(sim, cell)(tau_refrac=tau_refrac, i_offset=2.0, **extra))
    if cell == "IF_curr_delta":
        c.initialize(v=-70.0)
    c.record("spikes")
    sim.run(60.0)
    t = np.asarray(c.get_data().segments[0].spiketrains[0].rescale("ms").magnitude)
    sim.end()
    return np.diff(t)


@pytest.mark.nest
@pytest.mark.parametrize("cell, precision", [("IF_curr_exp", "on_grid"), ("IF_cond_exp", "on_grid"),
                                             ("IF_curr_delta", "on_grid"), ("IF_curr_delta", "off_grid")])
def test_refractory_periods_round_up_as_in_nest(sim, nest_sim, cell, precision):
    """A refractory period of 2.01 ms lasts 21 steps of 0.1 ms and one of 1.96 ms 20, in NEST and here (on the
    time grid, and on the event-driven engine for IF_curr_delta off the grid)."""
    for tau_refrac in (2.01, 1.96, 2.0):
        ours = _isis(sim, cell, tau_refrac, spike_precision=precision)
        theirs = _isis(nest_sim, cell, tau_refrac, spike_precision=precision)
        assert len(ours) >= 3 and len(theirs) >= 3
        np.testing.assert_allclose(ours[:3], theirs[:3], atol=1e-9)
    assert refractory_steps(2.01, DT) == 21 and refractory_steps(1.96, DT) == 20 and refractory_steps(2.0, DT) == 20
