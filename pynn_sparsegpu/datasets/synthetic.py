"""Synthetic data shaped like SHD (700 channels, 20 classes, 1 s samples) with a learnable class structure,
for training-time benchmarks that must not depend on downloading the real files."""

from __future__ import annotations

import math

import numpy as np

from .core import SpikeDataset

_CHUNK_CELLS = 8_000_000   # Poisson means drawn at once (samples x segments x channels), bounds memory


def class_templates(n_channels, n_classes, n_segments, width_channels, rng):
    """[n_classes, n_segments, n_channels] signal profiles in [0, 1]: for each class, a Gaussian band of
    channels (width `width_channels`) whose centre follows a random walk over the time segments, like a
    formant moving across the cochlear channels."""
    centre = np.empty((n_classes, n_segments))
    centre[:, 0] = rng.uniform(0, n_channels, size=n_classes)
    steps = rng.normal(0.0, n_channels / 10.0, size=(n_classes, n_segments - 1))
    for s in range(1, n_segments):
        c = centre[:, s - 1] + steps[:, s - 1]
        c = np.abs(c)                                           # reflect at both ends of the channel axis
        c = np.where(c > n_channels - 1, 2 * (n_channels - 1) - c, c)
        centre[:, s] = np.clip(c, 0, n_channels - 1)
    channels = np.arange(n_channels)
    return np.exp(-0.5 * ((channels[None, None, :] - centre[:, :, None]) / width_channels) ** 2)


def make_shd_like_synthetic(n_samples, n_channels=700, n_classes=20, duration_ms=1000.0, rate_hz=5.0,
                            signal_rate_hz=60.0, n_segments=10, width_channels=None, gain_jitter=0.25, seed=0):
    """A SpikeDataset of Poisson spikes whose rates depend on the class, shaped like SHD.

    Each sample is divided into `n_segments` equal time segments. In segment s, channel c fires as a
    Poisson process at

        rate_hz + gain * signal_rate_hz * template[label, s, c]

    where template (see class_templates) is a Gaussian band of channels, `width_channels` wide (default
    n_channels / 35, i.e. 20 of 700), centred on a class-specific random walk across segments, and gain is
    drawn per sample uniformly from [1 - gain_jitter, 1 + gain_jitter]. Spike times are uniform within their
    segment. Labels are balanced (n_samples // n_classes or one more per class) in a random order. With the
    defaults a sample holds about 6,500 spikes (3,500 background, 3,000 signal). The templates are fixed
    by `seed`, so two calls with the same seed draw from the same classes; metadata["templates"] holds them.
    """
    if n_samples < 0 or n_channels < 1 or n_classes < 1 or n_segments < 1:
        raise ValueError("n_samples must be >= 0, n_channels, n_classes and n_segments >= 1")
    duration_ms = float(duration_ms)
    if not (math.isfinite(duration_ms) and duration_ms > 0):
        raise ValueError(f"duration_ms must be > 0, got {duration_ms}")
    if rate_hz < 0 or signal_rate_hz < 0 or not 0 <= gain_jitter <= 1:
        raise ValueError("rates must be >= 0 and gain_jitter in [0, 1]")
    width = float(width_channels) if width_channels is not None else max(1.0, n_channels / 35.0)
    rng = np.random.default_rng(seed)
    templates = class_templates(n_channels, n_classes, n_segments, width, rng)
    labels = rng.permutation(np.arange(n_samples, dtype=np.int64) % n_classes)
    gains = rng.uniform(1.0 - gain_jitter, 1.0 + gain_jitter, size=n_samples)
    seg_ms = duration_ms / n_segments

    times, units, counts = [], [], np.zeros(n_samples, dtype=np.int64)
    chunk = max(1, _CHUNK_CELLS // (n_segments * n_channels))
    for start in range(0, n_samples, chunk):
        stop = min(n_samples, start + chunk)
        lam = (rate_hz + gains[start:stop, None, None] * signal_rate_hz * templates[labels[start:stop]]) \
            * (seg_ms / 1000.0)
        cell_counts = rng.poisson(lam).reshape(stop - start, -1)      # [sample, segment * channel]
        sample, cell = np.nonzero(cell_counts)                        # grouped by sample
        reps = cell_counts[sample, cell]
        cell = np.repeat(cell, reps)
        segment, channel = np.divmod(cell, n_channels)
        t = np.minimum((segment + rng.random(cell.size)) * seg_ms, np.nextafter(duration_ms, 0.0))
        # Spikes come grouped by sample: order them by time within each sample here, with one float key
        # (SpikeDataset re-sorts exactly any sample this leaves out of order: equal keys, never seen).
        order = np.argsort(np.repeat(sample, reps) * (2.0 * duration_ms) + t)
        times.append(t[order])
        units.append(channel[order])
        counts[start:stop] = cell_counts.sum(axis=1)
    offsets = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat_t = np.concatenate(times) if times else np.zeros(0)
    flat_u = np.concatenate(units) if units else np.zeros(0, dtype=np.int64)
    return SpikeDataset.from_flat(flat_t, flat_u, offsets, labels, n_channels=n_channels, n_classes=n_classes,
                                  duration_ms=duration_ms, name="shd-like-synthetic",
                                  metadata={"templates": templates, "rate_hz": rate_hz,
                                            "signal_rate_hz": signal_rate_hz, "seed": seed})
