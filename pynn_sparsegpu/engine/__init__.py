"""The PyNN-free simulation engine: array backend, neuron groups, connectivity, propagation, recording."""

from .backend import Backend, BackendError, select_backend  # noqa: F401
from .network import Network  # noqa: F401
