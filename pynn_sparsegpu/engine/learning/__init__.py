"""Learning in the engine: e-prop for batched trials over ragged (sparse) or complete (dense)
connectivity, DEEP R rewiring, optimisers and the per-batch training loop over projection rows."""

from .deep_r import DeepR  # noqa: F401
from .eprop import DenseSynapses, EpropNetwork, EpropParameters, SynapseList  # noqa: F401
from .optim import SGD, Adam  # noqa: F401
from .training import EpropTraining, TrainedProjection  # noqa: F401
