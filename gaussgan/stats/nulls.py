"""Null distributions of the metrics, simulated exactly from the parent, and the judgement they give.

The parent is known, so what an honest sample of size n scores on a metric can be drawn: ``repeats``
honest samples, each scored exactly as a generated one would be. Their 95th percentile is the
metric's floor, and a generated sample's Monte Carlo p-value is (1 + #{null >= value}) / (repeats + 1).
The draws are seeded and cached (a JSON file per run, or per ``evaluate --cache-dir``), so a run computes
each null once.

A cache is only trusted once it proves itself (:class:`NullCache`): a file gaussgan did not write is never
touched, and a null read from the file is used only if its entry is whole (its digest, its length, finite
values) and a few fresh draws from the parent look like it; any other is drawn again, with a note.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.stats.constants import MIN_NULL_REPEATS, NULL_REPEATS
from gaussgan.stats.floors import drawn_floor, drawn_pvalue
from gaussgan.stats.ks import component_ks
from gaussgan.stats.metrics import Context, Metric, Score
from gaussgan.system.files import atomic_path, reason

MIN_REPEATS = MIN_NULL_REPEATS
# The most metrics that apply to one parent (gauss, memorisation included): with their weights, the smallest
# share of ALPHA a simulated metric gets, which MIN_REPEATS must reach (a test checks every parent).
LARGEST_FAMILY = 8
# Bump when a metric's definition changes: cached nulls of another version are not reused.
NULL_VERSION = 3
# What marks a cache file as gaussgan's, and the layout of its content; a file without the mark is not ours.
CACHE_FORMAT = "gaussgan null cache"
CACHE_LAYOUT = 1
# What a cached null claims to be: the metric, the sample size, the draws, the seed, the parent, the version.
NULL_KEY = re.compile(
    r"(?P<metric>[a-z_]+) n=(?P<n>[1-9][0-9]*) repeats=(?P<repeats>[1-9][0-9]*) seed=(?P<seed>[0-9]+) "
    r"parent=(?P<parent>[0-9a-f]{16}) v=(?P<version>[0-9]+)"
)
# A cached null is compared with this many fresh draws from the parent (about a tenth of the cost of
# drawing it again); it is drawn again when they disagree at this level (:func:`plausible`). An honest
# null fails about one time in 10,000; one off by an order of magnitude, or other numbers, fail. A subtler
# change is the digest's to catch: the check is for files whose digest matches what is wrong in them.
CHECK_DRAWS = 16
CHECK_LEVEL = 1e-4
# Reading a JSON file of numbers holds about this many bytes per byte of the file (Python floats in lists).
JSON_BYTES_PER_BYTE = 8


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
    rejected: bool = False  # set by the family's correction (weighted Holm), not by the metric alone
    level: float = float("nan")  # its share of the family's error rate at the first step of that correction

    def as_dict(self) -> dict:
        return asdict(self)


def parent_key(parent: Parent) -> str:
    """A short hash of everything that defines the parent (its null depends on all of it)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in parent.to_state().items() if k != "sigma"}, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(parent.sigma, dtype="<f8").tobytes())
    return digest.hexdigest()[:16]


def null_key(metric: Metric, context: Context, n: int, repeats: int) -> str:
    """What a null is for: the name it is cached under, and what its entry's digest ties it to."""
    return f"{metric.name} n={n} repeats={repeats} seed={context.seed} parent={parent_key(context.parent)} v={NULL_VERSION}"


def entry_digest(key: str, values: list[float]) -> str:
    """SHA-256 of a null's key and its values as float64: a changed number or claim no longer matches."""
    digest = hashlib.sha256(key.encode())
    digest.update(b"\0")
    digest.update(np.asarray(values, dtype="<f8").tobytes())
    return digest.hexdigest()


class NullCache:
    """Simulated nulls kept in one JSON file (or only in memory when ``path`` is None).

    The file is read at once, without following a link and only if it is a regular file (a pipe would
    hang the command): anything else, or a file that gaussgan did not write, is refused with a
    :class:`UserError` and left as it is (``remedy`` says what to do instead). Entries that are not
    whole are dropped with a note on stderr; an entry's values are checked against fresh draws the first
    time they are used (:func:`null_values`).
    """

    def __init__(self, path: str | os.PathLike | None = None, remedy: str = "move it away"):
        self.path = Path(path) if path is not None else None
        self.values: dict[str, list[float]] = {}
        self.changed = False
        self._checked: set[str] = set()  # drawn here, or read and found plausible
        self._noted = False
        if self.path is not None:
            content = read_cache_file(self.path, remedy)
            if content is not None:
                self._take(content, remedy)

    def _take(self, content, remedy: str) -> None:
        """The whole entries of a file's ``content``; a file of ours that holds less is rewritten."""
        if not (isinstance(content, dict) and content.get("format") == CACHE_FORMAT):
            if not _older_layout(content):
                raise UserError(
                    f"{str(self.path)!r} is not a null cache written by gaussgan; it is kept as it is: {remedy}"
                )
            self.changed = True  # ours, from before the cache carried digests: drawn again
            self.note("it was written by an older gaussgan; its nulls are drawn again")
            return
        entries = content.get("nulls")
        if content.get("layout") != CACHE_LAYOUT or not isinstance(entries, dict):
            self.changed = True
            self.note("its layout is not one this gaussgan reads; its nulls are drawn again")
            return
        for key, entry in entries.items():
            values = _whole_entry(key, entry)
            if values is not None:
                self.values[key] = values
        if len(self.values) < len(entries):
            self.changed = True
            dropped = len(entries) - len(self.values)
            self.note(
                f"{dropped} of its {len(entries)} nulls fail the integrity check (digest, length, finite values); "
                "they are drawn again"
            )

    def note(self, what: str) -> None:
        """One line on stderr, the first time the cache turns out not to hold what it claims."""
        if not self._noted:
            print(f"note: the null cache {str(self.path)!r}: {what}", file=sys.stderr, flush=True)
            self._noted = True

    def get(self, key: str) -> np.ndarray | None:
        value = self.values.get(key)
        return None if value is None else np.array(value, dtype=float)

    def is_checked(self, key: str) -> bool:
        return key in self._checked

    def mark_checked(self, key: str) -> None:
        self._checked.add(key)

    def put(self, key: str, values: np.ndarray) -> None:
        """Keep ``values``, drawn here, under ``key``: saved only if every one is a finite number."""
        self._checked.add(key)
        self.changed = True
        if np.all(np.isfinite(values)):
            self.values[key] = [float(v) for v in values]
        else:
            self.values.pop(key, None)

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        entries = {key: {"values": values, "sha256": entry_digest(key, values)} for key, values in self.values.items()}
        content = {"format": CACHE_FORMAT, "layout": CACHE_LAYOUT, "nulls": entries}
        try:
            with atomic_path(self.path) as temporary:
                temporary.write_text(json.dumps(content, allow_nan=False))
        except UserError as error:  # a cache that cannot be written costs time, not results
            print(f"note: the null cache was not saved ({error})", file=sys.stderr, flush=True)
        self.changed = False


