"""Figures from numbers: every function takes arrays in and writes one PNG out.

Nothing here knows about training or files beyond the path it writes (atomically).
Matplotlib is imported on first use with the Agg backend, and every figure is closed.
"""
from __future__ import annotations

import os

import numpy as np

from gaussgan.files import atomic_path

PARENT_COLOUR, GENERATED_COLOUR = "black", "tab:red"


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: str | os.PathLike, dpi: int = 80) -> None:
    """Write ``figure`` atomically and close it (an open figure would leak memory every epoch)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi)
    pyplot().close(figure)


def norm_histogram(norms: np.ndarray, dim: int, title: str, path: str | os.PathLike, chi_density: bool) -> None:
    """Normalised histogram of Euclidean norms, with the chi(dim) density over it when it applies."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4), layout="constrained")
    axes.hist(norms, bins=60, density=True, color="tab:blue", alpha=0.6, label=f"samples (n = {len(norms):,})")
    if chi_density:
        from scipy import stats

        grid = np.linspace(max(0.0, norms.min()), norms.max(), 400)
        axes.plot(grid, stats.chi.pdf(grid, dim), color=PARENT_COLOUR, label=f"chi density, {dim} degrees of freedom")
    axes.set_xlabel("Euclidean norm ||x||")
    axes.set_ylabel("probability density")
    axes.set_title(title)
    axes.legend()
    save(figure, path, dpi=100)
