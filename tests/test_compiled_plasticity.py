"""Synapses with dynamics on the compiled path (engine/kernels/psg_plasticity.cu, psg_stdp.cuh) against the NumPy
reference (engine/synapse_models.py).

Each test network is made of compiled LIF populations with recurrent plastic projections (excitatory ones and, for
STDP, inhibitory ones with negative weights) and runs on backend="numpy" and backend="cpu" in float64, over several
runs, with set() of the weights between runs and a reset(). The spikes must be identical, and the weights and every
synaptic state variable equal bit for bit: the kernels do the reference's IEEE operations in its order, the
exponentials of the time constants come from tables of NumPy's own values, and the stochastic models draw from the
same counter-based stream on both paths. The one exception is the Gutig weight dependence: it raises to the power
mu, and the C library's pow and NumPy's differ by about an ulp (NumPy uses its own vectorised pow on AVX-512
machines), so its weights are compared with a relative bound of 1e-12 (over these runs they differ by a few 1e-16).
"""

import ctypes

import numpy as np
import pytest
from pyNN.random import NumpyRNG, RandomDistribution

DT = 0.1
RUNS = (60.0, 45.0)           # then reset() and RUNS[0] again
GUTIG_RTOL = 1e-12

WEIGHT_RULES = {
    "additive": "AdditiveWeightDependence", "multiplicative": "MultiplicativeWeightDependence",
    "apmd": "AdditivePotentiationMultiplicativeDepression", "gutig": "GutigWeightDependence"}
STDP_CASES = [("pair", rule) for rule in WEIGHT_RULES] + [("vogels", "additive"), ("vogels", "multiplicative")]
SHORT_TERM = ["TsodyksMarkramSynapse", "SimpleStochasticSynapse", "StochasticTsodyksMarkramSynapse",
              "MultiQuantalSynapse"]


def _stdp(sim, timing, rule):
    def make(weight, rng):
        weight_dependence = getattr(sim, WEIGHT_RULES[rule])(w_min=0.0, w_max=2.0 * abs(weight))
        if timing == "pair":
            timing_dependence = sim.SpikePairRule(tau_plus=16.8, tau_minus=33.7, A_plus=0.05, A_minus=0.06)
        else:
            timing_dependence = sim.Vogels2011Rule(tau=20.0, eta=0.02, rho=3.0)
        delay = RandomDistribution("uniform_int", low=1, high=20, rng=rng)    # 0.1 .. 2 ms
        return sim.STDPMechanism(timing_dependence=timing_dependence, weight_dependence=weight_dependence,
                                 weight=weight, delay=delay)
    return make


def _short_term(sim, name):
    def make(weight, rng):
        delay = RandomDistribution("uniform_int", low=1, high=20, rng=rng)
        if name == "SimpleStochasticSynapse":
            return sim.SimpleStochasticSynapse(weight=weight, delay=delay, p=0.4)
        if name == "MultiQuantalSynapse":
            return sim.MultiQuantalSynapse(weight=weight / 2, delay=delay, U=0.4, n=4, tau_rec=120.0,
                                           tau_facil=40.0)
        return getattr(sim, name)(weight=weight, delay=delay, U=0.4, tau_rec=120.0, tau_facil=40.0)
    return make


