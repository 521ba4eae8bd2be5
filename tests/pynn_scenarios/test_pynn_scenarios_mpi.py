"""PyNN's scenario suite under `mpiexec -n 2`, one scenario per MPI job (so that a scenario that fails on one
process cannot leave the other waiting in a collective call of the next scenario).

Rank 0 gathers the data and runs the scenario's checks; rank 1 makes the same PyNN calls with its checks off
(test_pynn_scenarios.py: its data are its own cells). A scenario passes when rank 0 passes and rank 1 either
passes or fails only inside the scenario's own code. An error raised inside PyNN or pynn_sparsegpu on either
rank fails the scenario. Scenarios that check one process's part against the whole network are skipped under
MPI (KNOWN_MISSING_PARALLEL, with the reason).
"""

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from test_pynn_scenarios import KNOWN_MISSING_PARALLEL, _load_scenarios

pytestmark = pytest.mark.mpi

HERE = Path(__file__).resolve().parent
SCENARIOS = sorted(_load_scenarios())


def _mpiexec():
    found = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        pytest.fail("mpiexec is not installed: install the test extra (it brings mpi4py and MPICH from PyPI)")
    return found


def _outcome(path):
    """('passed' | 'skipped' | 'failed', failure text) from a rank's JUnit XML."""
    case = ElementTree.parse(path).getroot().find(".//testcase")
    if case is None:
        return "failed", "no test ran"
    for kind in ("failure", "error"):
        element = case.find(kind)
        if element is not None:
            return "failed", (element.get("message") or "") + "\n" + (element.text or "")
    return ("skipped", "") if case.find("skipped") is not None else ("passed", "")


_FRAME = re.compile(r'^\s*(?:File ")?(\S+\.py)(?:", line |:)\d+')


def _in_library(text):
    """Whether a failure's traceback has a frame in PyNN or this package (rather than only in the scenario's
    own code, or in Neo or NumPy called from it)."""
    frames = [m.group(1) for m in map(_FRAME.match, text.splitlines()) if m]
    return any(f"{os.sep}pynn_sparsegpu{os.sep}" in f or f"site-packages{os.sep}pyNN{os.sep}" in f for f in frames)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_on_two_processes(name, tmp_path):
    if name in KNOWN_MISSING_PARALLEL:
        pytest.skip(f"not a parallel scenario: {KNOWN_MISSING_PARALLEL[name]}")
    item = f"{HERE / 'test_pynn_scenarios.py'}::{name}[sparsegpu]"
    report = tmp_path / "rank"
    inner = (f"{sys.executable} -m pytest -q -p no:cacheprovider '{item}' --timeout 60 --timeout-method=thread "
             f"--junitxml={report}$PMI_RANK.xml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_"))}
    try:
        run = subprocess.run([_mpiexec(), "-n", "2", "sh", "-c", inner], capture_output=True, text=True,
                             timeout=150, env=env, stdin=subprocess.DEVNULL, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not finish under mpiexec -n 2 within 150 s")
    outcomes = {}
    for rank in (0, 1):
        path = Path(f"{report}{rank}.xml")
        assert path.is_file(), f"rank {rank} wrote no report:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        outcomes[rank] = _outcome(path)
    state0, text0 = outcomes[0]
    state1, text1 = outcomes[1]
    if state0 == state1 == "skipped":        # the scenario skips itself (as it does in one process)
        pytest.skip(f"{name} skips itself")
    assert state0 == "passed", f"rank 0: {text0[-4000:]}"
    assert state1 == "passed" or (state1 == "failed" and not _in_library(text1)), f"rank 1: {text1[-4000:]}"