def read_cache_file(path: Path, remedy: str):
    """The parsed JSON of a cache file; None when there is none. Never follows a link, never opens a pipe,
    socket or device (reading one would hang or never end), and sizes the read before it."""
    from gaussgan.system.resources import require_memory

    where = f"null cache {str(path)!r}"
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # none there (and none can be written: a note when saved)
        return None
    except OSError as error:
        raise UserError(f"cannot read the {where}: {reason(error)}") from None
    if stat.S_ISLNK(mode):
        raise UserError(f"{where} is a symbolic link, which is never followed; expected a regular file ({remedy})")
    if stat.S_ISDIR(mode):
        raise UserError(f"{where} is a folder; expected a regular file ({remedy})")
    try:
        # O_NONBLOCK: a pipe put in its place between the check and the open must not block the open.
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UserError(f"{where} is a symbolic link, which is never followed; expected a regular file") from None
        raise UserError(f"cannot read the {where}: {reason(error)}") from None
    with os.fdopen(handle, "rb") as file:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            raise UserError(f"{where} is not a regular file (a pipe, socket or device); expected a file ({remedy})")
        require_memory(JSON_BYTES_PER_BYTE * status.st_size, f"reading the {where}", f"{remedy}")
        try:
            raw = file.read()
        except OSError as error:
            raise UserError(f"cannot read the {where}: {reason(error)}") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False  # not JSON: not a file gaussgan wrote


def _whole_entry(key, entry) -> list[float] | None:
    """An entry's values if it is whole: a key that says what it is, as many finite numbers as it claims, and
    the digest of both; None otherwise."""
    match = NULL_KEY.fullmatch(key) if isinstance(key, str) else None
    if match is None or not isinstance(entry, dict):
        return None
    values, digest = entry.get("values"), entry.get("sha256")
    if not isinstance(values, list) or len(values) != int(match["repeats"]) or not isinstance(digest, str):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    numbers = [float(v) for v in values]
    if not np.all(np.isfinite(numbers)) or entry_digest(key, numbers) != digest:
        return None
    return numbers


def _older_layout(content) -> bool:
    """A cache of the layout gaussgan wrote before digests: a JSON object of null keys and lists."""
    return (
        isinstance(content, dict)
        and bool(content)
        and all(isinstance(k, str) and NULL_KEY.fullmatch(k) and isinstance(v, list) for k, v in content.items())
    )


def draw_null(metric: Metric, context: Context, n: int, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """``repeats`` values of ``metric`` on honest parent samples of size ``n``, drawn with ``rng``."""
    values = metric.simulate_null(context, n, repeats, rng)
    if values is None:
        values = np.array([metric.value(context.parent.sample(n, rng), context) for _ in range(repeats)])
    return np.asarray(values, dtype=float)


def plausible(metric: Metric, context: Context, n: int, cached: np.ndarray) -> bool:
    """Whether a cached null looks like fresh draws from the parent (their own seeded stream): the same
    distribution by a two-sample KS test, and the same spread by the Ansari-Bradley test (KS alone misses a
    null scaled about its centre), each at half of CHECK_LEVEL."""
    from scipy import stats

    fresh = draw_null(metric, context, n, CHECK_DRAWS, context.rng(f"null check {metric.name} {n}"))
    if not np.all(np.isfinite(fresh)):
        return True  # nothing to compare with: the metric itself is undefined here
    if np.ptp(fresh) == 0 or np.ptp(cached) == 0:
        return bool(np.ptp(fresh) == np.ptp(cached) and fresh[0] == cached[0])  # a constant null: no spread
    _, p_distribution = component_ks(fresh[:, None], cached[:, None])
    p_spread = stats.ansari(fresh, cached).pvalue
    return bool(min(p_distribution[0], p_spread) >= CHECK_LEVEL / 2)


def null_values(metric: Metric, context: Context, n: int, repeats: int, cache: NullCache) -> np.ndarray:
    """``repeats`` values of ``metric`` on honest parent samples of size ``n`` (cached)."""
    key = null_key(metric, context, n, repeats)
    values = cache.get(key)
    if values is not None and (cache.is_checked(key) or plausible(metric, context, n, values)):
        cache.mark_checked(key)
        return values
    if values is not None:
        cache.note(f"its null of {metric.name} at n = {n:,} disagrees with fresh draws from the parent; drawn again")
    values = draw_null(metric, context, n, repeats, context.rng(f"null {metric.name} {n}"))
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