def _network(sim, backend, synapse, inhibitory_plastic=True, precision="float64"):
    """Two compiled IF_curr_exp populations, plastic exc->exc and (optionally) inh->exc, static exc->inh; three
    runs (set() of the plastic weights after the first, reset() after the second). Returns per run
    (spike trains, [the plastic projections' synaptic arrays]), the kernel statistics and the engine."""
    sim.setup(timestep=DT, min_delay=DT, backend=backend, precision=precision, rng_seed=11)
    rng = NumpyRNG(seed=3)
    exc = sim.Population(40, sim.IF_curr_exp(tau_refrac=2.0))
    inh = sim.Population(10, sim.IF_curr_exp(tau_refrac=2.0))
    for pop in (exc, inh):
        pop.set(i_offset=RandomDistribution("uniform", low=0.9, high=1.4, rng=rng))
        pop.initialize(v=RandomDistribution("uniform", low=-70.0, high=-52.0, rng=rng))
    connector = sim.FixedProbabilityConnector(0.3, rng=rng)
    plastic = [sim.Projection(exc, exc, connector, synapse(0.3, rng), receptor_type="excitatory")]
    if inhibitory_plastic:
        plastic.append(sim.Projection(inh, exc, connector, synapse(-0.4, rng), receptor_type="inhibitory"))
    sim.Projection(exc, inh, connector, sim.StaticSynapse(weight=0.2, delay=0.5), receptor_type="excitatory")
    exc.record("spikes")

    def snapshot():
        return [{name: values.copy() for name, values in group.rows.vars.items()}
                for prj in plastic for group in prj._groups.values()]

    results = []
    sim.run(RUNS[0])
    results.append(snapshot())
    new = RandomDistribution("uniform", low=0.1, high=0.5, rng=NumpyRNG(seed=9))
    plastic[0].set(weight=new)
    sim.run(RUNS[1])
    results.append(snapshot())
    sim.reset()
    sim.run(RUNS[0])
    results.append(snapshot())
    block = exc.get_data()
    trains = [[np.asarray(st.magnitude) for st in seg.spiketrains] for seg in block.segments]
    stats = sim.kernel_statistics()
    engine = sim.simulator.state.network.engine
    sim.end()
    return trains, results, stats, engine


def _compare(sim, synapse, exact=True, **kw):
    ref_trains, ref_vars, _, _ = _network(sim, "numpy", synapse, **kw)
    trains, values, stats, _ = _network(sim, "cpu", synapse, **kw)
    assert sum(len(t) for t in ref_trains[0]) > 100, "the test network must be active"
    assert len(trains) == len(ref_trains) == 2
    for seg, ref_seg in zip(trains, ref_trains):
        assert len(seg) == len(ref_seg) and all(np.array_equal(a, b) for a, b in zip(seg, ref_seg))
    for run, ref_run in zip(values, ref_vars):
        for group, ref_group in zip(run, ref_run):
            assert group.keys() == ref_group.keys()
            for name, ref in ref_group.items():
                if exact or name != "weight":
                    np.testing.assert_array_equal(group[name], ref, err_msg=name)
                else:
                    np.testing.assert_allclose(group[name], ref, rtol=GUTIG_RTOL, atol=0, err_msg=name)
    return stats, values


def _assert_all_compiled(stats, n_populations=2, n_projections=3):
    assert stats["reference_parts"] == []
    assert stats["syncs_per_step"] == 0
    assert stats["launches_per_step"] <= n_populations + n_projections


@pytest.mark.parametrize("timing, rule", STDP_CASES, ids=[f"{t}-{r}" for t, r in STDP_CASES])
def test_stdp_compiled_matches_the_reference(sim, timing, rule):
    stats, values = _compare(sim, _stdp(sim, timing, rule), exact=(rule != "gutig"))
    _assert_all_compiled(stats)
    # the rule did work: the weights (all 0.3 or -0.4 at first) spread, and the inhibitory ones stayed negative
    exc, inh = values[0][0], values[0][1]
    used = exc["_tlast"] != 0
    assert np.unique(np.round(exc["weight"][used], 12)).size > 20
    inh_used = inh["_tlast"] != 0
    assert np.all(inh["weight"][inh_used] < 0) and np.unique(inh["weight"][inh_used]).size > 5


