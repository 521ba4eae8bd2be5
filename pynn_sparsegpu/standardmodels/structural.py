"""StructuralPlasticityMechanism: a synapse type whose synapses are formed and eliminated while the network
runs (rewiring), optionally with STDP weight dynamics. The rules are engine objects (engine/structural.py),
re-exported here under their PyNN-level names; user rules subclass FormationRule / EliminationRule /
PartnerSelection and write their probability in array code.

    syn = sim.StructuralPlasticityMechanism(
        formation=sim.DistanceDependentFormation(p_form_forward=0.16, sigma_form_forward=2.5),
        elimination=sim.RandomByWeightElimination(threshold=0.1),
        partner_selection=sim.LastNeuronSelection(),
        timing_dependence=sim.SpikePairRule(tau_plus=20, tau_minus=64, A_plus=0.02, A_minus=0.0075),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0, w_max=0.2),
        f_rew=10000.0, initial_weight=0.2, row_capacity=64)

DEEP R (rewiring between training batches, weights learned by e-prop; see sim.EpropTrainer):

    syn = sim.StructuralPlasticityMechanism(rewiring=sim.DeepR(l1=1e-4),
                                            weight_dynamics=sim.EpropSynapse(weight=w), row_capacity=40)
"""

from __future__ import annotations

from pyNN.parameters import ParameterSpace

from ..engine import synapse_models as engine
from ..engine.checks import check_number
from ..engine.structural import (DistanceDependentFormation, EliminationRule, FormationRule,  # noqa: F401
                                 LastNeuronSelection, PartnerSelection, RandomByWeightElimination,
                                 RandomSelection, SlotSelection)
from .learning_synapses import DeepR, EpropSynapse
from .synapses import STDPMechanism

__all__ = ["StructuralPlasticityMechanism", "FormationRule", "EliminationRule", "PartnerSelection",
           "DistanceDependentFormation", "RandomByWeightElimination", "RandomSelection", "LastNeuronSelection",
           "SlotSelection"]


