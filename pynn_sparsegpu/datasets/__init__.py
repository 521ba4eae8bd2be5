"""Spike-pattern data sets for training spiking classifiers: SHD files, scikit-learn digits, synthetic data.

Every loader returns a `SpikeDataset`, the one in-memory representation:

* sample i: a sorted float64 array of spike times in ms, in [0, duration_ms), and an int32 array of the
  channel (input neuron) of each spike, in [0, n_channels); plus an integer label in [0, n_classes);
* all samples concatenated: `spike_times`, `spike_units` and `offsets` (sample i is the slice
  offsets[i]:offsets[i+1]), read-only; `labels`, `n_channels`, `n_classes`, `duration_ms`, `metadata`;
* ``data[i]`` -> (times, units, label); ``len(data)``; `subset`, `split`/`train_test` (stratified,
  seeded), `crop`;
* `to_dense(dt, n_steps)` -> [batch, n_steps, n_channels] spike counts on a time grid (uint8 by default)
  and `batches(batch_size, shuffle, seed, dt, n_steps)` -> (spikes, labels) for batched trials;
* `to_spike_source_arrays(i)` -> per-channel spike times for a PyNN ``SpikeSourceArray`` population.

Loaders: `load_shd` (Spiking Heidelberg Digits HDF5 files; `write_shd_like` writes the same layout),
`load_digits_spikes` (sklearn's 8x8 digits, latency or rate coded), `make_shd_like_synthetic`.
Malformed input raises `DatasetError` (a ValueError) saying which file, dataset or sample is wrong.
Reading SHD files needs h5py; the digits need scikit-learn (both imported only when used).
"""

from .core import DatasetError, SpikeDataset
from .digits import load_digits_spikes
from .shd import load_shd, write_shd_like
from .synthetic import make_shd_like_synthetic

__all__ = ["DatasetError", "SpikeDataset", "load_shd", "write_shd_like", "load_digits_spikes",
           "make_shd_like_synthetic"]
