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

import ast
import hashlib
import importlib
import importlib.machinery
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
# Scenarios that cannot run under mpiexec with several processes, on any simulator: they check what one process
# holds against the whole network. Under MPI they are skipped on every process (a check that failed on one
# process only would leave the others waiting in a collective call). docs/parallel.md lists them.
_LOCAL = ("checks Projection.get(..., gather=False), the connections onto one process's cells, against the "
          "whole projection")
KNOWN_MISSING_PARALLEL: dict[str, str] = {
    "test_connection_access_weight_and_delay": "changes prj.connections[2] (a different connection on each "
                                               "process: connections are local) and compares the gathered list "
                                               "with one change",
    "test_all_to_all_static_no_self": _LOCAL,
    "test_all_to_all_tsodyksmarkram": _LOCAL,
    "test_fixed_number_pre_no_replacement": _LOCAL,
    "test_fixed_number_pre_with_replacement": _LOCAL,
    "test_fixed_number_pre_with_replacement_heterogeneous_parameters": _LOCAL,
    "test_fixed_number_post_no_replacement": _LOCAL,
    "test_fixed_number_post_with_replacement": _LOCAL,
    "test_fixed_number_post_with_replacement_heterogeneous_parameters": _LOCAL,
    "test_issue241": "checks Population.get() (gather=False: the values of one process's cells) against the "
                     "whole population",
    "test_reset_recording": "sets a parameter of single cells (p[3].i_offset = 0.1), which PyNN allows only on "
                            "the process that holds the cell",
    "test_issue259": "prints spiketrains[0] of a one-cell population on every process, between runs; only "
                     "the process that holds the cell has it",
    "test_issue321": "sets a parameter of a single cell (cells[0].i_offset = 1.0), which PyNN allows only on "
                     "the process that holds the cell",
    "test_scenario2": "pairs `for neuron in population` (PyNN iterates over one process's cells) with a list "
                      "of current sources made for the whole population",
    "test_scenario3": "reads a parameter of single cells (pre[50].rate), which PyNN allows only on the process "
                      "that holds the cell",
    "test_ticket166": "sets the spike times of single cells (spikesources[0].spike_times = ...), which PyNN "
                      "allows only on the process that holds the cell",
}

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


def _parallel_rank():
    """(rank, processes) when this pytest runs under an MPI launcher, else (0, 1)."""
    from pynn_sparsegpu.engine.parallel import world
    from pynn_sparsegpu.engine.parallel.comm import launched_by_mpi
    if not launched_by_mpi():
        return 0, 1
    comm = world()
    return comm.rank, comm.size


class _UncheckedLoader(importlib.machinery.SourceFileLoader):
    """Compiles a scenario module with its checks made harmless, for the ranks that do not check (see
    _import_suite): each assert statement, and each statement that calls a function whose name starts with
    "assert" (numpy.testing's), still evaluates its expressions, which may make collective calls (e.g.
    Projection.size()), but an exception they raise is ignored."""

    def get_code(self, fullname):
        tree = ast.parse(self.get_source(fullname), self.path)
        tree = ast.fix_missing_locations(_Unchecked().visit(tree))
        return compile(tree, self.path, "exec", dont_inherit=True)


class _Unchecked(ast.NodeTransformer):
    @staticmethod
    def _ignoring_errors(statement):
        handler = ast.ExceptHandler(type=ast.Name("Exception", ast.Load()), name=None, body=[ast.Pass()])
        return ast.copy_location(ast.Try(body=[statement], handlers=[handler], orelse=[], finalbody=[]), statement)

    def visit_Assert(self, node):
        return self._ignoring_errors(ast.copy_location(ast.Expr(node.test), node))

    def visit_Expr(self, node):
        func = node.value.func if isinstance(node.value, ast.Call) else None
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return self._ignoring_errors(node) if name.startswith("assert") else node


def _import_suite(suite):
    """Import the extracted directory as package PACKAGE; return (its test modules, its fixtures module).

    Under mpiexec, ranks other than 0 import the scenarios through _UncheckedLoader: they make every PyNN call
    of a scenario but do not check its results. What they record and get are their own cells (PyNN gathers the
    data to rank 0, which checks it), and a check that failed on such a rank would stop it before collective
    calls that the other ranks then wait in."""
    rank, _ = _parallel_rank()
    if rank != 0:
        loader = _UncheckedLoader(PACKAGE, str(suite / "__init__.py"))
        spec = importlib.util.spec_from_file_location(PACKAGE, suite / "__init__.py", loader=loader,
                                                      submodule_search_locations=[str(suite)])

        def suite_only(path):          # the suite's directory only: everything else imports as usual
            if os.path.realpath(path) != os.path.realpath(suite):
                raise ImportError(path)
            return importlib.machinery.FileFinder(path, (_UncheckedLoader, importlib.machinery.SOURCE_SUFFIXES))
        sys.path_hooks.insert(0, suite_only)
        sys.path_importer_cache.pop(str(suite), None)
    else:
        spec = importlib.util.spec_from_file_location(PACKAGE, suite / "__init__.py",
                                                      submodule_search_locations=[str(suite)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    # pytest's assertion rewriting imports test modules itself: not on the ranks that do not check
    rewriting = [f for f in sys.meta_path if type(f).__name__ == "AssertionRewritingHook"] if rank != 0 else []
    for finder in rewriting:
        sys.meta_path.remove(finder)
    try:
        spec.loader.exec_module(package)
        fixtures = importlib.import_module(f"{PACKAGE}.fixtures")
        modules = [importlib.import_module(f"{PACKAGE}.{path.stem}") for path in sorted(suite.glob("test*.py"))]
    finally:
        sys.meta_path[:0] = rewriting
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
            elif name in KNOWN_MISSING_PARALLEL and _parallel_rank()[1] > 1:
                obj = pytest.mark.skip(reason=f"not a parallel scenario: {KNOWN_MISSING_PARALLEL[name]}")(obj)
            tests[name] = obj
    stale = sorted((set(KNOWN_MISSING) | set(KNOWN_MISSING_PARALLEL)) - set(tests))
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
