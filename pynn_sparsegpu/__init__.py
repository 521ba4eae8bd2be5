"""pyNN.sparsegpu: a PyNN backend on a sparse, rewirable engine that runs on NumPy or CuPy.

    import pyNN.sparsegpu as sim     # or: import pynn_sparsegpu as sim
    sim.setup(timestep=0.1, backend="auto")
"""

from pyNN import errors, random, space  # noqa: F401
from pyNN.connectors import *  # noqa: F401,F403
from pyNN.network import Network  # noqa: F401
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution  # noqa: F401
from pyNN.recording import *  # noqa: F401,F403
from pyNN.space import Space  # noqa: F401
from pyNN.standardmodels import StandardCellType

from .checkpoint import CheckpointError, checkpoint, restore  # noqa: F401
from .engine.network import NumericalInstability  # noqa: F401
from .connectors import (FixedNumberPostConnector, FixedNumberPreConnector, FixedProbabilityConnector,  # noqa: F401
                         FixedTotalNumberConnector)  # PyNN's, with clear messages for p_connect and n
from .control import (backend_info, kernel_statistics, end, get_current_time, get_max_delay, get_min_delay,  # noqa: F401
                      get_time_step, initialize, num_processes, rank, reset, run, run_for, run_until, setup)
from .populations import Assembly, Population, PopulationView  # noqa: F401
from .procedural_api import connect, create, record, record_gsyn, record_v, set  # noqa: F401,A004
from .projections import Projection  # noqa: F401
from .standardmodels.cells import *  # noqa: F401,F403
from .standardmodels.learning_cells import *  # noqa
from .standardmodels.electrodes import ACSource, DCSource, NoisyCurrentSource, StepCurrentSource  # noqa: F401
from .standardmodels.structural import *  # noqa: F401,F403
from .standardmodels.synapses import *  # noqa: F401,F403
from .standardmodels.learning_synapses import *  # noqa: F401,F403
from .training import SGD, Adam, EpropTrainer  # noqa: F401

__version__ = "0.1.0"


class NativeRNG(NumpyRNG):
    """sparsegpu's own random generator: NumPy's, seeded from `seed` (PyNN scripts ask for NativeRNG when
    they want the simulator to draw the numbers)."""


def list_standard_models():
    """The names of the standard cell types available in this backend."""
    return [obj.__name__ for obj in globals().values()
            if isinstance(obj, type) and issubclass(obj, StandardCellType) and obj is not StandardCellType
            and hasattr(obj, "engine_model")]
