"""`EventDrivenNetwork`: the Python API of the exact event-driven engine (model and conventions: __init__.py).

Index space: LIF cells are 0 .. n_cells-1 and sources n_cells .. n_cells+n_sources-1 (source s of
`source_spike_times` is index n_cells + s). Synapses may start at any index and must end at a LIF cell.

    net = EventDrivenNetwork(n_cells, cm=..., tau_m=..., v_rest=..., v_reset=..., v_thresh=..., tau_refrac=...,
                             i_offset=..., v=..., source_spike_times=[array, ...],
                             pre=..., post=..., weight=..., delay=..., engine="compiled")
    net.record_v(indices, interval_ms)      # before the first run
    net.run(until_ms)                       # any number of times; continues exactly
    ids, times = net.spikes()               # every spike (cells and sources), sorted by (time, index)
    times, values = net.v_samples()         # values[k, r] = V of record index r at times[k] = k * interval
    net.t, net.get_v(indices), net.set_v(values, indices), net.set_parameters(indices, tau_m=..., ...),
    net.params (the parameters, arrays of n_cells), net.pending_arrivals

Parameters are scalars (shared) or arrays of length n_cells, in PyNN's units: cm nF, tau_m and tau_refrac ms,
voltages mV, i_offset nA, weight mV (delta synapse: the jump of V), delay ms. Invalid input raises ValueError
naming the parameter, the offending value and what is allowed.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

DEFAULTS = {"cm": 1.0, "tau_m": 20.0, "v_rest": -65.0, "v_reset": -65.0, "v_thresh": -50.0,
            "tau_refrac": 0.1, "i_offset": 0.0, "v": -65.0}       # PyNN's IF_curr_delta defaults
ENGINES = ("compiled", "reference")
# one 64-byte record per LIF cell, the C++ struct Cell of kernels/psg_eventdriven.cpp: its state (it evolves
# freely from v_free at t_free, refractory while t < t_free; t_spike: its last spike) and its parameters
CELL_DTYPE = np.dtype([("t_free", "<f8"), ("v_free", "<f8"), ("t_spike", "<f8"), ("tau_m", "<f8"),
                       ("v_inf", "<f8"), ("v_thresh", "<f8"), ("v_reset", "<f8"), ("tau_refrac", "<f8")])


def _where(arr, bad):
    k = int(np.flatnonzero(bad)[0])
    return f"{arr[k].item()!r} at index {k}" if arr.ndim else repr(arr[()].item())


def _finite(name, arr):
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} must be finite (got {_where(arr, bad)})")


def _cell_param(name, value, n):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a number or an array of {n} numbers (got {value!r})") from err
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},) (got shape {arr.shape})")
    _finite(name, arr)
    return np.ascontiguousarray(arr)


def _index_array(name, value, low, high):
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of indices (got shape {arr.shape})")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        as_int = arr.astype(np.int64)
        if not np.array_equal(as_int, arr):
            raise ValueError(f"{name} must hold integer indices (got {arr[as_int != arr][0].item()!r})")
        arr = as_int
    arr = arr.astype(np.int64, copy=False)
    bad = (arr < low) | (arr >= high)
    if bad.any():
        raise ValueError(f"{name} must lie in [{low}, {high}) (got {_where(arr, bad)})")
    return arr


PARAMETERS = ("cm", "tau_m", "v_rest", "v_reset", "v_thresh", "tau_refrac", "i_offset")


def _check_parameters(p, positive=("cm", "tau_m")):
    """Check the cells' parameter arrays (dict of arrays); return V_inf = v_rest + i_offset tau_m / cm."""
    for name in positive:
        bad = p[name] <= 0
        if bad.any():
            raise ValueError(f"{name} must be > 0 (got {_where(p[name], bad)})")
    bad = p["tau_refrac"] < 0
    if bad.any():
        raise ValueError(f"tau_refrac must be >= 0 (got {_where(p['tau_refrac'], bad)})")
    bad = p["v_reset"] >= p["v_thresh"]
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"v_reset must be < v_thresh (got v_reset {float(p['v_reset'][k])!r} >= v_thresh "
                         f"{float(p['v_thresh'][k])!r} at index {k})")
    v_inf = p["v_rest"] + p["i_offset"] * p["tau_m"] / p["cm"]
    bad = ~np.isfinite(v_inf)
    if bad.any():
        raise ValueError(f"i_offset * tau_m / cm overflows (got v_inf {_where(v_inf, bad)})")
    return v_inf


