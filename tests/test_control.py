"""Simulation control (setup/run/reset/state queries/callbacks), the procedural API, backend_info, and the
Population API (get/set, views, masks, samples, assemblies, structure, describe, annotate, save_positions).
"""

import numpy as np
import pytest
from pyNN.random import NumpyRNG, RandomDistribution
from pyNN.space import Grid2D, RandomStructure, Sphere

DT = 0.1


# --- setup and state queries --------------------------------------------------------------------------
def test_setup_returns_rank_and_state_queries(sim):
    assert sim.setup(timestep=0.25, min_delay=0.5, max_delay=8.0) == 0
    assert sim.get_time_step() == 0.25
    assert sim.get_min_delay() == 0.5
    assert sim.get_max_delay() == 8.0
    assert sim.get_current_time() == 0.0
    assert sim.num_processes() == 1
    assert sim.rank() == 0


def test_setup_accepts_other_backends_arguments(sim):
    sim.setup(timestep=DT, min_delay="auto", threads=4, t_flush=10.0, verbosity="error",
              spike_precision="on_grid")
    assert sim.get_time_step() == DT
    assert sim.get_min_delay() == DT          # "auto": the time step
    cells = sim.Population(1, sim.IF_curr_exp(i_offset=1.0))
    cells.record("spikes")
    sim.run(50.0)
    assert len(cells.get_data().segments[0].spiketrains[0]) > 0


def test_max_delay_auto_covers_longest_delay(sim):
    sim.setup(timestep=DT, min_delay=DT)
    cells = sim.Population(2, sim.IF_curr_exp())
    sim.Projection(cells, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1, delay=23.4))
    sim.run(1.0)
    assert sim.get_max_delay() >= 23.4 - 1e-9


def test_setup_discards_previous_network(sim):
    sim.setup(timestep=DT)
    sim.Population(3, sim.IF_curr_exp())
    sim.run(10.0)
    sim.setup(timestep=0.2)
    assert sim.get_current_time() == 0.0
    assert sim.get_time_step() == 0.2
    population = sim.Population(2, sim.IF_curr_exp())
    assert [int(i) for i in population.all_cells] == [0, 1]     # IDs start again


def test_run_run_until_run_for(sim):
    sim.setup(timestep=DT)
    sim.Population(1, sim.IF_curr_exp())
    assert sim.run(10.0) == pytest.approx(10.0)
    assert sim.run_until(25.0) == pytest.approx(25.0)
    assert sim.run_for(5.0) == pytest.approx(30.0)
    assert sim.get_current_time() == pytest.approx(30.0)
    # many short runs add up without drift on the grid
    for _ in range(100):
        sim.run(0.1)
    assert sim.get_current_time() == pytest.approx(40.0, abs=1e-9)


def test_split_run_equals_single_run(sim):
    """run(x + y) is equivalent to run(x) followed by run(y)."""
    traces = []
    for split in (False, True):
        sim.setup(timestep=DT, rng_seed=9)
        noise = sim.Population(10, sim.SpikeSourcePoisson(rate=80.0))
        cells = sim.Population(3, sim.IF_curr_alpha(i_offset=0.3))
        sim.Projection(noise, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.8, delay=1.5))
        cells.record(["spikes", "v"])
        if split:
            sim.run(33.3)
            sim.run(66.7)
        else:
            sim.run(100.0)
        traces.append(cells.get_data().segments[0].filter(name="v")[0].magnitude)
        sim.end()
    np.testing.assert_array_equal(traces[0], traces[1])


def test_input_on_its_way_survives_a_longer_delay_added_between_runs(sim):
    """A projection with a longer delay created between runs enlarges the target's input ring buffer;
    input already buffered for later steps must arrive when it would have (it used to land in the wrong
    slot of the larger ring and was lost)."""
    traces = []
    for split in (False, True):
        sim.setup(timestep=DT, min_delay=DT, spike_precision="on_grid")      # (the grid's input ring)
        src = sim.Population(1, sim.SpikeSourceArray(spike_times=[4.5]))
        silent = sim.Population(1, sim.SpikeSourceArray(spike_times=[]))
        tgt = sim.Population(1, sim.IF_curr_exp())
        tgt.record("v")
        sim.Projection(src, tgt, sim.OneToOneConnector(), sim.StaticSynapse(weight=2.0, delay=2.0))
        if split:
            sim.run(5.0)                   # the spike of 4.5 ms is in the ring, due at 6.5 ms
        sim.Projection(silent, tgt, sim.OneToOneConnector(), sim.StaticSynapse(weight=1.0, delay=20.0))
        sim.run(10.0 if split else 15.0)
        traces.append(tgt.get_data().segments[0].filter(name="v")[0].magnitude[:, 0])
        sim.end()
    assert traces[0].max() > traces[0][0] + 1.0          # the input arrived (2 nA: a clear PSP)
    np.testing.assert_array_equal(traces[0], traces[1])


