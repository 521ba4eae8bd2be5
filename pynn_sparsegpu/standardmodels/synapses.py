"""Synapse types with PyNN's names and units."""

from pyNN.standardmodels import build_translations, synapses


class StaticSynapse(synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = build_translations(("weight", "weight"), ("delay", "delay"))

    def _get_minimum_delay(self):
        from .. import simulator
        return simulator.state.min_delay
