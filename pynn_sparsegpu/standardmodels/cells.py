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


# --- conductance-based and non-linear cell types ------------------------------------------------------
# Engine units are PyNN's, so the translations are identities; exceptions are noted on the engine model
# (IF_cond_exp_gsfa_grr keeps g_s, g_r, q_sfa, q_rr in nS; EIF's a is in nS), as PyNN specifies them.

from copy import deepcopy  # noqa: E402

from pyNN import errors  # noqa: E402
from pyNN.parameters import ParameterSpace  # noqa: E402
from pyNN.standardmodels import receptors as _receptors  # noqa: E402

_COND = ("tau_syn_E", "tau_syn_I", "e_rev_E", "e_rev_I")
_ADEX = ("cm", "tau_refrac", "v_spike", "v_reset", "v_rest", "tau_m", "i_offset", "a", "b", "delta_T",
         "tau_w", "v_thresh")


class IF_cond_exp(cells.IF_cond_exp):
    __doc__ = cells.IF_cond_exp.__doc__
    translations = identity(*_LIF, *_COND)
    recordable = ["spikes", "v", "gsyn_exc", "gsyn_inh"]
    engine_model = en.IFCondExp


class IF_facets_hardware1(cells.IF_facets_hardware1):
    __doc__ = cells.IF_facets_hardware1.__doc__
    # the leak conductance g_leak (nS) is the membrane time constant of the fixed cm = 0.2 nF: tau_m = 200 / g_leak
    translations = build_translations(
        ("g_leak", "tau_m", "200.0 / g_leak", "200.0 / tau_m"),
        *[(name, name) for name in ("tau_syn_E", "tau_syn_I", "v_reset", "e_rev_I", "v_rest", "v_thresh")])
    recordable = ["spikes", "v", "gsyn_exc", "gsyn_inh"]
    engine_model = en.IFFacetsHardware1


class IF_cond_alpha(cells.IF_cond_alpha):
    __doc__ = cells.IF_cond_alpha.__doc__
    translations = identity(*_LIF, *_COND)
    recordable = ["spikes", "v", "gsyn_exc", "gsyn_inh"]
    engine_model = en.IFCondAlpha


class IF_cond_exp_gsfa_grr(cells.IF_cond_exp_gsfa_grr):
    __doc__ = cells.IF_cond_exp_gsfa_grr.__doc__
    translations = identity(*_LIF, *_COND, "tau_sfa", "e_rev_sfa", "q_sfa", "tau_rr", "e_rev_rr", "q_rr")
    recordable = ["spikes", "v", "g_r", "g_s", "gsyn_exc", "gsyn_inh"]
    engine_model = en.IFCondExpGsfaGrr


class EIF_cond_exp_isfa_ista(cells.EIF_cond_exp_isfa_ista):
    __doc__ = cells.EIF_cond_exp_isfa_ista.__doc__
    translations = identity(*_ADEX, *_COND)
    recordable = ["spikes", "v", "w", "gsyn_exc", "gsyn_inh"]
    engine_model = en.EIFCondExp


class EIF_cond_alpha_isfa_ista(cells.EIF_cond_alpha_isfa_ista):
    __doc__ = cells.EIF_cond_alpha_isfa_ista.__doc__
    translations = identity(*_ADEX, *_COND)
    recordable = ["spikes", "v", "w", "gsyn_exc", "gsyn_inh"]
    engine_model = en.EIFCondAlpha


class HH_cond_exp(cells.HH_cond_exp):
    __doc__ = cells.HH_cond_exp.__doc__
    translations = identity("gbar_Na", "gbar_K", "g_leak", "cm", "v_offset", "e_rev_Na", "e_rev_K",
                            "e_rev_leak", "e_rev_E", "e_rev_I", "tau_syn_E", "tau_syn_I", "i_offset")
    recordable = ["spikes", "v", "gsyn_exc", "gsyn_inh", "m", "n", "h"]
    receptor_types = ("excitatory", "inhibitory")     # point neurons: no gap junctions
    engine_model = en.HHCondExp


class Izhikevich(cells.Izhikevich):
    __doc__ = cells.Izhikevich.__doc__
    translations = identity("a", "b", "c", "d", "i_offset")
    recordable = ["spikes", "v", "u"]
    engine_model = en.Izhikevich


class GIF_cond_exp(cells.GIF_cond_exp):
    __doc__ = cells.GIF_cond_exp.__doc__
    translations = identity("v_rest", "cm", "tau_m", "tau_refrac", "tau_syn_E", "tau_syn_I", "e_rev_E",
                            "e_rev_I", "v_reset", "i_offset", "delta_v", "v_t_star", "lambda0",
                            "tau_eta", "tau_gamma", "a_eta", "a_gamma")
    recordable = ["spikes", "v", "gsyn_exc", "gsyn_inh", "i_eta", "v_t"]
    engine_model = en.GIFCondExp


