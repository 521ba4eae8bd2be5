"""The event-driven engine behind a Network: the same populations, projections and record buffers, simulated
exactly event by event (EventDrivenNetwork) instead of on the time grid.

A network qualifies when every population is IF_curr_delta (driven by `i_offset` and current sources),
SpikeSourceArray or SpikeSourcePoisson (a Poisson process in continuous time, as NEST's poisson_generator_ps: its
spikes are drawn run by run, each at its exact time, from the population's counter-based stream, so split runs
give the same spikes as one run), every projection has static synapses that nothing rewires, and the current
sources are DC or step sources (their current changes at grid times, and the engine changes the cells' drive
exactly then); `unsupported_parts` names each part that does not qualify. The engine is built at the first run
from the Network's arrays: cells get global indices in population order, then the sources; synapses keep their
delays in whole steps (delays are on the grid, as in NEST's precise models) and refractory periods are whole
steps, rounded up, as NEST's iaf_psc_delta_ps has them (tau_refrac = 2.01 ms at dt = 0.1 ms is 2.1 ms).
Between runs:
  - `initialize(v=...)` and `set()` of the cells' parameters reach the engine (the state is carried to the
    current time first, so a change acts from now on), and so do new weights (`Projection.set`), new spike
    times of a SpikeSourceArray and new Poisson rates; a change of delays raises an error;
  - a recording of v may start (at the network's one sampling interval) or stop; adding a population, a
    projection, synapses or a current source after the first run raises an error that says so.
After each run the spikes (exact times) go to the spike buffers and the membrane potential, sampled exactly at
the recording interval, to the state buffers, so PyNN's recorder and Neo output see them as any others.
"""

from __future__ import annotations

import numpy as np

from ..neurons.lif import IFCurrDelta, IFCurrExp
from ..neurons.sources import Poisson, SpikeArray
from ..synapses import SynapseGroup
from ..timegrid import refractory_steps
from ..electrodes import first_step
from ..variates import exponential

CELL_PARAMETERS = ("cm", "tau_m", "v_rest", "v_reset", "v_thresh", "tau_refrac", "i_offset")
_ABSENT = {"tau_syn_E": 5.0, "tau_syn_I": 5.0}     # values for cells without these parameters (IF_curr_delta)


def unsupported_parts(net, engine: str = "event") -> list[str]:
    """What keeps `net` off the event-driven engine (engine="event") or the off-grid time-driven engine
    (engine="offgrid"), one line per part (empty: it qualifies)."""
    event = engine == "event"
    label = "the event-driven engine" if event else "precise spike times on the time grid"
    cell_models = (IFCurrDelta,) if event else (IFCurrDelta, IFCurrExp)
    cell_names = "IF_curr_delta cells" if event else "IF_curr_exp and IF_curr_delta cells"
    reasons = []
    for group in net.groups:
        if type(group.model) not in cell_models + (SpikeArray, Poisson):
            reasons.append(f"population {group.label or group.gid!r} has {_kind(group)} cells ({label} takes "
                           f"{cell_names}, SpikeSourceArray and SpikeSourcePoisson sources)")
        elif not event and type(group.model) in cell_models:
            steps = refractory_steps(_host(net.backend, group.params["tau_refrac"]), net.dt)
            if (np.asarray(steps) < 1).any():
                reasons.append(f"population {group.label or group.gid!r} has tau_refrac below the time step "
                               f"{net.dt} ms (precise spike times need tau_refrac >= dt, as NEST's)")
    for p in net.projections:
        name = f"projection {p.label!r}" if p.label else "a projection"
        if type(p) is not SynapseGroup:
            reasons.append(f"{name} has {_kind(p, type(p.model).__name__)} synapses ({label} takes static "
                           "synapses)")
        elif p.rewirer is not None or p.deep_r is not None:
            reasons.append(f"{name} is rewired during the run (structural plasticity runs on the time grid)")
    varying_ok = not event and not net.backend.is_gpu       # the precise CPU loop takes currents per step
    for electrode in net.electrodes:
        if electrode.kind not in ("dc", "step") and not (varying_ok and electrode.kind in ("ac", "noise")):
            reasons.append(f"a current source ({_kind(electrode)}) injects a current that varies within steps "
                           f"({label} takes i_offset, DCSource and StepCurrentSource)")
        elif electrode.recording:
            reasons.append(f"a current source ({_kind(electrode)}) records its current")
    if not any(type(g.model) in cell_models for g in net.groups):
        reasons.append(f"there is no population of {cell_names}")
    intervals = set()
    for gid, entries in net.state_buffers.items():
        group = net.groups[gid]
        for variable, buf in entries:
            if variable != "v" or type(group.model) not in cell_models:
                reasons.append(f"{variable!r} of population {group.label or gid!r} is recorded ({label} records "
                               f"v of {cell_names})")
            intervals.add(buf.interval)
    if len(intervals) > 1:
        reasons.append(f"v is recorded at several sampling intervals ({sorted(i * net.dt for i in intervals)} ms; "
                       f"{label} samples at one)")
    return reasons


