"""Exact event-driven simulation of networks of LIF neurons with delta synapses (SparseProp's algorithm).

No time grid: spikes, inputs and recorded membrane potentials are exact to float64 rounding, and the work is
proportional to the number of spikes times the out-degree, not to N times the number of steps. This package
is the PyNN-free core (it never imports pyNN); `EventDrivenNetwork` (network.py) is its API.

Model (PyNN's IF_curr_delta with constant drive; NEST's iaf_psc_delta_ps)
-------------------------------------------------------------------------
Per LIF cell: cm (nF), tau_m (ms), v_rest, v_reset, v_thresh (mV), tau_refrac (ms), i_offset (nA), initial v.
Between events

    dV/dt = -(V - v_rest)/tau_m + i_offset/cm        (nA/nF = mV/ms)
    V(t)  = V_inf + (V0 - V_inf) exp(-(t - t0)/tau_m),    V_inf = v_rest + i_offset tau_m / cm

(evaluated as V0 + (V0 - V_inf) expm1(-(t - t0)/tau_m), as NEST's propagate_()). A delivered spike of weight w
(mV) makes V jump by w at its exact arrival time; V >= v_thresh after the jump fires at that time. With
V_inf > v_thresh a cell fires spontaneously at t0 + tau_m ln((V_inf - V0)/(V_inf - v_thresh)). After a spike at
t_s: V = v_reset, clamped there until t_s + tau_refrac, when free evolution restarts from v_reset.
Sources emit given spike times exactly. A synapse (pre, post, weight mV, delay ms > 0) carries a spike of
`pre` at t to `post` at t + delay; any number of synapses per pair.

Conventions (those of NEST's iaf_psc_delta_ps, models/iaf_psc_delta_ps.cpp and nestkernel/slice_ring_buffer.h
in NEST 3.x)
----------------------------------------------------------------------------------------------------------
* Simultaneous inputs are summed before the threshold test: every arrival at one cell at one time is added
  to V (V(t) + w1 + w2 + ..., in the order the spikes were queued, and within one spike in synapse creation
  order), and only then is V tested once against the threshold, so +w and -w arriving together do nothing
  (NEST: SliceRingBuffer::get_next_spike with accumulate_simultaneous, called with true from
  iaf_psc_delta_ps::update, sums the weights of all spikes with the same stamp and offset and adds the sum;
  the two orders of addition differ only in the last bit).
* Refractoriness: input arriving in [t_s, t_s + tau_refrac) is discarded (NEST's default
  refractory_input = false); input arriving exactly at t_s + tau_refrac counts, added to v_reset (NEST: the
  end-of-refractoriness pseudo-event at t_s + t_ref is returned before any spike at the same time,
  SliceRingBuffer::get_next_spike: "If return from refractoriness coincides with a spike, return from
  refractoriness is returned", and the neuron is then no longer refractory for that spike).
* A cell never fires twice at one time: after firing at t it ignores further input at t (NEST: with
  t_ref >= h it is refractory for the rest of the step). With tau_refrac = 0 (allowed here, not in NEST) a
  cell ignores input at its own spike time only, and its next spontaneous spike is strictly later.
* A spontaneous crossing at exactly an input's arrival time fires first and the input is discarded (NEST's
  update() propagates to the event, tests U >= V_th and emits before adding the weight).
* A cell at or above threshold at the start of a run (initial v, or `set_v`) fires at once (NEST: at
  from + epsilon, "check for super-threshold at beginning").
* Inputs do not bound V below (NEST's V_min defaults to -infinity).

Event order (deterministic): earliest time first; at one time spontaneous spikes (by cell index), then the
sources' spikes (by index), then all arrivals at that time together (as above). Cells interact only through
delays > 0, so the order among different cells at one time changes nothing but the order of processing;
the output is sorted by (time, index). NEST orders each neuron's events by time (stamp and offset), which
is the same dynamics.

Recording: V of chosen cells at exactly t = k * interval (k = 0, 1, ...), evaluated analytically from the
state after every event at times <= t (V is right-continuous: a cell firing at t reads v_reset at t).
`run(until)` does every event at time <= until; the next run continues from there exactly, so several runs
give the same results, bit for bit, as one run.

Algorithm (SparseProp, Engelken 2023, arXiv 2312.17216)
-------------------------------------------------------
SparseProp keeps each neuron as a phase that advances with a global shift (the clock), so that no neuron is
touched between its events; next spike times sit in a binary heap, and a spike updates only its K targets
through the phase transition curve: O(K log N) per spike and no per-step work. Here the phase is represented
by the equivalent lazy state (t_free, v_free): the cell evolves freely from v_free at t_free (t_free in the
future: refractory), so V(t) is computed on demand. Queues:
  * the cells' next spontaneous spike times: an indexed min-heap keyed (time, index), whose key is
    raised or lowered in place when an input changes a cell's state (O(log N)); in the C++ loop a 4-ary heap
    whose groups of children fill one cache line, with each touched cell's node, children and grandchildren
    prefetched (at N = 10^6 the heap no longer fits the caches);
  * pending arrivals (arbitrary delays): a binary min-heap keyed (time, creation number) with one entry per
    spike and distinct delay of its row: synapses are sorted by (pre, delay), the synapses of one row with
    one delay form a segment, and a spike queues each segment of its row once (with one shared delay, one
    entry per spike: the queue holds O(spikes in flight), not O(K x spikes in flight));
  * the sources' spikes: one array sorted by (time, index), read through a cursor.
The loop takes the earliest event. A spike (spontaneous, evoked or a source's) queues its row's segments. At
an arrival time the loop pops every entry due then, advances each target analytically to that time and adds
the weight (inputs to refractory cells are dropped), then tests each touched cell once: it fires, or its next
spontaneous spike time is recomputed and its heap position fixed. Per spike: O(K log N + D log Q) for K
targets, D distinct delays and Q queued entries; no per-step work.

The loop is C++ (kernels/psg_eventdriven.cpp, built by the project's toolchain, compiled.py); reference.py is
the same algorithm in Python with heapq, slow, the test oracle (it agrees with the compiled loop bit for bit).
"""

from .network import EventDrivenNetwork

__all__ = ["EventDrivenNetwork"]
