"""How far is a generated sample from the parent? Every statistic, on numpy arrays only.

Each number comes with its noise floor: what two honest samples of the same size from the
parent would show. A generator is indistinguishable from the parent at this sample size
when its numbers sit at that floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaussgan.stats.constants import ALPHA
from gaussgan.stats.ks import component_ks, ks_critical_value

# scipy.stats is imported where it is used: it costs half a second, and a run refused at start-up
# (a damaged file, a busy run directory) should say so at once.


def rejected(pvalues: np.ndarray, alpha: float = ALPHA) -> tuple[int, int]:
    """Components rejected at ``alpha``: without correction (~5% for a perfect generator) and
    after Benjamini-Hochberg, which controls the false discovery rate over the d tests."""
    from scipy import stats

    # A diverged generator (NaN or inf output) gives NaN p-values: count those components as rejected.
    finite = np.isfinite(pvalues)
    failed = int(np.count_nonzero(~finite))
    raw = int(np.count_nonzero(pvalues[finite] < alpha)) + failed
    adjusted = stats.false_discovery_control(pvalues[finite]) if finite.any() else np.array([])
    return raw, int(np.count_nonzero(adjusted < alpha)) + failed


def norms(x: np.ndarray) -> np.ndarray:
    """Euclidean norm of every sample (row)."""
    return np.linalg.norm(x, axis=1)


def correlation(x: np.ndarray) -> np.ndarray:
    """Correlation matrix of the components, (d, d); a 1x1 matrix [[1]] for d = 1."""
    return np.atleast_2d(np.corrcoef(x, rowvar=False))


def off_diagonal(matrix: np.ndarray) -> np.ndarray:
    """The elements above the diagonal (each pair once)."""
    return matrix[np.triu_indices(len(matrix), k=1)]


def off_diagonal_std(matrix: np.ndarray) -> float:
    """Spread of the off-diagonal correlations; NaN when there are none (d = 1)."""
    values = off_diagonal(matrix)
    return float(values.std()) if values.size else float("nan")


@dataclass
class Comparison:
    """A generated sample compared with a fresh parent sample and a training subset of the same size."""

    ks_statistic: np.ndarray  # per component, generated vs parent
    ks_pvalue: np.ndarray
    rejected_raw: int
    rejected_bh: int
    norm_ks_parent: tuple[float, float]  # (D, p) of the norms, generated vs fresh parent
    norm_ks_train: tuple[float, float]  # (D, p) of the norms, generated vs training subset
    norms_generated: np.ndarray
    norms_parent: np.ndarray
    corr_generated: np.ndarray
    corr_parent: np.ndarray  # the noise floor for the correlations
    mean: np.ndarray  # per component, generated
    std: np.ndarray
    ks_floor: float  # 95th percentile of the KS statistic for two honest samples of this size

    def summary(self) -> dict[str, float]:
        """The scalar numbers of one epoch, as in ``training_details.csv``."""
        return {
            "norm_ks_parent_D": self.norm_ks_parent[0],
            "norm_ks_parent_p": self.norm_ks_parent[1],
            "norm_ks_train_D": self.norm_ks_train[0],
            "norm_ks_train_p": self.norm_ks_train[1],
            "rejected_raw": self.rejected_raw,
            "rejected_bh": self.rejected_bh,
            "comp_ks_mean_D": float(self.ks_statistic.mean()),
            "comp_ks_max_D": float(self.ks_statistic.max()),
            "ks_floor_95": self.ks_floor,
            "offdiag_std_generated": off_diagonal_std(self.corr_generated),
            "offdiag_std_parent": off_diagonal_std(self.corr_parent),
            "mean_min": float(self.mean.min()),
            "mean_max": float(self.mean.max()),
            "std_min": float(self.std.min()),
            "std_max": float(self.std.max()),
        }


def compare(generated: np.ndarray, parent_sample: np.ndarray, train_sample: np.ndarray) -> Comparison:
    """All the diagnostics of one epoch. The three arrays are (n, d) and should have the same n.

    A diverged generator (NaN or infinite output) gives NaN statistics, not warnings or errors.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _compare(generated, parent_sample, train_sample)


def _compare(generated: np.ndarray, parent_sample: np.ndarray, train_sample: np.ndarray) -> Comparison:
    from scipy import stats

    statistic, pvalue = component_ks(generated, parent_sample)
    raw, corrected = rejected(pvalue)
    norms_generated, norms_parent = norms(generated), norms(parent_sample)
    vs_parent = stats.ks_2samp(norms_generated, norms_parent)
    vs_train = stats.ks_2samp(norms_generated, norms(train_sample))
    return Comparison(
        ks_statistic=statistic,
        ks_pvalue=pvalue,
        rejected_raw=raw,
        rejected_bh=corrected,
        norm_ks_parent=(float(vs_parent.statistic), float(vs_parent.pvalue)),
        norm_ks_train=(float(vs_train.statistic), float(vs_train.pvalue)),
        norms_generated=norms_generated,
        norms_parent=norms_parent,
        corr_generated=correlation(generated),
        corr_parent=correlation(parent_sample),
        mean=generated.mean(axis=0),
        std=generated.std(axis=0, ddof=1),
        ks_floor=ks_critical_value(len(generated), len(parent_sample)),
    )
