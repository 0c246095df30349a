"""n* values as ranks, in plain Python (light enough for a command's --help): the lower median of several."""

from __future__ import annotations

import math


def lower_median(values) -> float:
    """The lower median of the values that are not NaN (inf counts as the largest); NaN when none is left. Of
    sizes of a grid it is a size one of them had, never an average of two."""
    ranked = sorted(value for value in values if not math.isnan(value))
    return ranked[(len(ranked) - 1) // 2] if ranked else math.nan
