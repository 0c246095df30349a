"""The report's answer in figures: n* (the smallest sample size that tells a generator from the parent)
over the varied options, against the data dimension with the data limit as a reference, and the generators'
covariance spectra beside the Marchenko–Pastur range.

Tables in, one PNG out each. n* arrives as a rank (``n_star_rank``: inf when no size told the generator
apart, NaN without a verdict); a configuration's value is the lower median of its seeds' (a size one of
them had). "Not told apart" is drawn above the largest size tested, marked as such, never as a number.
"""

from __future__ import annotations

import math
import os

import numpy as np

from gaussgan.figures.report_figures import RULE_MARKERS, _nothing, _plain_ticks, _rules, plain_text
from gaussgan.figures.style import PARENT_COLOUR, pyplot, save
from gaussgan.stats.ranks import lower_median
from gaussgan.stats.verdict import GRID


def _short(value: float) -> str:
    if math.isinf(value):
        return "none"
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _label(names: list[str], values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    shown = {"latent_dim": "latent", "n_samples": "N", "scale": "width ×", "latent_sigma": "σ_z"}
    return (
        ", ".join(
            f"{shown.get(name, name)} {value:g}" if isinstance(value, float) else f"{shown.get(name, name)} {value}"
            for name, value in zip(names, values, strict=True)
        )
        or "all runs"
    )


def _axis_options(varied: list[str]) -> tuple[str | None, list[str]]:
    """The option along the x axis (the data dimension when it varies) and those that make the rows."""
    options = [key for key in varied if key not in ("seed", "rule")]
    if not options:
        return None, []
    x = "dim" if "dim" in options else options[0]
    return x, [key for key in options if key != x]


def _rule_panels(plt, table, rules: list[str], height: float):
    """A figure with a panel per rule, side by side: the figure, and (axes, rule, that rule's rows) for each."""
    figure, axes_row = plt.subplots(
        1, len(rules), figsize=(max(8.0, 6.0 * len(rules)), height), layout="constrained", squeeze=False
    )
    panels = []
    for axes, rule in zip(axes_row[0], rules, strict=True):
        axes.set_title(rule, fontsize=10)
        panels.append((axes, rule, table[table["rule"] == rule] if "rule" in table else table))
    return figure, panels


# --- 1. n* over the varied options, per rule -------------------------------------------------------------
@plain_text
def n_star_heatmaps(summary, varied: list[str], path: str | os.PathLike) -> None:
    """Per rule a grid: columns the values of one varied option (the data dimension when it varies), rows
    the configurations of the others; each cell the median n* over its seeds (log colour) with its range."""
    from matplotlib.colors import LogNorm

    plt = pyplot()
    judged = summary[summary["n_star_rank"].notna()] if "n_star_rank" in summary else summary.iloc[0:0]
    rules = _rules(judged if len(judged) else summary)
    x, rows = _axis_options(varied)
    columns = sorted(judged[x].dropna().unique().tolist()) if x and len(judged) else [None]
    keys = sorted({tuple(row[key] for key in rows) for _, row in judged.iterrows()}, key=str) if rows else [()]
    largest = float(judged["max_n"].max()) if "max_n" in judged and len(judged) else math.nan
    width = min(16.0, max(9.0, 0.9 * len(columns) * len(rules) + 3))
    height = min(9.0, max(2.6, 0.45 * len(keys) + 1.6))
    figure, axes_row = plt.subplots(1, len(rules), figsize=(width, height), layout="constrained", squeeze=False)
    finite = judged["n_star_rank"][np.isfinite(judged["n_star_rank"].astype(float))] if len(judged) else []
    top = largest if not math.isnan(largest) else (max(finite) if len(finite) else 1e5)
    norm = LogNorm(min(list(finite) + [100.0]), max(top, 200.0))
    cmap = plt.get_cmap("viridis").copy()
    image = None
    for axes, rule in zip(axes_row[0], rules, strict=True):
        table = judged[judged["rule"] == rule] if "rule" in judged else judged
        if table.empty:
            _nothing(axes, "no verdict")
            axes.set_title(rule, fontsize=10)
            continue
        grid = np.full((len(keys), len(columns)), np.nan)
        for i, key in enumerate(keys):
            for j, column in enumerate(columns):
                chosen = table
                if x is not None:
                    chosen = chosen[chosen[x] == column]
                for name, value in zip(rows, key, strict=True):
                    chosen = chosen[chosen[name] == value]
                if chosen.empty:
                    continue
                median = lower_median(chosen["n_star_rank"].astype(float))
                low, high = chosen["n_star_rank_min"].astype(float).min(), chosen["n_star_rank_max"].astype(float).max()
                grid[i, j] = min(median, top)  # not told apart: the top colour, and said in the cell
                text = _short(median) + ("" if low == high else f"\n{_short(low)}–{_short(high)}")
                bright = not math.isinf(median) and norm(min(median, top)) < 0.6
                axes.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if bright else "black")
        image = axes.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto")
        axes.set_xticks(
            range(len(columns)), [f"{value:g}" if isinstance(value, float) else str(value) for value in columns]
        )
        axes.set_yticks(range(len(keys)), [_label(rows, key) for key in keys], fontsize=8)
        axes.set_xlabel({"dim": "data dimension"}.get(x or "", x or ""))
        axes.set_title(rule, fontsize=10)
    if image is not None:
        bar = figure.colorbar(image, ax=axes_row[0].tolist(), label="n* (median over seeds)")
        low, high = float(norm.vmin or GRID[0]), float(norm.vmax or GRID[-1])
        ticks = [size for size in GRID if low <= size <= high]
        bar.set_ticks(ticks, labels=[_short(size) for size in ticks])
        bar.minorticks_off()
    figure.suptitle(
        f"n*, the smallest sample size that tells generator from parent: larger is better ('none': up to {_short(top)})",
        fontsize=9,
    )
    save(figure, path)


