"""Neuron models of the engine: one model per module, each a parameters/state table plus a pure step."""

from .base import NeuronModel, StepContext  # noqa: F401
from .group import NeuronGroup  # noqa: F401
from .lif import IFCurrAlpha, IFCurrDelta, IFCurrExp  # noqa: F401
from .sources import Gamma, InhGamma, Poisson, PoissonRefractory, SpikeArray  # noqa: F401
from .adex import EIFCondAlpha, EIFCondExp  # noqa: F401
from .cond_lif import IFCondAlpha, IFCondExp, IFCondExpGsfaGrr, IFFacetsHardware1  # noqa: F401
from .gif import GIFCondExp  # noqa: F401
from .hh import HHCondExp  # noqa: F401
from .izhikevich import Izhikevich  # noqa: F401
from .point_neuron import PointNeuron  # noqa: F401
from .eprop import EpropALIF, EpropLIF, LeakyIntegratorReadout  # noqa: F401
