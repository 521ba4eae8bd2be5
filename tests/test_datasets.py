"""pynn_sparsegpu.datasets: the SHD file reader (round trip and every malformed-file case), SpikeDataset's
dense binning, batches and splits, the scikit-learn digits coding, and the SHD-like synthetic data."""

import h5py
import numpy as np
import pytest
from sklearn.datasets import load_digits

from pynn_sparsegpu.datasets import (DatasetError, SpikeDataset, load_digits_spikes, load_shd,
                                     make_shd_like_synthetic, write_shd_like)


# --- helpers ------------------------------------------------------------------------------------------
def random_samples(n, n_channels=700, max_spikes=40, t_max_s=1.2, seed=1):
    """n samples of unsorted spike times (s) and units, one of them empty."""
    rng = np.random.default_rng(seed)
    times, units = [], []
    for i in range(n):
        k = 0 if i == 2 else int(rng.integers(1, max_spikes))
        times.append(rng.uniform(0, t_max_s, size=k))
        units.append(rng.integers(0, n_channels, size=k))
    labels = rng.integers(0, 20, size=n)
    return times, units, labels


def reference_dense(data, dt, n_steps, indices):
    """Spike counts binned one spike at a time."""
    out = np.zeros((len(indices), n_steps, data.n_channels), dtype=np.int64)
    for row, i in enumerate(indices):
        times, units, _ = data[i]
        for t, u in zip(times, units):
            b = int(np.floor(t / dt + 1e-6))
            if b < n_steps:
                out[row, b, u] += 1
    return out


@pytest.fixture
def shd_file(tmp_path):
    times, units, labels = random_samples(6)
    path = write_shd_like(tmp_path / "shd.h5", times, units, labels,
                          keys=[f"word{k}" for k in range(20)], speakers=np.arange(6) % 3)
    with h5py.File(path, "a") as f:                           # metadata as in the published files
        meta = f.create_group("extra/meta_info")
        meta.create_dataset("gender", data=[b"female", b"male"])
        meta.create_dataset("age", data=[25, 31])
    return path, times, units, labels


# --- SHD round trip -------------------------------------------------------------------------------------
def test_shd_round_trip(shd_file):
    path, times, units, labels = shd_file
    data = load_shd(path)
    assert len(data) == 6
    assert (data.n_channels, data.n_classes) == (700, 20)
    assert data.metadata["class_names"] == [f"word{k}" for k in range(20)]
    np.testing.assert_array_equal(data.labels, labels)
    for i in range(6):
        t_ms, u, label = data[i]
        order = np.argsort(times[i], kind="stable")
        np.testing.assert_array_equal(t_ms, times[i][order] * 1000.0)   # exact: float64 seconds * 1000
        np.testing.assert_array_equal(u, units[i][order])
        assert label == labels[i]
        assert np.all(np.diff(t_ms) >= 0)
    assert data[2][0].size == 0
    latest = max(t.max() for t in times if t.size) * 1000.0
    assert data.duration_ms == np.floor(latest) + 1.0


def test_shd_max_samples_and_crop(shd_file):
    path, times, units, labels = shd_file
    data = load_shd(path, max_samples=3, duration_ms=500.0)
    assert len(data) == 3 and data.duration_ms == 500.0
    for i in range(3):
        t_ms, u, _ = data[i]
        expected = np.sort(times[i] * 1000.0)
        np.testing.assert_array_equal(t_ms, expected[expected < 500.0])
        assert data.n_spikes()[i] == int(np.sum(times[i] * 1000.0 < 500.0))


def test_shd_float16_times_as_in_published_files(tmp_path):
    times = [np.array([0.0, 0.25, 0.999]), np.array([0.5])]
    units = [np.array([3, 699, 0]), np.array([7])]
    path = write_shd_like(tmp_path / "f16.h5", times, units, [1, 0], times_dtype=np.float16)
    data = load_shd(path)
    np.testing.assert_array_equal(data[0][0], times[0].astype(np.float16).astype(np.float64) * 1000.0)
    assert data[0][0][2] == pytest.approx(999.0, abs=0.5)
    assert (data.n_classes, data.labels.tolist()) == (2, [1, 0])


