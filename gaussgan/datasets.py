"""HDF5 datasets: stream samples of a parent to disk, and read them back with their parent.

Layout (the original gaussGAN layout, so its files load here and its analysis keeps working)::

    /data                 (N, d) float64
    /metadata/dist        one-element array of bytes, e.g. [b'gauss']
    /metadata/dim, n_batches, n_samples (per batch), n_total, mu, xlo, xhi   one-element arrays
    /metadata/sigma       the covariance, shape (1, d, d)
    /metadata/seed, version                   newer fields; files without them still load
    /metadata/source                          optional: where generated samples came from
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from gaussgan._version import __version__
from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.files import atomic_path

REQUIRED_METADATA = ("dist", "dim")


@dataclass
class WriteSummary:
    """What :func:`write_dataset` wrote: the file and the Euclidean norm of every sample."""

    path: Path
    norms: np.ndarray


def _write_metadata(group, parent: Parent, n_batches: int, n_samples: int, seed: int | None, extra: dict) -> None:
    fields = {
        "dist": np.array([parent.name.encode()]),
        "dim": np.array([parent.dim]),
        "n_batches": np.array([n_batches]),
        "n_samples": np.array([n_samples]),
        "n_total": np.array([n_batches * n_samples]),
        "mu": np.array([parent.mu], dtype=np.float64),
        "sigma": parent.sigma[np.newaxis],
        "xlo": np.array([parent.xlo], dtype=np.float64),
        "xhi": np.array([parent.xhi], dtype=np.float64),
        "version": np.array([__version__.encode()]),
    }
    if seed is not None:
        fields["seed"] = np.array([seed], dtype=np.uint64)
    fields.update({key: np.array([str(value).encode()]) for key, value in extra.items()})
    for key, value in fields.items():
        group.create_dataset(key, data=value)


def write_batches(
    path: str | os.PathLike,
    parent: Parent,
    batches: Iterable[np.ndarray],
    n_batches: int,
    n_samples: int,
    seed: int | None = None,
    extra_metadata: dict | None = None,
) -> WriteSummary:
    """Write ``n_batches`` arrays of shape (n_samples, dim), one at a time, atomically.

    Memory is bounded by one batch. The file appears under ``path`` only once it is
    complete; an error or interruption leaves whatever was there before untouched.
    """
    import h5py

    path = Path(path)
    norms = np.empty(n_batches * n_samples)
    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w") as handle:
            data = handle.create_dataset("data", shape=(n_batches * n_samples, parent.dim), dtype=np.float64)
            start = 0
            for batch in batches:
                stop = start + len(batch)
                data[start:stop] = batch
                norms[start:stop] = np.sqrt(np.einsum("ij,ij->i", batch, batch))  # no (n, d) temporary
                start = stop
                del batch  # otherwise it stays alive while the next batch is drawn: two batches in memory
            if start != n_batches * n_samples:
                raise RuntimeError(f"expected {n_batches * n_samples} samples, got {start}")
            _write_metadata(handle.create_group("metadata"), parent, n_batches, n_samples, seed, extra_metadata or {})
    return WriteSummary(path, norms)


def write_dataset(
    path: str | os.PathLike,
    parent: Parent,
    n_samples: int,
    n_batches: int,
    rng: np.random.Generator,
    seed: int | None = None,
    progress: Callable | None = None,
) -> WriteSummary:
    """Draw ``n_batches`` batches of ``n_samples`` vectors from ``parent`` and write them to ``path``.

    ``progress`` wraps the batch iterator (e.g. a tqdm factory); ``seed`` is recorded in the metadata.
    """
    indices = range(n_batches) if progress is None else progress(range(n_batches))
    batches = (parent.sample(n_samples, rng) for _ in indices)
    return write_batches(path, parent, batches, n_batches, n_samples, seed)


def _scalar(group, key: str, default=None):
    if key not in group:
        if default is not None:
            return default
        raise UserError(f"dataset metadata has no {key!r} field")
    value = np.asarray(group[key][()]).reshape(-1)
    if value.size == 0:
        raise UserError(f"dataset metadata field {key!r} is empty")
    value = value[0]
    return value.decode() if isinstance(value, bytes) else value.item() if hasattr(value, "item") else value


def read_metadata(handle, path: Path) -> tuple[Parent, dict]:
    """Rebuild the parent from an open file's ``/metadata`` group; also return every field as plain values."""
    if "metadata" not in handle:
        raise UserError(f"{path}: no /metadata group; expected a dataset written by gen-samples.py")
    group = handle["metadata"]
    for key in REQUIRED_METADATA:
        _scalar(group, key)
    dim = int(_scalar(group, "dim"))
    sigma = np.asarray(group["sigma"][()], dtype=np.float64) if "sigma" in group else None
    if sigma is not None and sigma.size != dim * dim:
        raise UserError(f"{path}: metadata sigma has {sigma.size} entries; expected dim*dim = {dim * dim}")
    try:
        parent = Parent(
            name=str(_scalar(group, "dist")),
            dim=dim,
            mu=float(_scalar(group, "mu", 0.0)),
            sigma=None if sigma is None else sigma.reshape(dim, dim),
            xlo=float(_scalar(group, "xlo", -1.5)),
            xhi=float(_scalar(group, "xhi", 1.5)),
        )
    except UserError as error:
        raise UserError(f"{path}: metadata describes no valid parent: {error}") from None
    fields = {key: _scalar(group, key) for key in group if key != "sigma"}
    return parent, fields


def _open(path: str | os.PathLike):
    import h5py

    path = Path(path)
    if not path.exists():
        raise UserError(f"dataset {str(path)!r} does not exist; expected an .h5 file written by gen-samples.py")
    if path.is_dir():
        raise UserError(f"dataset {str(path)!r} is a folder; expected an .h5 file written by gen-samples.py")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise UserError(f"{path} is not a readable HDF5 file (empty, truncated or another format)") from None


def load_dataset(path: str | os.PathLike, dtype=np.float64) -> tuple[np.ndarray, Parent, dict]:
    """Read ``/data`` and the parent from a dataset file (opened read-only).

    Returns the (N, d) data as ``dtype`` (float32 halves the memory of training), the parent rebuilt from ``/metadata``, and the metadata
    fields as plain values. Every way a file can be unusable is a :class:`UserError`.
    """
    path = Path(path)
    with _open(path) as handle:
        if "data" not in handle or not hasattr(handle["data"], "shape"):
            raise UserError(f"{path}: no /data array; expected a dataset written by gen-samples.py")
        data = handle["data"]
        if data.ndim != 2:
            raise UserError(f"{path}: /data has rank {data.ndim} (shape {data.shape}); expected (samples, dimension)")
        if data.shape[0] == 0:
            raise UserError(f"{path}: /data holds no samples")
        parent, fields = read_metadata(handle, path)
        if data.shape[1] != parent.dim:
            raise UserError(f"{path}: /data has {data.shape[1]} columns but metadata says dim = {parent.dim}")
        try:
            values = data.astype(dtype)[()]
        except (OSError, TypeError, ValueError) as error:
            raise UserError(f"{path}: /data cannot be read as numbers ({error})") from None
    if not np.all(np.isfinite(values)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise UserError(f"{path}: /data holds {bad} NaN or infinite values; expected finite numbers")
    return values, parent, fields