def test_callbacks_called_at_requested_times(sim):
    sim.setup(timestep=DT)
    cells = sim.Population(1, sim.IF_curr_exp())
    cells.record("v")
    seen = []

    def every_7ms(t):
        seen.append((t, sim.get_current_time()))
        return t + 7.0

    sim.run(30.0, callbacks=[every_7ms])
    times = [t for t, _ in seen]
    np.testing.assert_allclose(times, [0.0, 7.0, 14.0, 21.0, 28.0, 30.0], atol=1e-9)
    for t, now in seen:
        assert t == pytest.approx(now)


def test_callback_can_change_parameters_during_run(sim):
    sim.setup(timestep=DT)
    cells = sim.Population(1, sim.IF_curr_exp())
    cells.record("v")

    def switch_on(t):
        if t >= 20.0 - 1e-9:
            cells.set(i_offset=1.0)
            return 1e9
        return 20.0

    sim.run(40.0, callbacks=[switch_on])
    v = cells.get_data().segments[0].filter(name="v")[0].magnitude[:, 0]
    np.testing.assert_allclose(v[:201], -65.0)       # nothing up to t = 20 ms
    assert v[-1] > -65.0 + 5.0                       # the current acts afterwards


def test_two_callbacks(sim):
    sim.setup(timestep=DT)
    sim.Population(1, sim.IF_curr_exp())
    a, b = [], []
    sim.run(20.0, callbacks=[lambda t: a.append(t) or t + 5.0, lambda t: b.append(t) or t + 8.0])
    np.testing.assert_allclose(a, [0.0, 5.0, 10.0, 15.0, 20.0], atol=1e-9)
    np.testing.assert_allclose(b, [0.0, 8.0, 16.0], atol=1e-9)


def test_reset_restores_initial_state(sim):
    sim.setup(timestep=DT)
    cells = sim.Population(2, sim.IF_curr_exp(i_offset=0.5))
    cells.initialize(v=-60.0)
    cells.record("v")
    sim.run(25.0)
    sim.reset()
    assert sim.get_current_time() == 0.0
    sim.run(25.0)
    s0, s1 = cells.get_data().segments
    v0, v1 = s0.filter(name="v")[0].magnitude, s1.filter(name="v")[0].magnitude
    np.testing.assert_allclose(v0[0], -60.0)
    np.testing.assert_array_equal(v0, v1)


def test_reset_annotations(sim):
    """PyNN's reset(annotations=...) annotates the segment closed by that reset."""
    sim.setup(timestep=DT)
    cells = sim.Population(1, sim.IF_curr_exp(i_offset=1.0))
    cells.record("spikes")
    sim.run(10.0)
    sim.reset(annotations={"stimulus": "A"})
    sim.run(10.0)
    sim.reset(annotations={"stimulus": "B"})
    sim.run(10.0)
    segments = cells.get_data().segments
    assert [s.annotations.get("stimulus") for s in segments] == ["A", "B", None]
    assert [s.name for s in segments] == ["segment000", "segment001", "segment002"]


def test_initialize_function(sim):
    sim.setup(timestep=DT)
    cells = sim.Population(3, sim.IF_curr_exp())
    sim.initialize(cells, v=np.array([-70.0, -60.0, -55.0]))
    cells.record("v")
    sim.run(0.1)
    v0 = cells.get_data().segments[0].filter(name="v")[0].magnitude[0]
    np.testing.assert_allclose(v0, [-70.0, -60.0, -55.0])


# --- backend ------------------------------------------------------------------------------------------
def test_backend_info_default_numpy_float64(sim):
    sim.setup(timestep=DT, backend="numpy")
    info = sim.backend_info()
    assert info["backend"] == "numpy"
    assert info["precision"] == "float64"
    assert info["device"] == "cpu"
    assert info["reason"]


