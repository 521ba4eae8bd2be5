"""The PyNN face of structural plasticity on a Projection: attaching the engine Rewirer, and recording how
connectivity evolves (counts per interval as Neo AnalogSignals, every event as a Neo Event)."""

from __future__ import annotations

import copy

import numpy as np
from lazyarray import larray
from pyNN import errors

from . import simulator
from .engine.structural import Geometry, Rewirer, RewiringRecorder

DEFAULT_MIN_CAPACITY = 32


class NotRewiringError(errors.RecordingError):
    """Rewiring was asked of a projection whose synapses are not structurally plastic."""

    def __init__(self, message):
        Exception.__init__(self, message)
        self.message = message

    def __str__(self):
        return self.message


def attach(projection, mechanism) -> None:
    """Give the projection's engine group a Rewirer built from `mechanism` (a StructuralPlasticityMechanism)."""
    if len(projection._groups) != 1:
        raise errors.ConnectionError("StructuralPlasticityMechanism needs a Population or PopulationView on "
                                     "each side of the Projection (an Assembly spans several engine groups)")
    group = projection._groups[(0, 0)]
    state = simulator.state
    _choose_capacity(projection, mechanism, group)
    if mechanism.rewiring is not None:                # DEEP R: the trainer rewires between batches
        group.deep_r = mechanism.rewiring
        group.deep_r_totals = {"dormant": 0, "formed": 0, "failed": 0}
        return
    space = projection.space
    pre_pos = np.asarray(projection.pre.positions, float).T
    post_pos = space.scale_factor * (np.asarray(projection.post.positions, float).T + space.offset)
    bounds = space.periodic_boundaries
    spans = [None if bounds is None or bounds[a] is None else bounds[a][1] - bounds[a][0] for a in range(3)]
    geometry = Geometry(group.backend.xp, pre_pos, post_pos, axes=[int(a) for a in space.axes], spans=spans)
    native = mechanism.native_parameters
    model_values = {}
    for name in group.model.parameters:               # STDP parameters: scalars for the new synapses
        if name in native.keys():
            value = native[name]
            if isinstance(value, larray):
                value = copy.deepcopy(value)
                value.shape = (1,)
                value = value.evaluate(simplify=True)
            model_values[name] = float(np.asarray(value, float).ravel()[0])
    initial_delay = mechanism.initial_delay if mechanism.initial_delay is not None else state.min_delay
    projection._check_values(np.asarray([mechanism.initial_weight], float), np.asarray([initial_delay], float))
    group.rewirer = Rewirer(
        group, state.network.synapse_seed(), formation=mechanism.formation, elimination=mechanism.elimination,
        partner=mechanism.partner_selection, f_rew=mechanism.f_rew, interval_ms=mechanism.rewiring_interval,
        initial_weight=mechanism.initial_weight, initial_delay_ms=initial_delay,
        allow_self_connections=mechanism.allow_self_connections, with_replacement=mechanism.with_replacement,
        pre_ix=projection._pre_parts[0][1], post_ix=projection._post_parts[0][1], geometry=geometry,
        model_values=model_values, max_in_degree=mechanism.max_in_degree)


def _choose_capacity(projection, mechanism, group):
    """Projection(row_capacity=...) wins, then the mechanism's, then twice the longest initial row (at least
    32, at most the number of targets when a pair holds one synapse at most)."""
    if projection.row_capacity is not None or projection.spare_fraction:
        return
    longest = group.longest_pending_row()
    if mechanism.row_capacity is not None:
        capacity = int(mechanism.row_capacity)
    elif mechanism.spare_fraction is not None:
        capacity = max(int(np.ceil(longest * (1.0 + mechanism.spare_fraction))), 1)
    else:
        capacity = max(2 * longest, DEFAULT_MIN_CAPACITY)
        if not mechanism.with_replacement:
            capacity = max(min(capacity, projection.post.size), longest, 1)
    if capacity < longest:
        raise errors.ConnectionError(f"row_capacity={capacity} is too small: the connector gave a presynaptic "
                                     f"neuron {longest} synapses")
    projection.row_capacity = group.capacity = capacity


def _rewirer(projection):
    group = next(iter(projection._groups.values()))
    if getattr(group, "deep_r", None) is not None:
        raise NotRewiringError(f"Projection {projection.label!r} rewires by DEEP R between training batches, "
                               "not during runs: its counts per batch are in the trainer's history, totals in "
                               "projection.rewiring_counts()")
    if getattr(group, "rewirer", None) is None:
        raise NotRewiringError(f"Projection {projection.label!r} does not rewire: its synapse type is "
                               f"{type(projection.synapse_type).__name__}, not a StructuralPlasticityMechanism")
    return group, group.rewirer


