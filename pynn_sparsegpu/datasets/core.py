"""SpikeDataset: labelled spike-pattern samples held as flat, concatenated arrays, and DatasetError."""

from __future__ import annotations

import math

import numpy as np

# A spike within this fraction of a time step below a grid point counts as on it (the engine's grid_index
# uses the same tolerance, so float error in t / dt moves no spike into the neighbouring bin).
GRID_TOLERANCE = 1e-6


class DatasetError(ValueError):
    """A data set (a file, or arrays handed to SpikeDataset) is malformed; the message says where and how."""


def _as_rng(seed):
    """A numpy Generator from an int, None or a Generator (a Generator is used as it is, so that successive
    calls with the same Generator draw fresh numbers)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _bin_index(times, dt):
    """The time bin [b*dt, (b+1)*dt) holding each spike time (ms)."""
    return np.floor(np.asarray(times, dtype=np.float64) / dt + GRID_TOLERANCE).astype(np.int64)


def _gather_positions(offsets, indices):
    """Flat positions of all spikes of samples `indices` (in that order), and their lengths."""
    starts = offsets[indices]
    lengths = offsets[indices + 1] - starts
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths                     # exclusive prefix sum: first output slot
    positions = np.arange(total, dtype=np.int64) + np.repeat(starts - before, lengths)
    return positions, lengths


class SpikeDataset:
    """Labelled samples of spikes on `n_channels` input channels, each `duration_ms` long.

    Sample i is a sorted array of spike times (ms, float64, in [0, duration_ms)) with one channel index
    (int32, in [0, n_channels)) per spike, and an integer label in [0, n_classes). Spikes with equal times
    are ordered by channel. All samples are stored concatenated: `spike_times` and `spike_units` hold every
    spike, sample i being the slice ``offsets[i]:offsets[i + 1]``; the arrays are read-only.

    Build one from per-sample sequences, ``SpikeDataset(times, units, labels, n_channels=...)``, or from
    flat arrays with `SpikeDataset.from_flat`. Arrays that break these rules raise DatasetError.

    Parameters
    ----------
    times, units : sequences of 1-D arrays, one per sample (any order within a sample: they are sorted)
    labels : integer sequence, one per sample
    n_channels : number of input channels
    n_classes : number of classes; default max(label) + 1
    duration_ms : length of each sample; default the smallest whole number of ms after the latest spike.
        A spike at or after an explicit duration_ms is an error (see `crop` to cut samples short).
    name : a short description, shown by repr
    metadata : a dict of data-set-wide information (not per sample), e.g. the class names
    """

    def __init__(self, times, units, labels, *, n_channels, n_classes=None, duration_ms=None, name="spikes",
                 metadata=None):
        times = list(times)
        units = list(units)
        if len(times) != len(units):
            raise DatasetError(f"{name}: {len(times)} spike-time arrays but {len(units)} channel arrays")
        t_arrays = [np.asarray(t, dtype=np.float64).reshape(-1) for t in times]
        u_arrays = [np.asarray(u).reshape(-1) for u in units]
        lengths = np.array([len(t) for t in t_arrays], dtype=np.int64)
        u_lengths = np.array([len(u) for u in u_arrays], dtype=np.int64)
        bad = np.flatnonzero(lengths != u_lengths)
        if bad.size:
            i = int(bad[0])
            raise DatasetError(f"{name}: sample {i} has {lengths[i]} spike times but {u_lengths[i]} channel "
                               f"indices ({bad.size} sample(s) differ)")
        offsets = np.zeros(len(t_arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat_t = np.concatenate(t_arrays) if t_arrays else np.zeros(0)
        flat_u = np.concatenate(u_arrays) if u_arrays else np.zeros(0, dtype=np.int32)
        self._set_flat(flat_t, flat_u, offsets, labels, n_channels, n_classes, duration_ms, name, metadata)

    @classmethod
    def from_flat(cls, spike_times, spike_units, offsets, labels, *, n_channels, n_classes=None,
                  duration_ms=None, name="spikes", metadata=None):
        """A dataset from concatenated arrays: sample i is spike_times/spike_units[offsets[i]:offsets[i+1]]
        (len(offsets) == n_samples + 1, offsets[0] == 0, offsets[-1] == number of spikes)."""
        obj = cls.__new__(cls)
        obj._set_flat(spike_times, spike_units, offsets, labels, n_channels, n_classes, duration_ms, name,
                      metadata)
        return obj

    # --- construction and checks ----------------------------------------------------------------------
    def _set_flat(self, spike_times, spike_units, offsets, labels, n_channels, n_classes, duration_ms, name,
                  metadata):
        self.name = str(name)
        self.metadata = dict(metadata or {})
        offsets = np.asarray(offsets)
        if offsets.ndim != 1 or offsets.size < 1 or offsets.dtype.kind not in "iu":
            raise DatasetError(f"{name}: offsets must be a 1-D integer array of n_samples + 1 entries")
        offsets = offsets.astype(np.int64)
        n = offsets.size - 1
        t = np.asarray(spike_times)
        u = np.asarray(spike_units)
        if t.ndim != 1 or u.ndim != 1 or t.size != u.size:
            raise DatasetError(f"{name}: spike times and channels must be 1-D arrays of equal length "
                               f"(got shapes {t.shape} and {u.shape})")
        if offsets[0] != 0 or offsets[-1] != t.size or np.any(np.diff(offsets) < 0):
            raise DatasetError(f"{name}: offsets must start at 0, never decrease and end at the number of "
                               f"spikes ({t.size}); they end at {offsets[-1]}")
        if t.dtype.kind not in "fiu":
            raise DatasetError(f"{name}: spike times must be numbers (ms), got dtype {t.dtype}")
        t = t.astype(np.float64)
        if u.size and u.dtype.kind not in "iu":
            if u.dtype.kind != "f" or not np.all(np.isfinite(u)) or np.any(u != np.round(u)):
                raise DatasetError(f"{name}: channel indices must be integers, got dtype {u.dtype}")
        n_channels = _positive_int(n_channels, f"{name}: n_channels")
        y = np.asarray(labels)
        if y.ndim != 1 or y.size != n:
            raise DatasetError(f"{name}: expected {n} labels (one per sample), got shape {y.shape}")
        if y.size and y.dtype.kind not in "iu":
            if y.dtype.kind != "f" or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise DatasetError(f"{name}: labels must be integers, got dtype {y.dtype}")
        y = y.astype(np.int64)

        def sample_of(position):
            return int(np.searchsorted(offsets, position, side="right") - 1)

        bad = np.flatnonzero(~np.isfinite(t) | (t < 0))
        if bad.size:
            raise DatasetError(f"{name}: sample {sample_of(bad[0])}: spike time {float(t[bad[0]])} ms is not a "
                               "finite number >= 0")
        bad = np.flatnonzero((u < 0) | (u >= n_channels))
        if bad.size:
            raise DatasetError(f"{name}: sample {sample_of(bad[0])}: channel {u[bad[0]]} is outside "
                               f"[0, {n_channels})")
        if n_classes is None:
            n_classes = int(y.max()) + 1 if y.size else 0
        n_classes = int(n_classes)
        bad = np.flatnonzero((y < 0) | (y >= n_classes))
        if bad.size:
            raise DatasetError(f"{name}: sample {bad[0]}: label {y[bad[0]]} is outside [0, {n_classes})")
        if duration_ms is None:
            duration_ms = float(np.floor(t.max())) + 1.0 if t.size else 0.0
        duration_ms = float(duration_ms)
        if not math.isfinite(duration_ms) or duration_ms < 0:
            raise DatasetError(f"{name}: duration_ms must be a finite number >= 0, got {duration_ms}")
        bad = np.flatnonzero(t >= duration_ms)
        if bad.size:
            raise DatasetError(f"{name}: sample {sample_of(bad[0])}: spike at {t[bad[0]]} ms is not before "
                               f"duration_ms = {duration_ms} (use crop() to drop late spikes)")

        t = t + 0.0                                               # -0.0 -> 0.0
        u = u.astype(np.int32)
        t, u = _sort_samples(t, u, offsets)
        for arr in (t, u, offsets, y):
            arr.flags.writeable = False
        self._times, self._units, self._offsets, self._labels = t, u, offsets, y
        self.n_channels, self.n_classes, self.duration_ms = n_channels, n_classes, duration_ms

    # --- access -----------------------------------------------------------------------------------------
    @property
    def spike_times(self):
        """All spike times (ms), concatenated over samples (read-only)."""
        return self._times

    @property
    def spike_units(self):
        """All channel indices, concatenated over samples (read-only)."""
        return self._units

    @property
    def offsets(self):
        """Sample i is spike_times[offsets[i]:offsets[i + 1]] (read-only, n_samples + 1 entries)."""
        return self._offsets

    @property
    def labels(self):
        """The label of each sample (int64, read-only)."""
        return self._labels

    def n_spikes(self):
        """Number of spikes in each sample."""
        return np.diff(self._offsets)

    def class_counts(self):
        """Number of samples of each class (n_classes entries)."""
        return np.bincount(self._labels, minlength=self.n_classes)

    def __len__(self):
        return self._offsets.size - 1

    def __getitem__(self, index):
        """(spike times in ms, channel indices, label) of sample `index` (read-only views)."""
        i = self._check_index(index)
        lo, hi = self._offsets[i], self._offsets[i + 1]
        return self._times[lo:hi], self._units[lo:hi], int(self._labels[i])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        return (f"SpikeDataset({self.name!r}: {len(self)} samples, {self.n_channels} channels, "
                f"{self.n_classes} classes, {self.duration_ms:g} ms, {self._times.size} spikes)")

    def _check_index(self, index):
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"sample index must be an integer, got {type(index).__name__}")
        n = len(self)
        i = int(index) + n if index < 0 else int(index)
        if not 0 <= i < n:
            raise IndexError(f"sample index {index} out of range for {n} samples")
        return i

    def _resolve_indices(self, indices):
        n = len(self)
        if indices is None:
            return np.arange(n, dtype=np.int64)
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean mask of shape {idx.shape} for {n} samples")
            return np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise IndexError("sample indices must be a 1-D integer array or a boolean mask")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"sample indices outside [-{n}, {n})")
        return np.where(idx < 0, idx + n, idx)

    # --- new datasets from this one --------------------------------------------------------------------
    def _copy_with(self, times, units, offsets, labels, duration_ms, name):
        obj = type(self).__new__(type(self))
        obj.name, obj.metadata = name, dict(self.metadata)
        for arr in (times, units, offsets, labels):
            arr.flags.writeable = False
        obj._times, obj._units, obj._offsets, obj._labels = times, units, offsets, labels
        obj.n_channels, obj.n_classes, obj.duration_ms = self.n_channels, self.n_classes, float(duration_ms)
        return obj

    def subset(self, indices):
        """A dataset of the samples `indices` (an integer array, repeats allowed, or a boolean mask), in
        that order; n_channels, n_classes and duration_ms are kept."""
        idx = self._resolve_indices(indices)
        positions, lengths = _gather_positions(self._offsets, idx)
        offsets = np.zeros(idx.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return self._copy_with(self._times[positions], self._units[positions], offsets, self._labels[idx],
                               self.duration_ms, self.name)

    def crop(self, duration_ms):
        """A dataset with every spike at or after `duration_ms` dropped and that duration."""
        duration_ms = float(duration_ms)
        if not math.isfinite(duration_ms) or duration_ms < 0:
            raise ValueError(f"duration_ms must be a finite number >= 0, got {duration_ms}")
        keep = self._times < duration_ms
        owner = np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self._offsets))
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner[keep], minlength=len(self)), out=offsets[1:])
        return self._copy_with(self._times[keep], self._units[keep], offsets, self._labels.copy(),
                               duration_ms, self.name)

    def split(self, fraction, seed=0, stratify=True):
        """Split into (rest, part) where `part` holds round(fraction * len(self)) samples drawn at random
        with `seed`. With stratify, each class contributes the floor or the ceiling of `fraction` times its
        size (largest remainders get the ceiling), so class proportions are kept. Both parts keep the
        original sample order. Example: ``train, validation = data.split(0.1, seed=0)``."""
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        rng = _as_rng(seed)
        n = len(self)
        target = int(math.floor(fraction * n + 0.5))
        if stratify:
            counts = self.class_counts()
            share = fraction * counts
            quota = np.floor(share).astype(np.int64)
            remainder = target - int(quota.sum())
            if remainder > 0:
                order = np.argsort(-(share - quota), kind="stable")
                order = order[quota[order] < counts[order]]
                quota[order[:remainder]] += 1
            chosen = [rng.permutation(np.flatnonzero(self._labels == c))[:quota[c]]
                      for c in range(self.n_classes)]
            part = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
        else:
            part = rng.permutation(n)[:target]
        mask = np.zeros(n, dtype=bool)
        mask[part] = True
        return self.subset(~mask), self.subset(mask)

    def train_test(self, test_fraction=0.2, seed=0):
        """(train, test): a stratified split with `test_fraction` of the samples in test (see split)."""
        return self.split(test_fraction, seed=seed, stratify=True)

    # --- dense tensors ----------------------------------------------------------------------------------
    def n_steps_for(self, dt):
        """Number of time bins of width dt covering duration_ms."""
        return int(math.ceil(self.duration_ms / float(dt) - GRID_TOLERANCE))

    def to_dense(self, dt, n_steps=None, indices=None, dtype=np.uint8):
        """Spike counts binned on a time grid: an array [batch, n_steps, n_channels].

        Bin b holds spikes with b*dt <= t < (b + 1)*dt (a time within 1e-6 dt of a grid point counts as on
        it); spikes at or after n_steps*dt are left out. `n_steps` defaults to ceil(duration_ms / dt);
        `indices` selects and orders the samples (default all). Counts saturate at the maximum of an integer
        `dtype` (255 for uint8); dtype=bool gives spike presence.

        Alignment with the simulator: this backend emits a SpikeSourceArray spike given at time t from the
        step ending at the first grid point >= t, so an off-grid spike in bin b is emitted by step b; use
        to_spike_source_arrays(..., dt=dt) for times that reproduce the bins exactly.
        """
        dt = float(dt)
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        n_steps = self.n_steps_for(dt) if n_steps is None else int(n_steps)
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0, got {n_steps}")
        idx = self._resolve_indices(indices)
        out = np.zeros((idx.size, n_steps, self.n_channels), dtype=dtype)
        positions, lengths = _gather_positions(self._offsets, idx)
        if positions.size == 0 or n_steps == 0:
            return out
        bins = _bin_index(self._times[positions], dt)
        row = np.repeat(np.arange(idx.size, dtype=np.int64), lengths)
        keep = bins < n_steps
        flat = (row[keep] * n_steps + bins[keep]) * self.n_channels + self._units[positions][keep]
        view = out.reshape(-1)
        if out.dtype == bool:
            view[flat] = True
            return out
        cells, counts = np.unique(flat, return_counts=True)
        if out.dtype.kind in "iu":
            counts = np.minimum(counts, np.iinfo(out.dtype).max)
        view[cells] = counts
        return out

    def batches(self, batch_size, shuffle=True, seed=None, dt=1.0, n_steps=None, drop_last=False,
                dtype=np.uint8):
        """Yield (spikes, labels) batches covering every sample once: spikes is to_dense's
        [batch, n_steps, n_channels] array, labels an int64 array [batch]. With shuffle, the order is a
        permutation drawn from `seed` (an int, None, or a numpy Generator: pass one Generator for all epochs
        to get a new order each epoch). The last batch is smaller unless drop_last."""
        batch_size = _positive_int(batch_size, "batch_size", ValueError)
        n = len(self)
        order = _as_rng(seed).permutation(n) if shuffle else np.arange(n)
        n_steps = self.n_steps_for(dt) if n_steps is None else int(n_steps)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            yield self.to_dense(dt, n_steps, idx, dtype=dtype), self._labels[idx].copy()

    def to_spike_source_arrays(self, index, offset_ms=0.0, dt=None):
        """Sample `index` as one sorted array of spike times (ms) per channel: a list of n_channels arrays,
        for ``sim.SpikeSourceArray(spike_times=...)`` on a population of n_channels cells.

        Times are shifted by `offset_ms` (e.g. the start of this sample's trial in a longer run). With `dt`,
        each spike in to_dense's bin b (after the shift) is moved to the grid point (b + 1)*dt, the end of
        the simulation step that emits it in this backend, so that a run reproduces to_dense(dt) exactly.
        Without dt, note that a spike at exactly 0 ms is never emitted (spikes leave at the end of a step).
        """
        times, units, _ = self[index]
        t = times + float(offset_ms)
        if dt is not None:
            dt = float(dt)
            if not dt > 0:
                raise ValueError(f"dt must be > 0, got {dt}")
            t = (_bin_index(t, dt) + 1) * dt
        order = np.argsort(units, kind="stable")                  # within a channel, times stay sorted
        bounds = np.searchsorted(units[order], np.arange(1, self.n_channels))
        return [np.ascontiguousarray(a) for a in np.split(t[order], bounds)]


def _sort_samples(t, u, offsets):
    """Order each sample's spikes by time, then channel. Only the samples found out of order are sorted (one
    lexsort over their spikes), so sorted input costs one vectorised pass."""
    if t.size < 2:
        return t, u
    same_sample = np.ones(t.size - 1, dtype=bool)
    same_sample[offsets[1:-1][(offsets[1:-1] > 0) & (offsets[1:-1] < t.size)] - 1] = False
    dt_next = np.diff(t)
    disorder = same_sample & ((dt_next < 0) | ((dt_next == 0) & (np.diff(u) < 0)))
    if not disorder.any():
        return t, u
    bad_samples = np.unique(np.searchsorted(offsets, np.flatnonzero(disorder), side="right") - 1)
    positions, lengths = _gather_positions(offsets, bad_samples)
    owner = np.repeat(bad_samples, lengths)
    order = np.lexsort((u[positions], t[positions], owner))
    t[positions] = t[positions][order]
    u[positions] = u[positions][order]
    return t, u


def _positive_int(value, what, error=DatasetError):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise error(f"{what} must be a positive integer, got {value!r}")
    return int(value)
