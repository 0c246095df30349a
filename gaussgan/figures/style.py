"""What every figure shares: matplotlib on the Agg backend, atomic saving, colours, legends and titles."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence

import numpy as np

from gaussgan.system.files import atomic_path

PARENT_COLOUR, GENERATED_COLOUR = "black", "tab:red"
P_FLOOR = 1e-20  # smallest p-value drawn; smaller ones are drawn on it with their own marker, and counted


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: str | os.PathLike, dpi: int = 80) -> None:
    """Write ``figure`` atomically and close it (an open figure would leak memory every epoch)."""
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=dpi)
    finally:
        pyplot().close(figure)


def legend_below(figure, handles: Sequence, ncols: int | None = None) -> None:
    """The figure's one legend, outside every axes, under them (constrained layout makes room)."""
    handles = [handle for handle in handles if not str(handle.get_label()).startswith("_")]
    if handles:
        figure.legend(
            handles=handles, loc="outside lower center", ncols=ncols or min(len(handles), 3), fontsize=8, frameon=False
        )


def wrap(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` characters (a suptitle does not wrap by itself)."""
    return "\n".join(textwrap.wrap(text, max(width, 30)))


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 component``, ``2 components``: the count with the right form of the word."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def describe_parent(parent) -> str:
    """What the parent is, for a title: its family, parameters, correlations and bounds.

    E.g. ``N(0, I) in 10-d``, ``N(0, Σ) in 10-d: variance 1, correlation 0.5 within blocks of 2``,
    ``N(0, 1) truncated to [-1.5, 1.5], each of 10 components``.
    """
    sigma = np.asarray(parent.sigma)
    diag = float(sigma[0, 0])
    where = f"in {parent.dim}-d"
    if parent.name == "gauss":
        if parent.is_diagonal:
            scale = "I" if diag == 1 else f"{diag:g}·I"
            return f"N({parent.mu:g}, {scale}) {where}"
        return f"N({parent.mu:g}, Σ) {where}: {_correlation_structure(sigma)}"
    if parent.name == "cauchy":
        return f"Cauchy(location {parent.mu:g}, scale {diag:g}) {where}, independent components"
    if parent.name == "uniform":
        return f"U[{parent.xlo:g}, {parent.xhi:g}] {where}, independent components"
    return f"N({parent.mu:g}, {diag:g}) truncated to [{parent.xlo:g}, {parent.xhi:g}] {where}, independent components"


def _correlation_structure(sigma: np.ndarray) -> str:
    """The covariance that ``--sigma DIAG OFFDIAG BLOCK`` builds, in words (band or blocks)."""
    variances = np.diag(sigma)
    variance = f"variance {variances[0]:g}" if np.all(variances == variances[0]) else "unequal variances"
    rows, columns = np.nonzero(np.triu(sigma, k=1))
    first, second = rows[0], columns[0]
    correlation = sigma[first, second] / np.sqrt(variances[first] * variances[second])
    dim = len(sigma)
    if dim > 2 and np.all(columns - rows == 1) and len(rows) == dim - 1:
        return f"{variance}, correlation {correlation:.3g} between neighbouring components (a band)"
    block = int(np.count_nonzero(sigma[0]))
    if block >= dim:
        return f"{variance}, correlation {correlation:.3g} between every pair of components"
    return f"{variance}, correlation {correlation:.3g} within blocks of {block} components"