def record(projection, sampling_interval=None, events=False) -> None:
    """Start recording rewiring counts every `sampling_interval` ms (default: the rewiring interval), and
    every formation/elimination event when events=True. Recording again replaces the earlier request; what
    was recorded so far is kept."""
    group, rewirer = _rewirer(projection)
    dt = simulator.state.dt
    interval = rewirer.interval_ms if sampling_interval is None else sampling_interval
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
        raise ValueError(f"sampling_interval={sampling_interval!r} is not allowed; it must be a number > 0 (ms)")
    steps = int(round(interval / dt))
    if steps < 1 or abs(steps * dt - interval) > 1e-9 * max(interval, 1.0):
        raise ValueError(f"sampling_interval={interval} is not allowed; it must be a multiple of the time step "
                         f"({dt} ms)")
    group.prepare(dt)
    size = group.rows.size()
    previous = rewirer.recorder
    rewirer.recorder = RewiringRecorder(steps, events, size)
    if previous is not None:
        rewirer.recorder.segments = previous.close()


def get_data(projection, clear=False):
    """A neo.Block: per segment (a reset starts a new one) AnalogSignals `formations`, `eliminations`,
    `failed` and `attempts` (counts over the interval ending at each sample time) and `size` (synapses at
    each sample time), and with events=True a neo.Event `rewiring` (labels 'formed'/'eliminated', array
    annotations pre and post: projection-level indices)."""
    import neo
    import quantities as pq
    group, rewirer = _rewirer(projection)
    recorder = rewirer.recorder
    if recorder is None:
        raise errors.NothingToWriteError("no rewiring was recorded: call projection.record_rewiring() first")
    dt = simulator.state.dt
    inv_pre = projection._inverse(projection._pre_parts, 0, group.pre.n_total)
    inv_post = projection._inverse(projection._post_parts, 0, group.post.n_total)
    block = neo.Block(name=f"rewiring of {projection.label}")
    parts = _gathered(recorder.segments + [recorder.current()])
    for k, part in enumerate(parts):
        segment = neo.Segment(name=f"segment{k:03d}")
        period = recorder.interval * dt
        t0 = (part["first_step"] + recorder.interval) * dt if part["first_step"] is not None else period
        for name, values in part["samples"].items():
            signal = neo.AnalogSignal(np.asarray(values, float).reshape(-1, 1), units=pq.dimensionless,
                                      sampling_period=period * pq.ms, t_start=t0 * pq.ms, name=name)
            segment.analogsignals.append(signal)
        if recorder.events:
            times, pre, post, formed = part["events"]
            event = neo.Event(times * pq.ms, labels=np.where(formed, "formed", "eliminated").astype("U10"),
                              name="rewiring", array_annotations={"pre": inv_pre[pre], "post": inv_post[post]})
            segment.events.append(event)
        block.segments.append(segment)
    if clear:
        recorder.clear()
    return block


def _gathered(parts):
    """With several processes, every process's recorded segments joined (each process records the attempts
    onto its own cells): counts and sizes summed, attempts (drawn by every process) once, events in the order
    one process logs them. Every process receives the result."""
    comm = simulator.state.network.comm
    if comm.size == 1:
        return parts
    everyone = comm.allgather(parts)
    joined = []
    for k, part in enumerate(parts):
        pieces = [p[k] for p in everyone]
        samples = {name: list(np.sum([np.asarray(p["samples"][name], dtype=np.int64) for p in pieces], axis=0))
                   if name != "attempts" else list(values) for name, values in part["samples"].items()}
        t, pre, post, formed = (np.concatenate([p["events"][f] for p in pieces]) for f in range(4))
        attempts = [p.get("attempts") for p in pieces]
        if any(a is None for a in attempts):
            raise RuntimeError("internal error: rewiring events without their attempt numbers")
        order = np.lexsort((np.concatenate(attempts), formed, t))   # per batch: eliminations, then formations
        joined.append({"samples": samples, "events": (t[order], pre[order], post[order], formed[order]),
                       "first_step": part["first_step"]})
    return joined


def counts(projection) -> dict:
    """Totals since the projection was created: attempts, formations, eliminations, failed (row full),
    rejected (self connection or duplicate pair refused), no_partner (partner selection found none),
    target_full (the target held max_in_degree synapses). For DEEP R: dormant (removed), formed and failed
    (no free position) over all training batches."""
    group = next(iter(projection._groups.values()))
    if getattr(group, "deep_r", None) is not None:
        return dict(group.deep_r_totals)
    _, rewirer = _rewirer(projection)
    totals = dict(rewirer.totals)
    comm = simulator.state.network.comm
    if comm.size > 1:                      # each process counts the attempts onto its own cells
        everyone = comm.allgather(totals)
        totals = {name: value if name == "attempts" else sum(t[name] for t in everyone)
                  for name, value in totals.items()}
    return totals
