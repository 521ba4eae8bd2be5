"""Learning in the engine: e-prop for batched trials over ragged (sparse) or complete (dense) connectivity."""

from .eprop import EpropNetwork, EpropParameters, SynapseList  # noqa: F401
