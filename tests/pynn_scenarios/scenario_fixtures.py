"""Our stand-in for the `fixtures` module of PyNN's scenario suite.

test_pynn_scenarios.py copies this file over the suite's own `fixtures.py` in the download cache, so every
scenario decorated with `run_with_simulators(...)` runs on ONE simulator: `pyNN.<PYNN_SCENARIO_SIM>`,
default `pyNN.sparsegpu`, whatever names the decorator lists.
"""

import importlib
import os

import pytest

SIMULATOR = os.environ.get("PYNN_SCENARIO_SIM", "").strip() or "sparsegpu"


def simulator_module():
    """Import `pyNN.<SIMULATOR>`; an import failure is an error, never a skip."""
    name = f"pyNN.{SIMULATOR}"
    try:
        return importlib.import_module(name)
    except Exception as err:
        raise RuntimeError(f"PyNN scenario suite: `import {name}` failed (PYNN_SCENARIO_SIM={SIMULATOR!r}): "
                           f"{type(err).__name__}: {err}") from err


def run_with_simulators(*sim_names):
    """Parametrize the test's `sim` argument with the chosen simulator module; `sim_names` is ignored."""
    del sim_names  # the upstream suite's own choice of simulators does not apply here
    return pytest.mark.parametrize("sim", [pytest.param(simulator_module(), id=SIMULATOR)])