def test_shd_n_channels_from_attribute_or_data(tmp_path):
    times = [np.array([0.1, 0.2]), np.array([0.3])]
    units = [np.array([5, 40]), np.array([12])]
    path = write_shd_like(tmp_path / "a.h5", times, units, [0, 1], n_channels=64)
    assert load_shd(path, n_channels=None).n_channels == 64
    path = write_shd_like(tmp_path / "b.h5", times, units, [0, 1])
    assert load_shd(path, n_channels=None).n_channels == 41


# --- SHD malformed files ---------------------------------------------------------------------------------
def _write_raw(path, times=None, units=None, labels=None, skip=(), times_dtype=np.float64,
               units_dtype=np.uint16):
    """An SHD-layout file whose parts can be replaced or left out."""
    times = [np.array([0.1, 0.2]), np.array([0.3])] if times is None else times
    units = [np.array([1, 2]), np.array([3])] if units is None else units
    labels = np.array([0, 1]) if labels is None else labels
    with h5py.File(path, "w") as f:
        for key, values, dtype in (("spikes/times", times, times_dtype), ("spikes/units", units, units_dtype)):
            if key in skip:
                continue
            if isinstance(values, np.ndarray) and values.dtype != object:
                f.create_dataset(key, data=values)
            else:
                arr = np.empty(len(values), dtype=object)
                for i, v in enumerate(values):
                    arr[i] = np.asarray(v, dtype=dtype)
                f.create_dataset(key, data=arr, dtype=h5py.vlen_dtype(np.dtype(dtype)))
        if "labels" not in skip:
            f.create_dataset("labels", data=labels)
    return path


