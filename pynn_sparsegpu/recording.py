"""Recorder: engine record buffers -> the arrays pyNN.recording turns into Neo Blocks."""

from __future__ import annotations

import numpy as np
from pyNN import errors, recording

from . import simulator
from .engine.neurons.sources import grid_index


class Recorder(recording.Recorder):
    _simulator = simulator

    def __init__(self, population, file=None):
        super().__init__(population, file)
        self._buffers = {}   # variable name -> list of (ids ndarray, engine buffer)

    def get(self, variables, gather=False, filter_ids=None, clear=False, annotations=None, locations=None):
        """PyNN's Recorder.get; before the first run (or right after setup), when PyNN has no segment yet and
        would fail with an IndexError, the Block holds the current segment (no spikes, and only the samples
        taken so far, e.g. the initial value at t = 0)."""
        state = self._simulator.state
        if state.running or any(True for _ in self.cache):
            return super().get(variables, gather, filter_ids, clear, annotations, locations)
        state.running = True          # PyNN adds the current segment only while "running"
        try:
            return super().get(variables, gather, filter_ids, clear, annotations, locations)
        finally:
            state.running = False

    def _record(self, variable, new_ids, sampling_interval=None):
        if variable.location is not None:
            raise ValueError("recording from locations is not supported by sparsegpu (point neurons only)")
        if sampling_interval is not None:
            self.sampling_interval = sampling_interval   # already checked by _check_sampling_interval
        new_ids = np.array(sorted(int(i) for i in new_ids), dtype=np.int64)
        if new_ids.size == 0:
            return
        population = self.population
        group = population._engine_group
        index = population.id_to_index(new_ids)
        network = simulator.state.network
        if variable.name == "spikes":
            buf = network.record_spikes(group, index)
        else:
            interval = int(round(self.sampling_interval / simulator.state.dt))
            # samples between the start of this recording segment and now do not exist: NaN, so that every
            # sample sits at its true time in the AnalogSignal
            start = float(self._recording_start_time.rescale("ms").magnitude)
            missing = int(round((simulator.state.t - start) / self.sampling_interval))
            buf = network.record_state(group, variable.name, index, interval, missing=missing)
        self._buffers.setdefault(variable.name, []).append((new_ids, buf))

    def _check_sampling_interval(self, sampling_interval):
        """Called by PyNN before anything is marked as recorded, so a refusal changes nothing."""
        if sampling_interval is not None:
            dt = simulator.state.dt
            ratio = sampling_interval / dt if np.isfinite(sampling_interval) else np.nan
            if not (ratio >= 1 - 1e-9 and abs(ratio - round(ratio)) <= 1e-6):
                raise ValueError(f"sampling_interval={sampling_interval!r} ms is not allowed: it must be a "
                                 f"positive multiple of the time step ({dt} ms)")
        super()._check_sampling_interval(sampling_interval)

    def _reports_given_times(self):
        return simulator.state.spike_precision == "off_grid" and \
            "spike_times" in self.population._engine_group.params

    def _get_spiketimes(self, ids, clear=False):
        wanted = np.asarray(sorted(int(i) for i in ids), dtype=np.int64)
        all_ids, all_times, all_exact = [], [], []
        dt = simulator.state.dt
        for rec_ids, buf in self._buffers.get("spikes", []):
            steps, chans = buf.events()
            ids_here = rec_ids[chans]
            keep = np.isin(ids_here, wanted)
            all_ids.append(ids_here[keep])
            all_times.append(buf.times(dt)[keep])
            all_exact.append(~np.isnan(buf.exact_times()[keep]))
            if clear:
                buf.clear()
        if not all_ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        id_array, times, exact = np.concatenate(all_ids), np.concatenate(all_times), np.concatenate(all_exact)
        order = np.lexsort((times, id_array))
        id_array, times, exact = id_array[order], times[order], exact[order]
        if self._reports_given_times() and not exact.all():
            grid = ~exact           # (spikes with an exact time keep it: the given time when they were emitted)
            times[grid] = self._given_times(id_array[grid], times[grid])
        return id_array, times

    def freeze_given_times(self):
        """Before the spike times of the population change: the spikes recorded so far keep the times that
        were given when they were emitted (else get_data() would report them at the new times)."""
        if not self._reports_given_times():
            return
        dt = simulator.state.dt
        for rec_ids, buf in self._buffers.get("spikes", []):
            steps, chans = buf.events()
            if steps.shape[0] == 0:
                continue
            ids_here, grid = rec_ids[chans], buf.times(dt)
            todo = np.isnan(buf.exact_times())
            order = np.flatnonzero(todo)[np.lexsort((grid[todo], ids_here[todo]))]
            fixed = np.full(steps.shape[0], np.nan)
            fixed[order] = self._given_times(ids_here[order], grid[order])
            buf.set_exact_times(fixed)

    def _given_times(self, id_array, grid_times):
        """For spike sources with given times in off-grid mode (as NEST's precise parrots): report each
        spike at the time the user gave rather than at the end of the step that emitted it."""
        dt = simulator.state.dt
        group = self.population._engine_group
        index = self.population.id_to_index(id_array) if id_array.size else np.zeros(0, np.int64)
        index = index - group.cell0          # (with several processes, positions among this one's cells)
        given = group.params["spike_times"]
        owners = np.repeat(np.arange(len(given)), [len(t) for t in given])
        flat = np.concatenate(given) if len(given) else np.zeros(0)
        key_given = owners * (2 ** 40) + grid_index(flat, dt)
        order = np.lexsort((flat, key_given))
        key_given, flat = key_given[order], flat[order]
        key_rec = index.astype(np.int64) * (2 ** 40) + np.rint(grid_times / dt).astype(np.int64)
        first = np.searchsorted(key_given, key_rec, side="left")
        rank = np.arange(key_rec.size) - np.searchsorted(key_rec, key_rec, side="left")
        pos = first + rank
        ok = (pos < key_given.size) & (key_given[np.minimum(pos, key_given.size - 1)] == key_rec)
        return np.where(ok, flat[np.minimum(pos, max(key_given.size - 1, 0))], grid_times)

    def _get_all_signals(self, variable, ids, clear=False):
        ids = [int(i) for i in ids]
        if not ids:
            return np.array([]), None
        columns = {}
        length = 0
        for rec_ids, buf in self._buffers.get(variable.name, []):
            data = buf.samples()
            length = max(length, data.shape[0])
            for j, i in enumerate(rec_ids):
                columns[int(i)] = data[:, j]
            if clear:
                buf.clear(keep_last=True)
        out = np.full((length, len(ids)), np.nan)
        for col, i in enumerate(ids):
            values = columns[i]
            out[length - len(values):, col] = values
        return out, None

    def _local_count(self, variable, filter_ids=None):
        if variable.name != "spikes":
            raise errors.RecordingError(variable.name, "only spike counts can be counted")
        recorded = sorted(int(i) for i in self.filter_recorded(variable, filter_ids))
        counts = dict.fromkeys(recorded, 0)
        for rec_ids, buf in self._buffers.get("spikes", []):
            _, chans = buf.events()
            ids_here, n = np.unique(rec_ids[chans], return_counts=True)
            for i, c in zip(ids_here, n):
                if int(i) in counts:
                    counts[int(i)] += int(c)
        return counts

    def _clear_simulator(self):
        for name, entries in self._buffers.items():
            for _, buf in entries:
                if name == "spikes":
                    buf.clear()
                else:
                    buf.clear(keep_last=True)

    def _reset(self):
        network = simulator.state.network
        for entries in self._buffers.values():
            for _, buf in entries:
                network.remove_buffer(buf)
        self._buffers = {}
