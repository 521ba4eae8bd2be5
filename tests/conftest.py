"""Shared fixtures: the backend under test, NEST as the reference, and the array paths for engine tests."""

import importlib
import warnings

import numpy as np
import pytest


def _gpu_usable() -> bool:
    try:
        from pynn_sparsegpu.engine.backend import _probe_cupy
        _probe_cupy()
        return True
    except Exception:
        return False


GPU = _gpu_usable()


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a usable CUDA device and CuPy (skipped without one)")
    config.addinivalue_line("markers", "nest: compares against pyNN.nest (NEST 3.10 from PyPI)")
    warnings.filterwarnings("ignore", message=".*deprecated.*", category=UserWarning)


@pytest.fixture
def sim():
    """pyNN.sparsegpu on the NumPy path, set up fresh for each test."""
    module = importlib.import_module("pyNN.sparsegpu")
    yield module
    module.end()


@pytest.fixture(scope="session")
def nest_sim():
    """pyNN.nest: the reference. Not optional: a missing NEST is a broken test environment."""
    return importlib.import_module("pyNN.nest")


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request):
    """An engine Backend for each array path; the CuPy one is skipped without a GPU."""
    from pynn_sparsegpu.engine.backend import select_backend
    if request.param == "cupy" and not GPU:
        pytest.skip("no usable CUDA device")
    return select_backend(request.param, "float64")


def assert_close_traces(a, b, atol):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = np.abs(a - b)
    assert diff.max() < atol, f"max |diff| = {diff.max()} at index {diff.argmax()} (allowed {atol})"


def spiketrains_ms(population):
    """The recorded spike trains of the current segment as a list of float arrays in ms."""
    return [np.asarray(st.rescale("ms").magnitude) for st in population.get_data().segments[0].spiketrains]


def pytest_terminal_summary(terminalreporter):
    """How many random call sequences tests/test_properties.py tried (and with which Hypothesis profile)."""
    import sys
    module = sys.modules.get("test_properties")
    if module is not None and module.STATISTICS["sequences"]:
        s = module.STATISTICS
        terminalreporter.write_line(
            f"test_properties ({module.PROFILE} profile): {s['sequences']} call sequences, {s['calls']} calls "
            f"({s['refused']} refused), {s['runs']} runs")
        terminalreporter.write_line("  accepted: " + ", ".join(f"{k} {v}" for k, v in sorted(s["accepted"].items())))
