"""Null distributions of the metrics, simulated exactly from the parent, and the judgement they give.

The parent is known, so what an honest sample of size n scores on a metric can be drawn: ``repeats``
honest samples, each scored exactly as a generated one would be. Their 95th percentile is the
metric's floor, and a generated sample's Monte Carlo p-value is (1 + #{null >= value}) / (repeats + 1).
The draws are seeded and cached (a JSON file per run), so a run computes each null once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.stats.constants import MIN_NULL_REPEATS, NULL_REPEATS
from gaussgan.stats.floors import drawn_floor, drawn_pvalue
from gaussgan.stats.metrics import Context, Metric, Score
from gaussgan.system.files import atomic_path, reason

MIN_REPEATS = MIN_NULL_REPEATS
# The most metrics that apply to one parent (memorisation included): MIN_REPEATS is chosen for it.
LARGEST_FAMILY = 7
# Bump when a metric's definition changes: cached nulls of another version are not reused.
NULL_VERSION = 2


@dataclass(frozen=True)
class Judged:
    """A metric's value on a sample of ``n`` (of which it used ``n_used``) with its floor and p-value."""

    name: str
    n: int
    n_used: int
    value: float
    floor: float
    p: float
    detail: str = ""
    rejected: bool = False  # set by the family's correction (Holm), not by the metric alone

    def as_dict(self) -> dict:
        return asdict(self)


def parent_key(parent: Parent) -> str:
    """A short hash of everything that defines the parent (its null depends on all of it)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in parent.to_state().items() if k != "sigma"}, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(parent.sigma, dtype="<f8").tobytes())
    return digest.hexdigest()[:16]


class NullCache:
    """Simulated nulls kept in one JSON file (or only in memory when ``path`` is None)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self.values: dict[str, list[float]] = {}
        self.changed = False
        if self.path is not None and os.path.lexists(self.path):
            self.values = self._read(self.path)

    @staticmethod
    def _read(path: Path) -> dict:
        # A damaged or foreign cache is only a cache: recompute rather than refuse.
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            return {}
        if not isinstance(content, dict):
            return {}
        return {
            key: value
            for key, value in content.items()
            if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)
        }

    def get(self, key: str) -> np.ndarray | None:
        value = self.values.get(key)
        return None if value is None else np.array(value, dtype=float)

    def put(self, key: str, values: np.ndarray) -> None:
        self.values[key] = [float(v) for v in values]
        self.changed = True

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        try:
            with atomic_path(self.path) as temporary:
                temporary.write_text(json.dumps(self.values))
        except UserError as error:  # a cache that cannot be written costs time, not results
            print(f"note: the null cache was not saved ({error})")
        self.changed = False


def null_values(metric: Metric, context: Context, n: int, repeats: int, cache: NullCache) -> np.ndarray:
    """``repeats`` values of ``metric`` on honest parent samples of size ``n`` (cached)."""
    parent = context.parent
    key = f"{metric.name} n={n} repeats={repeats} seed={context.seed} parent={parent_key(parent)} v={NULL_VERSION}"
    values = cache.get(key)
    if values is not None and len(values) == repeats:
        return values
    rng = context.rng(f"null {metric.name} {n}")
    values = metric.simulate_null(context, n, repeats, rng)
    if values is None:
        values = np.array([metric.value(parent.sample(n, rng), context) for _ in range(repeats)])
    cache.put(key, values)
    return values


def judge(
    metric: Metric,
    x: np.ndarray,
    context: Context,
    cache: NullCache,
    repeats: int = NULL_REPEATS,
    score: Score | None = None,
) -> Judged:
    """``metric`` on the sample ``x`` (the last ``metric.used`` samples of it), with its floor and p-value.

    A metric that looks at fewer samples than given takes the last ones: the verdict tests growing
    prefixes, and a rejection counts when the next prefix confirms it, which the first 1,000 samples
    again and again could not do (a false alarm on them would confirm itself).
    """
    n_used = metric.used(len(x), context.parent)
    if n_used < metric.least:  # e.g. a tiny --n-eval
        score = Score(float("nan"), None, f"needs at least {metric.least} samples")
    if score is None:
        score = metric.score(x[len(x) - n_used :], context)
    if not np.isfinite(score.value):
        return Judged(metric.name, len(x), n_used, float("nan"), float("nan"), float("nan"), score.detail)
    if metric.null == "analytic":
        floor = score.floor if score.floor is not None else metric.floor(context.parent, n_used)
        p = score.p
        assert p is not None
    else:
        null = null_values(metric, context, n_used, repeats, cache)
        floor, p = drawn_floor(null), drawn_pvalue(null, score.value)
    return Judged(metric.name, len(x), n_used, float(score.value), floor, float(p), score.detail)


def check_cache_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cache folder {str(folder)!r} is a file; expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the cache folder {str(folder)!r}: {reason(error)}") from None