def index_space(net, cell_models):
    """(cell groups, source groups, {gid: first global index}): the engines number the cells first, then the
    SpikeSourceArray and then the SpikeSourcePoisson populations, each in the network's order."""
    cells = [g for g in net.groups if type(g.model) in cell_models]
    sources = [g for g in net.groups if type(g.model) is SpikeArray]
    sources += [g for g in net.groups if type(g.model) is Poisson]
    offset, start = {}, 0
    for group in cells + sources:
        offset[group.gid] = start
        start += group.n
    return cells, sources, offset


def _kind(part, default=None):
    """The name the user knows a part by (the PyNN face sets `display_name`), else the engine class's."""
    return getattr(part, "display_name", None) or default or type(getattr(part, "model", part)).__name__


def _local_index(index, n, backend):
    """The neuron indices (host int array) that set_initial's `index` (None, a slice, an int, indices or a
    mask, possibly on the device) names."""
    every = np.arange(n)
    if index is None:
        return every
    if isinstance(index, slice):
        return every[index]
    return np.atleast_1d(every[np.asarray(backend.to_host(np.asarray(index) if np.isscalar(index) else index))])


def _host(backend, values):
    return np.asarray(backend.to_host(values), dtype=np.float64)


class EventEngine:
    """Runs a Network on the exact event-driven engine (see the module docstring)."""

    name = "event-driven (exact, SparseProp's algorithm, compiled, one CPU thread)"
    kind = "event"                      # for unsupported_parts
    cell_models = (IFCurrDelta,)
    cell_parameters = CELL_PARAMETERS
    carried_state = ()                  # state variables besides v that initialize() sets between runs

    def __init__(self, net):
        self.net = net
        dt = net.dt
        self.cells, self.sources, self.offset = index_space(net, self.cell_models)
        self.poisson = [PoissonDraws(g, net.backend) for g in self.sources if type(g.model) is Poisson]
        self.n_cells = sum(g.n for g in self.cells)
        self._stim = self._stim_at(net.step_index)     # DCSource / StepCurrentSource current of the step
        params = {name: self._cell_values(name) for name in self.cell_parameters}
        self._params_seen = {name: values.copy() for name, values in params.items()}
        v = self._cell_state("v")
        source_times = [np.asarray(t, dtype=np.float64) for g in self.sources if type(g.model) is SpikeArray
                        for t in g.params["spike_times"]]
        first = len(source_times)
        for draws in self.poisson:                  # their spikes are added run by run
            draws.first_source = first
            source_times += [np.zeros(0)] * draws.group.n
            first += draws.group.n
        pre, post, weight, delay, receptor = [], [], [], [], []
        for p in net.projections:
            p.prepare(dt)
            if p.rows is None:
                continue
            i, j, values = p.rows.to_coo()
            pre.append(self.offset[p.pre.gid] + i)
            post.append(self.offset[p.post.gid] + j)
            weight.append(np.asarray(values["weight"], dtype=np.float64))
            delay.append(np.asarray(values["delay"], dtype=np.float64) * dt)
            receptor.append(np.full(i.shape, p.receptor, dtype=np.int64))
        self._synapses = (weight, delay)
        self._versions = self._synapse_versions()
        self._array_times = self._given_times()
        self._shape = self._network_shape()
        join = (lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype))
        self.edn = self._make_network(v, source_times, join(pre, np.int64), join(post, np.int64),
                                      join(weight, np.float64), join(delay, np.float64),
                                      join(receptor, np.int64), params)
        for group in self.cells:
            group.initialized.clear()         # taken: the engine starts from the groups' state
        self._group_versions = [g.version for g in self.cells]
        self._spike_chunks_read = self._sample_chunks_read = 0
        self._next_row_k = 0                  # k (time k * interval) of the next sample row not yet read
        self._rec_pos = np.full(self.n_cells, -1, dtype=np.int64)
        self._interval = None
        self._state_writes = []               # [buffer, global cell indices, next k it needs]
        writes = self._state_buffers()
        if writes:                            # one interval (unsupported_parts has checked)
            self._interval = writes[0][0].interval
            self.edn.record_v(np.unique(np.concatenate([cells for _, cells in writes])), self._interval * dt)
            rec = self.edn.recorded_v_indices
            self._rec_pos[rec] = np.arange(rec.size)
            # sample 0 (t = 0) was written when each recording started
            self._state_writes = [[buf, cells, 1] for buf, cells in writes]

    def _make_network(self, v, source_times, pre, post, weight, delay, receptor, params):
        from .network import EventDrivenNetwork
        return EventDrivenNetwork(self.n_cells, v=v, source_spike_times=source_times, pre=pre, post=post,
                                  weight=weight, delay=delay, **params)

    # --- the Network's arrays ------------------------------------------------------------------------------
    def _cell_values(self, name):
        parts = [np.broadcast_to(_host(self.net.backend, g.params[name]) if name in g.params
                                 else np.float64(_ABSENT[name]), (g.n,)) for g in self.cells]
        values = np.concatenate(parts) if parts else np.zeros(0)
        if name == "tau_refrac":           # whole steps, rounded up, as NEST (and the time-driven engine) has it
            values = refractory_steps(values, self.net.dt).astype(np.float64) * self.net.dt
        if name == "i_offset":             # the drive: i_offset and the current sources' current now
            values = values + self._stim
        return values

    # --- current sources -----------------------------------------------------------------------------------
    def _stim_at(self, step):
        """The current (nA) of the DC and step current sources per cell over the step that starts at `step`:
        A(step dt), as on the time grid (a change at time t acts from t on)."""
        stim = np.zeros(self.n_cells)
        t, dt = step * self.net.dt, self.net.dt
        for electrode in self.net.electrodes:
            value = float(electrode.amplitude(t, dt))
            if value == 0.0:
                continue
            for group, index in electrode.targets:
                stim[self.offset[group.gid] + np.asarray(self.net.backend.to_host(index), dtype=np.int64)] += value
        return stim

    def _change_steps(self, s0, s1):
        """The steps k with s0 < k < s1 at which a current source's amplitude may change."""
        dt, steps = self.net.dt, set()
        for electrode in self.net.electrodes:
            p = electrode.params
            times = [p["start"], p["stop"]] if electrode.kind == "dc" else list(np.asarray(p["times"], float))
            for t in times:
                if np.isfinite(t):
                    k = first_step(float(t), dt)
                    if s0 < k < s1:
                        steps.add(k)
        return sorted(steps)

    def _apply_stim(self, step):
        """The drive from the step `step` on: cells whose current changed get their new i_offset now."""
        stim = self._stim_at(step)
        if np.array_equal(stim, self._stim):
            return
        self._stim = stim
        drive = self._cell_values("i_offset")
        changed = np.flatnonzero(drive != self._params_seen["i_offset"])
        if changed.size:
            self.edn.set_parameters(changed, i_offset=drive[changed])
        self._params_seen["i_offset"] = drive

    def _cell_state(self, name):
        parts = [_host(self.net.backend, g.state[name]).reshape(g.n) if name in g.state else np.zeros(g.n)
                 for g in self.cells]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _network_shape(self):
        net = self.net
        return ([(g.gid, type(g.model), g.n) for g in net.groups],
                [(id(p), p.rows.size() if p.rows is not None else 0, len(p._pending)) for p in net.projections],
                len(net.electrodes))     # (weights, delays and given spike times: _push_synapse_and_source_changes)

    def _state_buffers(self):
        """(buffer, global cell indices of its channels) of every v recording (unsupported_parts has checked
        that there are no others)."""
        out = []
        self._population_of = getattr(self, "_population_of", {})
        for gid, entries in self.net.state_buffers.items():
            for _, buf in entries:
                # a buffer takes whole-population rows and selects its channels itself
                self._population_of[id(buf)] = (self.offset[gid], self.net.groups[gid].n)
                out.append((buf, self.offset[gid] + np.asarray(buf._host_index, dtype=np.int64)))
        return out

    def _add_recording(self, buf, cells, next_k):
        """Record v of `cells` into `buf` from sample k = next_k on (a recording started after a run)."""
        interval = buf.interval
        if self._interval is not None and interval != self._interval:
            raise RuntimeError(f"v is recorded every {self._interval * self.net.dt} ms on the event-driven engine; "
                               f"a recording every {interval * self.net.dt} ms cannot join it (record at one "
                               "sampling_interval, or use setup(engine='time'))")
        first = self._interval is None
        self._interval = interval
        self.edn.record_v(cells, interval * self.net.dt)
        if first:
            self._next_row_k = self.edn.first_sample     # k of the engine's first sample row
        rec = self.edn.recorded_v_indices
        self._rec_pos[rec] = np.arange(rec.size)
        self._state_writes.append([buf, cells, next_k])

    def state_now(self, group, variable):
        """The current value of a recorded state variable of a group (v: exact, from the engine)."""
        if group.gid not in self.offset or group not in self.cells:
            # a population added since this engine was built: nothing has run it yet, its state is its own
            return _host(self.net.backend, group.state[variable]).reshape(group.n)
        lo = self.offset[group.gid]
        return self.edn.get_v(np.arange(lo, lo + group.n))

    def _check_unchanged(self):
        if self._network_shape() != self._shape:
            raise RuntimeError("the network changed after it started on the event-driven engine (a population, "
                               "projection, synapses or current source was added): build the whole network "
                               "before the first run, or use setup(engine='time')")
        reasons = [r for r in unsupported_parts(self.net, self.kind) if "recorded" in r]
        if reasons:
            raise RuntimeError("a recording started after the first run cannot be made on the event-driven engine: "
                               + "; ".join(reasons) + " (use setup(engine='time'))")
        current = self._state_buffers()
        known = {id(w[0]) for w in self._state_writes}
        for buf, cells in current:             # recordings started since the last run
            if id(buf) not in known:
                step = self.net.step_index
                # record_state wrote the sample at the current time when it falls on the sampling grid
                next_k = step // buf.interval + 1 if step % buf.interval == 0 else -(-step // buf.interval)
                self._add_recording(buf, cells, next_k)
        alive = {id(buf) for buf, _ in current}
        self._state_writes = [w for w in self._state_writes if id(w[0]) in alive]   # stopped ones are dropped

    def _synapse_versions(self):
        return [p.rows.vars.version if p.rows is not None else None for p in self.net.projections]

    def _given_times(self):
        """Per SpikeSourceArray population: its spike times as one array and the lengths (to see changes)."""
        out = []
        for g in self.sources:
            if type(g.model) is SpikeArray:
                times = [np.asarray(t, dtype=np.float64) for t in g.params["spike_times"]]
                out.append((np.concatenate(times) if times else np.zeros(0), [t.size for t in times]))
        return out

    def _push_synapse_and_source_changes(self):
        """Projection.set() of weights between runs reaches the engine; a change of delays cannot (spikes on
        their way would need new arrival times) and raises. SpikeSourceArray.set(spike_times=...) between runs
        replaces the sources' spikes after the current time."""
        edn, dt = self.edn, self.net.dt
        if self._synapse_versions() != self._versions:
            weight, delay = [], []
            for p in self.net.projections:
                if p.rows is None:
                    continue
                _, _, values = p.rows.to_coo()
                weight.append(np.asarray(values["weight"], dtype=np.float64))
                delay.append(np.asarray(values["delay"], dtype=np.float64) * dt)
            old_w, old_d = self._synapses
            if any(not np.array_equal(a, b) for a, b in zip(delay, old_d)):
                raise RuntimeError("delays changed after the first run on the event-driven engine (spikes on their "
                                   "way keep the delays they were sent with): set delays before the first run, or "
                                   "use setup(engine='time')")
            if any(not np.array_equal(a, b) for a, b in zip(weight, old_w)):
                edn.set_weights(np.concatenate(weight) if weight else np.zeros(0))
            self._synapses = (weight, delay)
            self._versions = self._synapse_versions()     # after our own reads
        given = self._given_times()
        first = 0
        arrays = [g for g in self.sources if type(g.model) is SpikeArray]
        for g, (new, old) in zip(arrays, zip(given, self._array_times)):
            if new[1] != old[1] or not np.array_equal(new[0], old[0]):
                edn.replace_source_spikes(np.arange(first, first + g.n), list(g.params["spike_times"]))
            first += g.n
        self._array_times = given

    def _push_changes(self, parameters=True):
        """initialize() and set() between runs: new v and parameters act from the current time. With
        parameters=False (a hand-over: the groups keep the parameters, the projections their weights and the
        sources their times, and the engine may not take them: a projection added since makes the weights of
        another length) only the new initial values go in."""
        if parameters:
            self._push_synapse_and_source_changes()
        versions = [g.version for g in self.cells]
        if versions == self._group_versions:
            return
        self._group_versions = versions
        edn = self.edn
        params = {name: self._cell_values(name) for name in self.cell_parameters}
        changed = {name: params[name] for name in self.cell_parameters
                   if not np.array_equal(params[name], self._params_seen[name])}
        if changed and parameters:
            edn.set_parameters(**changed)
            self._params_seen = {name: values.copy() for name, values in params.items()}
        for group in self.cells:                 # initialize(v=...) of some or all cells
            lo = self.offset[group.gid]
            for name, index in group.initialized:
                if name != "v" and name not in self.carried_state:
                    continue
                local = _local_index(index, group.n, self.net.backend)
                values = _host(self.net.backend, group.state[name]).reshape(group.n)[local]
                if name == "v":
                    edn.set_v(values, lo + np.atleast_1d(local))
                else:
                    edn.set_state(name, values, lo + np.atleast_1d(local))
            group.initialized.clear()

    # --- running --------------------------------------------------------------------------------------------
    def hand_over(self):
        """None while this engine runs the network; else its state has gone to the groups, and the network
        continues on the grid: [(group, steps, receptors, targets, weights)] of the inputs on their way. The
        event-driven engine never hands over once time has passed (a change it cannot run raises in run()).
        While no time has passed (only runs of 0 ms so far), a network that has changed since the engine was
        built (a population, projection, current source or recording added) is not an error: the engine is
        chosen again for the network as it is now, from the groups' state, which nothing has advanced."""
        net = self.net
        if net.step_index != 0 or not self._changed():
            return None
        engine = choose(net)
        if engine is None:
            return []                # the time-driven engine from t = 0; nothing is on its way
        net.event_engine = engine    # (the network runs the engine it holds now)
        return None

    def _changed(self):
        """Whether the network differs from the one this engine was built for."""
        if self._network_shape() != self._shape:
            return True
        if any("recorded" in r for r in unsupported_parts(self.net, self.kind)):
            return True
        return {id(buf) for buf, _ in self._state_buffers()} != {id(w[0]) for w in self._state_writes}

    def run(self, n_steps: int) -> None:
        net, dt = self.net, self.net.dt
        self._check_unchanged()
        self._push_changes()
        start_step = net.step_index
        end_step = start_step + int(n_steps)
        for draws in self.poisson:
            sources, times = draws.spikes(self.edn.t, end_step * dt)
            self.edn.add_source_spikes(sources, times)
        self._advance(start_step, end_step)
        self._deliver_spikes()
        self._deliver_samples(end_step)
        net.step_index = end_step   # (v lives in the engine: the groups' state holds what initialize() set)

    def _advance(self, start_step, end_step):
        """Run the engine from start_step to end_step, the current sources' changes applied at their steps."""
        dt = self.net.dt
        self._apply_stim(start_step)
        for step in self._change_steps(start_step, end_step):
            self.edn.run(step * dt)
            self._apply_stim(step)
        self.edn.run(end_step * dt)

    def _deliver_spikes(self):
        chunks, samples = self.edn.new_results(self._spike_chunks_read, self._sample_chunks_read)
        self._spike_chunks_read += len(chunks)
        if not chunks:
            return
        ids = np.concatenate([c[0] for c in chunks]).astype(np.int64)
        times = np.concatenate([c[1] for c in chunks])
        if not ids.size:
            return
        dt = self.net.dt
        for gid, buffers in self.net.spike_buffers.items():
            lo, n = self.offset[gid], self.net.groups[gid].n
            mine = (ids >= lo) & (ids < lo + n)
            if not mine.any():
                continue
            local, t = ids[mine] - lo, times[mine]
            for buf in buffers:
                channel = np.full(n, -1, dtype=np.int64)
                channel[np.asarray(buf._host_index, dtype=np.int64)] = np.arange(buf.n)
                keep = channel[local] >= 0
                buf.add_exact(t[keep], channel[local[keep]], dt)

    def _deliver_samples(self, end_step):
        _, chunks = self.edn.new_results(self._spike_chunks_read, self._sample_chunks_read)
        self._sample_chunks_read += len(chunks)
        if not chunks:
            return
        values = np.concatenate(chunks)
        k0 = self._next_row_k
        self._next_row_k += values.shape[0]
        xp, dtype = self.net.backend.xp, self.net.backend.dtype
        for write in self._state_writes:
            buf, cells, next_k = write
            lo, n = self._population_of[id(buf)]
            columns = self._rec_pos[cells]
            full = np.full(n, np.nan)
            for row in values[max(next_k - k0, 0):]:
                full[cells - lo] = row[columns]
                buf.write(xp.asarray(full, dtype=dtype))
            write[2] = max(next_k, self._next_row_k)

    # --- checkpoints ---------------------------------------------------------------------------------------
    def checkpoint_refusal(self):
        """Why the engine's state cannot be checkpointed now (None: it can): the network changed since the last
        run in a way that the next run decides how to continue."""
        if self._network_shape() != self._shape or unsupported_parts(self.net, self.kind):
            return ("the network changed since its last run (a population, projection, synapses, current source or "
                    "recording was added) and the next run decides how it continues; call sim.run(0) first")
        return None

    def checkpoint_state(self):
        """(JSON-able state, named host arrays) of everything the next run depends on. Changes made since the
        last run (initialize(), set(), new recordings) are taken in first, as the next run would take them."""
        self._check_unchanged()
        self._push_changes()
        # the weights are the projections' (after _push_changes), which the checkpoint holds: not stored twice
        arrays = {"net/" + name: values for name, values in self.edn.export_state().items() if name != "syn_w"}
        arrays["stim"] = self._stim.copy()
        arrays.update({f"seen/{name}": values.copy() for name, values in self._params_seen.items()})
        for k, draws in enumerate(self.poisson):
            arrays[f"poisson{k}/next"], arrays[f"poisson{k}/draws"] = draws.next.copy(), draws.draws.copy()
            if draws._seen is not None:
                arrays[f"poisson{k}/seen"] = draws._seen.copy()
        writes = {id(w[0]): int(w[2]) for w in self._state_writes}
        state = {"kind": self.kind, "interval": self._interval, "next_row_k": int(self._next_row_k),
                 "writes": [writes[id(buf)] for buf, _ in self._state_buffers()],
                 "poisson_seen": [draws._seen is not None for draws in self.poisson]}
        return state, arrays

    def load_checkpoint(self, state, arrays) -> None:
        """Continue from checkpoint_state() (checked by checkpoint_problems()); the engine is new, built for the
        network as the checkpoint has restored it."""
        self.edn.import_state({name[4:]: values for name, values in arrays.items() if name.startswith("net/")})
        self._stim = np.array(arrays["stim"], dtype=np.float64)
        self._params_seen = {name: np.array(arrays[f"seen/{name}"], dtype=np.float64)
                             for name in self.cell_parameters}
        for k, draws in enumerate(self.poisson):
            draws.next = np.array(arrays[f"poisson{k}/next"], dtype=np.float64)
            draws.draws = np.array(arrays[f"poisson{k}/draws"], dtype=np.int64)
            draws._seen = np.array(arrays[f"poisson{k}/seen"]) if state["poisson_seen"][k] else None
        self._interval = state["interval"]
        self._next_row_k = int(state["next_row_k"])
        self._spike_chunks_read = self._sample_chunks_read = 0
        rec = self.edn.recorded_v_indices
        self._rec_pos[:] = -1
        self._rec_pos[rec] = np.arange(rec.size)
        self._state_writes = [[buf, cells, int(k)] for (buf, cells), k in zip(self._state_buffers(),
                                                                              state["writes"])]


