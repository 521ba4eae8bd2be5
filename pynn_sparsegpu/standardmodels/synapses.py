"""Synapse types with PyNN's names and units (weights in nA or uS, times in ms), each naming the engine
synapse model that runs it. Translations are identities: the engine uses PyNN's names and units."""

from pyNN.standardmodels import build_translations, synapses

from ..engine import synapse_models as engine
from ..engine.checks import check_number

__all__ = ["StaticSynapse", "TsodyksMarkramSynapse", "SimpleStochasticSynapse", "StochasticTsodyksMarkramSynapse",
           "MultiQuantalSynapse", "STDPMechanism", "SpikePairRule", "Vogels2011Rule", "AdditiveWeightDependence",
           "MultiplicativeWeightDependence", "AdditivePotentiationMultiplicativeDepression",
           "GutigWeightDependence"]


def _identity(*names):
    return build_translations(*[(name, name) for name in names])


class _EngineSynapse:
    def _get_minimum_delay(self):
        from .. import simulator
        return simulator.state.min_delay

    def engine_model(self):
        return self._engine_model()


class StaticSynapse(_EngineSynapse, synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = _identity("weight", "delay")
    _engine_model = engine.Static


class TsodyksMarkramSynapse(_EngineSynapse, synapses.TsodyksMarkramSynapse):
    __doc__ = synapses.TsodyksMarkramSynapse.__doc__
    translations = _identity("weight", "delay", "U", "tau_rec", "tau_facil")
    _engine_model = engine.TsodyksMarkram


class SimpleStochasticSynapse(_EngineSynapse, synapses.SimpleStochasticSynapse):
    __doc__ = synapses.SimpleStochasticSynapse.__doc__
    translations = _identity("weight", "delay", "p")
    _engine_model = engine.SimpleStochastic


class StochasticTsodyksMarkramSynapse(_EngineSynapse, synapses.StochasticTsodyksMarkramSynapse):
    __doc__ = synapses.StochasticTsodyksMarkramSynapse.__doc__
    translations = _identity("weight", "delay", "U", "tau_rec", "tau_facil")
    _engine_model = engine.StochasticTsodyksMarkram


class MultiQuantalSynapse(_EngineSynapse, synapses.MultiQuantalSynapse):
    __doc__ = synapses.MultiQuantalSynapse.__doc__
    translations = _identity("weight", "delay", "U", "n", "tau_rec", "tau_facil")
    _engine_model = engine.MultiQuantal


# --- STDP -------------------------------------------------------------------------------------------
class AdditiveWeightDependence(synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = _identity("w_min", "w_max")
    engine_rule = "additive"


class MultiplicativeWeightDependence(synapses.MultiplicativeWeightDependence):
    __doc__ = synapses.MultiplicativeWeightDependence.__doc__
    translations = _identity("w_min", "w_max")
    engine_rule = "multiplicative"


class AdditivePotentiationMultiplicativeDepression(synapses.AdditivePotentiationMultiplicativeDepression):
    __doc__ = synapses.AdditivePotentiationMultiplicativeDepression.__doc__
    translations = _identity("w_min", "w_max")
    engine_rule = "apmd"


class GutigWeightDependence(synapses.GutigWeightDependence):
    __doc__ = synapses.GutigWeightDependence.__doc__
    translations = _identity("w_min", "w_max", "mu_plus", "mu_minus")
    engine_rule = "gutig"


class SpikePairRule(synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = _identity("tau_plus", "tau_minus", "A_plus", "A_minus")
    engine_rule = "pair"


class Vogels2011Rule(synapses.Vogels2011Rule):
    __doc__ = synapses.Vogels2011Rule.__doc__
    translations = _identity("tau", "eta", "rho")
    engine_rule = "vogels"


class STDPMechanism(_EngineSynapse, synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__ + """
    In sparsegpu, a delay of D steps is split into an axonal part D_a = rint((1 - f) D), at most D - 1, and
    a dendritic part D_d = D - D_a (at least one step), f being dendritic_delay_fraction (within [0, 1]; it
    can be set per synapse with Projection.set). A presynaptic spike at t_pre reaches the synapse, where
    the rule sees it and reads the weight, at t_pre + D_a, and the soma at t_pre + D; a postsynaptic spike
    reaches the synapse at t_post + D_d. f = 1 (the default) is NEST's convention.
    """
    base_translations = _identity("weight", "delay", "dendritic_delay_fraction")

    def __init__(self, timing_dependence=None, weight_dependence=None, voltage_dependence=None,
                 dendritic_delay_fraction=1.0, weight=0.0, delay=None):
        if voltage_dependence is not None:
            raise NotImplementedError("voltage_dependence is not supported by sparsegpu (nor by PyNN's "
                                      "standard STDP models)")
        dendritic_delay_fraction = float(check_number("dendritic_delay_fraction", dendritic_delay_fraction,
                                                      lambda v: 0 <= v <= 1, "within [0, 1]"))
        for component, kind in ((timing_dependence, "timing_dependence"), (weight_dependence, "weight_dependence")):
            if component is not None and not hasattr(component, "engine_rule"):
                raise TypeError(f"{kind}={component!r} is not a sparsegpu STDP component; use sim.{type(component).__name__}")
        super().__init__(timing_dependence, weight_dependence, voltage_dependence, dendritic_delay_fraction,
                         weight, delay)
        if delay is not None:          # PyNN's `delay or min_delay` would turn delay=0 into min_delay unseen
            self.delay = delay

    def _build_translations(self):
        self.translations = dict(type(self).base_translations)        # PyNN's version edits the class dict
        for component in (self.timing_dependence, self.weight_dependence):
            if component:
                self.translations.update(component.translations)

    def _engine_model(self):
        return engine.STDP(self.timing_dependence.engine_rule, self.weight_dependence.engine_rule)
