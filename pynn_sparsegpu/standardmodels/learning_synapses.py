"""EpropSynapse: a synapse type whose weights an e-prop trainer (sim.EpropTrainer) learns, and DeepR, the
rewiring rule that keeps a trained projection sparse (for sim.StructuralPlasticityMechanism(rewiring=...)).

    rec = sim.Projection(hidden, hidden, sim.FixedProbabilityConnector(0.01),
                         sim.StructuralPlasticityMechanism(rewiring=sim.DeepR(l1=1e-4),
                                                           weight_dynamics=sim.EpropSynapse(weight=w)))
"""

from __future__ import annotations

import numpy as np
from pyNN import errors
from pyNN.standardmodels import StandardSynapseType, build_translations
from pyNN.standardmodels.base import check_delays

from ..engine import synapse_models as engine
from ..engine.checks import check_number
from ..engine.learning.deep_r import DeepR  # noqa: F401
from .synapses import _EngineSynapse

__all__ = ["EpropSynapse", "DeepR"]

FEEDBACK = ("symmetric", "random")


def check_signed_weights(weights, projection):
    """e-prop weights are signed voltage jumps: any finite value, of either sign in one projection."""
    if not np.all(np.isfinite(np.asarray(weights, dtype=float))):
        raise errors.ConnectionError("EpropSynapse weights must be finite numbers")


class EpropSynapse(_EngineSynapse, StandardSynapseType):
    """A synapse trained by e-prop (Bellec et al. 2020). While the network simulates (sim.run) it is a static
    synapse: a spike adds `weight` (mV, either sign) to the target's membrane after `delay` ms. Training
    (sim.EpropTrainer) changes the weights, and with DeepR the connectivity, between trials.

    weight, delay   as for StaticSynapse (any PyNN value source)
    feedback        on the projection into the readout: how learning signals reach the hidden neurons,
                    "symmetric" (through the readout weights, B = W_out^T) or "random" (a fixed random matrix)
    c_reg, f_target firing-rate regularisation of the target neurons (strength, and target rate in Hz):
                    adds c_reg (f_j - f_target) <e_ji> to each synapse's gradient (on projections into the
                    hidden layer)
    trainable       False freezes the weights (the projection still takes part in training)
    """

    default_parameters = {"weight": 0.0, "delay": None}
    translations = build_translations(("weight", "weight"), ("delay", "delay"))
    parameter_checks = {"weight": check_signed_weights, "delay": check_delays}

    def __init__(self, weight=0.0, delay=None, feedback="symmetric", c_reg=0.0, f_target=10.0, trainable=True):
        if feedback not in FEEDBACK:
            raise ValueError(f"feedback={feedback!r} is not allowed; it must be one of {FEEDBACK}")
        for name, value in (("c_reg", c_reg), ("f_target", f_target)):
            check_number(name, value, lambda v: v >= 0, "a number >= 0")
        if trainable not in (True, False):
            raise ValueError(f"trainable={trainable!r} is not allowed; it must be True or False")
        self.feedback, self.c_reg, self.f_target, self.trainable = feedback, float(c_reg), float(f_target), \
            bool(trainable)
        super().__init__(weight=weight, delay=delay)

    def _engine_model(self):
        return engine.Eprop()