class StructuralPlasticityMechanism(STDPMechanism):
    """Synapses formed and eliminated during the run (see engine/structural.py for what one attempt does).

    formation, elimination, partner_selection   rules (None: no formation / no elimination; partner
                                                selection defaults to RandomSelection(); SlotSelection(s_max)
                                                for Bamford's slots, one object shared by the projections
                                                that share the slots of their targets)
    timing_dependence, weight_dependence        STDP weight dynamics (both or neither); or stdp=STDPMechanism(...)
    f_rew              rewiring attempts per second of simulated time, for the whole projection (Hz)
    rewiring_interval  attempts are carried out in batches this often (ms; default 1 ms)
    initial_weight     weight of a new synapse (nA or uS); initial_delay its delay (ms; default min_delay)
    row_capacity / spare_fraction   slots per presynaptic row (default: twice the longest initial row, at
                       least 32, at most the number of targets unless with_replacement)
    allow_self_connections   whether a neuron may form a synapse onto itself (lateral projections)
    with_replacement   whether a pair may hold more than one synapse
    max_in_degree      at most this many of the projection's synapses per target (sPyNNaker's s_max);
                       formations beyond it are refused and counted as `target_full` (default: no cap)
    weight, delay      of the synapses the connector makes (as for any synapse type)
    weight_dynamics    an STDPMechanism (same as stdp=) or, with rewiring=DeepR(...), an EpropSynapse
    rewiring           sim.DeepR(...): rewiring by DEEP R between e-prop training batches instead of the
                       formation/elimination attempts above (the weight and delay of the EpropSynapse apply
                       when weight and delay are not given here)
    """

    base_translations = STDPMechanism.base_translations

    def __init__(self, formation=None, elimination=None, partner_selection=None, timing_dependence=None,
                 weight_dependence=None, stdp=None, f_rew=1000.0, rewiring_interval=1.0, initial_weight=0.0,
                 initial_delay=None, row_capacity=None, spare_fraction=None, allow_self_connections=True,
                 with_replacement=False, weight=None, delay=None, weight_dynamics=None, rewiring=None,
                 max_in_degree=None):
        self.eprop = None
        if isinstance(weight_dynamics, EpropSynapse):
            if rewiring is None:
                raise ValueError("weight_dynamics=EpropSynapse(...) goes with rewiring=sim.DeepR(...): e-prop "
                                 "weights are trained between trials, where DEEP R rewires")
            self.eprop = weight_dynamics
            self.parameter_checks = EpropSynapse.parameter_checks      # signed weights
            base = weight_dynamics.parameter_space
            weight = base["weight"].base_value if weight is None else weight
            delay = base["delay"].base_value if delay is None else delay
        elif weight_dynamics is not None:
            if stdp is not None:
                raise ValueError("give either weight_dynamics or stdp, not both")
            stdp = weight_dynamics
        if rewiring is not None:
            if not isinstance(rewiring, DeepR):
                raise TypeError(f"rewiring={rewiring!r} is not allowed; it must be sim.DeepR(...) or None")
            if self.eprop is None:
                raise ValueError("rewiring=DeepR(...) needs weight_dynamics=sim.EpropSynapse(...): DEEP R "
                                 "rewires weights that e-prop trains")
            if formation is not None or elimination is not None or partner_selection is not None:
                raise ValueError("rewiring=DeepR(...) replaces formation, elimination and partner_selection; "
                                 "leave those out")
        self.rewiring = rewiring
        weight = 0.0 if weight is None else weight
        for value, base, name in ((formation, FormationRule, "formation"),
                                  (elimination, EliminationRule, "elimination"),
                                  (partner_selection, PartnerSelection, "partner_selection")):
            if value is not None and not isinstance(value, base):
                raise TypeError(f"{name}={value!r} is not allowed; it must be a sim.{base.__name__} "
                                f"(e.g. sim.{ {'formation': 'DistanceDependentFormation', 'elimination': 'RandomByWeightElimination', 'partner_selection': 'RandomSelection'}[name]}(...)) or None")
        if stdp is not None:
            if not isinstance(stdp, STDPMechanism) or isinstance(stdp, StructuralPlasticityMechanism):
                raise TypeError(f"stdp={stdp!r} is not allowed; it must be a sim.STDPMechanism")
            if timing_dependence is not None or weight_dependence is not None:
                raise ValueError("give either stdp=STDPMechanism(...) or timing_dependence and weight_dependence, "
                                 "not both")
            if stdp.dendritic_delay_fraction != 1:
                raise ValueError(f"dendritic_delay_fraction={stdp.dendritic_delay_fraction:g} is not allowed with "
                                 "structural plasticity; it must be 1: spikes on their way along an axon are "
                                 "queued by synapse slot, and rewiring moves synapses between slots")
            timing_dependence, weight_dependence = stdp.timing_dependence, stdp.weight_dependence
        if (timing_dependence is None) != (weight_dependence is None):
            raise ValueError("timing_dependence and weight_dependence must be given together (STDP weight "
                             "dynamics) or both left out (static weights)")
        self.formation, self.elimination = formation, elimination
        self.partner_selection = partner_selection or RandomSelection()
        self.f_rew = check_number("f_rew", f_rew, lambda v: v >= 0, "a rate >= 0 (attempts per second)")
        self.rewiring_interval = check_number("rewiring_interval", rewiring_interval, lambda v: v > 0, "> 0 ms")
        self.initial_weight = check_number("initial_weight", initial_weight, lambda v: True, "a finite number")
        self.initial_delay = check_number("initial_delay", initial_delay, lambda v: v > 0, "> 0 ms", none=True)
        self.row_capacity = check_number("row_capacity", row_capacity,
                                    lambda v: int(v) == v and v >= 1, "an integer >= 1", none=True)
        self.spare_fraction = check_number("spare_fraction", spare_fraction, lambda v: v >= 0, ">= 0", none=True)
        self.max_in_degree = check_number("max_in_degree", max_in_degree,
                                          lambda v: int(v) == v and v >= 1, "an integer >= 1", none=True)
        if self.max_in_degree is not None and rewiring is not None:
            raise ValueError("max_in_degree applies to formation/elimination rewiring, not to rewiring=DeepR(...) "
                             "(DEEP R keeps the number of synapses fixed)")
        if allow_self_connections not in (True, False):
            raise ValueError(f"allow_self_connections={allow_self_connections!r} is not allowed; it must be "
                             "True or False")
        if with_replacement not in (True, False):
            raise ValueError(f"with_replacement={with_replacement!r} is not allowed; it must be True or False")
        self.allow_self_connections, self.with_replacement = bool(allow_self_connections), bool(with_replacement)
        if self.with_replacement and isinstance(partner_selection, SlotSelection):
            raise ValueError(f"partner_selection={partner_selection!r} needs with_replacement=False: a slot holds "
                             "one synapse, and with replacement an attempt on an occupied slot would also form a "
                             "second synapse of its pair")
        super().__init__(timing_dependence, weight_dependence, None, 1.0, weight, delay)

    @property
    def has_stdp(self) -> bool:
        return self.timing_dependence is not None

    # --- PyNN's parameter machinery, with or without STDP components -----------------------------------
    def get_parameter_names(self):
        return super().get_parameter_names() if self.has_stdp else ["weight", "delay"]

    def get_schema(self):
        return super().get_schema() if self.has_stdp else {"weight": float, "delay": float}

    @property
    def parameter_space(self):
        if self.has_stdp:
            return super().parameter_space
        return ParameterSpace({"weight": self.weight, "delay": self.delay}, self.get_schema())

    @property
    def native_parameters(self):
        if self.has_stdp:
            return super().native_parameters
        return self.translate(ParameterSpace({"weight": self.weight, "delay": self.delay}, self.get_schema()))

    @property
    def possible_models(self):
        return {"structural"}

    def _engine_model(self):
        if self.eprop is not None:
            return engine.Eprop()
        return super()._engine_model() if self.has_stdp else engine.Static()

    def describe(self, template=None, engine="default"):
        if self.rewiring is not None:
            return {"rewiring": self.rewiring, "weight_dynamics": "e-prop"}
        return {"formation": self.formation, "elimination": self.elimination,
                "partner_selection": self.partner_selection, "f_rew": self.f_rew,
                "stdp": self.has_stdp}
