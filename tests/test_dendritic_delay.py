"""STDPMechanism's dendritic_delay_fraction f: a delay of D steps splits into an axonal part
D_a = rint((1 - f) D) (at most D - 1) and a dendritic part D_d = D - D_a. The rule sees a presynaptic spike
at t_pre + D_a and a postsynaptic one at t_post + D_d; the soma still receives the input at t_pre + D.
Pair protocols against the all-to-all pair rule in closed form, f = 1 against the unchanged path, soma
arrival, events on their way across run() and reset(), bad input."""

import numpy as np
import pytest
from pyNN.random import NumpyRNG, RandomDistribution

from conftest import GPU, spiketrains_ms

DT, DELAY = 0.1, 2.0
LAGS = np.array([-10.0, -6.0, -3.0, -1.5, -0.5, 0.0, 1.0, 3.0, 6.0, 10.0])
PAIRS = np.arange(20.0, 420.0, 40.0)
TAU_PLUS, TAU_MINUS, A_PLUS, A_MINUS, W0, W_MAX = 16.8, 33.7, 0.01, 0.012, 0.5, 1.0


def _stdp(sim, fraction=None, delay=DELAY, weight=W0, a_plus=A_PLUS, a_minus=A_MINUS):
    extra = {} if fraction is None else {"dendritic_delay_fraction": fraction}
    return sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=TAU_PLUS, tau_minus=TAU_MINUS, A_plus=a_plus, A_minus=a_minus),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=W_MAX), weight=weight, delay=delay, **extra)


def _split(fraction):
    """(D_a, D_d) in steps, as the docstrings define them."""
    d = int(round(DELAY / DT))
    axonal = min(int(np.rint((1.0 - fraction) * d)), d - 1)
    return axonal, d - axonal


def _pair_protocol(sim, fraction, extra_setup=None):
    """One pre source and one post neuron per lag; the post neuron is driven to fire about `lag` ms after
    each presynaptic spike. Returns the final weights and the recorded pre and post spike trains."""
    sim.setup(timestep=DT, min_delay=DT, **(extra_setup or {}))
    pre = sim.Population(LAGS.size, sim.SpikeSourceArray(spike_times=[PAIRS for _ in LAGS]))
    drive = sim.Population(LAGS.size, sim.SpikeSourceArray(spike_times=[PAIRS + lag - 0.5 for lag in LAGS]))
    post = sim.Population(LAGS.size, sim.IF_curr_exp(tau_refrac=2.0, tau_syn_E=0.5))
    sim.Projection(drive, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=50.0, delay=DT))
    prj = sim.Projection(pre, post, sim.OneToOneConnector(), _stdp(sim, fraction))
    pre.record("spikes")
    post.record("spikes")
    sim.run(PAIRS[-1] + 20.0)
    w = np.array(prj.get("weight", format="list"))[:, 2]
    trains = spiketrains_ms(pre), spiketrains_ms(post)
    sim.end()
    return w, trains


def _expected_weight(t_pre, t_post, fraction):
    """Additive all-to-all pair rule in NEST's event order, without clipping: a postsynaptic spike that
    reaches the synapse at u potentiates with every presynaptic arrival t < u (once a later presynaptic
    spike has arrived to process it); each presynaptic arrival t depresses with every u < t."""
    axonal, dendritic = _split(fraction)
    t = np.rint(np.asarray(t_pre) / DT).astype(int) + axonal           # arrivals at the synapse, steps
    u = np.rint(np.asarray(t_post) / DT).astype(int) + dendritic
    lag = u[None, :] - t[:, None]                                       # (pre, post)
    potentiate = (lag > 0) & (u[None, :] <= t[-1])
    p = np.exp(-lag * DT / TAU_PLUS)[potentiate].sum()
    m = np.exp(lag * DT / TAU_MINUS)[lag < 0].sum()
    return W0 + W_MAX * (A_PLUS * p - A_MINUS * m)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_pair_protocol_matches_the_pair_rule_with_split_delay(sim, fraction):
    w, (pre, post) = _pair_protocol(sim, fraction)
    assert all(len(p) == PAIRS.size for p in pre) and all(len(p) == PAIRS.size for p in post)
    expected = np.array([_expected_weight(pre[k], post[k], fraction) for k in range(LAGS.size)])
    assert np.abs(expected - W0).max() > 0.02                            # the protocol moves the weights
    assert np.abs(w - expected).max() < 1e-9 * W_MAX


