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

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaussgan._version import __version__
from gaussgan.distributions import Parent, parent_memory
from gaussgan.errors import UserError
from gaussgan.parents import DEFAULT_XHI, DEFAULT_XLO
from gaussgan.system.files import atomic_path, check_regular_file
from gaussgan.system.resources import require_memory

REQUIRED_METADATA = ("dist", "dim")


@dataclass
class NormSummary:
    """The Euclidean norms of the samples written, summarised as they stream past.

    Memory is flat in the number of samples: a histogram of ``BINS`` equal bins, and the running
    count, mean and sum of squared deviations (Chan's update, exact for any number of batches).
    The first batch sets the range; a later norm outside it doubles the range, merging
    neighbouring bins, until it fits. So every sample is counted, and the range ends within a
    factor of four of [min, max] with at least ``BINS / 4`` bins across the data.
    """

    BINS = 4096
    count: int = 0
    mean: float = 0.0
    squared_deviations: float = 0.0
    low: float = 0.0
    width: float = 0.0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(NormSummary.BINS, dtype=np.int64))

    @property
    def std(self) -> float:
        return math.sqrt(self.squared_deviations / (self.count - 1)) if self.count > 1 else 0.0

    @property
    def edges(self) -> np.ndarray:
        return self.low + self.width * np.arange(self.BINS + 1)

    def add(self, norms: np.ndarray) -> None:
        if not len(norms):
            return
        smallest, largest = float(norms.min()), float(norms.max())
        if self.count == 0:
            # Half the bins for the first batch's range; room above and below for later batches.
            span = largest - smallest or abs(largest) * 1e-6 or 1.0
            self.width = span / (self.BINS / 2)
            self.low = smallest - span / 2
        while smallest < self.low or largest >= self.low + self.BINS * self.width:
            self._double(downwards=smallest < self.low)
        index = norms - self.low
        index /= self.width
        index = index.astype(np.int64)
        np.minimum(index, self.BINS - 1, out=index)  # a norm a rounding error below the top edge
        self.counts += np.bincount(index, minlength=self.BINS)
        batch_mean = float(norms.mean())
        batch_deviations = float(np.var(norms)) * len(norms)
        total = self.count + len(norms)
        delta = batch_mean - self.mean
        self.mean += delta * len(norms) / total
        self.squared_deviations += batch_deviations + delta**2 * self.count * len(norms) / total
        self.count = total

    def _double(self, downwards: bool) -> None:
        merged = self.counts.reshape(-1, 2).sum(axis=1)
        self.counts[:] = 0
        if downwards:
            self.counts[self.BINS // 2 :] = merged
            self.low -= self.BINS * self.width
        else:
            self.counts[: self.BINS // 2] = merged
        self.width *= 2


@dataclass
class WriteSummary:
    """What :func:`write_batches` wrote: the file and a summary of the samples' norms."""

    path: Path
    norms: NormSummary


def batch_norms(batch: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row, without an (n, d) temporary."""
    squared = np.einsum("ij,ij->i", batch, batch)
    return np.sqrt(squared, out=squared)


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


def write_file(
    target: str | os.PathLike,
    parent: Parent,
    batches: Iterable[np.ndarray],
    n_batches: int,
    n_samples: int,
    seed: int | None = None,
    extra_metadata: dict | None = None,
) -> NormSummary:
    """Write ``n_batches`` arrays of shape (n_samples, dim), one at a time, to ``target`` itself.

    Not atomic: callers write to a temporary (:func:`write_batches`, or gen-samples, which also
    draws the histogram before the file takes its name). Memory is bounded by one batch. A
    batch holding NaN or an infinite value is refused, so a dataset never holds one.
    """
    import h5py

    norms = NormSummary()
    # Through a Python file object: a failed write (disk full, file-size limit) is then an
    # OSError with its errno, and HDF5 is not left holding a file it cannot close, which with
    # its own file driver crashes the interpreter at exit (segmentation fault, h5py 3.16).
    with open(target, "w+b") as stream, h5py.File(stream, "w") as handle:
        data = handle.create_dataset("data", shape=(n_batches * n_samples, parent.dim), dtype=np.float64)
        start = 0
        # No enumerate(): its tuple would keep the previous batch alive while the next is drawn.
        for batch in batches:
            batch_norm = batch_norms(batch)
            # NaN or inf anywhere in a row makes its squared norm NaN or inf: one check of n numbers, not n*d.
            if not np.all(np.isfinite(batch_norm)):
                raise UserError(
                    f"samples {start + 1:,} to {start + len(batch):,} hold NaN or infinite values, or "
                    f"values whose squares overflow float64 ({parent.describe()}); nothing was written"
                )
            stop = start + len(batch)
            data[start:stop] = batch
            norms.add(batch_norm)
            start = stop
            del batch, batch_norm  # otherwise they stay alive while the next batch is drawn: two batches in memory
        if start != n_batches * n_samples:
            raise RuntimeError(f"expected {n_batches * n_samples} samples, got {start}")
        _write_metadata(handle.create_group("metadata"), parent, n_batches, n_samples, seed, extra_metadata or {})
    return norms


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
    path = Path(path)
    with atomic_path(path) as temporary:
        norms = write_file(temporary, parent, batches, n_batches, n_samples, seed, extra_metadata)
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


# --- Reading ---------------------------------------------------------------------------------
# A dataset may come from anywhere: every field is checked for its kind, type, size and value
# before it is used, and nothing is read from another file (links, virtual or external storage),
# so a crafted file gives one clear error, never a traceback, a hang or someone else's data.

TEXT_FIELDS = ("dist", "version", "source")
COUNT_FIELDS = ("n_batches", "n_samples", "n_total", "seed")
NUMBER_FIELDS = ("mu", "xlo", "xhi")
KNOWN_FIELDS = ("dim", *TEXT_FIELDS, *COUNT_FIELDS, *NUMBER_FIELDS)
DEFAULTS = {"mu": 0.0, "xlo": DEFAULT_XLO, "xhi": DEFAULT_XHI}  # files of the original layout may lack them


def _object(group, key: str, path: Path, where: str):
    """``group[key]`` once it is known to be stored in this file: links and virtual or external
    storage are refused before anything follows them (an external link to a FIFO would hang)."""
    import h5py

    link = group.get(key, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise UserError(
            f"{path}: {where} is a link to {link.path!r} in another file, {link.filename!r}; "
            "expected the values stored in this file"
        )
    if isinstance(link, h5py.SoftLink):
        raise UserError(f"{path}: {where} is a link to {link.path!r}; expected the values stored under its own name")
    try:
        item = group[key]
    except (KeyError, OSError, ValueError, RuntimeError) as error:
        raise UserError(f"{path}: {where} cannot be opened ({error})") from None
    if isinstance(item, h5py.Dataset):
        if item.is_virtual:
            sources = sorted({source.file_name for source in item.virtual_sources()})
            raise UserError(
                f"{path}: {where} is a virtual dataset that reads {', '.join(map(repr, sources))}; "
                "expected the values stored in this file"
            )
        if item.external:
            raise UserError(
                f"{path}: {where} keeps its values in another file, {item.external[0][0]!r}; "
                "expected the values stored in this file"
            )
    return item


def _dataset(group, key: str, path: Path, where: str):
    import h5py

    item = _object(group, key, path, where)
    if not isinstance(item, h5py.Dataset):
        raise UserError(f"{path}: {where} is a group; expected an array")
    return item


def _read(item, path: Path, where: str) -> np.ndarray:
    try:
        return np.asarray(item[()])
    except (OSError, ValueError, TypeError, RuntimeError) as error:
        raise UserError(f"{path}: {where} cannot be read ({error})") from None


def _one_value(group, key: str, path: Path):
    """The single value of a one-element metadata field (the layout stores scalars as [value])."""
    where = f"metadata field {key!r}"
    item = _dataset(group, key, path, where)
    size = 0 if item.shape is None else item.size
    if size != 1:
        raise UserError(f"{path}: {where} holds {size} values (shape {item.shape}); expected exactly one")
    return _read(item, path, where).reshape(-1)[0]


def _text(value, path: Path, key: str) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            pass
    elif isinstance(value, str):
        return value
    raise UserError(f"{path}: metadata field {key!r} is {_shown(value)}; expected text")


def _integer(value, path: Path, key: str, smallest: int) -> int:
    number = value.item() if isinstance(value, np.generic) else value
    if isinstance(number, float) and number.is_integer():  # a float that holds a whole number is fine
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or number < smallest:
        raise UserError(f"{path}: metadata field {key!r} is {_shown(value)}; expected an integer >= {smallest}")
    return number


def _real(value, path: Path, key: str) -> float:
    number = value.item() if isinstance(value, np.generic) else value
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise UserError(f"{path}: metadata field {key!r} is {_shown(value)}; expected a finite number")
    return float(number)


def _shown(value) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return f"{text[:40]}..." if len(text) > 40 else text


def _field(group, key: str, path: Path):
    value = _one_value(group, key, path)
    if key in TEXT_FIELDS:
        return _text(value, path, key)
    if key == "dim":
        return _integer(value, path, key, 1)
    if key in COUNT_FIELDS:
        return _integer(value, path, key, 0)
    return _real(value, path, key)


def _extra_field(group, key: str):
    """A field this version does not know, as a plain value; None unless it is one value stored here."""
    import h5py

    try:
        item = group[key] if isinstance(group.get(key, getlink=True), h5py.HardLink) else None
        if (
            not isinstance(item, h5py.Dataset)
            or item.is_virtual
            or item.external
            or item.shape is None
            or item.size != 1
            or item.dtype.kind not in "iufSO"
        ):
            return None
        value = np.asarray(item[()]).reshape(-1)[0]
    except (KeyError, OSError, ValueError, TypeError, RuntimeError):
        return None
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value.item() if hasattr(value, "item") else value


def _sigma(group, dim: int, path: Path) -> np.ndarray | None:
    if "sigma" not in group:
        return None
    where = "metadata field 'sigma'"
    item = _dataset(group, "sigma", path, where)
    size = 0 if item.shape is None else item.size
    if size != dim * dim:  # checked before reading: a declared shape can be absurd
        raise UserError(
            f"{path}: metadata field 'sigma' has {size} entries (shape {item.shape}); expected dim*dim = {dim * dim}"
        )
    if item.dtype.kind not in "iuf":
        raise UserError(f"{path}: {where} has type {item.dtype}; expected numbers")
    sigma = _read(item, path, where).astype(np.float64).reshape(dim, dim)
    if not np.all(np.isfinite(sigma)):
        raise UserError(f"{path}: {where} holds NaN or infinite values; expected a finite covariance")
    return sigma


def read_metadata(handle, path: Path, columns: int | None = None) -> tuple[Parent, dict]:
    """Rebuild the parent from an open file's ``/metadata`` group; also return every field as plain values.

    ``columns``, the width of ``/data``, is checked against ``dim`` before anything of size dim*dim is read.
    """
    import h5py

    path = Path(path)
    if "metadata" not in handle:
        raise UserError(f"{path}: no /metadata group; expected a dataset written by gen-samples.py")
    group = _object(handle, "metadata", path, "/metadata")
    if not isinstance(group, h5py.Group):
        raise UserError(f"{path}: /metadata is an array; expected a group of fields")
    for key in REQUIRED_METADATA:
        if key not in group:
            raise UserError(f"{path}: dataset metadata has no {key!r} field")
    fields = {}
    for key in group:
        if key in KNOWN_FIELDS:
            fields[key] = _field(group, key, path)
        elif key != "sigma":
            value = _extra_field(group, key)
            if value is not None:
                fields[key] = value
    dim = fields["dim"]
    if columns is not None and columns != dim:
        raise UserError(f"{path}: /data has {columns} columns but metadata says dim = {dim}")
    require_memory(parent_memory(dim), f"the parent of {path} (dimension {dim:,})")
    sigma = _sigma(group, dim, path)
    try:
        parent = Parent(
            name=fields["dist"],
            dim=dim,
            mu=fields.get("mu", DEFAULTS["mu"]),
            sigma=np.eye(dim) if sigma is None else sigma,
            xlo=fields.get("xlo", DEFAULTS["xlo"]),
            xhi=fields.get("xhi", DEFAULTS["xhi"]),
        )
    except UserError as error:
        raise UserError(f"{path}: metadata describes no valid parent: {error}") from None
    return parent, fields


def _open(path: str | os.PathLike):
    import h5py

    # A FIFO or a device would block or never end: refused before it is opened.
    path = check_regular_file(path, "dataset")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise UserError(f"{path} is not a readable HDF5 file (empty, truncated or another format)") from None


def _count_non_finite(values: np.ndarray, rows: int = 1 << 16) -> int:
    """NaN and infinite values, counted a block of rows at a time (no full-size boolean array)."""
    return sum(
        int(np.count_nonzero(~np.isfinite(values[start : start + rows]))) for start in range(0, len(values), rows)
    )


def load_dataset(path: str | os.PathLike, dtype=np.float64) -> tuple[np.ndarray, Parent, dict]:
    """Read ``/data`` and the parent from a dataset file (opened read-only).

    Returns the (N, d) data as ``dtype`` (float32 halves the memory of training), the parent rebuilt from ``/metadata``, and the metadata
    fields as plain values. Every way a file can be unusable is a :class:`UserError`.
    """
    path = Path(path)
    with _open(path) as handle:
        if "data" not in handle:
            raise UserError(f"{path}: no /data array; expected a dataset written by gen-samples.py")
        data = _object(handle, "data", path, "/data")
        if not hasattr(data, "shape"):
            raise UserError(f"{path}: no /data array (it is a group); expected a dataset written by gen-samples.py")
        if data.shape is None or data.size == 0:
            raise UserError(f"{path}: /data holds no samples")
        if data.ndim != 2:
            raise UserError(f"{path}: /data has rank {data.ndim} (shape {data.shape}); expected (samples, dimension)")
        if data.dtype.kind not in "iuf":  # strings, compound records, booleans, complex numbers, references...
            raise UserError(
                f"{path}: /data has type {data.dtype}; expected real numbers (float64, as gen-samples.py writes)"
            )
        rows, columns = data.shape
        parent, fields = read_metadata(handle, path, columns)
        # A declared shape costs nothing to write (a chunked dataset is allocated lazily): check it first.
        require_memory(
            rows * columns * np.dtype(dtype).itemsize,
            f"reading {path} ({rows:,} samples of dimension {columns:,})",
            "use a smaller dataset",
        )
        try:
            values = data.astype(dtype)[()]
        except (OSError, TypeError, ValueError, RuntimeError) as error:
            raise UserError(f"{path}: /data cannot be read as numbers ({error})") from None
    bad = _count_non_finite(values)
    if bad:
        raise UserError(f"{path}: /data holds {bad} NaN or infinite values; expected finite numbers")
    return values, parent, fields
