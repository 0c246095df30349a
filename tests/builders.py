"""Builders the tests share: files as other programs (or damage) would leave them. One home, imported by
the test files that need them; no test file imports another."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np


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


def tiny_study_text(
    *, seeds: str = "[1, 2]", latent_dim: str = "[2, 4]", epochs: str = "{epochs}", name: str = "", verdict: bool = True
) -> str:
    """A study file of tiny runs (3-d Gaussian, 100 samples, width 0.1), its runs and datasets under ``runs/NAME``
    and ``datasets/NAME`` when named; ``epochs`` may stay a ``{epochs}`` placeholder for ``str.format``. With
    ``verdict``, the smallest verdict, which keeps the runs short."""
    folders = (f'runs_dir = "runs/{name}"\n', f'dir = "datasets/{name}"\n') if name else ("", "")
    text = (
        f"seeds = {seeds}\n{folders[0]}[datasets]\n{folders[1]}[[datasets.generate]]\n"
        'dist = "gauss"\ndims = [3]\nn_samples = 50\nn_batches = 2\nseed = 1\n'
        f"[grid]\nlatent_dim = {latent_dim}\nscale = 0.1\nepochs = {epochs}\nn_eval = 50\n"
    )
    return text + ("max_n = 1000\nnull_repeats = 250\n" if verdict else "")