def engine_class(kind):
    """The engine class of a checkpoint's "kind"."""
    if kind == "offgrid":
        from ..offgrid.driver import OffGridEngine
        return OffGridEngine
    return EventEngine


def checkpoint_problems(net, state, arrays, synapses) -> list[str]:
    """What keeps an engine checkpoint (state, arrays of checkpoint_state()) from loading into an engine built
    for `net`; synapses: [(projection, row lengths, delays in steps)] as the checkpoint restores them."""
    kind = state.get("kind")
    if kind not in ("event", "offgrid"):
        return [f"unknown engine {kind!r}"]
    engine = engine_class(kind)
    cells, sources, offset = index_space(net, engine.cell_models)
    n_cells, n_sources = sum(g.n for g in cells), sum(g.n for g in sources)
    pre, delay = [np.zeros(0, np.int64)], [np.zeros(0)]
    for p, lengths, steps in synapses:
        rows = np.repeat(np.arange(lengths.shape[0]), lengths)
        pre.append(offset[p.pre.gid] + rows)
        delay.append(np.broadcast_to(np.asarray(steps, dtype=np.float64), rows.shape))
    pre, delay = np.concatenate(pre), np.concatenate(delay)
    if kind == "event":              # segments: the distinct (source, delay) pairs
        order = np.lexsort((delay, pre))
        pre, delay = pre[order], delay[order]
        extent = int(pre.size and 1 + np.count_nonzero((pre[1:] != pre[:-1]) | (delay[1:] != delay[:-1])))
        from .network import EventDrivenNetwork as network_class
    else:                            # the ring's slots
        extent = int(delay.max()) + 1 if delay.size else 1
        from ..offgrid.network import OffGridNetwork as network_class
    local = {name[4:]: values for name, values in arrays.items() if name.startswith("net/")}
    problems = network_class.check_state(local, n_cells, n_sources, pre.size, extent)
    names = ["stim"] + [f"seen/{name}" for name in engine.cell_parameters]
    problems += [f"{name!r} is missing or not of {n_cells} values" for name in names
                 if name not in arrays or arrays[name].shape != (n_cells,)]
    poisson = [g for g in sources if type(g.model) is Poisson]
    if len(state.get("poisson_seen", ())) != len(poisson):
        problems.append("the Poisson sources differ")
    else:
        for k, (group, seen) in enumerate(zip(poisson, state["poisson_seen"])):
            for name in ("next", "draws") + (("seen",) if seen else ()):
                size = 3 * group.n if name == "seen" else group.n
                if arrays.get(f"poisson{k}/{name}", np.zeros(0)).shape != (size,):
                    problems.append(f"'poisson{k}/{name}' is missing or not of {size} values")
    n_buffers = sum(len(entries) for entries in net.state_buffers.values())
    if len(state.get("writes", ())) != n_buffers:
        problems.append("the recordings of v differ")
    return problems


