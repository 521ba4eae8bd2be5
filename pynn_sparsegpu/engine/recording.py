"""Device-side record buffers, flushed to the host in chunks (not every step).

SpikeBuffer:  counts[chunk, n_rec] written each step; a flush turns them into (step, channel) events. Events
              added with their exact times (the event-driven engine) keep them (`times(dt)`).
StateBuffer:  values[chunk, n_rec] of one state variable sampled every `interval` steps.
"""

from __future__ import annotations

import numpy as np

CHUNK_STEPS = 1000


def _selector(index, device_index):
    """A slice when `index` (host) is a run of consecutive channels (a view per write, no gather), else the
    device index."""
    host = np.asarray(index)
    if host.size and host.dtype.kind in "iu" and np.array_equal(host, np.arange(host[0], host[0] + host.size)):
        return slice(int(host[0]), int(host[0]) + host.size)
    return device_index


class SpikeBuffer:
    def __init__(self, backend, index: np.ndarray, chunk: int = CHUNK_STEPS):
        self.backend, self.index = backend, backend.xp.asarray(index)
        self._host_index = np.asarray(index)
        self._compiled = None    # the compiled path's event buffer for this recording (compiled/runner.py)
        self._select = _selector(index, self.index)
        self.n = len(index)
        # spike flags while every writer gives flags (bools); widened to int32 counts at the first count array
        self._buf = backend.xp.zeros((chunk, self.n), dtype=bool)
        self._first_step = None
        self._fill = 0
        self.steps = []      # host chunks: step of each spike
        self.channels = []   # host chunks: position in `index` of each spike
        self.exact = []      # host chunks: exact time of each spike (ms), NaN where only the step is known

    def write(self, step: int, counts) -> None:
        if self._fill == 0:
            self._first_step = step
        if counts.dtype != self._buf.dtype and self._buf.dtype == bool:
            self._buf = self._buf.astype(self.backend.xp.int32)
        self._buf[self._fill] = counts[self._select]
        self._fill += 1
        if self._fill == self._buf.shape[0]:
            self.flush()

    def flush(self) -> None:
        if self._fill == 0:
            return
        host = self.backend.to_host(self._buf[:self._fill])   # synchronize! (once per chunk)
        flat = np.flatnonzero(host.astype(bool))             # nonzero is several times faster on bools
        rows, cols = np.divmod(flat, max(self.n, 1))
        reps = host.reshape(-1)[flat].astype(np.int64)
        self.steps.append(np.repeat(rows + self._first_step, reps))
        self.channels.append(np.repeat(cols, reps))
        self.exact.append(np.full(self.steps[-1].shape[0], np.nan))
        self._buf[:self._fill] = 0
        self._fill = 0

    def add_events(self, steps, channels, counts) -> None:
        """Append spikes recorded elsewhere (the compiled path): (step, channel, spike count) triples."""
        counts = np.asarray(counts, dtype=np.int64)
        self.steps.append(np.repeat(np.asarray(steps, dtype=np.int64), counts))
        self.channels.append(np.repeat(np.asarray(channels, dtype=np.int64), counts))
        self.exact.append(np.full(self.steps[-1].shape[0], np.nan))

    def add_exact(self, times, channels, dt: float) -> None:
        """Append spikes at exact times (ms): each is filed under the step that contains it (the step k with
        k dt < t <= (k + 1) dt, as a spike found in that step) and keeps its time."""
        times = np.asarray(times, dtype=np.float64)
        steps = np.ceil(np.round(times / dt, 9)).astype(np.int64) - 1
        self.steps.append(steps)
        self.channels.append(np.asarray(channels, dtype=np.int64))
        self.exact.append(times)

    def _sorted(self):
        self.flush()
        if not self.steps:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        steps, chans, exact = (np.concatenate(self.steps), np.concatenate(self.channels),
                               np.concatenate(self.exact))
        key = steps * max(self.n, 1) + chans
        if key.shape[0] > 1 and bool(np.any(key[1:] < key[:-1])):
            order = np.lexsort((exact, key))
            steps, chans, exact = steps[order], chans[order], exact[order]
        self.steps, self.channels, self.exact = [steps], [chans], [exact]
        return steps, chans, exact

    def events(self):
        """All recorded spikes as (steps, channels), sorted by step, then channel."""
        steps, chans, _ = self._sorted()
        return steps, chans

    def times(self, dt: float):
        """The time (ms) of each spike of events(), in its order: the exact time where one was given, else the
        end of its step."""
        steps, _, exact = self._sorted()
        return np.where(np.isnan(exact), (steps + 1) * dt, exact)

    def exact_times(self):
        """The exact time (ms) of each spike of events(), in its order; NaN where only its step is known."""
        return self._sorted()[2].copy()

    def set_exact_times(self, times) -> None:
        """Give the spikes of events() whose exact time is not known yet (NaN in exact_times()) the times in
        `times` (one per spike of events(), NaN to leave one as it is)."""
        exact = self._sorted()[2]
        self.exact = [np.where(np.isnan(exact), np.asarray(times, dtype=np.float64), exact)]

    def clear(self) -> None:
        self.flush()
        self.steps, self.channels, self.exact = [], [], []


class StateBuffer:
    def __init__(self, backend, index: np.ndarray, interval: int, chunk: int = CHUNK_STEPS):
        self.backend, self.index = backend, backend.xp.asarray(index)
        self._host_index = np.asarray(index)
        self._compiled = None    # set by the compiled path when a step kernel writes the rows
        self._select = _selector(index, self.index)
        self.interval = int(interval)
        self._buf = backend.xp.zeros((chunk, len(index)), dtype=backend.dtype)
        self._fill = 0
        self.chunks = []     # host arrays [samples, n_rec]

    def write(self, values) -> None:
        self._buf[self._fill] = values[self._select]
        self._fill += 1
        if self._fill == self._buf.shape[0]:
            self.flush()

    def rewrite_last(self, values) -> None:
        """Replace the latest sample (the values at the current time changed before they were simulated)."""
        if self._fill:
            self._buf[self._fill - 1] = values[self._select]
        elif self.chunks and len(self.chunks[-1]):
            self.chunks[-1][-1] = self.backend.to_host(values[self._select])

    def flush(self) -> None:
        if self._fill:
            self.chunks.append(self.backend.to_host(self._buf[:self._fill]).astype(np.float64))  # synchronize!
            self._fill = 0

    def samples(self) -> np.ndarray:
        self.flush()
        if not self.chunks:
            return np.zeros((0, len(self.index)))
        data = np.concatenate(self.chunks, axis=0)
        self.chunks = [data]
        return data

    def clear(self, keep_last: bool) -> None:
        data = self.samples()
        self.chunks = [data[-1:]] if keep_last and len(data) else []
