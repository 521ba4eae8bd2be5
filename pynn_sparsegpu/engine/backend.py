"""Backend selection: the compiled CPU path, CuPy (GPU) or the NumPy reference, and the dtype policy.

  cpu     the engine's kernels (engine/kernels, and the step kernels generated from the neuron models) built by
          the host C++ compiler and run inside compiled code; arrays are NumPy arrays, so every part without a
          kernel yet runs the reference code on the same arrays
  cupy    the same kernels compiled by NVRTC and launched through CuPy on an NVIDIA GPU (CUDA graphs); parts
          without a kernel run the array code on CuPy arrays
  numpy   the array-code reference that tests compare the other paths with
  auto    cupy when a CUDA device is usable, else cpu when a C++ compiler works, else numpy (with a warning
          that says why)

The engine never imports CuPy at module level; `select_backend` does, and only when the CuPy path is
requested ("cupy") or probed ("auto"). Every engine object receives a `Backend` and uses `backend.xp`
for array work, so the paths share one layout and one behaviour.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

BACKEND_ENV = "PYNN_SPARSEGPU_BACKEND"
PRECISION_ENV = "PYNN_SPARSEGPU_PRECISION"
VALID_BACKENDS = ("auto", "cpu", "cupy", "numpy")
VALID_PRECISIONS = ("float32", "float64")


class BackendError(RuntimeError):
    """The requested array backend cannot be used here (the message says why)."""


@dataclass
class Backend:
    """The array module in use and its numeric policy."""

    name: str                      # "cpu" (compiled), "cupy" or "numpy"
    xp: object                     # the array module
    dtype: np.dtype                # floating-point type of state and weights
    device: str = "cpu"
    reason: str = ""               # why this path was chosen
    compiler: str | None = None    # the C++ compiler of the compiled CPU path
    threads: int = 1               # CPU threads of the compiled path (sim.setup(threads=N))
    _kernel_cache: dict = field(default_factory=dict, repr=False)

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    @property
    def compiled(self) -> bool:
        """Steps run through compiled kernels (the engine's compiled/ runner): the CPU build, or the same
        kernels through NVRTC on the GPU."""
        return self.name in ("cpu", "cupy")

    def asarray(self, values, dtype=None):
        return self.xp.asarray(values, dtype=self.dtype if dtype is None else dtype)

    def scatter_add(self, array, flat_index, values) -> None:
        """array.flat[flat_index] += values in place (a C-contiguous array), repeated indices summed (in order
        on the CPU)."""
        if self.is_gpu:
            import cupyx
            cupyx.scatter_add(array.reshape(-1), self.xp.asarray(flat_index),
                              self.xp.asarray(values, dtype=array.dtype))
        else:
            np.add.at(np.reshape(array, -1, copy=False), flat_index, values)

    def available_bytes(self):
        """Memory free for new arrays now: the GPU's on the CuPy path, else the host's (None when unknown)."""
        if self.is_gpu:
            try:
                return int(self.xp.cuda.runtime.memGetInfo()[0])
            except Exception:
                return None
        return self.host_available_bytes()

    @staticmethod
    def host_available_bytes():
        """Host memory free for new arrays now (None when unknown)."""
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None

    def to_host(self, array):
        """Copy a device array to a NumPy array (a host synchronisation on the GPU path)."""
        if self.is_gpu:
            return self.xp.asnumpy(array)  # synchronize!
        return np.asarray(array)

    def rng(self, seed: np.random.SeedSequence):
        """A random generator on this path from a seed sequence: NumPy's default generator, or CuPy's XORWOW
        seeded from the sequence."""
        if self.is_gpu:
            import cupy
            return cupy.random.Generator(cupy.random.XORWOW(int(seed.generate_state(1)[0])))
        return np.random.default_rng(seed)

    def info(self) -> dict:
        path = {"cpu": "compiled kernels on the CPU", "cupy": "compiled kernels on the GPU (NVRTC, CuPy)",
                "numpy": "NumPy array code (reference)"}[self.name]
        return {"backend": self.name, "path": path, "device": self.device,
                "precision": np.dtype(self.dtype).name, "compiler": self.compiler,
                "threads": self.threads if self.name == "cpu" else 1, "reason": self.reason}


def device_for_rank(local_rank: int, n_devices: int) -> int:
    """The GPU a process uses: with several processes on one machine, process `local_rank` (its place among
    them) takes device local_rank mod n_devices, so each process has its own GPU while there are enough."""
    if n_devices < 1:
        raise BackendError("the CUDA runtime reports no device")
    return int(local_rank) % int(n_devices)


def _probe_cupy(local_rank: int = 0, processes_here: int = 1):
    """Return (cupy module, device description) or raise BackendError saying why CuPy is unusable. With several
    processes on this machine, each first selects its own device (device_for_rank)."""
    try:
        import cupy  # noqa: WPS433 (imported only on request)
    except Exception as err:  # ImportError, or a broken CUDA install raising at import
        raise BackendError(f"CuPy cannot be imported ({type(err).__name__}: {err}); "
                           "install the 'cuda12' or 'cuda13' extra on a machine with an NVIDIA GPU") from err
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:
        raise BackendError(f"CuPy imports but no CUDA device is usable ({type(err).__name__}: {err})") from err
    if n_devices < 1:
        raise BackendError("CuPy imports but the CUDA runtime reports no device")
    if processes_here > 1:
        if processes_here > n_devices:
            warnings.warn(f"{processes_here} processes on this machine share {n_devices} GPU(s)", RuntimeWarning,
                          stacklevel=4)
        cupy.cuda.Device(device_for_rank(local_rank, n_devices)).use()
    try:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        cupy.zeros(1).sum().item()  # synchronize! (one-off probe that the device really works)
    except Exception as err:
        raise BackendError(f"CuPy sees a CUDA device but cannot run on it ({type(err).__name__}: {err})") from err
    return cupy, f"cuda:{cupy.cuda.Device().id} ({name})"


def _probe_compiler():
    """The compiled CPU path's libraries (built on first use, then cached), or BackendError saying why not."""
    from .compiled.program import cpu_libraries
    from .compiled.toolchain import CompilerError
    try:
        return cpu_libraries().toolchain.describe()
    except CompilerError as err:
        raise BackendError(f"the compiled CPU path is unavailable: {err}") from err


def select_backend(backend: str | None = None, precision: str | None = None, comm=None) -> Backend:
    """Choose the path.

    backend: "auto" (CuPy when it imports and a CUDA device is usable, else the compiled CPU path when a C++
    compiler works, else NumPy with a warning), "cpu", "cupy" or "numpy"; None reads the environment variable
    PYNN_SPARSEGPU_BACKEND, default "auto".
    precision: "float32" or "float64"; None reads PYNN_SPARSEGPU_PRECISION, default float64 on the CPU and
    float32 on CuPy.
    comm: the run's processes (parallel/comm.py); on CuPy each process of a machine takes its own GPU.
    """
    here = (getattr(comm, "local_rank", 0), getattr(comm, "local_size", 1))
    if backend is None:
        backend = os.environ.get(BACKEND_ENV, "auto") or "auto"
    if not isinstance(backend, str) or backend.lower() not in VALID_BACKENDS:
        raise ValueError(f"backend={backend!r} is not valid; allowed values are {VALID_BACKENDS} "
                         f"(argument to setup() or environment variable {BACKEND_ENV})")
    backend = backend.lower()
    if precision is None:
        precision = os.environ.get(PRECISION_ENV) or None
    if precision is not None:
        precision = np.dtype(precision).name if precision in (np.float32, np.float64) else str(precision)
        if precision not in VALID_PRECISIONS:
            raise ValueError(f"precision={precision!r} is not valid; allowed values are {VALID_PRECISIONS}")

    if backend == "numpy":
        return Backend("numpy", np, np.dtype(precision or "float64"), "cpu", "requested numpy")
    if backend == "cupy":
        cupy, device = _probe_cupy(*here)  # raises BackendError with the reason
        return Backend("cupy", cupy, np.dtype(precision or "float32"), device, "requested cupy")
    if backend == "cpu":
        compiler = _probe_compiler()  # raises BackendError with the reason
        return Backend("cpu", np, np.dtype(precision or "float64"), "cpu", "requested cpu", compiler)
    try:
        cupy, device = _probe_cupy(*here)
    except BackendError as gpu_err:
        try:
            compiler = _probe_compiler()
        except BackendError as err:
            warnings.warn(f"pynn_sparsegpu runs on the NumPy reference path, which is much slower: {err}. "
                          "Install a C++ compiler (g++ or clang++), or set PYNN_SPARSEGPU_CXX to one.",
                          RuntimeWarning, stacklevel=3)
            return Backend("numpy", np, np.dtype(precision or "float64"), "cpu", f"auto: {gpu_err}; {err}")
        return Backend("cpu", np, np.dtype(precision or "float64"), "cpu", f"auto: {gpu_err}", compiler)
    return Backend("cupy", cupy, np.dtype(precision or "float32"), device, "auto: CUDA device usable")
