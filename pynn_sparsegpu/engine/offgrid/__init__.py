"""Precise (off-grid) spike times on the time grid: NEST's `_ps` models (spike_precision="off_grid").

The network is stepped with the time step dt, as on the grid, but every spike carries its exact time within
the step: a cell's inputs of one step are taken in time order, the cell's state is carried exactly from one
input to the next, and a threshold crossing is located at its exact time. Delays are whole steps (as in NEST),
so a spike at time t arrives at t + delay, at the same place within its step. This package is the PyNN-free
core (it never imports pyNN); `OffGridNetwork` (network.py) is its API, the same as the event-driven engine's
`EventDrivenNetwork`, so the same driver runs either behind a PyNN network.

Models (kernels/psg_offgrid.cuh has the arithmetic; reference.py is the same in Python)
------------------------------------------------------------------------------------
IF_curr_delta, as NEST's iaf_psc_delta_ps:
    dV/dt = -(V - v_rest)/tau_m + (i_offset + I_stim)/cm; an input of weight w (mV) makes V jump by w.
    Inputs at one time are summed before the threshold test; a crossing caused by the drive between inputs is
    located analytically; input during refractoriness is discarded.
IF_curr_exp, as NEST's iaf_psc_exp_ps:
    cm dV/dt = -cm (V - v_rest)/tau_m + I_exc + I_inh + i_offset + I_stim, dI_x/dt = -I_x/tau_syn_x; an input of
    weight w (nA) adds w to I_exc (excitatory receptor) or I_inh (inhibitory, negative weights). V and the
    currents are carried exactly between inputs; the threshold is tested at the end of each interval between
    inputs (and at the end of the step), and a crossing found there is located by regula falsi (Illinois) to
    |V - v_thresh| < 1e-14 mV. During refractoriness V is clamped at v_reset while the currents evolve.
    A step in which V surely stays below threshold (V is bounded by its course under the largest current the
    cell can have in the step) is computed at once, by superposition: the whole-step propagation of the state
    plus each input's contribution from its time to the end of the step; this equals the input-by-input
    result to rounding and costs three exponentials per input instead of eight.
Both: after a spike at t, V = v_reset until t + tau_refrac, tau_refrac in whole steps rounded up, at least one
step (NEST's precise models need t_ref >= dt). I_stim (DCSource, StepCurrentSource) changes at step boundaries.
A cell at or above threshold when a run starts fires at that time.
Sources (SpikeSourceArray, SpikeSourcePoisson) emit their spikes at their exact times: a spike at t belongs to
the step k with k dt < t <= (k + 1) dt (a time on the grid ends a step, as NEST's stamp and offset put it).

Order within a step: each cell's inputs by time (inputs at one time in the order they were sent; the end of
refractoriness before inputs at the same time); then the cells' and sources' spikes are sent; V is sampled at
the end of the step.
"""

from .network import OffGridNetwork

__all__ = ["OffGridNetwork"]