MALFORMED = {
    "missing-times": (dict(skip=("spikes/times",)), ["missing dataset 'spikes/times'"]),
    "missing-units": (dict(skip=("spikes/units",)), ["missing dataset 'spikes/units'"]),
    "missing-labels": (dict(skip=("labels",)), ["missing dataset 'labels'"]),
    "fewer-labels": (dict(labels=np.array([0])), ["sample counts differ", "'labels' 1"]),
    "fewer-units": (dict(units=[np.array([1, 2])]), ["sample counts differ", "'spikes/units' 1"]),
    "ragged-mismatch": (dict(units=[np.array([1, 2]), np.array([3, 4])]),
                        ["sample 1", "'spikes/times' has 1 entries but 'spikes/units' has 2"]),
    "unit-700": (dict(units=[np.array([1, 2]), np.array([700])]),
                 ["'spikes/units'", "sample 1", "unit 700 is outside [0, 700)"]),
    "unit-negative": (dict(units=[np.array([1, -4]), np.array([3])], units_dtype=np.int16),
                      ["'spikes/units'", "sample 0", "unit -4 is negative"]),
    "time-negative": (dict(times=[np.array([0.1, 0.2]), np.array([-0.5])]),
                      ["'spikes/times'", "sample 1", "-0.5 s is not a finite number >= 0"]),
    "time-nan": (dict(times=[np.array([np.nan, 0.2]), np.array([0.3])]),
                 ["'spikes/times'", "sample 0", "nan s is not a finite number"]),
    "time-inf": (dict(times=[np.array([0.1, 0.2]), np.array([np.inf])]), ["sample 1", "inf s"]),
    "float-units": (dict(units_dtype=np.float32),
                    ["'spikes/units' holds variable-length arrays of float32", "integer channel indices"]),
    "string-times": (dict(times=np.array([b"a", b"b"])), ["'spikes/times' has dtype", "variable-length"]),
    "flat-times": (dict(times=np.array([0.1, 0.3])), ["'spikes/times' has dtype float64",
                                                       "variable-length (ragged) arrays"]),
    "float-labels": (dict(labels=np.array([0.0, 1.5])), ["'labels' has dtype float64, expected integers"]),
    "label-negative": (dict(labels=np.array([0, -1])), ["'labels'", "sample 1", "label -1 is outside"]),
    "labels-2d": (dict(labels=np.array([[0], [1]])), ["'labels' has shape (2, 1)"]),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_shd_malformed_file_raises_dataset_error(tmp_path, case):
    kwargs, fragments = MALFORMED[case]
    path = _write_raw(tmp_path / f"{case}.h5", **kwargs)
    with pytest.raises(DatasetError) as info:
        load_shd(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert isinstance(info.value, ValueError)


def test_shd_label_above_given_n_classes(tmp_path):
    path = _write_raw(tmp_path / "labels.h5", labels=np.array([3, 20]))
    with pytest.raises(DatasetError, match=r"'labels', sample 1: label 20 is outside \[0, 20\)"):
        load_shd(path, n_classes=20)


def test_shd_group_instead_of_dataset(tmp_path):
    path = _write_raw(tmp_path / "group.h5", skip=("labels",))
    with h5py.File(path, "a") as f:
        f.create_group("labels")
    with pytest.raises(DatasetError, match="'labels' is a Group, expected a dataset"):
        load_shd(path)


def test_shd_missing_file_and_not_hdf5(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(DatasetError, match="nope.h5: no such file"):
        load_shd(missing)
    text = tmp_path / "text.h5"
    text.write_text("not an HDF5 file\n")
    with pytest.raises(DatasetError, match="text.h5: not a readable HDF5 file"):
        load_shd(text)
    with pytest.raises(DatasetError, match="not a file"):
        load_shd(tmp_path)


# --- SpikeDataset -------------------------------------------------------------------------------------
def small_dataset():
    times = [np.array([0.2, 0.7, 2.0, 1.0, 4.99, 5.0]),    # 0.2 and 0.7 on channel 1 share bin 0
             np.array([3.0, 0.0]),
             np.array([])]
    units = [np.array([1, 1, 0, 2, 2, 0]), np.array([0, 2]), np.array([], dtype=int)]
    return SpikeDataset(times, units, [2, 0, 1], n_channels=3, duration_ms=6.0)


def test_dataset_sorts_samples_and_indexes():
    data = small_dataset()
    t, u, label = data[0]
    np.testing.assert_array_equal(t, [0.2, 0.7, 1.0, 2.0, 4.99, 5.0])
    np.testing.assert_array_equal(u, [1, 1, 2, 0, 2, 0])
    assert label == 2
    np.testing.assert_array_equal(data[-2][0], [0.0, 3.0])
    assert (len(data), data.n_classes, data.spike_times.size) == (3, 3, 8)
    np.testing.assert_array_equal(data.offsets, [0, 6, 8, 8])
    with pytest.raises(ValueError):
        data.spike_times[0] = 1.0
    with pytest.raises(IndexError):
        data[3]


def test_dataset_rejects_bad_arrays():
    with pytest.raises(DatasetError, match=r"sample 0: channel 3 is outside \[0, 3\)"):
        SpikeDataset([[1.0]], [[3]], [0], n_channels=3)
    with pytest.raises(DatasetError, match="sample 1 has 2 spike times but 1 channel"):
        SpikeDataset([[1.0], [1.0, 2.0]], [[0], [0]], [0, 0], n_channels=3)
    with pytest.raises(DatasetError, match="not before duration_ms"):
        SpikeDataset([[7.0]], [[0]], [0], n_channels=3, duration_ms=5.0)
    with pytest.raises(DatasetError, match="label 4 is outside"):
        SpikeDataset([[1.0]], [[0]], [4], n_channels=3, n_classes=4)


def test_to_dense_matches_per_spike_count():
    data = small_dataset()
    dense = data.to_dense(1.0)
    assert dense.shape == (3, 6, 3) and dense.dtype == np.uint8
    np.testing.assert_array_equal(dense, reference_dense(data, 1.0, 6, [0, 1, 2]))
    assert dense[0, 0, 1] == 2                                 # two spikes in one bin
    assert dense[0, 2, 0] == 1 and dense[0, 5, 0] == 1         # grid times open their own bin
    assert dense[1, 0, 2] == 1 and dense[0, 4, 2] == 1
    assert int(dense.sum()) == 8
    # shorter grid drops late spikes; index selection and order; presence only
    short = data.to_dense(1.0, n_steps=3, indices=[1, 0])
    np.testing.assert_array_equal(short, reference_dense(data, 1.0, 3, [1, 0]))
    assert int(short.sum()) == 5
    presence = data.to_dense(1.0, dtype=bool)
    np.testing.assert_array_equal(presence, dense > 0)
    # float error in t / dt does not move a grid time into the previous bin
    grid = SpikeDataset([[0.3, 0.7]], [[0, 0]], [0], n_channels=1, duration_ms=1.0).to_dense(0.1)
    assert np.flatnonzero(grid[0, :, 0]).tolist() == [3, 7]


def test_to_dense_random_against_reference():
    times, units, labels = random_samples(40, n_channels=50, max_spikes=200, t_max_s=0.05, seed=3)
    data = SpikeDataset([t * 1000 for t in times], units, labels, n_channels=50, n_classes=20,
                        duration_ms=50.0)
    indices = np.array([5, 0, 39, 2, 17, 5])
    dense = data.to_dense(2.0, indices=indices)
    ref = reference_dense(data, 2.0, 25, indices)
    np.testing.assert_array_equal(dense, ref)
    assert ref.max() >= 2                                     # the check covers bins with several spikes
    assert int(dense.sum()) == int(data.n_spikes()[indices].sum())


def test_to_dense_saturates_uint8():
    data = SpikeDataset([np.full(300, 0.5)], [np.zeros(300, dtype=int)], [0], n_channels=1, duration_ms=1.0)
    assert data.to_dense(1.0)[0, 0, 0] == 255
    assert data.to_dense(1.0, dtype=np.int32)[0, 0, 0] == 300


def identity_dataset(n=23):
    """Sample i has one spike on channel i, so a dense batch tells which samples it holds."""
    return SpikeDataset([[0.5 * i] for i in range(n)], [[i] for i in range(n)], np.arange(n) % 4,
                        n_channels=n, duration_ms=12.0)


def batch_ids(x):
    assert np.all(x.sum(axis=(1, 2)) == 1)
    return x.sum(axis=1).argmax(axis=1)


def test_batches_cover_every_sample_once_per_epoch():
    data = identity_dataset()
    rng = np.random.default_rng(7)
    orders = []
    for _ in range(2):
        batches = list(data.batches(8, shuffle=True, seed=rng, dt=1.0))
        assert [len(y) for _, y in batches] == [8, 8, 7]
        assert all(x.shape[1:] == (12, 23) for x, _ in batches)
        ids = np.concatenate([batch_ids(x) for x, _ in batches])
        labels = np.concatenate([y for _, y in batches])
        assert sorted(ids.tolist()) == list(range(23))
        np.testing.assert_array_equal(labels, ids % 4)
        orders.append(ids)
    assert not np.array_equal(orders[0], np.arange(23))       # shuffled
    assert not np.array_equal(orders[0], orders[1])            # a new order each epoch from one Generator
    again = np.concatenate([batch_ids(x) for x, _ in data.batches(8, seed=np.random.default_rng(7))])
    np.testing.assert_array_equal(again, orders[0])            # reproducible from the seed
    plain = np.concatenate([batch_ids(x) for x, _ in data.batches(5, shuffle=False)])
    np.testing.assert_array_equal(plain, np.arange(23))
    dropped = list(data.batches(8, seed=3, drop_last=True))
    assert [len(y) for _, y in dropped] == [8, 8]
    assert len(set(np.concatenate([batch_ids(x) for x, _ in dropped]).tolist())) == 16


def test_subset_crop_and_split():
    data = small_dataset()
    sub = data.subset([2, 0, 0])
    assert len(sub) == 3 and sub.labels.tolist() == [1, 2, 2]
    np.testing.assert_array_equal(sub[1][0], data[0][0])
    np.testing.assert_array_equal(sub.offsets, [0, 0, 6, 12])
    cropped = data.crop(2.0)
    assert cropped.duration_ms == 2.0 and cropped.n_spikes().tolist() == [3, 1, 0]
    np.testing.assert_array_equal(cropped[0][0], [0.2, 0.7, 1.0])

    labels = np.repeat(np.arange(3), [50, 30, 20])
    big = SpikeDataset([[float(i % 7)] for i in range(100)], [[0]] * 100, labels, n_channels=1)
    rest, part = big.split(0.25, seed=4)
    assert (len(rest), len(part)) == (75, 25)
    assert part.class_counts().tolist() in ([13, 7, 5], [12, 8, 5])   # 12.5, 7.5, 5 -> floor or ceil
    assert rest.class_counts().sum() + part.class_counts().sum() == 100
    rest2, part2 = big.split(0.25, seed=4)
    np.testing.assert_array_equal(part.spike_times, part2.spike_times)


def test_to_spike_source_arrays():
    data = small_dataset()
    trains = data.to_spike_source_arrays(0)
    assert len(trains) == 3
    np.testing.assert_array_equal(trains[0], [2.0, 5.0])
    np.testing.assert_array_equal(trains[1], [0.2, 0.7])
    np.testing.assert_array_equal(trains[2], [1.0, 4.99])
    shifted = data.to_spike_source_arrays(1, offset_ms=10.0)
    assert [a.tolist() for a in shifted] == [[13.0], [], [10.0]]
    snapped = data.to_spike_source_arrays(0, dt=1.0)           # bin b -> (b + 1) * dt
    assert [a.tolist() for a in snapped] == [[3.0, 6.0], [1.0, 1.0], [2.0, 5.0]]


def test_spike_source_arrays_reproduce_dense_bins_in_a_run(sim):
    data = load_digits_spikes(t_max=20.0, duration_ms=25.0)
    dt, index = 1.0, 5
    sim.setup(timestep=dt)
    sources = sim.Population(64, sim.SpikeSourceArray(spike_times=data.to_spike_source_arrays(index, dt=dt)))
    sources.record("spikes")
    sim.run(data.duration_ms + 2 * dt)
    recorded = np.zeros((data.n_steps_for(dt), 64), dtype=int)
    for channel, train in enumerate(sources.get_data().segments[0].spiketrains):
        steps = np.round(np.asarray(train.rescale("ms").magnitude) / dt).astype(int) - 1
        np.add.at(recorded[:, channel], steps, 1)
    np.testing.assert_array_equal(recorded, data.to_dense(dt, indices=[index])[0])
    assert recorded.sum() == data.n_spikes()[index] > 0


# --- scikit-learn digits --------------------------------------------------------------------------------
def test_digits_latency_coding():
    images, targets = load_digits(return_X_y=True)
    data = load_digits_spikes()
    assert (len(data), data.n_channels, data.n_classes, data.duration_ms) == (1797, 64, 10, 50.0)
    np.testing.assert_array_equal(data.labels, targets)
    np.testing.assert_array_equal(data.n_spikes(), (images > 0).sum(axis=1))
    owner = np.repeat(np.arange(1797), data.n_spikes())
    expected = 20.0 * (1.0 - images[owner, data.spike_units] / 16.0)
    np.testing.assert_allclose(data.spike_times, expected, rtol=0, atol=1e-12)
    for i in range(0, 1797, 97):
        t, u, _ = data[i]
        assert images[i, u[0]] == images[i].max()            # brightest pixel fires first
        assert np.all(np.diff(t) >= 0)
    full = np.flatnonzero(images.max(axis=1) == 16)
    assert full.size > 1500
    assert np.all(data.spike_times[data.offsets[full]] == 0.0)  # intensity 16 fires at t = 0
    thresholded = load_digits_spikes(threshold=8, t_max=10.0)
    np.testing.assert_array_equal(thresholded.n_spikes(), (images > 8).sum(axis=1))
    assert thresholded.spike_times.max() == pytest.approx(10.0 * (1 - 9 / 16))


def test_digits_rate_coding_is_seeded_and_proportional():
    images, _ = load_digits(return_X_y=True)
    a = load_digits_spikes(coding="rate", rate_hz=200.0, duration_ms=100.0, seed=1)
    b = load_digits_spikes(coding="rate", rate_hz=200.0, duration_ms=100.0, seed=1)
    np.testing.assert_array_equal(a.spike_times, b.spike_times)
    counts = np.zeros((len(a), 64))
    np.add.at(counts, (np.repeat(np.arange(len(a)), a.n_spikes()), a.spike_units), 1)
    assert counts[images == 0].sum() == 0
    for level in (4, 16):
        mean = counts[images == level].mean()
        assert mean == pytest.approx(200.0 * level / 16 * 0.1, rel=0.05)


def test_digits_stratified_train_test():
    data = load_digits_spikes()
    train, test = data.train_test(test_fraction=0.2, seed=0)
    assert (len(train), len(test)) == (1438, 359)
    total = data.class_counts()
    assert np.all(np.abs(test.class_counts() - 0.2 * total) < 1.0)
    np.testing.assert_array_equal(train.class_counts() + test.class_counts(), total)
    train2, test2 = data.train_test(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(test.spike_times, test2.spike_times)
    _, other = data.train_test(test_fraction=0.2, seed=1)
    assert not np.array_equal(other.labels, test.labels) or not np.array_equal(other.spike_times, test.spike_times)


# --- synthetic SHD-like data -----------------------------------------------------------------------------
def test_synthetic_shapes_and_reproducibility():
    data = make_shd_like_synthetic(60, seed=5)
    assert (len(data), data.n_channels, data.n_classes, data.duration_ms) == (60, 700, 20, 1000.0)
    assert data.class_counts().tolist() == [3] * 20
    assert data.spike_units.min() >= 0 and data.spike_units.max() < 700
    assert data.spike_times.min() >= 0 and data.spike_times.max() < 1000.0
    assert 4500 < data.n_spikes().mean() < 8500                 # 3,500 background + ~3,000 signal
    for i in range(0, 60, 7):
        assert np.all(np.diff(data[i][0]) >= 0)
    again = make_shd_like_synthetic(60, seed=5)
    np.testing.assert_array_equal(again.spike_times, data.spike_times)
    np.testing.assert_array_equal(again.labels, data.labels)
    assert make_shd_like_synthetic(8, n_channels=10, n_classes=2, duration_ms=20.0).to_dense(1.0).shape == (8, 20, 10)


def test_synthetic_classes_are_distinguishable():
    data = make_shd_like_synthetic(200, n_channels=100, n_classes=5, duration_ms=200.0, seed=2)
    features = data.to_dense(20.0, dtype=np.float32).reshape(len(data), -1)     # 10 segments x 100 channels
    train, test = np.arange(0, 200, 2), np.arange(1, 200, 2)
    centroids = np.stack([features[train][data.labels[train] == c].mean(axis=0) for c in range(5)])
    distance = ((features[test][:, None, :] - centroids[None]) ** 2).sum(axis=2)
    accuracy = np.mean(distance.argmin(axis=1) == data.labels[test])
    assert accuracy > 0.9                                       # chance is 0.2
    # the class templates differ: mean channel counts of two classes are far apart
    counts = data.to_dense(200.0, dtype=np.float32)[:, 0, :]
    m0, m1 = counts[data.labels == 0].mean(axis=0), counts[data.labels == 1].mean(axis=0)
    assert np.abs(m0 - m1).max() > 3.0