# --- composed neurons: PointNeuron(LIF or AdExp, name=PostSynapticResponse(...), ...) -------------------

class LIF(cells.LIF):
    __doc__ = cells.LIF.__doc__
    translations = identity(*_LIF)
    engine_name = "LIF"


class AdExp(cells.AdExp):
    __doc__ = cells.AdExp.__doc__
    translations = identity(*_ADEX)
    engine_name = "AdExp"


class CurrExpPostSynapticResponse(_receptors.CurrExpPostSynapticResponse):
    __doc__ = _receptors.CurrExpPostSynapticResponse.__doc__
    translations = identity("locations", "tau_syn")
    recordable = ["isyn"]
    engine_kind = "curr_exp"


class CondExpPostSynapticResponse(_receptors.CondExpPostSynapticResponse):
    __doc__ = _receptors.CondExpPostSynapticResponse.__doc__
    translations = identity("locations", "e_syn", "tau_syn")
    recordable = ["gsyn"]
    engine_kind = "cond_exp"


class CondAlphaPostSynapticResponse(_receptors.CondAlphaPostSynapticResponse):
    __doc__ = _receptors.CondAlphaPostSynapticResponse.__doc__
    translations = identity("locations", "e_syn", "tau_syn")
    recordable = ["gsyn"]
    engine_kind = "cond_alpha"


class CondBetaPostSynapticResponse(_receptors.CondBetaPostSynapticResponse):
    __doc__ = _receptors.CondBetaPostSynapticResponse.__doc__
    translations = identity("locations", "e_syn", "tau_rise", "tau_decay")
    recordable = ["gsyn"]
    engine_kind = "cond_beta"


ExpPSR = CondExpPostSynapticResponse
AlphaPSR = CondAlphaPostSynapticResponse
BetaPSR = CondBetaPostSynapticResponse


class PointNeuron(cells.PointNeuron):
    """A LIF or AdExp neuron with named post-synaptic receptors, e.g.
    PointNeuron(AdExp(tau_m=10.0), AMPA=AlphaPSR(tau_syn=1.0, e_syn=0.0), GABAA=AlphaPSR(e_syn=-70.0)).
    Receptor parameters and state are addressed as "AMPA.tau_syn", "AMPA.gsyn" (engine names alike)."""

    def engine_model(self):
        for name, psr in self.post_synaptic_receptors.items():
            if not hasattr(psr, "engine_kind"):
                raise TypeError(f"receptor {name}={type(psr).__name__} is not a sparsegpu post-synaptic "
                                "response; use sim.CurrExpPostSynapticResponse, sim.CondExpPostSynapticResponse, "
                                "sim.CondAlphaPostSynapticResponse or sim.CondBetaPostSynapticResponse")
        if not hasattr(self.neuron, "engine_name"):
            raise TypeError(f"neuron {type(self.neuron).__name__} is not a sparsegpu component; "
                            "use sim.LIF or sim.AdExp")
        kinds = {name: psr.engine_kind for name, psr in self.post_synaptic_receptors.items()}
        if len({kind.startswith("cond") for kind in kinds.values()}) > 1:
            raise errors.InvalidModelError("PointNeuron: cannot mix conductance-based and current-based "
                                           f"post-synaptic responses ({kinds})")
        return en.PointNeuron(self.neuron.engine_name, kinds)

    @property
    def translations(self):
        table = dict(self.neuron.translations)
        for name in self.receptor_types:
            psr = self.post_synaptic_receptors[name]
            for pname in psr.translations:
                if pname != "locations":
                    table.update(identity(f"{name}.{pname}"))
        return table

    def translate(self, parameters, copy=True):
        """Identity translation onto flat engine names: receptor parameters become "name.param"."""
        flat = deepcopy(parameters) if copy else parameters
        flat.flatten()
        native = {name: value for name, value in flat.items()
                  if not isinstance(value, ParameterSpace) and not name.endswith(".locations")}
        return ParameterSpace(native, schema=None, shape=parameters.shape)

    def reverse_translate(self, native_parameters):
        return ParameterSpace(dict(native_parameters.items()), schema=None, shape=native_parameters.shape)

    def get_native_names(self, *names):
        return list(names) if names else list(self.translations)

    def get_parameter_names(self):
        return list(self.translations)

    def has_parameter(self, name):
        return name in self.translations

    @property
    def native_parameters(self):
        return self.translate(self.parameter_space)