def test_axonal_delay_turns_potentiation_into_depression(sim):
    """Post spikes 0.1 and 1.1 ms after the pre spikes: with f = 1 the rule sees them 2.1 and 3.1 ms after
    (they back-propagate 2 ms), with f = 0 1.7 and 0.7 ms before (the pre spike travels 1.9 ms, the post
    spike 0.1 ms)."""
    w1, (pre, post) = _pair_protocol(sim, 1.0)
    w0, _ = _pair_protocol(sim, 0.0)
    lag = np.array([np.median(post[k] - pre[k]) for k in range(LAGS.size)])
    short = (lag > 0) & (lag < 1.8)
    assert short.any()
    assert short.sum() == 2
    assert np.all(w1[short] > W0 + 0.02) and np.all(w0[short] < W0 - 0.1)


def _random_network(sim, fraction=None, silent_row_fraction=None, a=(A_PLUS, A_MINUS), record_v=False, seed=7):
    """Random spike trains onto 12 neurons through an STDP projection with random delays (the source 0
    stays silent). silent_row_fraction: set this fraction on the silent source's synapses only."""
    rng = np.random.default_rng(seed)
    sim.setup(timestep=DT, min_delay=DT)
    trains = [np.unique(np.round(rng.uniform(1.0, 195.0, 40), 1)) for _ in range(30)]
    trains[0] = np.array([])
    pre = sim.Population(30, sim.SpikeSourceArray(spike_times=trains))
    post = sim.Population(12, sim.IF_curr_exp(tau_refrac=2.0, v_thresh=-58.0))
    delays = RandomDistribution("uniform", (0.1, 3.0), rng=NumpyRNG(seed=seed))
    prj = sim.Projection(pre, post, sim.FixedProbabilityConnector(0.5, rng=NumpyRNG(seed=seed)),
                         _stdp(sim, fraction, delay=delays, weight=0.6, a_plus=a[0], a_minus=a[1]))
    if silent_row_fraction is not None:
        f = np.ones((30, 12))
        f[0] = silent_row_fraction
        prj.set(dendritic_delay_fraction=f)
    if record_v:
        post.record("v")
    sim.run(200.0)
    group = next(iter(prj._groups.values()))
    out = (prj.get("weight", format="array"), group._queue is not None)
    if record_v:
        out += (post.get_data().segments[0].analogsignals[0].magnitude,)
    sim.end()
    return out


def test_fraction_one_is_the_unchanged_path(sim):
    default, queued_default = _random_network(sim)
    explicit, _ = _random_network(sim, fraction=1.0)
    # the same synapses with f < 1 on a silent source only: the queued path runs and must give the same
    split, queued_split = _random_network(sim, silent_row_fraction=0.25)
    assert not queued_default and queued_split
    assert np.nanmax(np.abs(default - 0.6)) > 0.01                        # the weights did move
    np.testing.assert_array_equal(explicit, default)
    np.testing.assert_array_equal(split, default)


def test_soma_arrival_does_not_depend_on_the_fraction(sim):
    traces = [_random_network(sim, fraction=f, a=(0.0, 0.0), record_v=True)[2] for f in (0.0, 0.5, 1.0)]
    assert np.ptp(traces[2]) > 1.0                                        # inputs do arrive
    np.testing.assert_allclose(traces[0], traces[2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(traces[1], traces[2], rtol=0, atol=1e-12)


def _pending_run(sim, durations, fraction=0.0):
    """A pre spike 1 ms before the end of the first run with a 5 ms, mostly axonal delay, and a post neuron
    that fires around it; returns weight, membrane trace and the queue length after the first run."""
    sim.setup(timestep=DT, min_delay=DT)
    pre = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0, 19.0]))
    drive = sim.Population(1, sim.SpikeSourceArray(spike_times=[3.0, 21.0]))
    post = sim.Population(1, sim.IF_curr_exp(tau_refrac=2.0, tau_syn_E=0.5))
    sim.Projection(drive, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=50.0, delay=DT))
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), _stdp(sim, fraction, delay=5.0, weight=0.5))
    post.record("v")
    pending = []
    for duration in durations:
        sim.run(duration)
        queue = next(iter(prj._groups.values()))._queue
        pending.append(0 if queue is None else int(queue[0].shape[0]))
    out = prj.get("weight", format="array")[0, 0], post.get_data().segments[0].analogsignals[0].magnitude, pending
    sim.end()
    return out