# --- 2. n* against the data dimension, with the data limit --------------------------------------------------
@plain_text
def n_star_versus_dimension(summary, varied: list[str], path: str | os.PathLike, most: int = 8) -> None:
    """Per rule, median n* over seeds against the data dimension (bars: the seeds' range), one line per
    configuration of the other varied options; the training sets' own Gaussian fits as the reference (grey);
    hollow markers where the latent space has fewer dimensions than the data."""
    plt = pyplot()
    judged = summary[summary["n_star_rank"].notna()] if "n_star_rank" in summary else summary.iloc[0:0]
    rules = _rules(judged if len(judged) else summary)
    others = [key for key in varied if key not in ("dim", "seed", "rule", "latent_dim")]
    largest = float(judged["max_n"].max()) if "max_n" in judged and len(judged) else 1e5
    above = largest * 1.8  # where "not told apart up to the largest size" is drawn
    figure, panels = _rule_panels(plt, judged, rules, 4.6)
    colours = plt.get_cmap("tab10")
    for axes, rule, table in panels:
        if table.empty:
            _nothing(axes, "no verdict")
            continue
        groups = list(table.groupby(others + ["latent_dim"], dropna=False)) if "latent_dim" in table else [((), table)]
        groups.sort(key=lambda item: -len(item[1]))  # the configuration with most runs first (the main grid)
        for number, (key, rows) in enumerate(groups[:most]):
            stats = rows.groupby("dim").agg(
                median=("n_star_rank", lower_median), low=("n_star_rank_min", "min"), high=("n_star_rank_max", "max")
            )
            shown = stats.clip(upper=above)
            colour = colours(number % 10)
            label = _label(others + (["latent_dim"] if "latent_dim" in table else []), key)
            below = rows.groupby("dim")["latent_below_dim"].any() if "latent_below_dim" in rows else None
            axes.errorbar(
                shown.index, shown["median"], yerr=[shown["median"] - shown["low"], shown["high"] - shown["median"]],
                color=colour, linewidth=1.2, capsize=3, label=label, zorder=3,
            )  # fmt: skip
            for dim, value in shown["median"].items():
                hollow = below is not None and bool(below.get(dim, False))
                axes.plot(
                    dim, value, marker=RULE_MARKERS.get(rule, "o"), markersize=6, color=colour, zorder=4,
                    markerfacecolor="white" if hollow else colour,
                )  # fmt: skip
        if "data_limit_fit" in table:
            limit = table.groupby(["dim", "n_samples"] if "n_samples" in table else ["dim"])["data_limit_fit"].agg(
                lower_median
            )
            for n_samples, values in limit.groupby(level=1) if limit.index.nlevels > 1 else [(None, limit)]:
                values = values.droplevel(1) if values.index.nlevels > 1 else values
                values = values.dropna().clip(upper=above)
                if values.empty:
                    continue
                axes.plot(
                    values.index, values.to_numpy(), linestyle="--", marker="x", color="grey", zorder=2,
                    label="the training set's own Gaussian fit"
                    + (f" (N = {int(n_samples):,})" if n_samples is not None and len(limit) > len(values) else ""),
                )  # fmt: skip
        axes.axhline(largest, color=PARENT_COLOUR, linewidth=0.8, linestyle=":")
        axes.text(0.5, above, f"not told apart up to {largest:,.0f}", va="center", ha="center", fontsize=7,
                  color="grey", transform=axes.get_yaxis_transform())  # fmt: skip
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_ylim(50, above * 1.6)
        _plain_ticks(axes.xaxis, table["dim"])
        _plain_ticks(axes.yaxis)
        axes.set_xlabel("data dimension")
        axes.set_ylabel("n* (median over seeds; bars: range)")
        axes.legend(fontsize=7, loc="best")
    figure.suptitle(
        "n* against the data dimension, beside the training set's own Gaussian fit (grey); hollow: latent dimension "
        "< data dimension",
        fontsize=10,
    )
    save(figure, path)


