"""Neuron models of the engine: one model per module, each a parameters/state table plus a pure step."""

from .base import NeuronModel, StepContext  # noqa: F401
from .group import NeuronGroup  # noqa: F401
from .lif import IFCurrAlpha, IFCurrDelta, IFCurrExp  # noqa: F401
from .sources import Gamma, InhGamma, Poisson, PoissonRefractory, SpikeArray  # noqa: F401