class PoissonDraws:
    """The spikes of one SpikeSourcePoisson population, drawn run by run: neuron i's process fires in
    (start, start + duration] with exponential intervals of mean 1000/rate ms, its n-th interval from counter
    (i, n) of the population's stream, so the spikes do not depend on how the time is split into runs. After a
    change of its parameters a neuron's process restarts at the current time (memoryless)."""

    def __init__(self, group, backend):
        self.group, self.backend = group, backend
        self.next = np.full(group.n, np.nan)         # next spike time (NaN: not drawn)
        self.draws = np.zeros(group.n, dtype=np.int64)
        self.first_source = 0
        self._seen = None

    def _params(self):
        values = [np.broadcast_to(_host(self.backend, self.group.params[name]), (self.group.n,)).copy()
                  for name in ("rate", "start", "duration")]
        return values

    def spikes(self, t0, t1):
        """(source numbers, times) of the spikes in (t0, t1]."""
        rate, start, duration = self._params()
        current = np.concatenate([rate, start, duration])
        if self._seen is not None and not np.array_equal(current, self._seen):
            self.next[:] = np.nan                      # restart every process from now under the new values
        self._seen = current
        stop = start + duration
        mean = np.where(rate > 0, 1e3 / np.where(rate > 0, rate, 1.0), np.inf)
        idx = np.flatnonzero(np.isnan(self.next))
        if idx.size:
            e, self.draws[idx] = exponential(self.group.key, idx, self.draws[idx], 0)
            self.next[idx] = np.maximum(start[idx], t0) + e * mean[idx]
        out_i, out_t = [], []
        self.next[self.next > stop] = np.inf           # the window is over: nothing more
        due = np.flatnonzero(self.next <= t1)
        while due.size:
            out_i.append(due)
            out_t.append(self.next[due].copy())
            e, self.draws[due] = exponential(self.group.key, due, self.draws[due], 0)
            self.next[due] = self.next[due] + e * mean[due]
            self.next[due[self.next[due] > stop[due]]] = np.inf
            due = due[self.next[due] <= t1]
        if not out_i:
            return np.zeros(0, np.int64), np.zeros(0)
        i, t = np.concatenate(out_i), np.concatenate(out_t)
        return i + self.first_source, t


