"""Building kernel sources for the CPU: the host C++ compiler, a content-hash cache, and loading.

A source is compiled once into a shared library and cached under a name derived from the SHA-256 of the
source, the kernel headers, the compiler's version and the flags, so a second run (or a second process) loads
the library without compiling. The cache directory is $PYNN_SPARSEGPU_CACHE_DIR, else
$XDG_CACHE_HOME/pynn_sparsegpu, else ~/.cache/pynn_sparsegpu. Libraries are written to a temporary name and
renamed into place, so concurrent builds and crashes never leave a half-written library behind.

The compiler is $PYNN_SPARSEGPU_CXX when set (and then only that one), else $CXX, else the first of c++, g++
and clang++ on the PATH.
Floating-point contraction is off (-ffp-contract=off) and no fast-math flag is used, so a kernel computes
the same IEEE operations as the NumPy reference in the same order.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading

KERNEL_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "kernels")
CXX_ENV = "PYNN_SPARSEGPU_CXX"
CACHE_ENV = "PYNN_SPARSEGPU_CACHE_DIR"
FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-march=native", "-ffp-contract=off", "-fno-math-errno",
         "-fvisibility=hidden")
OPENMP_FLAG = "-fopenmp"


class CompilerError(RuntimeError):
    """No usable C++ compiler, or a kernel source failed to compile (the message has the compiler's output)."""


def cache_dir() -> str:
    path = os.environ.get(CACHE_ENV)
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "pynn_sparsegpu")
    return os.path.join(path, "kernels")


def _headers() -> str:
    """The text of every kernel header (part of each library's hash: a changed header rebuilds)."""
    parts = []
    for name in sorted(os.listdir(KERNEL_DIR)):
        if name.endswith((".h", ".cuh")):
            with open(os.path.join(KERNEL_DIR, name)) as f:
                parts.append(name + "\n" + f.read())
    return "\n".join(parts)


class Toolchain:
    """The host compiler: `build(source, stem)` returns a loaded ctypes library (cached on disk and in memory)."""

    def __init__(self, cxx: str | None = None):
        if cxx is None and os.environ.get(CXX_ENV):
            cxx = os.environ[CXX_ENV]          # an explicit choice: only this one
        candidates = [cxx] if cxx else [os.environ.get("CXX"), "c++", "g++", "clang++"]
        self.cxx = None
        for name in candidates:
            if name and shutil.which(name):
                self.cxx = shutil.which(name)
                break
        if self.cxx is None:
            looked = cxx if cxx else "$CXX, c++, g++, clang++"
            raise CompilerError(f"no C++ compiler found (looked for {looked})")
        try:
            out = subprocess.run([self.cxx, "--version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as err:
            raise CompilerError(f"the C++ compiler {self.cxx} cannot be run ({err})") from err
        if out.returncode != 0:
            raise CompilerError(f"the C++ compiler {self.cxx} cannot be run: {out.stderr.strip()[:500]}")
        self.version = (out.stdout.strip().splitlines() or ["unknown"])[0]
        self.openmp = self._probe_openmp()
        self.flags = FLAGS + ((OPENMP_FLAG,) if self.openmp else ())
        self._loaded = {}
        self._lock = threading.Lock()
        self.compiled = 0          # libraries compiled by this process (cache misses)

    def describe(self) -> str:
        return f"{self.version} ({self.cxx}){', OpenMP' if self.openmp else ', no OpenMP'}"

    def _probe_openmp(self) -> bool:
        """Whether the compiler builds and links OpenMP code (threads=N needs it)."""
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.cpp")
            with open(src, "w") as f:
                f.write("#include <omp.h>\nextern \"C\" int probe() { return omp_get_max_threads(); }\n")
            try:
                out = subprocess.run([self.cxx, "-shared", "-fPIC", OPENMP_FLAG, "-o", os.path.join(tmp, "p.so"), src],
                                     capture_output=True, timeout=120)
            except (OSError, subprocess.SubprocessError):
                return False
            return out.returncode == 0

    def key(self, source: str) -> str:
        text = "\n".join((source, _headers(), self.version, " ".join(self.flags), platform.machine(),
                          _cpu_signature()))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def build(self, source: str, stem: str):
        """Compile `source` (C++ including the kernel headers) unless cached; return the loaded library."""
        key = self.key(source)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            directory = cache_dir()
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, f"{stem}_{key}.so")
            if not os.path.exists(path):
                self._compile(source, path)
            lib = ctypes.CDLL(path)
            self._loaded[key] = lib
            return lib

    def _compile(self, source: str, path: str) -> None:
        directory = os.path.dirname(path)
        fd, src = tempfile.mkstemp(suffix=".cpp", dir=directory)
        with os.fdopen(fd, "w") as f:
            f.write(source)
        tmp = src[:-4] + ".so"
        try:
            cmd = [self.cxx, *self.flags, "-I", KERNEL_DIR, "-o", tmp, src]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise CompilerError(f"compiling a kernel library failed ({' '.join(cmd)}):\n"
                                    f"{out.stderr.strip()[-4000:]}")
            os.replace(tmp, path)      # atomic: another process sees the whole library or none
            self.compiled += 1
        finally:
            for leftover in (src, tmp):
                if os.path.exists(leftover):
                    os.remove(leftover)


def _cpu_signature() -> str:
    """What -march=native depends on (a cache shared between different CPUs must not mix their libraries)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return hashlib.sha256(line.encode()).hexdigest()[:16]
    except OSError:
        pass
    return platform.processor() or "unknown"


_DEFAULT = None
_DEFAULT_ERROR = None


def default_toolchain() -> Toolchain:
    """The process-wide toolchain (raises CompilerError, the same each time, when there is none)."""
    global _DEFAULT, _DEFAULT_ERROR
    if _DEFAULT is None and _DEFAULT_ERROR is None:
        try:
            _DEFAULT = Toolchain()
        except CompilerError as err:
            _DEFAULT_ERROR = err
    if _DEFAULT_ERROR is not None:
        raise _DEFAULT_ERROR
    return _DEFAULT
