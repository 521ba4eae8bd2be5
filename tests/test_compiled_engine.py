"""The compiled CPU path (backend="cpu") against the NumPy reference, and its kernels under nvcc.

Step kernels are generated from the neuron models' own Python steps (engine/compiled/codegen.py), so the two
paths do the same IEEE operations in the same order: models whose step has no transcendental function give
bit-identical spikes and traces in float64 (and in float32); those that call exp per step (AdEx, HH) use the C
library's exp where the reference uses NumPy's, which differ by an ulp in a few percent of calls, so their
traces are compared with a bound and their spikes must still agree.
"""

import shutil
import subprocess

import numpy as np
import pytest
from pyNN.random import NumpyRNG, RandomDistribution

from pynn_sparsegpu.engine.compiled import runner as runner_module
from pynn_sparsegpu.engine.compiled.codegen import TraceError, generate_neuron_kernel
from pynn_sparsegpu.engine.compiled.toolchain import KERNEL_DIR

EXACT = ["IF_curr_exp", "IF_curr_alpha", "IF_curr_delta", "IF_cond_exp", "IF_cond_alpha", "IF_cond_exp_gsfa_grr",
         "Izhikevich"]
TRANSCENDENTAL = ["EIF_cond_exp_isfa_ista", "EIF_cond_alpha_isfa_ista", "HH_cond_exp", "GIF_cond_exp"]
DRIVE = {"IF_curr_delta": 0.8, "Izhikevich": 0.012, "HH_cond_exp": 0.25, "EIF_cond_exp_isfa_ista": 0.8,
         "EIF_cond_alpha_isfa_ista": 0.8, "GIF_cond_exp": 0.9}
WEIGHTS = {  # (excitatory, inhibitory) weights in the model's receptor units
    "IF_curr_exp": (0.3, -0.6), "IF_curr_alpha": (0.3, -0.6), "IF_curr_delta": (0.6, -1.2),
    "IF_cond_exp": (0.004, 0.02), "IF_cond_alpha": (0.004, 0.02), "IF_cond_exp_gsfa_grr": (0.004, 0.02),
    "Izhikevich": (2.0, -4.0), "EIF_cond_exp_isfa_ista": (0.004, 0.02), "EIF_cond_alpha_isfa_ista": (0.004, 0.02),
    "HH_cond_exp": (0.01, 0.04), "GIF_cond_exp": (0.004, 0.02)}
CELL_PARAMETERS = {"GIF_cond_exp": dict(tau_eta=[10.0, 50.0], a_eta=[0.1, 0.05], tau_gamma=[20.0, 5.0, 100.0],
                                        a_gamma=[5.0, 1.0, 2.0], lambda0=5.0)}


def _network(sim, cell, backend, precision="float64", with_sources=True, run_plan=(120.0,), seed=7):
    """A recurrent network of `cell` with optional Poisson input and a DC source; records spikes and v.
    Returns ([spike times per neuron], v array, engine)."""
    sim.setup(timestep=0.1, min_delay=0.1, backend=backend, precision=precision, rng_seed=seed, engine="time",
              spike_precision="on_grid")
    rng = NumpyRNG(seed=seed)
    celltype = getattr(sim, cell)(**CELL_PARAMETERS.get(cell, {}))
    cells = sim.Population(60, celltype)
    drive = DRIVE.get(cell, 1.0)
    cells.set(i_offset=RandomDistribution("uniform", low=0.6 * drive, high=1.2 * drive, rng=rng))
    if "v" in celltype.default_initial_values and cell != "HH_cond_exp":
        rest = celltype.default_initial_values["v"]
        cells.initialize(v=RandomDistribution("uniform", low=rest - 5.0, high=rest + 5.0, rng=rng))
    w_exc, w_inh = WEIGHTS[cell]
    exc, inh = cells[:45], cells[45:]
    connector = sim.FixedProbabilityConnector(0.2, rng=rng)
    sim.Projection(exc, cells, connector, sim.StaticSynapse(weight=w_exc, delay=0.3), receptor_type="excitatory")
    sim.Projection(inh, cells, connector, sim.StaticSynapse(weight=w_inh, delay=0.1), receptor_type="inhibitory")
    if with_sources:
        noise = sim.Population(20, sim.SpikeSourcePoisson(rate=200.0))
        sim.Projection(noise, cells, connector, sim.StaticSynapse(weight=w_exc, delay=1.0),
                       receptor_type="excitatory")
        sim.DCSource(amplitude=0.2 * drive, start=30.0, stop=70.0).inject_into(cells[10:20])
    cells.record(["spikes", "v"], sampling_interval=0.3)
    for duration in run_plan:
        sim.run(duration)
    seg = cells.get_data().segments[0]
    spikes = [np.asarray(st.magnitude) for st in seg.spiketrains]
    v = np.asarray(seg.filter(name="v")[0].magnitude)
    engine = sim.simulator.state.network.engine
    return spikes, v, engine


