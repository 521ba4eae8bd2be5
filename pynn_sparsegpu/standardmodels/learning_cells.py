"""Cell types of e-prop networks (Bellec et al. 2020): not PyNN standard models, so written out here in full.

Weights onto these cells are voltage jumps in mV (as for IF_curr_delta), and both receptors add them to v.
sim.EpropSynapse (the trained synapse type) takes weights of either sign in one projection. For other
synapse types, PyNN's weight check (pyNN.standardmodels.base.check_weights, run by connectors unless safe=False) keys on the
receptor's name: it asks for weights >= 0 on "excitatory", <= 0 on "inhibitory", and one sign per connector
call. A trained weight matrix W of mixed signs is therefore connected as two projections, W.clip(min=0) on
"excitatory" and W.clip(max=0) on "inhibitory" (the same dynamics, as both receptors add), or as one
projection with a connector made with safe=False; the engine takes either sign on either receptor.
"""

from pyNN.standardmodels import StandardCellType

from ..engine import neurons as en
from .cells import identity

__all__ = ["EpropALIF", "EpropLIF", "LeakyIntegratorReadout"]


class _EpropCell(StandardCellType):
    receptor_types = ("excitatory", "inhibitory")
    conductance_based = False
    voltage_based_synapses = True     # a weight is a jump of v (mV), as for IF_curr_delta
    injectable = False                # no membrane capacitance: an injected current (nA) has no meaning here


class EpropALIF(_EpropCell):
    """Adaptive leaky integrate-and-fire neuron of e-prop (Bellec et al. 2020), in discrete time.

    One step of dt, alpha = exp(-dt/tau_m), rho = exp(-dt/tau_adapt), n_ref = round(tau_refrac/dt) steps,
    I = the summed weights (mV) arriving this step on both receptors, z = the previous step's spike (0/1):

        v = alpha v + I - v_thresh z          (reset by subtraction, one step after the spike)
        a = rho a + z
        A = v_thresh + beta a                 (adaptive threshold)
        spike if v >= A and not refractory; a spike starts n_ref refractory steps, which block spiking
        only (v keeps integrating)

    Parameters (defaults): tau_m 20 ms, tau_adapt 2000 ms, beta 0.0174 mV (threshold increase per unit of
    a), v_thresh 0.6 mV, tau_refrac 5 ms, gamma 0.3 (dimensionless pseudo-derivative dampening, used in
    training only; no effect on these dynamics). State: v (mV, initially 0), a (dimensionless, initially 0).
    """
    default_parameters = {
        "tau_m": 20.0,        # membrane time constant (ms)
        "tau_adapt": 2000.0,  # time constant of the adaptation variable a (ms)
        "beta": 0.0174,       # threshold increase per unit of a (mV)
        "v_thresh": 0.6,      # baseline threshold, also the reset by subtraction (mV)
        "tau_refrac": 5.0,    # refractory period (ms)
        "gamma": 0.3,         # pseudo-derivative dampening (training only)
    }
    default_initial_values = {"v": 0.0, "a": 0.0}
    recordable = ["spikes", "v", "a"]
    units = {"v": "mV", "a": "dimensionless", "tau_m": "ms", "tau_adapt": "ms", "beta": "mV",
             "v_thresh": "mV", "tau_refrac": "ms", "gamma": "dimensionless"}
    translations = identity("tau_m", "tau_adapt", "beta", "v_thresh", "tau_refrac", "gamma")
    engine_model = en.EpropALIF


class EpropLIF(_EpropCell):
    """Leaky integrate-and-fire neuron of e-prop (Bellec et al. 2020), in discrete time: EpropALIF without
    adaptation (beta = 0).

    One step of dt, alpha = exp(-dt/tau_m), n_ref = round(tau_refrac/dt) steps, I = the summed weights (mV)
    arriving this step on both receptors, z = the previous step's spike (0/1):

        v = alpha v + I - v_thresh z          (reset by subtraction, one step after the spike)
        spike if v >= v_thresh and not refractory; a spike starts n_ref refractory steps, which block
        spiking only (v keeps integrating)

    Parameters (defaults): tau_m 20 ms, v_thresh 0.6 mV, tau_refrac 5 ms, gamma 0.3 (dimensionless
    pseudo-derivative dampening, used in training only). State: v (mV, initially 0).
    """
    default_parameters = {
        "tau_m": 20.0,        # membrane time constant (ms)
        "v_thresh": 0.6,      # threshold, also the reset by subtraction (mV)
        "tau_refrac": 5.0,    # refractory period (ms)
        "gamma": 0.3,         # pseudo-derivative dampening (training only)
    }
    default_initial_values = {"v": 0.0}
    recordable = ["spikes", "v"]
    units = {"v": "mV", "tau_m": "ms", "v_thresh": "mV", "tau_refrac": "ms", "gamma": "dimensionless"}
    translations = identity("tau_m", "v_thresh", "tau_refrac", "gamma")
    engine_model = en.EpropLIF


class LeakyIntegratorReadout(_EpropCell):
    """Leaky readout unit of e-prop (Bellec et al. 2020): the output y, in discrete time; never spikes.

    One step of dt, kappa = exp(-dt/tau_m), I = the summed weights (mV) arriving this step on both receptors:

        v = kappa v + I + bias

    Parameters (defaults): tau_m 20 ms, bias 0 mV (added every step). State: v (the readout y, mV,
    initially 0).
    """
    default_parameters = {
        "tau_m": 20.0,        # readout time constant (ms)
        "bias": 0.0,          # added to v every step (mV)
    }
    default_initial_values = {"v": 0.0}
    recordable = ["v"]
    units = {"v": "mV", "tau_m": "ms", "bias": "mV"}
    translations = identity("tau_m", "bias")
    engine_model = en.LeakyIntegratorReadout
