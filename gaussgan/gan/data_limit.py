"""The data limit of a training set: the n* of its own Gaussian fit, computed once and cached beside it.

The statistics are in :mod:`gaussgan.stats.data_limit`; this module runs them through the verdict and keeps
the result in a hidden file next to the dataset (``.data_gauss_dim10.h5.limit.json``), which every run and
report on that dataset then reads. The cache proves itself: it names the training values' hash, the
parent, the verdict's procedure and sizes; a file that does not match, or that is not a plain file of ours,
is computed again. Two runs that start together on one dataset take turns (a lock): the second reads what
the first wrote. A dataset folder that cannot be written (shared, read-only) gets no cache; the limit is
then computed for each run, and said so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np

from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.stats.data_limit import fit_samples, spectrum
from gaussgan.stats.metrics import Context, one_blas_thread
from gaussgan.stats.nulls import NULL_VERSION, NullCache, parent_key
from gaussgan.stats.verdict import PROCEDURE, distinguishability
from gaussgan.system import locks
from gaussgan.system.files import atomic_path, reason

CACHE_FORMAT = "gaussgan data limit"
CACHE_LAYOUT = 1
# The cache file is read whole; ours hold a few hundred bytes.
MAX_CACHE_BYTES = 1 << 16


def cache_path(dataset: Path) -> Path:
    return dataset.parent / f".{dataset.name}.limit.json"


def limit_key(rows: np.ndarray, parent: Parent, max_n: int, repeats: int) -> dict:
    """What a cached limit is the limit of: these exact values, this parent, this verdict."""
    return {
        "data_sha256": hashlib.sha256(np.ascontiguousarray(rows).data).hexdigest(),
        "parent": parent_key(parent),
        "max_n": max_n,
        "repeats": repeats,
        "procedure": PROCEDURE,
        "null_version": NULL_VERSION,
    }


def data_limit(dataset: Path, rows: np.ndarray, parent: Parent, *, max_n: int, repeats: int, cache: NullCache) -> dict:
    """The data limit of the training set ``rows`` (read from ``dataset``): from its cache when that proves
    itself, computed (and cached when the folder allows) otherwise. Its nulls are drawn into ``cache``."""
    key = limit_key(rows, parent, max_n, repeats)
    path = cache_path(dataset)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(locks.exclusive(path, "the data limit", wait=True))
            writable = True
        except UserError:  # no lock file can be made there: a folder we cannot write
            writable = False
        limit = read_cached(path, key)
        if limit is not None:
            return limit
        print(f"data limit: the n* of the training set's own Gaussian fit (once per dataset, cached in {path}) ...",
              flush=True)  # fmt: skip
        limit = compute(rows, parent, int(key["data_sha256"][:15], 16), max_n=max_n, repeats=repeats, cache=cache)
        if writable:
            try:
                with atomic_path(path) as temporary:
                    content = {"format": CACHE_FORMAT, "layout": CACHE_LAYOUT, "key": key, "limit": limit}
                    temporary.write_text(json.dumps(content | {"digest": digest(key, limit)}, indent=1) + "\n")
            except OSError as error:
                print(f"note: the data limit is not cached ({reason(error)}); it is computed again next time",
                      file=sys.stderr)  # fmt: skip
    return limit


def compute(rows: np.ndarray, parent: Parent, seed: int, *, max_n: int, repeats: int, cache: NullCache) -> dict:
    """n* of the Gaussian fitted to ``rows``, and of the one fitted to a fresh parent sample as large."""
    rng = np.random.default_rng(seed)
    context = Context(parent, seed=seed)  # no training rows: memorisation does not apply to a fit
    found = {}
    with one_blas_thread():
        for name, fitted in (("fit", rows), ("fresh", parent.sample(len(rows), rng))):
            verdict = distinguishability(fit_samples(fitted, max_n, rng), context, cache, max_n, repeats)
            found[name] = verdict
    cache.save()
    return {
        "n_train": len(rows),
        "largest": found["fit"].tested[-1] if found["fit"].tested else max_n,
        "n_star_fit": found["fit"].n_star,
        "n_star_fresh": found["fresh"].n_star,
        "training_spectrum": spectrum(rows, parent),
    }


def read_cached(path: Path, key: dict) -> dict | None:
    """The cached limit at ``path`` if it is a plain file of ours for ``key``; None otherwise."""
    try:
        status = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_CACHE_BYTES:
        return None
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get("format") != CACHE_FORMAT or content.get("key") != key:
        return None
    limit = content.get("limit")
    if not well_formed(limit) or content.get("digest") != digest(key, limit):
        return None
    return limit


def digest(key: dict, limit) -> str:
    """What ties a cached limit to its key: a file changed by hand or by a fault no longer matches."""
    return hashlib.sha256(json.dumps([key, limit], sort_keys=True).encode()).hexdigest()


def well_formed(limit) -> bool:
    """A limit as :func:`compute` writes it: counts, sizes or null, a spectrum of numbers."""

    def size(value) -> bool:
        return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)

    if not isinstance(limit, dict) or not all(size(limit.get(name)) for name in ("n_star_fit", "n_star_fresh")):
        return False
    if not all(size(limit.get(name)) and limit.get(name) is not None for name in ("n_train", "largest")):
        return False
    training = limit.get("training_spectrum")
    return isinstance(training, dict) and all(
        isinstance(training.get(name), (int, float)) and np.isfinite(training[name])
        for name in ("eigenvalue_min", "eigenvalue_max", "mean_squared_norm")
    )