def test_events_on_their_way_continue_into_the_next_run(sim):
    w_split, v_split, pending = _pending_run(sim, [20.0, 20.0])
    w_one, v_one, _ = _pending_run(sim, [40.0])
    assert pending[0] == 1                                                 # the spike of 19 ms is on its way
    assert w_one != pytest.approx(0.5, abs=1e-3)
    assert w_split == w_one
    np.testing.assert_array_equal(v_split, v_one)


def test_reset_drops_events_on_their_way(sim):
    sim.setup(timestep=DT, min_delay=DT)
    pre = sim.Population(1, sim.SpikeSourceArray(spike_times=[9.0]))
    post = sim.Population(1, sim.IF_curr_exp())
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), _stdp(sim, 0.0, delay=5.0, weight=1.0))
    post.record("v")
    sim.run(10.0)
    group = next(iter(prj._groups.values()))
    assert group._queue[0].shape[0] == 1
    sim.reset()
    pre.set(spike_times=[])
    sim.run(20.0)
    v = post.get_data().segments[-1].analogsignals[0].magnitude
    # a stale event would arrive at the synapse 13.9 ms into the new segment and reach the soma 0.1 ms later
    np.testing.assert_array_equal(v, np.full_like(v, -65.0))
    assert prj.get("weight", format="array")[0, 0] == pytest.approx(1.0)


def test_fraction_set_between_runs_takes_effect(sim):
    """f = 1 for the first run, 0 for the second: the second run's spike is seen 1.9 ms late."""
    sim.setup(timestep=DT, min_delay=DT)
    pre = sim.Population(1, sim.SpikeSourceArray(spike_times=[105.0]))
    drive = sim.Population(1, sim.SpikeSourceArray(spike_times=[105.0]))
    post = sim.Population(1, sim.IF_curr_exp(tau_refrac=2.0, tau_syn_E=0.5))
    sim.Projection(drive, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=50.0, delay=DT))
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), _stdp(sim, delay=DELAY))
    post.record("spikes")
    sim.run(100.0)
    prj.set(dendritic_delay_fraction=0.0)
    assert prj.get("dendritic_delay_fraction", format="array")[0, 0] == 0.0
    sim.run(50.0)
    (t_post,) = spiketrains_ms(post)
    # one pre spike: depression only, by the trace of the post spike that reached the synapse before it
    assert t_post.size == 1
    expected = _expected_weight([105.0], t_post, 0.0)
    assert expected < W0 - 1e-3
    assert prj.get("weight", format="array")[0, 0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("fraction", [1.5, -0.1, float("nan")])
def test_fraction_outside_zero_one_is_refused(sim, fraction):
    sim.setup(timestep=DT)
    with pytest.raises(ValueError, match=r"dendritic_delay_fraction=.*\[0, 1\]"):
        _stdp(sim, fraction)
    a, b = sim.Population(2, sim.IF_curr_exp()), sim.Population(2, sim.IF_curr_exp())
    prj = sim.Projection(a, b, sim.AllToAllConnector(), _stdp(sim))
    with pytest.raises(Exception, match=r"dendritic_delay_fraction=.*\[0, 1\]"):
        prj.set(dendritic_delay_fraction=fraction)
    assert np.all(prj.get("dendritic_delay_fraction", format="array") == 1.0)


def test_structural_plasticity_refuses_a_fraction_below_one(sim):
    sim.setup(timestep=DT)
    with pytest.raises(ValueError, match="dendritic_delay_fraction=0.5.*rewiring moves synapses"):
        sim.StructuralPlasticityMechanism(stdp=_stdp(sim, 0.5))
    with pytest.raises(ValueError, match="dendritic_delay_fraction=0.5"):
        sim.StructuralPlasticityMechanism(weight_dynamics=_stdp(sim, 0.5))
    a, b = sim.Population(4, sim.IF_curr_exp()), sim.Population(4, sim.IF_curr_exp())
    prj = sim.Projection(a, b, sim.FixedProbabilityConnector(0.5),
                         sim.StructuralPlasticityMechanism(stdp=_stdp(sim), row_capacity=4))
    with pytest.raises(Exception, match="dendritic_delay_fraction"):
        prj.set(dendritic_delay_fraction=0.5)


@pytest.mark.gpu
def test_split_delay_numpy_cupy_parity(sim):
    if not GPU:
        pytest.skip("no usable CUDA device")
    on_cpu, _ = _pair_protocol(sim, 0.5, {"backend": "numpy", "precision": "float64"})
    on_gpu, _ = _pair_protocol(sim, 0.5, {"backend": "cupy", "precision": "float64"})
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-9)
