"""PyNN 0.13.0's own example scripts, run unchanged with `sparsegpu` as the simulator argument (the same sdist
as the scenario suite). Each must exit 0 and (where the script saves data) write its data file; plotting is not requested."""

import subprocess
import sys
import tarfile
from pathlib import PurePosixPath

import pytest

from test_pynn_scenarios import PYNN_VERSION, _check_sha256, _download_sdist

EXAMPLES = ["simple_STDP.py", "stdp_network.py", "tsodyksmarkram.py", "Izhikevich.py", "stochastic_synapses.py",
            "stochastic_tsodyksmarkram.py", "multiquantal_synapses.py", "small_network.py",
            "current_injection.py", "random_numbers.py"]


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory):
    sdist = _download_sdist()
    _check_sha256(sdist)
    target = tmp_path_factory.mktemp("pynn-examples")
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = PurePosixPath(member.name).parts
            if member.isfile() and len(parts) == 3 and parts[1] == "examples":
                (target / parts[2]).write_bytes(archive.extractfile(member).read())
    return target


@pytest.mark.parametrize("script", EXAMPLES)
def test_pynn_example_runs_on_sparsegpu(examples_dir, script, tmp_path):
    result = subprocess.run([sys.executable, str(examples_dir / script), "sparsegpu"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"PyNN {PYNN_VERSION} example {script} failed:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
    if script not in ("stdp_network.py", "random_numbers.py"):      # those two only print
        written = list(tmp_path.rglob("*.pkl")) + list(tmp_path.rglob("*.h5")) + list(tmp_path.rglob("*.nix"))
        assert written, f"{script} wrote no data file"
