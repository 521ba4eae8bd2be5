"""The procedural API: create, connect, record (built from PyNN's common factories)."""

from pyNN import common
from pyNN.connectors import FixedProbabilityConnector

from . import simulator
from .populations import Population
from .projections import Projection
from .standardmodels.synapses import StaticSynapse

create = common.build_create(Population)
set = common.set
record = common.build_record(simulator)


def record_v(source, filename):
    return record(["v"], source, filename)


def record_gsyn(source, filename):
    return record(["gsyn_exc", "gsyn_inh"], source, filename)


connect = common.build_connect(Projection, FixedProbabilityConnector, StaticSynapse)
