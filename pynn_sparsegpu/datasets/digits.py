"""scikit-learn's bundled handwritten digits (1,797 images of 8x8 pixels, intensities 0..16, 10 classes;
shipped with scikit-learn, no download) as spike patterns on 64 channels, one per pixel."""

from __future__ import annotations

import math

import numpy as np

from .core import SpikeDataset

DIGITS_CHANNELS = 64
DIGITS_CLASSES = 10
MAX_INTENSITY = 16.0


def _digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("load_digits_spikes needs scikit-learn (pip install scikit-learn)") from exc
    bunch = load_digits()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def load_digits_spikes(coding="latency", t_max=20.0, duration_ms=50.0, threshold=0.0, rate_hz=100.0,
                       seed=0):
    """The scikit-learn digits as a SpikeDataset: 1,797 samples, 64 channels (channel = 8*row + column,
    sklearn's pixel order), 10 classes, labels = sklearn's targets, in sklearn's sample order.

    Parameters
    ----------
    coding : "latency" or "rate"
        "latency": a pixel of intensity x > threshold fires one spike at t = t_max * (1 - x/16) ms (the
        brightest value, 16, fires at 0 ms; dimmer pixels later, all before t_max); other pixels are silent.
        "rate": a pixel of intensity x > threshold fires as a Poisson process at rate_hz * x/16 over the
        whole sample (drawn with `seed`).
    t_max : latest possible latency (ms), > 0 ("latency" only)
    duration_ms : length of each sample (ms); must be >= t_max for "latency"
    threshold : pixels with intensity <= threshold (in 0..16) never fire; 0 silences only black pixels
    rate_hz : rate of a pixel of intensity 16 ("rate" only)
    seed : random seed ("rate" only; "latency" is deterministic)

    Split with ``train, test = load_digits_spikes().train_test(test_fraction=0.2, seed=0)`` (stratified).
    Note: this backend never emits a SpikeSourceArray spike at exactly 0 ms; use
    ``to_spike_source_arrays(i, dt=dt)`` or an offset when feeding a simulation.
    """
    t_max, duration_ms, threshold = float(t_max), float(duration_ms), float(threshold)
    if not 0.0 <= threshold < MAX_INTENSITY:
        raise ValueError(f"threshold must be in [0, 16), got {threshold}")
    if not (math.isfinite(duration_ms) and duration_ms > 0):
        raise ValueError(f"duration_ms must be > 0, got {duration_ms}")
    images, targets = _digits()
    fires = images > threshold
    if coding == "latency":
        if not (math.isfinite(t_max) and t_max > 0):
            raise ValueError(f"t_max must be > 0, got {t_max}")
        if duration_ms < t_max:
            raise ValueError(f"duration_ms ({duration_ms}) must be >= t_max ({t_max})")
        rows, channels = np.nonzero(fires)                   # grouped by sample, channels ascending
        times = t_max * (1.0 - images[rows, channels] / MAX_INTENSITY)
        counts = fires.sum(axis=1)
        params = {"coding": "latency", "t_max": t_max, "threshold": threshold}
    elif coding == "rate":
        rate_hz = float(rate_hz)
        if not (math.isfinite(rate_hz) and rate_hz >= 0):
            raise ValueError(f"rate_hz must be >= 0, got {rate_hz}")
        rng = np.random.default_rng(seed)
        expected = np.where(fires, rate_hz * images / MAX_INTENSITY * duration_ms / 1000.0, 0.0)
        per_pixel = rng.poisson(expected)                     # [sample, pixel] spike counts
        rows, channels = np.nonzero(per_pixel)
        reps = per_pixel[rows, channels]
        rows, channels = np.repeat(rows, reps), np.repeat(channels, reps)
        times = rng.uniform(0.0, duration_ms, size=rows.size)
        counts = per_pixel.sum(axis=1)
        params = {"coding": "rate", "rate_hz": rate_hz, "threshold": threshold, "seed": seed}
    else:
        raise ValueError(f"coding must be 'latency' or 'rate', got {coding!r}")
    offsets = np.zeros(len(targets) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return SpikeDataset.from_flat(times, channels, offsets, targets, n_channels=DIGITS_CHANNELS,
                                  n_classes=DIGITS_CLASSES, duration_ms=duration_ms,
                                  name=f"sklearn-digits-{coding}",
                                  metadata={"source": "sklearn.datasets.load_digits", **params,
                                            "class_names": [str(d) for d in range(10)]})