# --- 3. The generators' spectra and Marchenko–Pastur -------------------------------------------------------
@plain_text
def spectra(summary, path: str | os.PathLike) -> None:
    """Each run's covariance eigenvalue range (normal scores; a bar) against the data dimension, per rule, with
    the Marchenko–Pastur range of its training set (grey band) and of an honest sample as large as the
    verdict's (dark band): bars outside the bands are the generator's own error. A latent space smaller than
    the data leaves eigenvalues near 0 (hollow markers)."""
    plt = pyplot()
    needed = ("eigenvalue_min", "eigenvalue_max", "dim")
    table = (
        summary.dropna(subset=[column for column in needed if column in summary])
        if all(column in summary for column in needed)
        else summary.iloc[0:0]
    )
    rules = _rules(table if len(table) else summary)
    figure, panels = _rule_panels(plt, table, rules, 4.2)
    for axes, _, rows in panels:
        if rows.empty:
            _nothing(axes, "no spectrum recorded")
            continue
        for columns, colour, label in (
            (("mp_training_min", "mp_training_max"), "0.85", "Marchenko–Pastur, the training set"),
            (("mp_samples_min", "mp_samples_max"), "0.55", "an honest sample as large as the verdict's"),
        ):
            if all(column in rows for column in columns):
                band = rows.groupby("dim")[list(columns)].median().dropna()
                for number, (dim, (low, high)) in enumerate(band.iterrows()):  # a box at each dimension
                    axes.fill_between([dim / 1.06, dim * 1.2], low, high, color=colour, linewidth=0,
                                      label=label if number == 0 else None)  # fmt: skip
        dims = np.sort(rows["dim"].unique())
        offsets = {dim: 1.0 for dim in dims}
        for _, row in rows.sort_values("seed" if "seed" in rows else "dim").iterrows():
            dim = row["dim"]
            where = dim * offsets[dim]
            offsets[dim] *= 1.04  # seeds side by side
            hollow = bool(row.get("latent_below_dim", False))
            low = max(float(row["eigenvalue_min"]), 1e-4)
            axes.plot([where, where], [low, row["eigenvalue_max"]], color="tab:red", linewidth=1.2)
            for value in (low, row["eigenvalue_max"]):
                axes.plot(where, value, marker="_" if not hollow else "o", color="tab:red", markersize=6,
                          markerfacecolor="white")  # fmt: skip
        axes.axhline(1, color=PARENT_COLOUR, linewidth=0.8, linestyle="--", label="the parent: all 1")
        axes.set_xscale("log")
        axes.set_yscale("log")
        _plain_ticks(axes.xaxis, dims)
        _plain_ticks(axes.yaxis)
        axes.set_xlabel("data dimension")
        axes.set_ylabel("covariance eigenvalues (min to max)")
        axes.legend(fontsize=7, loc="best")
    figure.suptitle(
        "The generators' covariance eigenvalues (red bars, one per run) against Marchenko–Pastur", fontsize=10
    )
    save(figure, path)
