"""HDF5 datasets: metadata round trip, the original layout, atomic writing, and every unusable file."""

import h5py
import numpy as np
import pytest
from builders import HOSTILE, make_bad, make_hostile, write_original_layout

from gaussgan.data import datasets
from gaussgan.distributions import make_parent
from gaussgan.errors import UserError


def test_round_trip_rebuilds_the_parent(tmp_path):
    parent = make_parent("gauss", 4, mu=0.5, sigma=(2.0, 0.3, 2))
    path = tmp_path / "d.h5"
    summary = datasets.write_dataset(path, parent, 100, 3, np.random.default_rng(1), seed=42)
    data, loaded, fields = datasets.load_dataset(path)
    assert data.shape == (300, 4)
    norms = np.linalg.norm(data, axis=1)
    assert summary.norms.count == 300
    assert summary.norms.mean == pytest.approx(norms.mean()) and summary.norms.std == pytest.approx(norms.std(ddof=1))
    assert np.abs(summary.norms.counts - np.histogram(norms, summary.norms.edges)[0]).sum() <= 2  # values on an edge
    assert loaded.name == "gauss" and loaded.dim == 4 and loaded.mu == 0.5
    np.testing.assert_array_equal(loaded.sigma, parent.sigma)
    assert fields["seed"] == 42 and fields["n_batches"] == 3 and fields["n_samples"] == 100 and fields["n_total"] == 300
    with h5py.File(path) as handle:  # the documented layout, field by field
        assert handle["data"].dtype == np.float64
        assert handle["metadata/sigma"].shape == (1, 4, 4)
        assert handle["metadata/dist"][0] == b"gauss"
        for key in ("dim", "n_batches", "n_samples", "n_total", "mu", "xlo", "xhi", "seed", "version"):
            assert handle[f"metadata/{key}"].shape == (1,), key


@pytest.mark.parametrize("scale", [1.0, 1e-9, 1e9])
def test_norm_summary_counts_every_sample_in_flat_memory(scale):
    """Batches that reach beyond the first one's range, above and below: every norm counted, exact moments."""
    rng = np.random.default_rng(2)
    batches = [
        scale * (5 + rng.standard_normal(50)),
        scale * (5 + 40 * rng.random(1000)),
        scale * rng.random(3) / 100,
        np.full(7, scale * 5.0),
    ]
    summary = datasets.NormSummary()
    for batch in batches:
        summary.add(batch)
    everything = np.concatenate(batches)
    assert summary.count == len(everything) and summary.counts.sum() == len(everything)
    assert summary.mean == pytest.approx(everything.mean(), rel=1e-12)
    assert summary.std == pytest.approx(everything.std(ddof=1), rel=1e-12)
    edges = summary.edges
    assert edges[0] <= everything.min() and everything.max() < edges[-1]
    assert edges[-1] - edges[0] <= 4 * (everything.max() - everything.min())  # the range stays within a factor of 4
    # The same counts as np.histogram over the final bins (up to values on an edge, shifted by rounding).
    assert np.abs(summary.counts - np.histogram(everything, edges)[0]).sum() <= 2


def test_norm_summary_of_one_value():
    summary = datasets.NormSummary()
    summary.add(np.array([3.0]))
    assert summary.count == 1 and summary.mean == 3.0 and summary.std == 0.0 and summary.counts.sum() == 1


def test_original_layout_without_seed_or_version_loads(tmp_path):
    path = tmp_path / "old.h5"
    write_original_layout(path, np.random.default_rng(0).standard_normal((50, 3)))
    data, parent, fields = datasets.load_dataset(path)
    assert data.shape == (50, 3) and parent.is_standard_normal
    assert "seed" not in fields and "version" not in fields


def test_load_as_float32(tmp_path):
    path = tmp_path / "d.h5"
    datasets.write_dataset(path, make_parent("uniform", 2), 10, 2, np.random.default_rng(1))
    data, _, _ = datasets.load_dataset(path, dtype=np.float32)
    assert data.dtype == np.float32 and data.shape == (20, 2)


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    parent = make_parent("gauss", 2)
    path = tmp_path / "d.h5"
    datasets.write_dataset(path, parent, 10, 1, np.random.default_rng(1))
    before = path.read_bytes()

    def batches():
        yield np.zeros((10, 2))
        raise KeyboardInterrupt  # as if Ctrl-C arrived during the second batch

    with pytest.raises(KeyboardInterrupt):
        datasets.write_batches(path, parent, batches(), 2, 10)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_new_file_replaces_the_old_one_when_complete(tmp_path):
    path = tmp_path / "d.h5"
    datasets.write_dataset(path, make_parent("gauss", 2), 10, 1, np.random.default_rng(1))
    datasets.write_dataset(path, make_parent("gauss", 3), 20, 1, np.random.default_rng(1))
    assert datasets.load_dataset(path)[0].shape == (20, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


@pytest.mark.parametrize(
    "kind, words",
    [
        ("missing", ["does not exist"]),
        ("directory", ["folder"]),
        ("empty", ["not a readable HDF5"]),
        ("not_hdf5", ["not a readable HDF5"]),
        ("truncated", ["HDF5"]),
        ("no_data", ["no /data"]),
        ("rank", ["rank 3"]),
        ("width", ["3 columns", "dim = 5"]),
        ("nan", ["NaN"]),
        ("inf", ["infinite"]),
        ("no_metadata", ["metadata"]),
        ("unknown_parent", ["poisson"]),
    ],
)
def test_unusable_files_are_clear_errors(tmp_path, kind, words):
    with pytest.raises(UserError) as raised:
        datasets.load_dataset(make_bad(tmp_path, kind))
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_files_are_one_clear_error_naming_the_file(tmp_path, kind):
    path = make_hostile(tmp_path, kind)
    with pytest.raises(UserError) as raised:
        datasets.load_dataset(path)
    message = str(raised.value)
    assert str(path) in message or repr(str(path)) in message, message
    for word in HOSTILE[kind]:
        assert word in message, (word, message)


def test_a_batch_with_nan_is_refused_and_nothing_is_written(tmp_path):
    parent = make_parent("gauss", 2)
    path = tmp_path / "d.h5"
    datasets.write_dataset(path, parent, 10, 1, np.random.default_rng(1))
    before = path.read_bytes()
    batches = [np.zeros((10, 2)), np.array([[0.0, np.nan]] * 10)]
    with pytest.raises(UserError, match="samples 11 to 20 hold NaN or infinite values"):
        datasets.write_batches(path, parent, iter(batches), 2, 10)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]
