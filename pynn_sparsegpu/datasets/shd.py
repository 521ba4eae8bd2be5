"""The Spiking Heidelberg Digits (SHD) HDF5 files: load_shd reads them (checking every sample), write_shd_like
writes files in the same layout.

Layout (Cramer et al. 2020, "The Heidelberg Spiking Data Sets for the Systematic Evaluation of Spiking
Neural Networks", IEEE TNNLS; README of the data set)::

    spikes/times   variable-length float arrays, one per sample: spike times in seconds
    spikes/units   variable-length integer arrays, one per sample: the channel of each spike (0..699)
    labels         integers, one per sample: the word id (0..19 for SHD)
    extra/         metadata: speaker[], keys[] (word id -> word), meta_info/{gender, age, body_height}

SHD has 700 channels, 20 classes and samples of about 1 s; the paper counts 8,156 training and 2,264 test
samples (the data set's README table gives 8,332 / 2,088); the loader takes whatever the file holds.
The `extra` group is optional: only `extra/keys` is read (the class names, and n_classes by default).
"""

from __future__ import annotations

import os

import numpy as np

from .core import DatasetError, SpikeDataset

SHD_CHANNELS = 700
SHD_CLASSES = 20


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading or writing SHD files needs h5py (pip install h5py)") from exc
    return h5py


def _dataset(h5py, f, path, key):
    try:
        obj = f.get(key)
    except Exception as exc:  # e.g. a damaged link or object header
        raise DatasetError(f"{path}: cannot open '{key}': {exc}") from exc
    if obj is None:
        raise DatasetError(f"{path}: missing dataset '{key}' (an SHD file holds spikes/times, spikes/units "
                           "and labels)")
    if not isinstance(obj, h5py.Dataset):
        raise DatasetError(f"{path}: '{key}' is a {type(obj).__name__}, expected a dataset")
    if obj.ndim != 1:
        raise DatasetError(f"{path}: dataset '{key}' has shape {obj.shape}, expected one entry per sample (1-D)")
    return obj


def _vlen_base(h5py, ds, path, key, kinds, what):
    base = h5py.check_vlen_dtype(ds.dtype)
    if base is None:
        raise DatasetError(f"{path}: dataset '{key}' has dtype {ds.dtype}, expected variable-length (ragged) "
                           f"arrays of {what}, one per sample")
    if base is str or base is bytes:
        raise DatasetError(f"{path}: dataset '{key}' holds strings, expected variable-length arrays of {what}")
    base = np.dtype(base)
    if base.kind not in kinds:
        raise DatasetError(f"{path}: dataset '{key}' holds variable-length arrays of {base}, expected {what}")
    return base


def _read(ds, sl, path, key):
    try:
        return ds[sl]
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: cannot read dataset '{key}': {exc}") from exc