def _same_spikes(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("cell", EXACT)
def test_compiled_step_is_bit_identical_to_the_reference(sim, cell):
    ref_spikes, ref_v, _ = _network(sim, cell, "numpy")
    sim.end()
    spikes, v, engine = _network(sim, cell, "cpu")
    assert sum(len(s) for s in ref_spikes) > 20, "the test network must be active"
    assert any(name.startswith("pynn_sparsegpu_neuron_") for name in engine.compiled_groups.values())
    assert _same_spikes(spikes, ref_spikes)
    np.testing.assert_array_equal(v, ref_v)


@pytest.mark.parametrize("cell", ["IF_curr_exp", "IF_cond_exp", "IF_cond_alpha"])
def test_compiled_float32_matches_the_float32_reference(sim, cell):
    ref_spikes, ref_v, _ = _network(sim, cell, "numpy", "float32")
    sim.end()
    spikes, v, _ = _network(sim, cell, "cpu", "float32")
    assert v.dtype == np.float64 or v.dtype == np.float32
    assert _same_spikes(spikes, ref_spikes)
    np.testing.assert_array_equal(v, ref_v)


@pytest.mark.parametrize("cell", TRANSCENDENTAL)
def test_models_with_exp_in_their_step_agree_to_rounding(sim, cell):
    """exp from the C library and from NumPy differ by about an ulp: the traces agree to far below anything
    physical, and the spikes are the same."""
    ref_spikes, ref_v, _ = _network(sim, cell, "numpy")
    sim.end()
    spikes, v, _ = _network(sim, cell, "cpu")
    assert sum(len(s) for s in ref_spikes) > 5
    assert _same_spikes(spikes, ref_spikes)
    np.testing.assert_allclose(v, ref_v, rtol=0, atol=1e-7)


def test_chunked_runs_record_the_same_as_one_run(sim, monkeypatch):
    """Without any reference-path part the steps run inside compiled code in chunks, ended by record buffers
    (state buffers filling, spike event buffers that might overflow): odd run lengths, a sampling interval
    that does not divide them, and tiny event buffers must give exactly the reference's records."""
    monkeypatch.setattr(runner_module, "SPIKE_EVENT_MIN_CAPACITY", 64)
    plan = (7.3, 50.0, 0.1, 62.6)
    ref = _network(sim, "IF_cond_exp", "numpy", with_sources=False, run_plan=plan)
    sim.end()
    spikes, v, engine = _network(sim, "IF_cond_exp", "cpu", with_sources=False, run_plan=plan)
    assert sum(len(s) for s in spikes) > 200          # many more events than the 64-event buffer holds
    assert _same_spikes(spikes, ref[0])
    np.testing.assert_array_equal(v, ref[1])
    stats = engine.counters.per_step()
    assert stats["syncs_per_step"] == 0
    assert stats["launches_per_step"] == 2      # the population's kernel; both projections in one propagation


def test_reset_and_changes_between_runs(sim):
    """set() between runs changes the kernel's constants; reset() restarts the state; both paths agree."""
    results = {}
    for backend in ("numpy", "cpu"):
        sim.setup(timestep=0.1, backend=backend, rng_seed=3)
        cells = sim.Population(30, sim.IF_curr_alpha(i_offset=1.2, tau_refrac=2.0))
        sim.Projection(cells, cells, sim.FixedProbabilityConnector(0.3, rng=NumpyRNG(seed=2)),
                       sim.StaticSynapse(weight=0.1, delay=0.5))
        cells.record(["spikes", "v"])
        sim.run(40.0)
        cells[:10].set(tau_m=12.0, i_offset=1.5)
        sim.run(30.0)
        sim.reset()
        cells.initialize(v=-55.0)
        sim.run(25.0)
        block = cells.get_data()
        results[backend] = [([np.asarray(st) for st in seg.spiketrains], np.asarray(seg.analogsignals[0]))
                            for seg in block.segments]
        sim.end()
    assert len(results["cpu"]) == len(results["numpy"]) == 2
    for (s_cpu, v_cpu), (s_ref, v_ref) in zip(results["cpu"], results["numpy"]):
        assert _same_spikes(s_cpu, s_ref)
        np.testing.assert_array_equal(v_cpu, v_ref)


def test_launch_and_sync_counts(sim):
    """A VA-like network with no reference-path part: one kernel per population and one per run of
    projections from one source, no host synchronisation."""
    sim.setup(timestep=0.1, backend="cpu")
    exc = sim.Population(80, sim.IF_cond_exp(i_offset=0.9))
    inh = sim.Population(20, sim.IF_cond_exp(i_offset=0.9))
    c = sim.FixedProbabilityConnector(0.1, rng=NumpyRNG(seed=1))
    for pre, receptor, w in ((exc, "excitatory", 0.004), (inh, "inhibitory", 0.05)):
        for post in (exc, inh):
            sim.Projection(pre, post, c, sim.StaticSynapse(weight=w, delay=0.1), receptor_type=receptor)
    exc.record("spikes")
    sim.run(100.0)
    stats = sim.kernel_statistics()
    assert stats["steps"] == 1000
    assert stats["launches_per_step"] == 4
    assert stats["syncs_per_step"] == 0
    assert stats["reference_parts"] == []


def test_kernel_statistics_name_the_parts_on_the_reference_path(sim):
    """A current source whose amplitude is recorded logs it on the host every step: it runs on the reference
    path, and kernel_statistics says so and why."""
    sim.setup(timestep=0.1, backend="cpu")
    cells = sim.Population(3, sim.IF_curr_exp())
    source = sim.DCSource(amplitude=0.5, start=1.0, stop=5.0)
    source.inject_into(cells)
    source.record()
    sim.run(2.0)
    parts = sim.kernel_statistics()["reference_parts"]
    assert len(parts) == 1 and "current sources" in parts[0] and "recorded" in parts[0], parts


def test_trace_errors_are_reported_not_raised():
    """A step that branches in Python on a per-neuron value cannot be compiled: TraceError, and the engine runs
    the model on the reference path."""
    from pynn_sparsegpu.engine.neurons.base import NeuronModel

    class Branchy(NeuronModel):
        parameters = {"a": 1.0}
        state = {"v": 0.0}
        receptors = ("excitatory",)

        def step(self, s, p, d, syn, i_stim, ctx):
            if s["v"] > 0:                  # a Python branch on an array: not element-wise
                s["v"] = s["v"] - 1
            return s["v"] > 10

    arrays = {"v": np.zeros(3)}
    with pytest.raises(TraceError, match="branches in Python"):
        generate_neuron_kernel(Branchy(), arrays, {"a": np.ones(3)}, {}, 1, 0.1, np.float64)


def _all_generated_kernels():
    import pyNN.sparsegpu as sim
    sources = []
    for precision in ("float64", "float32"):
        for cell in EXACT + TRANSCENDENTAL:
            sim.setup(backend="numpy", precision=precision)
            pop = sim.Population(4, getattr(sim, cell)(**CELL_PARAMETERS.get(cell, {})))
            pop[:2].set(i_offset=0.5)            # one per-neuron parameter, the rest shared
            group = pop._engine_group
            group.prepare(0.1, 2, 0)
            src = generate_neuron_kernel(group.model, group.state, group.params, group._derived,
                                         len(group.model.receptors), 0.1, group.backend.dtype, group.n)
            sources.append(src.source)
            sim.end()
    return sources


def test_every_kernel_compiles_with_nvcc(tmp_path):
    """The hand-written kernels and the generated step kernel of every compiled cell model, in both precisions,
    compile for CUDA (device code only, as NVRTC compiles them)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not on PATH")
    unit = tmp_path / "all_kernels.cu"
    from pynn_sparsegpu.engine.compiled.program import core_sources
    hand_written = [name for name in core_sources() if name.endswith(".cu")]
    assert "psg_propagation.cu" in hand_written
    parts = [f'#include "{name}"' for name in hand_written] + ['#include "psg_random.h"'] + _all_generated_kernels()
    unit.write_text("\n".join(parts))
    command = [nvcc, "--cubin", "-arch=sm_80", "-I", KERNEL_DIR, str(unit), "-o", str(tmp_path / "k.cubin")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr[-5000:]}"


def test_kernel_cache_reuses_libraries(tmp_path, monkeypatch):
    """A second build of the same source loads the cached library without compiling."""
    from pynn_sparsegpu.engine.compiled.toolchain import Toolchain
    monkeypatch.setenv("PYNN_SPARSEGPU_CACHE_DIR", str(tmp_path))
    source = '#include "psg_portable.h"\nPSG_KERNEL long long pynn_sparsegpu_test_answer() { return 42; }\n'
    first = Toolchain()
    assert first.build(source, "probe").pynn_sparsegpu_test_answer() == 42
    assert first.compiled == 1
    second = Toolchain()
    second.build(source, "probe")
    assert second.compiled == 0
    assert len(list((tmp_path / "kernels").glob("probe_*.so"))) == 1


def test_philox_known_answers_in_numpy_and_compiled(tmp_path, monkeypatch):
    """Philox4x32-10 against Random123's known-answer vectors, in the NumPy twin and in the C header."""
    import ctypes
    from pynn_sparsegpu.engine.compiled.toolchain import Toolchain
    from pynn_sparsegpu.engine.random import philox, uniform_pair
    vectors = [((0, 0, 0, 0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
               ((2 ** 64 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1),
                (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
               (((0x299f31d0 << 32) | 0xa4093822, 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344),
                (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))]
    monkeypatch.setenv("PYNN_SPARSEGPU_CACHE_DIR", str(tmp_path))
    lib = Toolchain().build('#include "psg_random.h"\n'
                            'PSG_KERNEL void philox_words(unsigned long long key, const unsigned int* c, unsigned int* out)'
                            ' { psg_philox(key, c[0], c[1], c[2], c[3], out); }\n'
                            'PSG_KERNEL void uniforms(unsigned long long key, long long i, long long d, long long s,'
                            ' double* u) { psg_uniform_pair(key, i, d, s, u); }\n', "philox_probe")
    lib.philox_words.argtypes = [ctypes.c_ulonglong, ctypes.c_void_p, ctypes.c_void_p]
    lib.uniforms.argtypes = [ctypes.c_ulonglong, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_longlong,
                             ctypes.c_void_p]
    for (key, *counter), expected in vectors:
        assert tuple(int(w) for w in philox(key, *counter)) == expected
        c = np.array(counter, dtype=np.uint32)
        out = np.zeros(4, dtype=np.uint32)
        lib.philox_words(key, c.ctypes.data, out.ctypes.data)
        assert tuple(int(w) for w in out) == expected
    u = np.zeros(2)
    for index, draw, step in ((0, 0, 0), (12345, 3, 2 ** 33 + 7), (2 ** 31, 1, 99)):
        lib.uniforms(0xDEADBEEF12345678, index, draw, step, u.ctypes.data)
        a, b = uniform_pair(0xDEADBEEF12345678, index, draw, step)
        assert (float(a), float(b)) == (u[0], u[1])


def _threaded_network(sim, threads):
    """Large enough for the threaded code: populations above PSG_OMP_MIN_ELEMENTS neurons and more than that many
    synaptic events per step."""
    sim.setup(timestep=0.1, backend="cpu", threads=threads, rng_seed=11)
    rng = NumpyRNG(seed=4)
    cells = sim.Population(6000, sim.IF_curr_exp(tau_refrac=2.0))
    cells.set(i_offset=RandomDistribution("uniform", low=0.7, high=1.6, rng=rng))
    cells.initialize(v=RandomDistribution("uniform", low=-65.0, high=-50.0, rng=rng))
    sim.Projection(cells, cells, sim.FixedProbabilityConnector(0.05, rng=rng),
                   sim.StaticSynapse(weight=RandomDistribution("uniform", low=0.0, high=0.04, rng=rng), delay=0.5))
    cells.record("spikes")
    cells[:50].record("v")
    sim.run(60.0)
    seg = cells.get_data().segments[0]
    out = ([np.asarray(st) for st in seg.spiketrains], np.asarray(seg.analogsignals[0]),
           sim.backend_info()["threads"])
    sim.end()
    return out


def test_results_do_not_depend_on_the_number_of_threads(sim):
    one = _threaded_network(sim, 1)
    two = _threaded_network(sim, 2)
    assert (one[2], two[2]) == (1, 2)
    n_spikes = sum(len(s) for s in one[0])
    events_per_step = n_spikes * 300 / 600          # ~300 synapses per row, 600 steps
    assert events_per_step > 2 * 4096, "too few events per step to exercise the threaded propagation"
    assert _same_spikes(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


@pytest.mark.parametrize("threads", [0, -2, 1.5, "2", True])
def test_bad_thread_counts_are_refused(sim, threads):
    with pytest.raises(ValueError, match="threads"):
        sim.setup(threads=threads)


@pytest.mark.parametrize("cell", ["EpropALIF", "EpropLIF", "LeakyIntegratorReadout"])
def test_eprop_cells_compile_bit_identical(sim, cell):
    """The e-prop cells (discrete-time, reset by subtraction, adaptive threshold) driven by Poisson input."""
    out = {}
    for backend in ("numpy", "cpu"):
        sim.setup(timestep=1.0, backend=backend, rng_seed=2)
        inputs = sim.Population(40, sim.SpikeSourcePoisson(rate=80.0))
        cells = sim.Population(30, getattr(sim, cell)())
        sim.Projection(inputs, cells, sim.FixedProbabilityConnector(0.3, rng=NumpyRNG(seed=6)),
                       sim.StaticSynapse(weight=RandomDistribution("uniform", low=0.0, high=0.3,
                                                                   rng=NumpyRNG(seed=7)), delay=1.0))
        readout = cell == "LeakyIntegratorReadout"
        cells.record("v" if readout else ["spikes", "v"])
        sim.run(300.0)
        seg = cells.get_data().segments[0]
        out[backend] = ([] if readout else [np.asarray(st) for st in seg.spiketrains],
                        np.asarray(seg.filter(name="v")[0]), sim.kernel_statistics()["reference_parts"])
        sim.end()
    assert out["cpu"][2] == []
    if cell != "LeakyIntegratorReadout":
        assert sum(len(s) for s in out["numpy"][0]) > 30
    assert _same_spikes(out["cpu"][0], out["numpy"][0])
    np.testing.assert_array_equal(out["cpu"][1], out["numpy"][1])


def test_vogels_abbott_coba_step_is_six_launches_and_no_synchronisation(sim):
    """The COBA network of PyNN's VAbenchmarks.py (excitatory and inhibitory cells and the Poisson stimulus, in
    its order of projections): one kernel per population and one per source population's projections, 6 per
    step, none synchronising; a rewiring batch and an STDP projection are counted in test_compiled_rewiring.py
    and test_compiled_plasticity.py."""
    sim.setup(timestep=0.1, min_delay=0.2, backend="cpu")
    rng = NumpyRNG(seed=98765)
    cell = sim.IF_cond_exp(tau_m=20.0, tau_syn_E=5.0, tau_syn_I=10.0, v_reset=-60.0, v_thresh=-50.0, cm=0.2,
                           tau_refrac=5.0, v_rest=-60.0, e_rev_E=0.0, e_rev_I=-80.0)
    exc, inh = sim.Population(320, cell), sim.Population(80, cell)
    stim = sim.Population(20, sim.SpikeSourcePoisson(rate=100.0, duration=50.0))
    for pop in (exc, inh):
        pop.initialize(v=RandomDistribution("uniform", low=-60.0, high=-50.0, rng=rng))
    c = sim.FixedProbabilityConnector(0.2, rng=rng)
    for pre, w, receptor in ((exc, 0.004, "excitatory"), (inh, 0.051, "inhibitory"), (stim, 0.1, "excitatory")):
        for post in (exc, inh):
            sim.Projection(pre, post, c, sim.StaticSynapse(weight=w, delay=0.2), receptor_type=receptor)
    exc.record("spikes")
    inh.record("spikes")
    sim.run(200.0)
    stats = sim.kernel_statistics()
    assert stats["reference_parts"] == []
    assert stats["launches_per_step"] == 6
    assert stats["syncs_per_step"] == 0
    assert sum(len(s) for s in exc.get_data().segments[0].spiketrains) > 0