@pytest.mark.parametrize("name", SHORT_TERM)
def test_short_term_and_stochastic_synapses_compiled_match_the_reference(sim, name):
    stats, values = _compare(sim, _short_term(sim, name))
    _assert_all_compiled(stats)
    state = [v for v in values[0][0] if v not in ("weight", "delay", "U", "tau_rec", "tau_facil", "p", "n")]
    for var in state:
        if var != "_tlast":
            assert np.unique(values[0][0][var]).size > 1, var      # the dynamics did run


def test_float32_compiled_matches_the_float32_reference(sim):
    """In float32 the kernels follow the reference's mixed precision (its int64 x float32 products are float64)."""
    stats, _ = _compare(sim, _stdp(sim, "pair", "multiplicative"), precision="float32")
    _assert_all_compiled(stats)
    _compare(sim, _short_term(sim, "TsodyksMarkramSynapse"), precision="float32")


def test_launches_per_step_and_no_synchronisation(sim):
    """Only compiled parts: one launch per population and one per plastic projection (the static one has its own)."""
    _, _, stats, _ = _network(sim, "cpu", _stdp(sim, "pair", "additive"))
    assert stats["launches_per_step"] == 5
    assert stats["syncs_per_step"] == 0
    assert stats["reference_parts"] == []


def test_history_overflow_is_counted_as_on_the_reference_path(sim):
    """More postsynaptic spikes between two presynaptic ones than the history holds: the kernel counts the loss."""
    counts = {}
    for backend in ("numpy", "cpu"):
        sim.setup(timestep=DT, backend=backend)
        pre = sim.Population(3, sim.SpikeSourceArray(spike_times=[1.0, 150.0, 152.0]))
        drive = sim.Population(1, sim.SpikeSourceArray(spike_times=np.arange(2.0, 140.0, 3.0)))
        post = sim.Population(2, sim.IF_curr_exp(tau_refrac=0.5))
        sim.Projection(drive, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=30.0, delay=0.1))
        prj = sim.Projection(pre, post, sim.AllToAllConnector(),
                             sim.STDPMechanism(timing_dependence=sim.SpikePairRule(),
                                               weight_dependence=sim.AdditiveWeightDependence(), weight=0.1,
                                               delay=1.0))
        sim.run(160.0)
        counts[backend] = (post._engine_group.history.overflow, prj.get("weight", format="array"))
        if backend == "cpu":
            assert not any("STDP" in part for part in sim.kernel_statistics()["reference_parts"])
        sim.end()
    assert counts["cpu"][0] == counts["numpy"][0] >= 6
    np.testing.assert_array_equal(counts["cpu"][1], counts["numpy"][1])


def test_axonal_delay_stays_on_the_reference_path_and_says_why(sim):
    sim.setup(timestep=DT, backend="cpu")
    a = sim.Population(3, sim.IF_curr_exp(i_offset=1.0))
    b = sim.Population(3, sim.IF_curr_exp())
    stdp = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(), weight_dependence=sim.AdditiveWeightDependence(),
                             weight=0.1, delay=1.0, dendritic_delay_fraction=0.5)
    sim.Projection(a, b, sim.AllToAllConnector(), stdp)
    sim.run(5.0)
    parts = sim.kernel_statistics()["reference_parts"]
    assert any("dendritic_delay_fraction" in p for p in parts), parts


def _probe(tmp_path, monkeypatch, source, stem):
    from pynn_sparsegpu.engine.compiled.toolchain import Toolchain
    monkeypatch.setenv("PYNN_SPARSEGPU_CACHE_DIR", str(tmp_path))
    return Toolchain().build(source, stem)


