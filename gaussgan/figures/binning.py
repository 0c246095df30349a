"""How values become bars: the number of bins, edges over the bulk, densities, and what lies outside."""

from __future__ import annotations

import math

import numpy as np

# A histogram's range: the reference's central 99%, but no wider than the median ± ROBUST_WIDTH
# interquartile ranges, so that a heavy tail (Cauchy: the 99.5% quantile is 63 scales out) leaves
# the bulk visible. For a Gaussian the quantiles are the narrower (2.6 sigma against 5.4).
ROBUST_WIDTH = 4.0
# Positive values whose 99.5% quantile is this many interquartile ranges above the median are
# heavy-tailed: drawn on a log axis (a Gaussian's norm: about 2; a Cauchy's: 30 and more).
HEAVY_TAIL_RATIO = 8.0


def finite_values(values) -> np.ndarray:
    """The finite values, flattened: NaN and inf (a diverged generator's output) are never drawn."""
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def bin_count(n_values: int, most: int = 60) -> int:
    """Histogram bins for ``n_values`` values: the Rice rule, 2 n^(1/3), between 5 and ``most``.

    1000 values get 20 bins, 45 get 7: each bar holds enough values to be more than noise.
    """
    return int(min(most, max(5, math.ceil(2 * max(n_values, 1) ** (1 / 3)))))


def heavy_tailed(values) -> bool:
    """Positive values with a tail far beyond their bulk (norms of Cauchy samples): draw on a log axis."""
    values = finite_values(values)
    if values.size < 20 or values.min() <= 0:
        return False
    q25, median, q75, q995 = np.percentile(values, [25, 50, 75, 99.5])
    return bool(q995 - median > HEAVY_TAIL_RATIO * max(q75 - q25, 1e-300))


def histogram_edges(reference, bins: int | None = None, log: bool = False) -> np.ndarray:
    """Bin edges over the bulk of ``reference``: its central 99%, at most the median ± 4 IQR.

    With ``log``, geometric edges over the whole positive range (nothing is left outside).
    Only finite values count: a diverged generator's NaN or infinite output must not break a figure.
    """
    reference = finite_values(reference)
    bins = bins or bin_count(reference.size)
    if not reference.size:
        return np.linspace(-1, 1, bins + 1)
    if log:
        positive = reference[reference > 0]
        low, high = (positive.min(), positive.max()) if positive.size else (1.0, 10.0)
        if not high > low:
            low, high = low / 2, high * 2
        return np.geomspace(low, high * (1 + 1e-9), bins + 1)
    q005, q25, median, q75, q995 = np.percentile(reference, [0.5, 25, 50, 75, 99.5])
    spread = ROBUST_WIDTH * (q75 - q25)
    low, high = (max(q005, median - spread), min(q995, median + spread)) if spread > 0 else (q005, q995)
    if not high > low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def histogram_density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Density of ``values`` over ``edges``, per all of them: the bars add up to the share drawn, not to 1."""
    counts, _ = np.histogram(values, bins=edges)  # NaN and values outside the edges are not counted
    return counts / (max(1, len(values)) * np.diff(edges))


def count_outside(values: np.ndarray, edges: np.ndarray) -> tuple[int, int]:
    """How many values lie below and above the drawn range (NaN and inf counted above: not drawn either)."""
    values = np.asarray(values, dtype=float).ravel()
    below = int(np.count_nonzero(values < edges[0]))
    return below, int(values.size - below - np.count_nonzero((values >= edges[0]) & (values <= edges[-1])))


def percent_of(count: int, total: int) -> str:
    """``count`` as a share of ``total``, for a note on what the figure leaves out."""
    return f"{100 * count / max(total, 1):.2g}%"


def finite_max(values: np.ndarray, default: float) -> float:
    """The largest finite value, or ``default`` when there is none (axis limits must be finite)."""
    finite = finite_values(values)
    return float(finite.max()) if finite.size else default
