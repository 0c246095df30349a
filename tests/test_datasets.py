"""HDF5 datasets: metadata round trip, the original layout, atomic writing, and every unusable file."""

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

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


def write_original_layout(path: Path, data: np.ndarray, dist: bytes = b"gauss") -> None:
    """A file as the original gaussGAN code wrote it: no seed, no version."""
    dim = data.shape[1]
    with h5py.File(path, "w") as handle:
        handle["data"] = data
        meta = handle.create_group("metadata")
        meta["dist"] = [dist]
        meta["dim"] = [dim]
        meta["n_batches"] = [1]
        meta["n_samples"] = [len(data)]
        meta["n_total"] = [len(data)]
        meta["mu"] = [0.0]
        meta["sigma"] = np.eye(dim)[np.newaxis]
        meta["xlo"] = [-1.5]
        meta["xhi"] = [1.5]


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


def make_bad(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.h5"
    good = np.random.default_rng(0).standard_normal((20, 3))
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    elif kind == "not_hdf5":
        path.write_text("x,y\n1,2\n")
    elif kind == "truncated":
        write_original_layout(path, good)
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "no_data":
        write_original_layout(path, good)
        with h5py.File(path, "a") as handle:
            del handle["data"]
    elif kind == "rank":
        write_original_layout(path, good)
        with h5py.File(path, "a") as handle:
            del handle["data"]
            handle["data"] = np.zeros((2, 3, 4))
    elif kind == "width":
        write_original_layout(path, good)
        with h5py.File(path, "a") as handle:
            del handle["metadata/dim"]
            handle["metadata/dim"] = [5]
            del handle["metadata/sigma"]
            handle["metadata/sigma"] = np.eye(5)[np.newaxis]
    elif kind in ("nan", "inf"):
        good[3, 1] = np.nan if kind == "nan" else np.inf
        write_original_layout(path, good)
    elif kind == "no_metadata":
        with h5py.File(path, "w") as handle:
            handle["data"] = good
    elif kind == "unknown_parent":
        write_original_layout(path, good, dist=b"poisson")
    return path


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


def make_hostile(folder: Path, kind: str) -> Path:
    """A dataset file crafted to break a reader: wrong types and sizes, links and storage in other files,
    absurd declared shapes. Each ``kind`` breaks exactly one thing in an otherwise good file."""
    path = folder / f"{kind}.h5"
    good = np.random.default_rng(0).standard_normal((20, 3))
    if kind == "fifo":
        os.mkfifo(path)
        return path
    write_original_layout(path, good)
    with h5py.File(path, "a") as handle:
        meta = handle["metadata"]
        field, value = {
            "dim_text": ("dim", [b"three"]),
            "dim_zero": ("dim", [0]),
            "dim_fraction": ("dim", [2.5]),
            "dim_negative": ("dim", [-3]),
            "dim_huge": ("dim", [10**12]),
            "mu_text": ("mu", [b"zero"]),
            "mu_array": ("mu", [0.0, 0.0, 0.0]),
            "mu_empty": ("mu", np.zeros(0)),
            "xlo_inf": ("xlo", [-np.inf]),
            "xhi_nan": ("xhi", [np.nan]),
            "sigma_size": ("sigma", np.eye(2)[np.newaxis]),
            "sigma_text": ("sigma", np.array([[[b"1", b"0", b"0"]] * 3])),
            "dist_number": ("dist", [7]),
            "seed_negative": ("seed", np.array([-1])),
            "dim_bool": ("dim", [True]),
        }.get(kind, (None, None))
        if field is not None:
            if field in meta:
                del meta[field]
            meta[field] = value
        elif kind == "sigma_declared_huge":  # a chunked dataset is allocated lazily: the file stays small
            del meta["sigma"]
            meta.create_dataset("sigma", shape=(1, 10**6, 10**6), dtype="f8", chunks=(1, 1, 1024))
        elif kind == "field_is_group":
            del meta["mu"]
            meta.create_group("mu")
        elif kind == "metadata_is_array":
            del handle["metadata"]
            handle["metadata"] = [1, 2, 3]
        elif kind == "data_external_link":
            del handle["data"]
            handle["data"] = h5py.ExternalLink("elsewhere.h5", "/data")
        elif kind == "field_external_link":  # to a file that exists: refused all the same
            with h5py.File(folder / "other.h5", "w") as other:
                other["dist"] = [b"gauss"]
            del meta["dist"]
            meta["dist"] = h5py.ExternalLink("other.h5", "/dist")
        elif kind == "data_soft_link":
            del handle["data"]
            handle["data"] = h5py.SoftLink("/nowhere")
        elif kind == "data_virtual":  # its source is missing: h5py would read the fill value, zeros
            del handle["data"]
            layout = h5py.VirtualLayout(shape=(20, 3), dtype="f8")
            layout[:] = h5py.VirtualSource("missing_source.h5", "data", shape=(20, 3))
            handle.create_virtual_dataset("data", layout, fillvalue=0)
        elif kind == "data_external_storage":  # the raw values in another file
            del handle["data"]
            (folder / "raw.bin").write_bytes(good.tobytes())
            handle.create_dataset("data", shape=(20, 3), dtype="f8", external=[("raw.bin", 0, good.nbytes)])
        elif kind == "data_strings":
            del handle["data"]
            handle["data"] = np.array([[b"1.0", b"2.0", b"3.0"]] * 20)
        elif kind == "data_compound":
            del handle["data"]
            handle["data"] = np.zeros((20, 3), dtype=[("x", "f8"), ("y", "i4")])
        elif kind == "data_complex":
            del handle["data"]
            handle["data"] = good.astype(np.complex128)
        elif kind == "data_declared_huge":
            del handle["data"]
            handle.create_dataset("data", shape=(10**12, 3), dtype="f8", chunks=(1024, 3))
        elif kind == "parent_declared_huge":  # /data and dim agree, but the covariance would be 200,000^2
            del handle["data"], meta["sigma"], meta["dim"]
            handle.create_dataset("data", shape=(2, 200_000), dtype="f8", chunks=(1, 1024))
            meta["dim"] = [200_000]
        else:
            raise ValueError(kind)
    return path


# kind -> words the one-line error must hold (besides the file name)
HOSTILE = {
    "fifo": ["not a regular file"],
    "dim_text": ["'dim'", "integer"],
    "dim_zero": ["'dim'", "integer >= 1"],
    "dim_fraction": ["'dim'", "2.5"],
    "dim_negative": ["'dim'", "-3"],
    "dim_bool": ["'dim'", "integer"],
    "dim_huge": ["3 columns", "dim = 1000000000000"],
    "mu_text": ["'mu'", "finite number"],
    "mu_array": ["'mu'", "3 values"],
    "mu_empty": ["'mu'", "0 values"],
    "xlo_inf": ["'xlo'", "finite number"],
    "xhi_nan": ["'xhi'", "finite number"],
    "sigma_size": ["sigma", "expected dim*dim = 9"],
    "sigma_text": ["'sigma'", "numbers"],
    "sigma_declared_huge": ["sigma", "1000000000000 entries"],
    "dist_number": ["'dist'", "text"],
    "seed_negative": ["'seed'", "integer >= 0"],
    "field_is_group": ["'mu'", "group"],
    "metadata_is_array": ["/metadata", "group"],
    "data_external_link": ["/data", "another file", "elsewhere.h5"],
    "field_external_link": ["'dist'", "other.h5"],
    "data_soft_link": ["/data", "link", "/nowhere"],
    "data_virtual": ["/data", "virtual", "missing_source.h5"],
    "data_external_storage": ["/data", "raw.bin"],
    "data_strings": ["/data", "type", "real numbers"],
    "data_compound": ["/data", "real numbers"],
    "data_complex": ["/data", "complex", "real numbers"],
    "data_declared_huge": ["1,000,000,000,000 samples", "memory"],
    "parent_declared_huge": ["dimension 200,000", "memory"],
}


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