def test_backend_info_auto_without_gpu_says_why(sim):
    from conftest import GPU
    if GPU:
        pytest.skip("a GPU is usable here: auto chooses CuPy")
    sim.setup(timestep=DT)
    info = sim.backend_info()
    assert info["backend"] == "cpu"              # a C++ compiler is on every machine the tests run on
    assert info["path"] == "compiled kernels on the CPU"
    assert info["precision"] == "float64"
    assert "auto" in info["reason"] and "CuPy" in info["reason"]
    assert "g++" in info["compiler"] or "c++" in info["compiler"] or "clang" in info["compiler"]


def test_without_a_compiler_auto_falls_back_to_numpy_with_one_warning(tmp_path):
    """A machine with no usable compiler gets the reference path and a warning that says why; asking for the
    compiled path there is a clear error."""
    import os
    import subprocess
    import sys
    code = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "import pyNN.sparsegpu as sim\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    sim.setup()\n"
        "info = sim.backend_info()\n"
        "assert info['backend'] == 'numpy', info\n"
        "messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]\n"
        "assert len(messages) == 1 and 'no C++ compiler found' in messages[0], messages\n"
        "assert 'no C++ compiler found' in info['reason'], info\n"
        "try:\n"
        "    sim.setup(backend='cpu')\n"
        "except RuntimeError as err:\n"
        "    assert 'compiled CPU path is unavailable' in str(err), err\n"
        "else:\n"
        "    raise AssertionError('backend=cpu without a compiler was accepted')\n"
        "print('ok')\n")
    env = dict(os.environ, PYNN_SPARSEGPU_CXX=str(tmp_path / "no-such-compiler"),
               PYNN_SPARSEGPU_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("PYNN_SPARSEGPU_BACKEND", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_precision_float32(sim):
    traces = {}
    for precision in ("float64", "float32"):
        sim.setup(timestep=DT, backend="numpy", precision=precision)
        assert sim.backend_info()["precision"] == precision
        cells = sim.Population(2, sim.IF_curr_alpha(i_offset=[0.7, 1.4]))
        group = cells._engine_group
        for name, array in group.state.items():
            if not name.startswith("_"):
                assert array.dtype == np.dtype(precision), name
        cells.record("v")
        sim.run(50.0)
        traces[precision] = cells.get_data().segments[0].filter(name="v")[0].magnitude
        sim.end()
    assert not np.array_equal(traces["float32"], traces["float64"])     # really a different precision
    np.testing.assert_allclose(traces["float32"], traces["float64"], atol=1e-3)


# --- procedural API -----------------------------------------------------------------------------------
def test_procedural_create_connect_record(sim, tmp_path):
    sim.setup(timestep=DT)
    pre = sim.create(sim.IF_curr_exp(i_offset=1.0), n=3)
    post = sim.create(sim.IF_curr_exp(), n=2)
    assert isinstance(pre, sim.Population) and pre.size == 3
    projection = sim.connect(pre, post, weight=0.7, delay=0.5, p=1.0)
    assert len(projection) == 6
    np.testing.assert_allclose(projection.get("weight", format="array"), 0.7)
    np.testing.assert_allclose(projection.get("delay", format="array"), 0.5)
    path = tmp_path / "pre.pkl"
    sim.record(["spikes", "v"], pre, str(path))
    sim.run(30.0)
    assert len(pre.get_data().segments[0].spiketrains[0]) > 0
    sim.end()
    assert path.exists() and path.stat().st_size > 0      # write_on_end


def test_procedural_connect_single_cells(sim):
    sim.setup(timestep=DT)
    cells = sim.Population(4, sim.IF_curr_exp())
    projection = sim.connect(cells[0], cells[3], weight=0.2, delay=1.0)
    assert len(projection) == 1
    assert projection.get(["weight", "delay"], format="list")[0] == (0, 0, 0.2, 1.0)


def test_procedural_set(sim):
    sim.setup(timestep=DT)
    cells = sim.create(sim.IF_curr_exp(), n=3)
    sim.set(cells, tau_m=12.0)
    np.testing.assert_allclose(cells.get("tau_m"), 12.0)


# --- Population API: get and set ----------------------------------------------------------------------
@pytest.fixture
def grid(sim):
    sim.setup(timestep=DT)
    return sim.Population(9, sim.IF_curr_exp(), structure=Grid2D(dx=10.0, dy=10.0, aspect_ratio=1.0),
                          label="grid")


def test_get_set_scalar_and_array(sim, grid):
    grid.set(tau_m=15.0)
    assert grid.get("tau_m") == 15.0
    grid.set(cm=np.linspace(0.5, 1.3, 9))
    np.testing.assert_allclose(grid.get("cm"), np.linspace(0.5, 1.3, 9))
    tau_m, cm = grid.get(["tau_m", "cm"])
    assert tau_m == 15.0
    np.testing.assert_allclose(cm, np.linspace(0.5, 1.3, 9))
    # get a homogeneous parameter as an array
    np.testing.assert_allclose(grid.get("tau_m", simplify=False), np.full(9, 15.0))


def test_set_random_distribution(sim, grid):
    grid.set(tau_m=RandomDistribution("uniform", low=10.0, high=20.0, rng=NumpyRNG(seed=1)))
    values = grid.get("tau_m")
    expected = NumpyRNG(seed=1).next(9, "uniform", {"low": 10.0, "high": 20.0})
    np.testing.assert_allclose(values, expected)
    assert len(np.unique(values)) == 9


def test_set_callable_of_index_and_position(sim, grid):
    grid.set(tau_m=lambda i: 10.0 + i)
    np.testing.assert_allclose(grid.get("tau_m"), 10.0 + np.arange(9))
    x = grid.positions[0]
    grid.set(v_thresh=lambda i: -50.0 - x[i] / 10.0)
    np.testing.assert_allclose(grid.get("v_thresh"), -50.0 - x / 10.0)


def test_parameters_take_effect(sim):
    """A parameter set with set() is what the engine integrates: v(t) of a cell with i_offset I relaxes
    to v_rest + I tau_m / cm exactly."""
    sim.setup(timestep=DT)
    cells = sim.Population(3, sim.IF_curr_exp(v_thresh=0.0))
    cells.set(i_offset=0.2, tau_m=np.array([5.0, 10.0, 20.0]), cm=0.5)
    cells.record("v")
    sim.run(50.0)
    v = cells.get_data().segments[0].filter(name="v")[0].magnitude
    tau = np.array([5.0, 10.0, 20.0])
    expected = -65.0 + 0.2 * tau / 0.5 * (1.0 - np.exp(-50.0 / tau))
    np.testing.assert_allclose(v[-1], expected, rtol=0, atol=1e-9)


def test_initialize_random_distribution(sim, grid):
    grid.initialize(v=RandomDistribution("uniform", low=-70.0, high=-60.0, rng=NumpyRNG(seed=2)))
    grid.record("v")
    sim.run(0.1)
    v0 = grid.get_data().segments[0].filter(name="v")[0].magnitude[0]
    np.testing.assert_allclose(v0, NumpyRNG(seed=2).next(9, "uniform", {"low": -70.0, "high": -60.0}))


# --- views, masks, samples, assemblies ----------------------------------------------------------------
def test_views_and_masks(sim, grid):
    grid.set(tau_m=10.0 + np.arange(9))
    view = grid[2:7:2]
    np.testing.assert_allclose(view.get("tau_m"), [12.0, 14.0, 16.0])
    view.set(tau_m=99.0)
    np.testing.assert_allclose(grid.get("tau_m"), [10, 11, 99, 13, 99, 15, 99, 17, 18])
    mask = np.array([True, False] * 4 + [True])
    np.testing.assert_allclose(grid[mask].get("tau_m"), [10, 99, 99, 99, 18])
    nested = view[1:]
    assert nested.parent is view and nested.grandparent is grid
    nested.set(cm=0.25)
    np.testing.assert_allclose(grid.get("cm"), [1, 1, 1, 1, 0.25, 1, 0.25, 1, 1])
    assert sorted(grid[[8, 0]].get("tau_m").tolist()) == [10.0, 18.0]


def test_sample(sim, grid):
    sample = grid.sample(4, rng=NumpyRNG(seed=3))
    assert sample.size == 4
    assert len(set(int(i) for i in sample.all_cells)) == 4
    again = grid.sample(4, rng=NumpyRNG(seed=3))
    assert [int(i) for i in again.all_cells] == [int(i) for i in sample.all_cells]
    sample.set(i_offset=0.5)
    offsets = grid.get("i_offset", simplify=False)
    assert np.count_nonzero(offsets) == 4
    np.testing.assert_array_equal(np.nonzero(offsets)[0], np.sort(grid.id_to_index(sample.all_cells)))


def test_assembly(sim, grid):
    other = sim.Population(4, sim.IF_curr_alpha(tau_m=30.0), label="other")
    assembly = grid + other
    assert assembly.size == 13
    assembly.set(i_offset=0.25)
    np.testing.assert_allclose(grid.get("i_offset"), 0.25)
    np.testing.assert_allclose(other.get("i_offset"), 0.25)
    tau_m = assembly.get("tau_m")
    np.testing.assert_allclose(tau_m, [20.0] * 9 + [30.0] * 4)
    part = assembly[7:11]
    assert part.size == 4
    assert assembly.id_to_index(other[0]) == 9
    assert "grid" in assembly.describe() and "other" in assembly.describe()


def test_inject_into_view(sim):
    sim.setup(timestep=DT)
    cells = sim.Population(4, sim.IF_curr_exp())
    source = sim.DCSource(amplitude=0.5, start=1.0, stop=1000.0)
    source.inject_into(cells[1:3])
    cells.record("v")
    sim.run(20.0)
    v_end = cells.get_data().segments[0].filter(name="v")[0].magnitude[-1]
    np.testing.assert_allclose(v_end[[0, 3]], -65.0)
    # the current switched on at t = 1 ms acts on V from the step 1.0 -> 1.1 on (as in pyNN.nest): 19 ms
    expected = -65.0 + 0.5 * 20.0 * (1.0 - np.exp(-19.0 / 20.0))
    np.testing.assert_allclose(v_end[[1, 2]], expected, atol=1e-9)


def test_inject_into_assembly_and_cells(sim):
    sim.setup(timestep=DT)
    a = sim.Population(2, sim.IF_curr_exp())
    b = sim.Population(2, sim.IF_curr_alpha())
    sim.DCSource(amplitude=0.5).inject_into(a[0:1] + b)
    sim.DCSource(amplitude=0.5).inject_into([a[1]])
    for p in (a, b):
        p.record("v")
    sim.run(10.0)
    for p in (a, b):
        v_end = p.get_data().segments[0].filter(name="v")[0].magnitude[-1]
        assert np.all(v_end > -65.0 + 1.0)


# --- structure, describe, annotate, IDs ---------------------------------------------------------------
def test_positions_grid2d(sim, grid):
    positions = grid.positions
    assert positions.shape == (3, 9)
    np.testing.assert_allclose(sorted(set(positions[0])), [0.0, 10.0, 20.0])
    np.testing.assert_allclose(sorted(set(positions[1])), [0.0, 10.0, 20.0])
    np.testing.assert_allclose(positions[2], 0.0)
    np.testing.assert_allclose(grid[4].position, positions[:, 4])


def test_positions_random_structure(sim):
    sim.setup(timestep=DT)
    population = sim.Population(50, sim.IF_curr_exp(),
                                structure=RandomStructure(boundary=Sphere(100.0), rng=NumpyRNG(seed=4)))
    radius = np.linalg.norm(population.positions, axis=0)
    assert population.positions.shape == (3, 50)
    assert radius.max() <= 100.0
    assert radius.max() > 50.0


def test_describe_annotate(sim, grid):
    text = grid.describe()
    assert 'Population "grid"' in text and "IF_curr_exp" in text and "Grid2D" in text
    grid.annotate(experiment="control", trial=3)
    assert grid.annotations == {"experiment": "control", "trial": 3}
    grid.record("spikes")
    sim.run(1.0)
    block = grid.get_data()
    assert block.annotations["experiment"] == "control" and block.annotations["trial"] == 3


def test_id_to_index_and_ids(sim, grid):
    other = sim.Population(3, sim.IF_curr_exp())
    assert grid.id_to_index(grid[3]) == 3
    np.testing.assert_array_equal(grid.id_to_index([grid[1], grid[5]]), [1, 5])
    assert other.id_to_index(other[2]) == 2
    assert grid[5] in grid and other[0] not in grid
    assert other.first_id == grid.last_id + 1
    assert grid[3].parent is grid
    assert grid[-1] == grid[8]
    assert grid[2].tau_m == 20.0
    grid[2].tau_m = 11.0                  # set through the ID
    assert grid.get("tau_m", simplify=False)[2] == 11.0


def test_save_positions(sim, grid, tmp_path):
    path = tmp_path / "positions.txt"
    grid.save_positions(str(path))
    rows = np.loadtxt(path)
    assert rows.shape == (9, 4)
    np.testing.assert_array_equal(rows[:, 0], np.arange(9))
    np.testing.assert_allclose(rows[:, 1:], grid.positions.T)