def choose(net):
    """The engine a Network runs on, decided at its first run: an EventEngine, an OffGridEngine, or None (the
    time-driven engine on the grid).

    setup(engine="event") takes the event-driven engine (or raises ValueError naming every part it cannot run);
    with spike_precision="off_grid", engine="auto" takes it when the network qualifies, else the off-grid
    time-driven engine when the network qualifies for that, and engine="time" takes the off-grid one when it
    qualifies; everything else runs on the grid."""
    kind = decide(net)
    if kind == "event":
        return EventEngine(net)
    if kind == "offgrid":
        from ..offgrid.driver import OffGridEngine
        return OffGridEngine(net, compiled=net.backend.compiled or _compiler_works())
    return None


def decide(net):
    """Which engine choose() builds: "event", "offgrid" or None (the grid), without building it; raises (and
    warns) as choose() does."""
    choice = getattr(net, "engine_choice", "time")
    precise = getattr(net, "spike_precision", "on_grid") == "off_grid"
    processes = getattr(getattr(net, "comm", None), "size", 1)
    if processes > 1:                   # the exact engines run in one process
        if choice == "event":
            raise ValueError(f"setup(engine='event'): the event-driven engine runs in one process, and this run "
                             f"has {processes} MPI processes; use engine='auto' or 'time'")
        if precise and (not unsupported_parts(net, "event") or not unsupported_parts(net, "offgrid")):
            import warnings
            warnings.warn(f"spike_precision='off_grid': precise spike times are computed in one process only; "
                          f"with {processes} MPI processes this network runs on the time grid (spike times are "
                          "multiples of dt)", RuntimeWarning, stacklevel=5)
        return None
    compiler = net.backend.compiled or _compiler_works()
    if choice == "event" or (choice == "auto" and precise):
        reasons = unsupported_parts(net, "event")
        if not reasons and not compiler:
            reasons.append("no working C++ compiler (the event-driven engine is compiled code)")
        if not reasons:
            return "event"
        if choice == "event":
            raise ValueError("setup(engine='event'): the event-driven engine cannot run this network:\n  - "
                             + "\n  - ".join(reasons))
    if precise and not unsupported_parts(net, "offgrid"):
        return "offgrid"
    return None


def _compiler_works() -> bool:
    try:
        from ..compiled.toolchain import default_toolchain
        return default_toolchain() is not None
    except Exception:
        return False
