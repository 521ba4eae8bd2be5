"""Array backend selection: NumPy (reference, CI) or CuPy (GPU), and the dtype policy.

The engine never imports CuPy at module level; `select_backend` does, and only when the CuPy path is
requested ("cupy") or probed ("auto"). Every engine object receives a `Backend` and uses `backend.xp`
for array work, so the NumPy and CuPy paths share one layout and one behaviour.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

BACKEND_ENV = "PYNN_SPARSEGPU_BACKEND"
PRECISION_ENV = "PYNN_SPARSEGPU_PRECISION"
VALID_BACKENDS = ("auto", "numpy", "cupy")
VALID_PRECISIONS = ("float32", "float64")


class BackendError(RuntimeError):
    """The requested array backend cannot be used here (the message says why)."""


@dataclass
class Backend:
    """The array module in use and its numeric policy."""

    name: str                      # "numpy" or "cupy"
    xp: object                     # the array module
    dtype: np.dtype                # floating-point type of state and weights
    device: str = "cpu"
    reason: str = ""               # why this path was chosen
    _kernel_cache: dict = field(default_factory=dict, repr=False)

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, values, dtype=None):
        return self.xp.asarray(values, dtype=self.dtype if dtype is None else dtype)

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
        return {"backend": self.name, "device": self.device, "precision": np.dtype(self.dtype).name,
                "reason": self.reason}


def _probe_cupy():
    """Return (cupy module, device description) or raise BackendError saying why CuPy is unusable."""
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
    try:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        cupy.zeros(1).sum().item()  # synchronize! (one-off probe that the device really works)
    except Exception as err:
        raise BackendError(f"CuPy sees a CUDA device but cannot run on it ({type(err).__name__}: {err})") from err
    return cupy, f"cuda:{cupy.cuda.Device().id} ({name})"


def select_backend(backend: str | None = None, precision: str | None = None) -> Backend:
    """Choose the array path.

    backend: "auto" (CuPy when it imports and a CUDA device is usable, else NumPy), "numpy" or "cupy";
    None reads the environment variable PYNN_SPARSEGPU_BACKEND, default "auto".
    precision: "float32" or "float64"; None reads PYNN_SPARSEGPU_PRECISION, default float64 on NumPy and
    float32 on CuPy.
    """
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
        cupy, device = _probe_cupy()  # raises BackendError with the reason
        return Backend("cupy", cupy, np.dtype(precision or "float32"), device, "requested cupy")
    try:
        cupy, device = _probe_cupy()
    except BackendError as err:
        return Backend("numpy", np, np.dtype(precision or "float64"), "cpu", f"auto: {err}")
    return Backend("cupy", cupy, np.dtype(precision or "float32"), device, "auto: CUDA device usable")
