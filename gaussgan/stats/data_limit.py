"""The limit a finite training set sets, and what theory says a generator's spectrum can look like.

A GAN sees N training rows, not the parent. The best any learner can do from them is judged by a
learner that knows the parent's family: the training set's own Gaussian fit (its sample mean and
covariance). Its n*, measured with the same verdict as a generator's, is the reference drawn next to a
generator's n*: a generator far below it did not learn what its rows hold. It is a reference, not a bound: the
sample covariance is not the best estimate of a covariance, and a learner that shrinks it (as averaging
generators may) can do better (in the atlas, generators at d = 20 reach n* 5,000 where the fit reaches 2,000).
A second fit, to a fresh parent sample of the same size, shows how much of it is the luck of this training set.

Theory that applies without training anything:

* N rows in d dimensions pin the covariance down only to the Marchenko–Pastur range: the eigenvalues of a
  whitened sample covariance spread over (1 ± √(d/N))² (:func:`marchenko_pastur`);
* a generator whose latent dimension k is below d puts its samples on a k-dimensional set, which enough
  samples tell apart at any width (:func:`on_a_lower_dimensional_set`).

:func:`spectrum` measures a sample's side of the first: the range of its covariance eigenvalues and its mean
squared norm in normal scores (whitened for a Gaussian parent), where an honest sample has all eigenvalues
near 1 and a mean squared norm near d.
"""

from __future__ import annotations

import numpy as np

from gaussgan.distributions import Parent

# Rows of a fit's samples drawn at a time: 20,000 x 1,000 float64 is 160 MB.
FIT_CHUNK = 20_000


def marchenko_pastur(dim: int, n: int) -> tuple[float, float]:
    """The range of the eigenvalues of the sample covariance of ``n`` rows of N(0, I_dim), for large n and
    dim at the ratio dim/n: (1 ± √(dim/n))². With dim ≥ n, dim - n eigenvalues are 0 besides it."""
    ratio = dim / n
    low = 0.0 if ratio >= 1 else (1 - np.sqrt(ratio)) ** 2
    return float(low), float((1 + np.sqrt(ratio)) ** 2)


def on_a_lower_dimensional_set(latent_dim: int, dim: int) -> bool:
    """A generator from a latent space of fewer dimensions than the data lies on a set of that dimension:
    its samples are told apart from the parent for n large enough, whatever its width."""
    return latent_dim < dim


def gaussian_fit(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sample mean and covariance (divisor N - 1) of ``rows`` (N, d)."""
    rows = np.asarray(rows, dtype=np.float64)
    return rows.mean(axis=0), np.atleast_2d(np.cov(rows, rowvar=False))


def fit_samples(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of the Gaussian fitted to ``rows``, float64. A covariance of rank below d (N ≤ d) is
    sampled through its eigenvectors, so the samples lie in the span of the rows, as the fit does."""
    mean, covariance = gaussian_fit(rows)
    eigenvalues, vectors = np.linalg.eigh(covariance)
    # Rounding leaves the null directions of a rank-deficient covariance with tiny eigenvalues of either
    # sign: they are 0 (a relative cut far below any real variance).
    eigenvalues = np.where(eigenvalues > 1e-12 * eigenvalues[-1], eigenvalues, 0.0)
    factor = vectors * np.sqrt(eigenvalues)  # covariance = factor @ factor.T
    out = np.empty((n, len(mean)))
    for start in range(0, n, FIT_CHUNK):
        stop = min(n, start + FIT_CHUNK)
        out[start:stop] = mean + rng.standard_normal((stop - start, len(mean))) @ factor.T
    return out


def spectrum(samples: np.ndarray, parent: Parent) -> dict:
    """The range of the covariance eigenvalues and the mean squared norm of ``samples`` in normal scores
    (all eigenvalues near 1 and a mean squared norm near d for an honest sample)."""
    scores = parent.normal_scores(np.asarray(samples, dtype=np.float64))
    eigenvalues = np.linalg.eigvalsh(np.atleast_2d(np.cov(scores, rowvar=False)))
    return {
        "eigenvalue_min": float(eigenvalues[0]),
        "eigenvalue_max": float(eigenvalues[-1]),
        "mean_squared_norm": float(np.mean(np.sum(scores**2, axis=1))),
        "n": len(scores),
    }
