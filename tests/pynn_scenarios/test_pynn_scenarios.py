"""Runs PyNN 0.13.0's own scenario suite (test/system/scenarios in its sdist) on our backend.

The suite's code is not part of this repository. At collection time this module:
1. gets the PyNN sdist from PyPI with `pip download` into CACHE_DIR (once; later runs reuse it) and checks
   its SHA-256;
2. extracts test/system/scenarios/*.py into CACHE_DIR/scenarios-<version>/ and writes our own
   scenario_fixtures.py over the suite's fixtures.py, so `run_with_simulators(...)` parametrizes `sim` with
   `pyNN.<PYNN_SCENARIO_SIM>` (default sparsegpu) whatever simulators a test names;
3. imports the extracted directory as a package and re-exports every test function here, so each scenario
   is one pytest item named as upstream names it, e.g. `test_scenario1[sparsegpu]`.

Scenarios that need features our backend lacks go in KNOWN_MISSING: they run as xfail(strict=True), so they
stay visible and fail (XPASS strict) as soon as the feature works; then remove the entry.

    PYNN_SCENARIO_SIM=nest python -m pytest tests/pynn_scenarios    # the same suite on NEST, for comparison
    PYNN_SCENARIO_CACHE=/some/dir ...                               # another cache directory

Without network access and without a cached sdist, collection fails with a message saying so.
"""

import hashlib
import importlib
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import pytest

# test name -> why our backend cannot pass it yet (only applied when the simulator is sparsegpu)
KNOWN_MISSING: dict[str, str] = {}

PYNN_VERSION = "0.13.0"
SDIST_SHA256 = "da2821e45055a88de6cf34896067eaaebcabbfdfb7883dd147353e7b78617815"
SUITE_DIR_IN_SDIST = ("test", "system", "scenarios")
PACKAGE = "pynn_upstream_scenarios"  # import name given to the extracted suite

HERE = Path(__file__).resolve().parent
CACHE_DIR = Path(os.environ.get("PYNN_SCENARIO_CACHE") or HERE.parents[1] / ".cache" / "pynn-sdist")
OUR_FIXTURES = HERE / "scenario_fixtures.py"


def _download_sdist():
    """Return the path of the cached PyNN sdist, downloading it with pip when it is not there yet."""
    cached = sorted(CACHE_DIR.glob(f"[Pp]y[Nn][Nn]-{PYNN_VERSION}.tar.gz"))
    if cached:
        return cached[0]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--timeout", "30", "--retries", "2", "--dest", tmp, f"pyNN=={PYNN_VERSION}"]
        result = subprocess.run(command, capture_output=True, text=True)
        downloaded = sorted(Path(tmp).glob("*.tar.gz"))
        if result.returncode != 0 or len(downloaded) != 1:
            output = (result.stdout + result.stderr).strip().splitlines()[-15:]
            pytest.fail(
                f"PyNN scenario suite unavailable: could not download the PyNN {PYNN_VERSION} sdist from PyPI "
                f"(needs network access), and none is cached in {CACHE_DIR}.\n"
                f"Command: {' '.join(command)} (exit {result.returncode})\n" + "\n".join(output) +
                f"\nFix: connect to PyPI, or put pynn-{PYNN_VERSION}.tar.gz into {CACHE_DIR}.", pytrace=False)
        target = CACHE_DIR / downloaded[0].name
        os.replace(downloaded[0], target)
    return target


def _check_sha256(sdist):
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        pytest.fail(f"{sdist} has SHA-256 {digest}, expected {SDIST_SHA256} (PyNN {PYNN_VERSION} sdist); "
                    "delete it so that the next run downloads it again.", pytrace=False)


def _extract_suite(sdist):
    """Extract the suite's *.py files (once) into CACHE_DIR/scenarios-<version>/ and return that directory."""
    suite = CACHE_DIR / f"scenarios-{PYNN_VERSION}"
    if suite.is_dir():
        return suite
    staging = Path(tempfile.mkdtemp(dir=CACHE_DIR))
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = PurePosixPath(member.name).parts
            if member.isfile() and len(parts) == 5 and parts[1:4] == SUITE_DIR_IN_SDIST and parts[4].endswith(".py"):
                (staging / parts[4]).write_bytes(archive.extractfile(member).read())
    if not (staging / "__init__.py").is_file() or not (staging / "fixtures.py").is_file():
        shutil.rmtree(staging)
        pytest.fail(f"{sdist} holds no {'/'.join(SUITE_DIR_IN_SDIST)}/ package", pytrace=False)
    try:
        staging.rename(suite)
    except OSError:  # another process extracted it meanwhile
        shutil.rmtree(staging)
    return suite


def _install_our_fixtures(suite):
    ours = OUR_FIXTURES.read_bytes()
    target = suite / "fixtures.py"
    if target.read_bytes() != ours:
        target.write_bytes(ours)


def _import_suite(suite):
    """Import the extracted directory as package PACKAGE; return (its test modules, its fixtures module)."""
    spec = importlib.util.spec_from_file_location(PACKAGE, suite / "__init__.py",
                                                  submodule_search_locations=[str(suite)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    fixtures = importlib.import_module(f"{PACKAGE}.fixtures")
    modules = [importlib.import_module(f"{PACKAGE}.{path.stem}") for path in sorted(suite.glob("test*.py"))]
    return modules, fixtures


def _collect_tests(modules, simulator):
    """Map each upstream test function name to the function, marked xfail when it is in KNOWN_MISSING."""
    tests = {}
    for module in modules:
        for name, obj in vars(module).items():
            if not (name.startswith("test") and inspect.isfunction(obj) and obj.__module__ == module.__name__):
                continue
            if name in tests:
                raise RuntimeError(f"two scenario modules define {name}; this runner needs unique test names")
            if simulator == "sparsegpu" and name in KNOWN_MISSING:
                obj = pytest.mark.xfail(reason=KNOWN_MISSING[name], strict=True)(obj)
            tests[name] = obj
    stale = sorted(set(KNOWN_MISSING) - set(tests))
    if stale:
        raise RuntimeError(f"KNOWN_MISSING names tests that the PyNN {PYNN_VERSION} suite does not have: {stale}")
    return tests


def _load_scenarios():
    sdist = _download_sdist()
    _check_sha256(sdist)
    suite = _extract_suite(sdist)
    _install_our_fixtures(suite)
    modules, fixtures = _import_suite(suite)
    return _collect_tests(modules, fixtures.SIMULATOR)


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    """Scenarios write result files into the working directory: give each its own."""
    monkeypatch.chdir(tmp_path)


globals().update(_load_scenarios())