def test_synapse_random_stream_is_the_same_in_c_and_numpy(tmp_path, monkeypatch):
    """psg_synapse_uniform_pair (psg_plasticity.cu) and engine.random.synapse_uniform_pair, for pairs below and
    above 64 (where the pair number moves to the counter's high step word) and steps beyond 2**32."""
    from pynn_sparsegpu.engine.random import synapse_uniform_pair
    lib = _probe(tmp_path, monkeypatch, '#include "psg_plasticity.cu"\n'
                 'PSG_KERNEL void probe(unsigned long long key, long long row, long long slot, long long pair,'
                 ' long long step, double* u) { psg_synapse_uniform_pair(key, row, slot, pair, step, u); }\n',
                 "synapse_stream_probe")
    lib.probe.argtypes = [ctypes.c_ulonglong] + [ctypes.c_longlong] * 4 + [ctypes.c_void_p]
    key = 0x0123456789ABCDEF
    cases = [(0, 0, 0, 0), (7, 3, 1, 12345), (12, 500, 63, 9), (12, 500, 64, 9), (1, 2, 200, (1 << 33) + 5)]
    out = np.zeros(2)
    for row, slot, pair, step in cases:
        lib.probe(key, row, slot, pair, step, out.ctypes.data)
        u0, u1 = synapse_uniform_pair(key, row, slot, pair, step)
        assert (out[0], out[1]) == (float(u0), float(u1))
    firsts = set()
    for pair in (0, 64, 128):
        lib.probe(key, 1, 2, pair, 3, out.ctypes.data)
        firsts.add(out[0])
    assert len(firsts) == 3          # blocks of pairs do not repeat each other


def test_stdp_current_weight_in_c_matches_the_reference(sim, tmp_path, monkeypatch):
    """psg_stdp_current_weight (psg_stdp.cuh), the function a compiled rewiring rule reads, gives
    STDP.current_weight bit for bit on a network's state after a run, for every synapse."""
    from pynn_sparsegpu.engine.compiled.plasticity import add_stdp_args
    from pynn_sparsegpu.engine.compiled.program import Args
    from pynn_sparsegpu.engine.plastic import Events
    lib = _probe(tmp_path, monkeypatch, '#include "psg_stdp.cuh"\n'
                 'PSG_KERNEL void probe(const psg_slot* a, long long n, const long long* syn, const long long* post,'
                 ' long long t, const long long* d, double* out) {\n'
                 '  const psg_stdp<double> s = psg_stdp_unpack<double>(a, 0);\n'
                 '  for (long long i = 0; i < n; ++i) out[i] = psg_stdp_current_weight(s, syn[i], post[i], t, d[i]);\n'
                 '}\n', "current_weight_probe")
    lib.probe.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong,
                          ctypes.c_void_p, ctypes.c_void_p]
    sim.setup(timestep=DT, min_delay=DT, backend="cpu", rng_seed=5)
    rng = NumpyRNG(seed=4)
    cells = sim.Population(30, sim.IF_curr_exp(tau_refrac=2.0))
    cells.set(i_offset=RandomDistribution("uniform", low=0.9, high=1.5, rng=rng))
    stdp = _stdp(sim, "pair", "multiplicative")
    prj = sim.Projection(cells, cells, sim.FixedProbabilityConnector(0.4, rng=rng), stdp(0.2, rng))
    sim.run(80.0)
    engine = sim.simulator.state.network.engine
    group = next(iter(prj._groups.values()))
    step = sim.simulator.state.network.step_index + 3
    src, col = group.rows.synapse_slots()
    ev = Events(group, src, col, step)
    expected = group.model.current_weight(ev)
    args = add_stdp_args(Args(), engine, group)
    args.refresh()
    syn = np.ascontiguousarray(src * group.rows.capacity + col, dtype=np.int64)
    post = np.ascontiguousarray(ev.post, dtype=np.int64)
    d = np.ascontiguousarray(ev.dendritic_delay, dtype=np.int64)
    out = np.zeros(syn.shape[0])
    lib.probe(args.address, syn.shape[0], syn.ctypes.data, post.ctypes.data, step + 1, d.ctypes.data,
              out.ctypes.data)
    owed = np.abs(expected) != np.abs(ev.vars["weight"])
    assert owed.sum() > 10                # some synapses are owed potentiation
    np.testing.assert_array_equal(out, expected)