def load_shd(path, max_samples=None, duration_ms=None, n_channels=SHD_CHANNELS, n_classes=None):
    """Read an SHD-layout HDF5 file into a SpikeDataset (spike times converted from seconds to ms).

    Parameters
    ----------
    path : the .h5 file (uncompressed; the published files are gzipped)
    max_samples : read only the first max_samples samples (default all)
    duration_ms : cut every sample at this time, dropping later spikes (SHD samples last about 1 s, a few
        spikes come later); default: keep all spikes, duration = whole ms after the latest one
    n_channels : number of input channels (700 for SHD); None takes the file's `n_channels` attribute (on
        the root or on spikes/units) or else max(unit) + 1
    n_classes : number of classes; default the length of `extra/keys` when the file has it (and it covers
        every label), else max(label) + 1

    Every sample is checked: times and units of equal length, units integers within [0, n_channels), times
    finite and >= 0, labels integers within [0, n_classes). Any problem, a missing or unreadable file
    included, raises DatasetError naming the file, the dataset or sample, and what is wrong.
    """
    h5py = _h5py()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: not a file")
    if max_samples is not None and (isinstance(max_samples, bool) or int(max_samples) != max_samples
                                    or max_samples < 0):
        raise ValueError(f"max_samples must be an integer >= 0 or None, got {max_samples!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        ds_t = _dataset(h5py, f, path, "spikes/times")
        ds_u = _dataset(h5py, f, path, "spikes/units")
        ds_y = _dataset(h5py, f, path, "labels")
        _vlen_base(h5py, ds_t, path, "spikes/times", "fiu", "spike times in seconds (numbers)")
        _vlen_base(h5py, ds_u, path, "spikes/units", "iu", "integer channel indices")
        if ds_y.dtype.kind not in "iu":
            raise DatasetError(f"{path}: dataset 'labels' has dtype {ds_y.dtype}, expected integers")
        n_file = ds_t.shape[0]
        if ds_u.shape[0] != n_file or ds_y.shape[0] != n_file:
            raise DatasetError(f"{path}: sample counts differ: 'spikes/times' has {n_file}, 'spikes/units' "
                               f"{ds_u.shape[0]}, 'labels' {ds_y.shape[0]}")
        n = n_file if max_samples is None else min(n_file, int(max_samples))
        times = _read(ds_t, slice(0, n), path, "spikes/times")
        units = _read(ds_u, slice(0, n), path, "spikes/units")
        labels = np.asarray(_read(ds_y, slice(0, n), path, "labels")).astype(np.int64)
        if n_channels is None:
            n_channels = f.attrs.get("n_channels", ds_u.attrs.get("n_channels"))
        keys = None
        try:  # the extra group is metadata: tolerated in any shape, used only when it makes sense
            extra_keys = f.get("extra/keys")
            if isinstance(extra_keys, h5py.Dataset) and extra_keys.ndim == 1:
                keys = [k.decode() if isinstance(k, bytes) else str(k) for k in extra_keys[()]]
        except Exception:
            keys = None

    lengths = np.fromiter((len(a) for a in times), dtype=np.int64, count=n)
    u_lengths = np.fromiter((len(a) for a in units), dtype=np.int64, count=n)
    bad = np.flatnonzero(lengths != u_lengths)
    if bad.size:
        i = int(bad[0])
        raise DatasetError(f"{path}: sample {i}: 'spikes/times' has {lengths[i]} entries but 'spikes/units' "
                           f"has {u_lengths[i]} ({bad.size} sample(s) differ)")
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat_t = np.concatenate(times).astype(np.float64) * 1000.0 if n else np.zeros(0)
    flat_u = np.concatenate(units).astype(np.int64) if n else np.zeros(0, dtype=np.int64)

    def sample_of(position):
        return int(np.searchsorted(offsets, position, side="right") - 1)

    bad = np.flatnonzero(~np.isfinite(flat_t) | (flat_t < 0))
    if bad.size:
        raise DatasetError(f"{path}: dataset 'spikes/times', sample {sample_of(bad[0])}: spike time "
                           f"{float(flat_t[bad[0]]) / 1000.0} s is not a finite number >= 0")
    if flat_u.size and flat_u.min() < 0:
        k = int(np.argmin(flat_u))
        raise DatasetError(f"{path}: dataset 'spikes/units', sample {sample_of(k)}: unit {flat_u[k]} is negative")
    if n_channels is None:
        n_channels = int(flat_u.max()) + 1 if flat_u.size else 1
    try:
        n_channels = int(n_channels)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: n_channels {n_channels!r} is not an integer") from exc
    if n_channels < 1:
        raise DatasetError(f"{path}: n_channels must be >= 1, got {n_channels}")
    bad = np.flatnonzero(flat_u >= n_channels)
    if bad.size:
        raise DatasetError(f"{path}: dataset 'spikes/units', sample {sample_of(bad[0])}: unit {flat_u[bad[0]]} "
                           f"is outside [0, {n_channels})")
    if n_classes is None:
        if keys and (labels.size == 0 or len(keys) > labels.max()):
            n_classes = len(keys)
        else:
            n_classes = int(labels.max()) + 1 if labels.size else 0
    n_classes = int(n_classes)
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise DatasetError(f"{path}: dataset 'labels', sample {bad[0]}: label {labels[bad[0]]} is outside "
                           f"[0, {n_classes})")
    metadata = {"source": path}
    if keys and len(keys) == n_classes:
        metadata["class_names"] = keys
    data = SpikeDataset.from_flat(flat_t, flat_u, offsets, labels, n_channels=n_channels, n_classes=n_classes,
                                  name=os.path.basename(path), metadata=metadata)
    return data if duration_ms is None else data.crop(duration_ms)


def _ragged(arrays, dtype, what):
    out = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        if a.ndim != 1:
            raise ValueError(f"{what}[{i}] must be 1-D, got shape {a.shape}")
        out[i] = a.astype(dtype)
    return out


def write_shd_like(path, times_list_seconds, units_list, labels, *, keys=None, speakers=None,
                   times_dtype=np.float64, units_dtype=np.uint16, labels_dtype=np.uint16, n_channels=None):
    """Write an HDF5 file in the SHD layout: spikes/times (variable-length arrays of `times_dtype`, seconds),
    spikes/units (variable-length `units_dtype`), labels (`labels_dtype`), and optional extra/keys (class
    names) and extra/speaker. `n_channels` given is stored as a root attribute. The published files store
    times as float16; float64 (the default) round-trips exactly. Returns the path."""
    h5py = _h5py()
    times_list_seconds, units_list, labels = list(times_list_seconds), list(units_list), np.asarray(labels)
    n = len(times_list_seconds)
    if len(units_list) != n or labels.shape != (n,):
        raise ValueError(f"{n} time arrays, {len(units_list)} unit arrays and {labels.shape} labels: one "
                         "of each per sample is needed")
    times = _ragged(times_list_seconds, times_dtype, "times_list_seconds")
    units = _ragged(units_list, units_dtype, "units_list")
    for i in range(n):
        if len(times[i]) != len(units[i]):
            raise ValueError(f"sample {i}: {len(times[i])} times but {len(units[i])} units")
    with h5py.File(os.fspath(path), "w") as f:
        spikes = f.create_group("spikes")
        spikes.create_dataset("times", shape=(n,), dtype=h5py.vlen_dtype(np.dtype(times_dtype)), data=times)
        spikes.create_dataset("units", shape=(n,), dtype=h5py.vlen_dtype(np.dtype(units_dtype)), data=units)
        f.create_dataset("labels", data=labels.astype(labels_dtype))
        if keys is not None or speakers is not None:
            extra = f.create_group("extra")
            if keys is not None:
                extra.create_dataset("keys", data=[str(k).encode() for k in keys])
            if speakers is not None:
                extra.create_dataset("speaker", data=np.asarray(speakers))
        if n_channels is not None:
            f.attrs["n_channels"] = int(n_channels)
    return path
