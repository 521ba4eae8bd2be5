"""Helpers shared by the benchmark drivers: machine/software metadata, medians, table printing.

Not a benchmark itself. The drivers (va_benchmark.py, scaling.py) import it from this directory.
"""

import datetime
import importlib.util
import importlib.metadata
import json
import os
import platform
import socket
import statistics
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _git(*args, strip=True):
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() if strip else out.stdout


def metadata():
    """Date, machine, git state and software versions (read without importing the simulators)."""
    status = _git("status", "--porcelain", "--untracked-files=no", strip=False)
    changed = [line[3:] for line in status.splitlines() if line.strip()] if status else []
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(changed) if status is not None else None,
        "git_changed_files": changed,
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "versions": {
            "numpy": _version("numpy"),
            "PyNN": _version("PyNN"),
            "nest-simulator": _version("nest-simulator"),
            "pynn_sparsegpu": _version("pynn_sparsegpu") or _version("pynn-sparsegpu"),
            "cupy": _version("cupy-cuda12x") or _version("cupy-cuda13x") or _version("cupy"),
        },
        "env": {k: v for k, v in os.environ.items()
                if k.startswith("PYNN_SPARSEGPU") or k in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")},
    }


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run_child(cmd, timeout, env=None):
    """Run one benchmark child (with `env` as its environment, default this one's); return (json dict or
    None, error text or None, stdout)."""
    json_path = cmd[cmd.index("--json") + 1]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        return None, f"timed out after {timeout} s", (e.stdout or b"").decode() if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        return None, f"exit status {proc.returncode}:\n{tail}", proc.stdout
    try:
        with open(json_path) as f:
            return json.load(f), None, proc.stdout
    except (OSError, ValueError) as e:
        return None, f"no JSON result ({e})", proc.stdout
    finally:
        try:
            os.remove(json_path)
        except OSError:
            pass


def fmt(value, spec):
    if value is None:
        return "-"
    return format(value, spec)


def print_table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join(str(h).rjust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))


def backend_info_of(sim):
    """The simulator's backend_info() where it has one (sparsegpu), None otherwise; errors are reported."""
    if not hasattr(sim, "backend_info"):
        return None
    try:
        return sim.backend_info()
    except Exception as e:  # report, do not fail the benchmark
        return {"error": repr(e)}


def write_json(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")


def load_example(name):
    """The module examples/<name>.py, imported from its file (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO_ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
