"""Standard cell types: PyNN's names and units mapped by table onto engine models.

The engine uses PyNN's units (ms, mV, nA, nF, uS), so most translations are identities; the table is
still written out per type so that a reader sees every parameter the engine receives.
"""

from pyNN.standardmodels import build_translations, cells

from ..engine import neurons as en


def identity(*names):
    return build_translations(*[(name, name) for name in names])


_LIF = ("v_rest", "cm", "tau_m", "tau_refrac", "i_offset", "v_reset", "v_thresh")


class IF_curr_exp(cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__
    translations = identity(*_LIF, "tau_syn_E", "tau_syn_I")
    recordable = ["spikes", "v", "isyn_exc", "isyn_inh"]
    engine_model = en.IFCurrExp


class IF_curr_alpha(cells.IF_curr_alpha):
    __doc__ = cells.IF_curr_alpha.__doc__
    translations = identity(*_LIF, "tau_syn_E", "tau_syn_I")
    recordable = ["spikes", "v", "isyn_exc", "isyn_inh"]
    engine_model = en.IFCurrAlpha


class IF_curr_delta(cells.IF_curr_delta):
    __doc__ = cells.IF_curr_delta.__doc__
    translations = identity(*_LIF)
    engine_model = en.IFCurrDelta


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = identity("rate", "start", "duration")
    engine_model = en.Poisson


class SpikeSourcePoissonRefractory(cells.SpikeSourcePoissonRefractory):
    __doc__ = cells.SpikeSourcePoissonRefractory.__doc__
    translations = identity("rate", "tau_refrac", "start", "duration")
    engine_model = en.PoissonRefractory


class SpikeSourceGamma(cells.SpikeSourceGamma):
    __doc__ = cells.SpikeSourceGamma.__doc__
    translations = identity("alpha", "beta", "start", "duration")
    engine_model = en.Gamma


class SpikeSourceInhGamma(cells.SpikeSourceInhGamma):
    __doc__ = cells.SpikeSourceInhGamma.__doc__
    translations = identity("a", "b", "tbins", "start", "duration")
    engine_model = en.InhGamma


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = identity("spike_times")
    engine_model = en.SpikeArray
