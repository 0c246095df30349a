"""What the proof of concept's samples say: the verdict printed after training, and the figure of docs/poc.md."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from gaussgan.errors import UserError
from gaussgan.system.files import check_destination, check_regular_file, reason, refuse_existing

VERDICT_SAMPLES = 10_000
COLLAPSED_STD = 0.2  # a spread this far below 1 means the generator outputs nearly one value
NOISE_P_VALUE = 0.05
CLOSE_KS = 0.03  # the "learned it" bar; the sampling-noise 95th percentile is ~0.014


def verdict_lines(samples: np.ndarray) -> list[str]:
    """Mean, std, KS statistic and p-value against N(0, 1), and a reading, per component."""
    from scipy import stats  # here, not at the top: `generate` never needs scipy's import time

    lines = []
    for index, values in enumerate(samples.T):
        test = stats.kstest(values, "norm")
        mean, std = float(values.mean()), float(values.std())
        prefix = f"component {index + 1}: " if samples.shape[1] > 1 else ""
        lines.append(
            f"{prefix}mean {mean:+.4f}  std {std:.4f}  KS D {test.statistic:.4f}  p {test.pvalue:.3g}"
            f"  -> {reading(mean, std, test.statistic, test.pvalue)}"
        )
    return lines


def reading(mean: float, std: float, ks_statistic: float, p_value: float) -> str:
    """One line that says what the numbers mean for a sample of VERDICT_SAMPLES values."""
    if std < COLLAPSED_STD:
        where = "the mean" if abs(mean) < COLLAPSED_STD else f"the single value {mean:+.2f}"
        return f"collapsed to {where}: nearly one value whatever the input"
    if p_value >= NOISE_P_VALUE:
        return "matches N(0,1) within sampling noise"
    if ks_statistic < CLOSE_KS:
        return "close to N(0,1): KS D < 0.03, but 10,000 samples still tell them apart"
    flaws = []
    if abs(mean) > 0.1:
        flaws.append(f"shifted by {mean:+.2f}")
    if std < 0.9:
        flaws.append("too narrow")
    elif std > 1.1:
        flaws.append("too wide")
    return f"differs from N(0,1): {', '.join(flaws) or 'wrong shape'}"


def comparison_figure(naive_samples: Path, adversarial_samples: Path, out: Path, force: bool = False) -> None:
    """The figure of docs/poc.md: the `generate` output of each script drawn over the N(0, 1) density."""
    naive, adversarial = read_samples(naive_samples), read_samples(adversarial_samples)
    check_destination(out, "the figure file")
    refuse_existing([out], force)
    from gaussgan.figures.plots import poc_comparison  # matplotlib: only once the inputs are read

    poc_comparison(naive, adversarial, out)


def read_samples(path: Path) -> np.ndarray:
    """Numbers written by `generate`, one sample per line; anything else is a UserError."""
    check_regular_file(path, "samples file")
    try:
        with warnings.catch_warnings():  # an empty file warns, then is refused below
            warnings.simplefilter("ignore")
            samples = np.loadtxt(path, ndmin=1)
    except OSError as error:
        raise UserError(f"cannot read samples from {str(path)!r}: {reason(error)}") from None
    except ValueError as error:
        raise UserError(f"{str(path)!r} does not hold numbers written by `generate`: {error}") from None
    if samples.size == 0 or not np.isfinite(samples).all():
        raise UserError(f"{str(path)!r} holds no samples, or samples that are not finite numbers")
    return samples
