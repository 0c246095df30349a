"""The proof of concept's figure: naive.py (MSE) against adversarial.py (GAN), both learning N(0, 1)."""

from __future__ import annotations

import os

import numpy as np

from gaussgan.figures.style import legend_below, pyplot, save


def poc_comparison(naive_samples: np.ndarray, adversarial_samples: np.ndarray, path: str | os.PathLike) -> None:
    """naive.py vs adversarial.py: histograms of their samples over the N(0, 1) density."""
    save(poc_comparison_figure(naive_samples, adversarial_samples), path, dpi=90)


def poc_comparison_figure(naive_samples: np.ndarray, adversarial_samples: np.ndarray):
    from scipy import stats

    plt = pyplot()
    grid = np.linspace(-4, 4, 401)
    bins = np.linspace(-4, 4, 81)
    top = 0.6  # the naive spike goes far above this; its height is written on the panel
    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True, layout="constrained")
    panels = (
        (axes[0], naive_samples, "naive.py (MSE)", "tab:red"),
        (axes[1], adversarial_samples, "adversarial.py (GAN)", "tab:blue"),
    )
    handles = []
    for axis, samples, title, colour in panels:
        samples = np.asarray(samples, dtype=float).ravel()
        test = stats.kstest(samples, "norm")
        heights, _, bars = axis.hist(
            samples, bins=bins, density=True, color=colour, alpha=0.6, label=f"{title}: {len(samples):,} samples"
        )
        (density,) = axis.plot(grid, stats.norm.pdf(grid), color="black", linewidth=1.5, label="N(0, 1) density")
        handles.append(bars.patches[0])  # the first bar carries the label
        outside = int(np.count_nonzero((samples < bins[0]) | (samples > bins[-1])))
        if heights.max() > top:
            axis.annotate(
                f"clipped: peak density {heights.max():.0f}",
                xy=(bins[heights.argmax()], top),
                xytext=(0.62, 0.9),
                textcoords="axes fraction",
                arrowprops={"arrowstyle": "->"},
                fontsize=8,
            )
        outside_note = f", {outside} outside ±4" if outside else ""
        axis.set_title(f"{title}\nstd {samples.std():.3f}, KS D {test.statistic:.3f}{outside_note}", fontsize=10)
        axis.set_xlabel("sample value")
        axis.set_xlim(-4, 4)
        axis.set_ylim(0, top)
    handles.append(density)
    axes[0].set_ylabel("density")
    figure.suptitle(
        "Target N(0, 1): MSE training collapses to the mean, adversarial training learns the bell", fontsize=11
    )
    legend_below(figure, handles)
    return figure