class EventDrivenNetwork:
    """LIF cells (IF_curr_delta, constant drive) and spike sources, simulated exactly event by event.

    n_cells: number of LIF cells; cm, tau_m, v_rest, v_reset, v_thresh, tau_refrac, i_offset, v (initial
    membrane potential): scalars or arrays of length n_cells; source_spike_times: a sequence of 1-d arrays
    (ms, >= 0, non-decreasing), one per source; pre, post, weight, delay: equal-length 1-d synapse arrays;
    engine: "compiled" (C++ loop) or "reference" (pure Python, the test oracle).
    """

    def __init__(self, n_cells: int, *, cm=DEFAULTS["cm"], tau_m=DEFAULTS["tau_m"], v_rest=DEFAULTS["v_rest"],
                 v_reset=DEFAULTS["v_reset"], v_thresh=DEFAULTS["v_thresh"], tau_refrac=DEFAULTS["tau_refrac"],
                 i_offset=DEFAULTS["i_offset"], v=DEFAULTS["v"], source_spike_times=(), pre=(), post=(),
                 weight=(), delay=(), engine: str = "compiled"):
        if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 0:
            raise ValueError(f"n_cells must be an integer >= 0 (got {n_cells!r})")
        if n_cells >= 2**31 - 1:
            raise ValueError(f"n_cells must be < 2**31 - 1 (got {n_cells})")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES} (got {engine!r})")
        n = self.n_cells = int(n_cells)
        self.engine = engine
        p = {name: _cell_param(name, val, n) for name, val in
             (("cm", cm), ("tau_m", tau_m), ("v_rest", v_rest), ("v_reset", v_reset), ("v_thresh", v_thresh),
              ("tau_refrac", tau_refrac), ("i_offset", i_offset), ("v", v))}
        self.params = {k: val for k, val in p.items() if k != "v"}
        v_inf = _check_parameters(self.params)
        self.cells = np.zeros(n, dtype=CELL_DTYPE)
        for name in ("tau_m", "v_thresh", "v_reset", "tau_refrac"):
            self.cells[name] = p[name]
        self.cells["v_inf"] = v_inf
        self.cells["t_free"] = 0.0
        self.cells["v_free"] = p["v"]
        self.cells["t_spike"] = -np.inf
        # views into the records
        self.t_free, self.v_free, self.t_spike = (self.cells[k] for k in ("t_free", "v_free", "t_spike"))
        self.tau_m, self.v_inf, self.v_thresh, self.v_reset, self.tau_refrac = (
            self.cells[k] for k in ("tau_m", "v_inf", "v_thresh", "v_reset", "tau_refrac"))

        self._set_sources(source_spike_times)

        pre = _index_array("pre", pre, 0, self.size)
        post = _index_array("post", post, 0, n)
        weight = np.asarray(weight, dtype=np.float64)
        delay = np.asarray(delay, dtype=np.float64)
        for name, arr in (("post", post), ("weight", weight), ("delay", delay)):
            if arr.shape != pre.shape:
                raise ValueError(f"{name} must have the shape of pre, {pre.shape} (got {arr.shape})")
        _finite("weight", weight)
        _finite("delay", delay)
        bad = delay <= 0
        if bad.any():
            raise ValueError(f"delay must be > 0 ms (got {_where(delay, bad)})")

        # synapses sorted by (pre, delay), creation order kept among equals: row i's synapses of one delay
        # form a segment, and a spike of i is queued once per segment of its row
        order = np.lexsort((delay, pre))
        pre_s, delay_s = pre[order], delay[order]
        self.syn_post = np.ascontiguousarray(post[order].astype(np.int32))
        self.syn_w = np.ascontiguousarray(weight[order])
        starts = np.flatnonzero(np.r_[True, (pre_s[1:] != pre_s[:-1]) | (delay_s[1:] != delay_s[:-1])]) \
            if pre_s.size else np.zeros(0, dtype=np.int64)
        self.seg_ptr = np.ascontiguousarray(np.r_[starts, pre_s.size].astype(np.int64))
        self.seg_delay = np.ascontiguousarray(delay_s[starts])
        self.row_seg = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre_s[starts], minlength=self.size), out=self.row_seg[1:])
        self.n_synapses = int(pre.size)
        self.syn_order = order                          # creation order -> position in the sorted rows

        self.t = 0.0
        self.counters = np.zeros(4, dtype=np.int64)   # see psg_eventdriven.cpp
        if engine == "compiled":
            from .compiled import EngineHandle
            self._engine = EngineHandle()               # holds the pending arrivals
        else:
            self.ref_queue = []                         # the reference engine's arrival heap
        self._reset_results()

    def _reset_results(self) -> None:
        """No runs yet: no spikes, no recording."""
        self._runs = 0
        self._spike_chunks = []
        self.rec_idx = np.zeros(0, dtype=np.int32)
        self.interval = None
        self._first_sample = 0
        self._sample_chunks = []

    def _set_sources(self, source_spike_times) -> None:
        """The sources' spike times (one 1-d array per source, ms, >= 0, non-decreasing), merged into one array
        sorted by (time, index); sets n_sources and size."""
        n = self.n_cells
        if isinstance(source_spike_times, np.ndarray) and source_spike_times.ndim != 1 \
                and source_spike_times.size:
            raise ValueError("source_spike_times must be a sequence of 1-d arrays, one per source "
                             f"(got an array of shape {source_spike_times.shape})")
        times, ids = [], []
        for s, st in enumerate(source_spike_times):
            st = np.asarray(st, dtype=np.float64)
            if st.ndim != 1:
                raise ValueError(f"source_spike_times[{s}] must be 1-d (got shape {st.shape})")
            _finite(f"source_spike_times[{s}]", st)
            if (st < 0).any():
                raise ValueError(f"source_spike_times[{s}] must be >= 0 (got {_where(st, st < 0)})")
            if st.size > 1 and (np.diff(st) < 0).any():
                k = int(np.flatnonzero(np.diff(st) < 0)[0])
                raise ValueError(f"source_spike_times[{s}] must be non-decreasing (got {float(st[k])!r} then "
                                 f"{float(st[k + 1])!r} at index {k})")
            times.append(st)
            ids.append(np.full(st.size, n + s, dtype=np.int32))
        self.n_sources = len(times)
        self.size = n + self.n_sources
        if self.size >= 2**31 - 1:
            raise ValueError(f"n_cells + number of sources must be < 2**31 - 1 (got {self.size})")
        src_t = np.concatenate(times) if times else np.zeros(0)
        src_i = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int32)
        order = np.lexsort((src_i, src_t))
        self.src_time = np.ascontiguousarray(src_t[order])
        self.src_id = np.ascontiguousarray(src_i[order])

    # --- recording ---------------------------------------------------------------------------------------
    def record_v(self, indices, interval_ms: float) -> None:
        """Record V of LIF cells `indices` at exactly t = k * interval_ms (k = 0, 1, ... from the first run; a
        second call before it replaces the first). After a run, a call adds cells to the recording (at the same
        interval): their samples start after the current time (the rows up to it, sampled by earlier runs, hold
        NaN for them); the first recording made after a run starts at the first k * interval >= now."""
        try:
            interval = float(interval_ms)
        except (TypeError, ValueError) as err:
            raise ValueError(f"interval_ms must be a number > 0 (got {interval_ms!r})") from err
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval_ms must be finite and > 0 (got {interval_ms!r})")
        idx = _index_array("indices", np.atleast_1d(indices), 0, self.n_cells).astype(np.int32)
        if not self._runs:
            self.rec_idx = np.ascontiguousarray(idx)
            self.interval = interval
            return
        if self.interval is None:
            # the first recording, after runs: samples from the first k * interval at or after now
            self.interval = interval
            first = math.ceil(self.t / interval - 1e-9)
            self.counters[2] = first
            self._first_sample = first
            self.rec_idx = np.ascontiguousarray(idx)
            return
        if interval != self.interval:
            raise ValueError(f"interval_ms must be the interval of the recording already made, {self.interval!r} "
                             f"ms (got {interval_ms!r})")
        new = idx[~np.isin(idx, self.rec_idx)]
        if new.size:
            self._sample_chunks = [np.concatenate([c, np.full((c.shape[0], new.size), np.nan)], axis=1)
                                   for c in self._sample_chunks]
            self.rec_idx = np.ascontiguousarray(np.concatenate([self.rec_idx, new]))

    def v_samples(self):
        """(times, values): values[k, r] = V of cell record index r at times[k], times[k] = (k0 + k) * interval
        (k0 = 0 unless the recording started after a run)."""
        n_rec = self.rec_idx.size
        values = np.concatenate(self._sample_chunks) if self._sample_chunks else np.zeros((0, n_rec))
        times = ((self._first_sample + np.arange(values.shape[0])) * self.interval if self.interval
                 else np.zeros(0))
        return times, values

    def new_results(self, spike_chunks_read: int, sample_chunks_read: int):
        """The results of the runs after the first `spike_chunks_read` / `sample_chunks_read` (one chunk each per
        run): ([(ids, times), ...] in time order, [values[rows, n_recorded], ...]) without copying what came
        before (for a caller that takes each run's results once)."""
        return self._spike_chunks[spike_chunks_read:], self._sample_chunks[sample_chunks_read:]

    @property
    def first_sample(self) -> int:
        """k of the first row of the v samples (time k * interval)."""
        return self._first_sample

    @property
    def recorded_v_indices(self):
        return self.rec_idx.astype(np.int64)

    def spikes(self):
        """(indices, times) of every spike so far (LIF cells and sources), sorted by (time, index)."""
        if not self._spike_chunks:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        ids = np.concatenate([c[0] for c in self._spike_chunks]).astype(np.int64)
        times = np.concatenate([c[1] for c in self._spike_chunks])
        return ids, times

    # --- state -------------------------------------------------------------------------------------------
    def get_v(self, indices=None):
        """V of LIF cells at the current time (v_reset while refractory)."""
        idx = self._cells(indices)
        tf, vf = self.t_free[idx], self.v_free[idx]
        free = self.t >= tf
        v = vf + (vf - self.v_inf[idx]) * np.expm1(-(self.t - tf) / self.tau_m[idx])
        return np.where(free, v, self.v_reset[idx])

    def _cells(self, indices):
        """The cell indices that `indices` names (None: every cell), checked."""
        if indices is None:
            return np.arange(self.n_cells)
        return _index_array("indices", np.atleast_1d(indices), 0, self.n_cells)

    def _cell_values(self, values, indices):
        """(cell indices, finite values of their shape) from `indices` (default: all cells) and `values` (a scalar
        or one per index)."""
        idx = self._cells(indices)
        vals = np.asarray(values, dtype=np.float64)
        vals = np.broadcast_to(vals, idx.shape) if vals.ndim == 0 else vals
        if vals.shape != idx.shape:
            raise ValueError(f"values must be a scalar or have shape {idx.shape} (got {vals.shape})")
        _finite("values", vals)
        return idx, vals

    def set_v(self, values, indices=None) -> None:
        """Set V of LIF cells at the current time; ends their refractoriness. A value at or above v_thresh
        fires at the current time when the next run starts."""
        idx, vals = self._cell_values(values, indices)
        self.t_free[idx] = self.t
        self.v_free[idx] = vals

    def set_parameters(self, indices=None, **params) -> None:
        """Change parameters (cm, tau_m, v_rest, v_reset, v_thresh, tau_refrac, i_offset: scalars or arrays
        over `indices`, default all cells) from the current time on: a cell not refractory now continues from
        its present V under the new parameters; a refractory period in progress keeps its end. A cell left at
        or above its new threshold fires at the current time when the next run starts."""
        idx, new = self._changed_parameters(indices, params, PARAMETERS)
        v_inf = _check_parameters(new)
        free = idx[self.t >= self.t_free[idx]]
        self.v_free[free] = self.get_v(free)
        self.t_free[free] = self.t
        self.params = new
        for name in ("tau_m", "v_thresh", "v_reset", "tau_refrac"):
            self.cells[name] = new[name]
        self.cells["v_inf"] = v_inf

    def _changed_parameters(self, indices, params, allowed):
        """(cell indices, a copy of the parameter arrays with `params` written at those indices): names and
        values checked."""
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} (allowed: {', '.join(allowed)})")
        idx = self._cells(indices)
        new = {k: v.copy() for k, v in self.params.items()}
        for name, value in params.items():
            new[name][idx] = _cell_param(name, value, idx.size)
        return idx, new

    def set_weights(self, weight) -> None:
        """New weights (mV) for every synapse, in the order the synapses were given; they act on arrivals from
        now on (spikes already on their way included)."""
        weight = np.asarray(weight, dtype=np.float64)
        if weight.shape != (self.n_synapses,):
            raise ValueError(f"weight must have shape ({self.n_synapses},) (got {weight.shape})")
        _finite("weight", weight)
        self.syn_w[:] = weight[self.syn_order]

    def replace_source_spikes(self, sources, spike_times) -> None:
        """Sources (numbers 0 .. n_sources-1) get new spike times: their spikes not yet emitted are dropped and
        the new times after the current time queued (those at or before it are in the past)."""
        src = _index_array("sources", np.asarray(sources).reshape(-1), 0, self.n_sources)
        if len(spike_times) != src.size:
            raise ValueError(f"spike_times must hold one array per source ({src.size}, got {len(spike_times)})")
        cursor = int(self.counters[0])
        keep = ~np.isin(self.src_id[cursor:], (src + self.n_cells).astype(np.int32))
        self.src_time = np.ascontiguousarray(self.src_time[cursor:][keep])
        self.src_id = np.ascontiguousarray(self.src_id[cursor:][keep])
        self.counters[0] = 0
        new_s, new_t = [], []
        for s, times in zip(src, spike_times):
            times = np.asarray(times, dtype=np.float64).reshape(-1)
            _finite(f"spike_times of source {int(s)}", times)
            times = times[times > self.t]
            new_s.append(np.full(times.size, s))
            new_t.append(times)
        if new_t:
            self.add_source_spikes(np.concatenate(new_s), np.concatenate(new_t))

    def add_source_spikes(self, sources, times) -> None:
        """Queue more spikes of sources (numbers 0 .. n_sources-1, as in `source_spike_times`) at `times` (ms),
        each after the current time: spike sources whose spikes are drawn run by run (a Poisson process)."""
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        src = _index_array("sources", np.asarray(sources).reshape(-1), 0, self.n_sources)
        if src.shape != times.shape:
            raise ValueError(f"times must have the shape of sources, {src.shape} (got {times.shape})")
        _finite("times", times)
        bad = times <= self.t
        if bad.any():
            raise ValueError(f"times must be after the current time {self.t!r} ms (got {_where(times, bad)})")
        if not times.size:
            return
        cursor = int(self.counters[0])
        t_all = np.concatenate([self.src_time[cursor:], times])
        i_all = np.concatenate([self.src_id[cursor:], (src + self.n_cells).astype(np.int32)])
        order = np.lexsort((i_all, t_all))
        self.src_time = np.ascontiguousarray(t_all[order])
        self.src_id = np.ascontiguousarray(i_all[order])
        self.counters[0] = 0

    # --- running -----------------------------------------------------------------------------------------
    def run(self, until_ms: float) -> None:
        """Process every event at time <= until_ms and record the samples up to until_ms; the clock becomes
        until_ms. Repeated calls continue exactly."""
        try:
            until = float(until_ms)
        except (TypeError, ValueError) as err:
            raise ValueError(f"until_ms must be a number (got {until_ms!r})") from err
        if not math.isfinite(until) or until < self.t:
            raise ValueError(f"until_ms must be finite and >= the current time {self.t!r} ms (got {until_ms!r})")
        if self.interval is not None:
            last_sample = math.floor(until / self.interval + 1e-9)
            n_new = max(0, last_sample - int(self.counters[2]) + 1)
        else:
            last_sample, n_new = -1, 0
        samples = np.zeros((n_new, self.rec_idx.size))
        if self.engine == "compiled":
            ids, times = self._engine.run(self, until, last_sample, samples)
        else:
            from .reference import run_reference
            ids, times = run_reference(self, until, last_sample, samples)
        order = np.lexsort((ids, times))
        self._spike_chunks.append((ids[order], times[order]))
        if n_new:
            self._sample_chunks.append(samples)
        self.t = until
        self._runs += 1

    # --- checkpoints -------------------------------------------------------------------------------------
    def export_state(self) -> dict:
        """Everything later runs depend on, as named arrays (copies): the cells' records, the clock, the
        sources' spikes still to come, the weights and parameters, the recording's bookkeeping, and the events
        on their way (`queue/...`). Results already taken (spikes(), v_samples()) are not included."""
        cursor = int(self.counters[0])
        counters = self.counters.copy()
        counters[0] = 0                                 # the sources' spikes are stored from the cursor on
        out = {f"cells/{name}": self.cells[name].copy() for name in self.cells.dtype.names}
        out.update({f"params/{name}": values.copy() for name, values in self.params.items()})
        out.update({"counters": counters, "t": np.asarray(self.t, dtype=np.float64),
                    "src_time": self.src_time[cursor:].copy(), "src_id": self.src_id[cursor:].copy(),
                    "syn_w": self.syn_w.copy(), "rec_idx": self.rec_idx.copy(),
                    "interval": np.asarray(np.nan if self.interval is None else self.interval),
                    "first_sample": np.asarray(self._first_sample, dtype=np.int64),
                    "runs": np.asarray(self._runs, dtype=np.int64)})
        out.update(self._export_queue())
        return out

    def import_state(self, arrays) -> None:
        """Continue from a state that export_state() gave, of a network built with the same cells, sources and
        synapses (check_state() first: sizes and indices are not checked here). Without "syn_w" the weights
        stay those the network has."""
        for name in self.cells.dtype.names:
            self.cells[name] = arrays[f"cells/{name}"]          # in place: the views into the records stay
        self.params = {name: np.array(arrays[f"params/{name}"], dtype=np.float64) for name in self.params}
        self.counters[...] = arrays["counters"]
        self.t = float(arrays["t"])
        self.src_time = np.ascontiguousarray(arrays["src_time"], dtype=np.float64)
        self.src_id = np.ascontiguousarray(arrays["src_id"], dtype=np.int32)
        if "syn_w" in arrays:                                  # (else the weights the network was built with)
            self.syn_w[...] = arrays["syn_w"]
        self._reset_results()
        self.rec_idx = np.ascontiguousarray(arrays["rec_idx"], dtype=np.int32)
        interval = float(arrays["interval"])
        self.interval = None if math.isnan(interval) else interval
        self._first_sample = int(arrays["first_sample"])
        self._runs = int(arrays["runs"])
        self._import_queue(arrays)

    QUEUE = {"queue/t": np.float64, "queue/seq": np.int64, "queue/seg": np.int64}
    RECORD, PARAMETERS = CELL_DTYPE, PARAMETERS          # (for check_state)

    def _export_queue(self) -> dict:
        if self.engine == "compiled":
            t, seq, seg = self._engine.queue()
        else:
            entries = sorted(self.ref_queue)
            t, seq, seg = (np.asarray([e[k] for e in entries], dtype=d)
                           for k, d in enumerate(self.QUEUE.values()))
        return {"queue/t": t, "queue/seq": seq, "queue/seg": seg}

    def _import_queue(self, arrays) -> None:
        t, seq, seg = (arrays[name] for name in self.QUEUE)
        if self.engine == "compiled":
            self._engine.put_queue(t, seq, seg)
        else:
            self.ref_queue = list(zip(t.tolist(), seq.tolist(), seg.tolist()))
            heapq.heapify(self.ref_queue)

    @classmethod
    def check_state(cls, arrays, n_cells, n_sources, n_synapses, n_segments) -> list[str]:
        """What keeps `arrays` (export_state() of a network of these sizes) from being imported: missing
        arrays, wrong lengths, indices out of range (empty: nothing)."""
        sizes = {f"cells/{name}": n_cells for name in cls.RECORD.names}
        sizes.update({f"params/{name}": n_cells for name in cls.PARAMETERS})
        sizes.update(counters=4, t=None, interval=None, first_sample=None, runs=None,
                     src_time=-1, src_id=-1, rec_idx=-1)
        sizes.update({name: -1 for name in cls.QUEUE})
        problems = [f"{name!r} is missing" for name in sizes if name not in arrays]
        if problems:
            return problems
        for name, size in sizes.items():
            shape = np.shape(arrays[name])
            if (size is None and shape != ()) or (size is not None and len(shape) != 1) or \
                    (size is not None and size >= 0 and shape != (size,)):
                problems.append(f"{name!r} has shape {shape}" + (f", not ({size},)" if size else ""))
        if problems:
            return problems
        if "syn_w" in arrays and np.shape(arrays["syn_w"]) != (n_synapses,):
            problems.append(f"'syn_w' has shape {np.shape(arrays['syn_w'])}, not ({n_synapses},)")
        if arrays["src_time"].shape != arrays["src_id"].shape:
            problems.append("the sources' spike times and indices differ in length")
        for name, low, high in (("src_id", n_cells, n_cells + n_sources), ("rec_idx", 0, n_cells)):
            values = arrays[name]
            if values.size and (values.min() < low or values.max() >= high):
                problems.append(f"{name!r} holds indices outside [{low}, {high})")
        return problems + cls._check_queue(arrays, n_cells, n_segments)

    @classmethod
    def _check_queue(cls, arrays, n_cells, n_segments) -> list[str]:
        t, seq, seg = (arrays[name] for name in cls.QUEUE)
        if not (t.shape == seq.shape == seg.shape):
            return ["the queued arrivals' arrays differ in length"]
        if seg.size and (seg.min() < 0 or seg.max() >= n_segments):
            return [f"a queued arrival names a synapse segment outside [0, {n_segments})"]
        return []

    @property
    def pending_arrivals(self) -> int:
        """Queued (spike, delay segment) arrivals not yet delivered."""
        return len(self.ref_queue) if self.engine == "reference" else self._engine.pending
