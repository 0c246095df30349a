"""Copies of training rows: is a generated sample's nearest row a training row more often than chance?"""

from __future__ import annotations

import numpy as np

from gaussgan.stats.floors import drawn_floor, drawn_pvalue
from gaussgan.stats.metrics.base import Metric, Score, counted

# Samples memorisation looks at, at most, and the training rows it compares them with: the nearest-row
# search costs their product.
MEMORISATION_SAMPLES = 1000
MEMORISATION_TRAIN_ROWS = 20_000


class Memorisation(Metric):
    """Copies of training rows: for each generated sample, is its nearest neighbour among the training
    rows and as many fresh parent samples a training row? The value is the share that is, 1/2 for a
    generator whose samples do not depend on its training rows, whatever else is wrong with them.

    Null (exact, a permutation test): training rows and fresh samples are then two samples of the
    parent, so which half of the pooled rows is "training" is a uniformly random split; the count is
    redrawn over such splits. Comparing each sample's distance to the training rows with the distance of
    fresh samples to them instead would flag any generator that is too narrow (it sits where rows are
    dense) as a copier.
    """

    short = "memorisation"

    name, label, null, costly, cap = (
        "memorisation",
        "memorisation (nearest row a training row)",
        "analytic",
        True,
        MEMORISATION_SAMPLES,
    )
    SPLITS = 1999

    def undefined(self, parent):
        return ""

    def score(self, x, context):
        train = context.train
        assert train is not None
        rows = (
            train
            if len(train) <= MEMORISATION_TRAIN_ROWS
            else train[context.rng("memorisation rows").choice(len(train), MEMORISATION_TRAIN_ROWS, replace=False)]
        )
        fresh = context.parent.sample(len(rows), context.rng("memorisation"))
        distance, nearest = nearest_row(x, np.vstack([rows, fresh]))
        to_train = nearest < len(rows)
        count = int(to_train.sum())
        splits = self.split_counts(np.bincount(nearest, minlength=2 * len(rows)), len(rows), context)
        p = drawn_pvalue(splits, count)
        floor = drawn_floor(splits) / len(x)
        # A copy: a training row up to float32 rounding (a generator computes in float32).
        copies = int(np.sum(to_train & (distance <= 1e-7 * np.linalg.norm(x, axis=1))))
        detail = (
            f"{count} of {len(x)} samples nearest a training row (honest: half); "
            f"{counted(copies, 'copy', 'copies')} of a training row"
        )
        return Score(count / len(x), p, detail, floor)

    def split_counts(self, nearest_counts: np.ndarray, rows: int, context) -> np.ndarray:
        """The count over random splits of the pooled rows into ``rows`` "training" rows and the others:
        only the rows some sample is nearest to matter, labelled by drawing without replacement."""
        rng = context.rng("memorisation splits")
        counts = nearest_counts[nearest_counts > 0]
        totals = np.zeros(self.SPLITS)
        left = np.full(self.SPLITS, float(rows))  # training labels not yet handed out, per split
        for drawn, count in enumerate(counts):
            training = rng.random(self.SPLITS) < left / (2 * rows - drawn)
            totals += training * count
            left -= training
        return totals

    def floor(self, parent, n):
        raise NotImplementedError("memorisation's floor depends on the sample: Score.floor")


def nearest_row(x: np.ndarray, rows: np.ndarray, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The index of the nearest row of ``rows`` to every sample of ``x``, found in blocks of bounded
    memory, and the distance to it (by subtraction: exactly 0 for a copy, where the expanded square
    ||x||² + ||r||² - 2 x·r leaves rounding)."""
    row_norms = (rows * rows).sum(axis=1)
    index = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), block):
        squared = x[start : start + block] @ rows.T  # ||x||² is the same along a row: left out
        squared *= -2
        squared += row_norms[None, :]
        index[start : start + block] = squared.argmin(axis=1)
    return np.linalg.norm(x - rows[index], axis=1), index
