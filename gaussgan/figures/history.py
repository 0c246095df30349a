"""Figures over the epochs of a run: the losses per step, the norm-KS p-values, and the headline
metrics against their noise floor."""

from __future__ import annotations

import math

import numpy as np

from gaussgan.figures.reuse import rescale, reused, write_reused
from gaussgan.figures.style import GENERATED_COLOUR, P_FLOOR, PARENT_COLOUR, legend_below, pyplot, save
from gaussgan.stats.floors import ratio_to_floor


def losses(
    d_position: np.ndarray,
    d_loss: np.ndarray,
    g_position: np.ndarray,
    g_loss: np.ndarray,
    path,
    rule: str | None = None,
) -> None:
    """D loss per discriminator step and G loss per generator step, raw and smoothed over one epoch.

    Positions are fractional epochs, so both curves share the x axis whatever ``critic_steps`` is. For the
    vanilla rule, the losses against the optimal discriminator of a perfect generator are drawn for
    reference; a WGAN-GP critic's values (or an unknown rule's, None) have no such reference.
    """
    write_reused(losses_figure(d_position, d_loss, g_position, g_loss, rule), path, dpi=80)


# The vanilla losses against the optimal discriminator, D = 1/2 everywhere, when the generator matches
# the parent: softplus(-d_real).mean() + softplus(d_fake).mean() = 2 ln 2 for the discriminator, and the
# non-saturating softplus(-d_fake).mean() = ln 2 for the generator (an R1 penalty adds 0: no gradient).
VANILLA_REFERENCES = (
    ("tab:blue", 2 * math.log(2), "optimal discriminator: discriminator loss 2 ln 2 ≈ 1.386"),
    ("tab:orange", math.log(2), "optimal discriminator: generator loss ln 2 ≈ 0.693"),
)


def losses_figure(
    d_position: np.ndarray, d_loss: np.ndarray, g_position: np.ndarray, g_loss: np.ndarray, rule: str | None = None
):
    def build():
        plt = pyplot()
        figure, axes = plt.subplots(figsize=(8, 4.8), layout="constrained")
        lines = []
        for colour, name in (("tab:blue", "discriminator"), ("tab:orange", "generator")):
            lines.append(axes.plot([], [], color=colour, alpha=0.25, linewidth=0.5, label=f"{name}, every step")[0])
            lines.append(axes.plot([], [], color=colour, label=f"{name}, moving average over one epoch")[0])
        references = [
            axes.axhline(level, color=colour, linestyle="--", linewidth=1, label=label)
            for colour, level, label in (VANILLA_REFERENCES if rule == "vanilla" else ())
        ]
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss")
        axes.set_title("Training losses per step", fontsize=10)
        legend_below(figure, lines + references, ncols=2)
        return figure, (axes, lines)

    figure, (axes, lines) = reused(("losses", rule), build)
    for (raw, smooth), position, values in zip(
        (lines[:2], lines[2:]), (d_position, g_position), (d_loss, g_loss), strict=True
    ):
        position, values = np.asarray(position, dtype=float), np.asarray(values, dtype=float)
        thin = max(1, len(values) // 3000)  # a few thousand points show the noise as well as all of them
        raw.set_data(position[::thin], values[::thin])
        start = position[0] if len(position) else 0.0
        window = max(1, int(np.count_nonzero(position <= math.floor(start) + 1)))
        if len(values) >= window:
            smooth.set_data(position[window - 1 :], np.convolve(values, np.ones(window) / window, mode="valid"))
    rescale(axes)
    return figure


def pvalues(
    epochs: np.ndarray, p_parent: np.ndarray, p_train: np.ndarray, rejected: np.ndarray, n_components: int, path
) -> None:
    """Norm-KS p-values per epoch (vs parent, vs train) and the share of rejected components."""
    write_reused(pvalues_figure(epochs, p_parent, p_train, rejected, n_components), path, dpi=80)


def pvalues_figure(
    epochs: np.ndarray, p_parent: np.ndarray, p_train: np.ndarray, rejected: np.ndarray, n_components: int
):
    def build():
        plt = pyplot()
        figure, axes = plt.subplots(figsize=(8, 5), layout="constrained")
        axes.set_yscale("log")
        (parent,) = axes.plot([], [], "o-", markersize=3, label="norm KS p, vs fresh parent sample")
        (train,) = axes.plot([], [], "s-", markersize=3, label="norm KS p, vs training subset")
        (clipped,) = axes.plot([], [], "v", color="tab:purple", markersize=6, label="clipped")
        threshold = axes.axhline(0.05, color=PARENT_COLOUR, linestyle="--", linewidth=1, label="p = 0.05")
        axes.set_xlabel("epoch")
        axes.set_ylabel(f"p-value (log scale, from {P_FLOOR:g})")
        axes.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        share = axes.twinx()
        (share_line,) = share.plot(
            [], [], color=GENERATED_COLOUR, linewidth=1.2, label="components rejected at 0.05 (raw), %"
        )
        expected = share.axhline(5, color=GENERATED_COLOUR, linestyle=":", linewidth=1, label="5%: a perfect generator")
        share.set_ylabel("components rejected at 0.05 (%)", color=GENERATED_COLOUR)
        share.set_ylim(-4, 104)  # 0% and 100% inside the frame, not on it
        axes.set_title("Is the generator distinguishable from the parent? (p < 0.05: yes)", fontsize=10)
        legend_below(figure, [parent, train, clipped, threshold, share_line, expected], ncols=2)
        return figure, (axes, parent, train, clipped, share_line)

    figure, (axes, parent, train, clipped, share_line) = reused(("pvalues",), build)
    epochs = np.asarray(epochs, dtype=float)
    p_parent, p_train = np.asarray(p_parent, dtype=float), np.asarray(p_train, dtype=float)
    # Early epochs reach p ~ 1e-300; drawing from 1e-20 keeps the decades around 0.05 readable, and
    # what lies below is drawn on the floor with its own marker and counted.
    parent.set_data(epochs, np.maximum(p_parent, P_FLOOR))
    train.set_data(epochs, np.maximum(p_train, P_FLOOR))
    low_parent, low_train = ~(p_parent >= P_FLOOR), ~(p_train >= P_FLOOR)
    low = low_parent | low_train
    clipped.set_data(epochs[low], np.full(np.count_nonzero(low), P_FLOOR))
    clipped.set_label(
        f"below {P_FLOOR:g}, drawn on it: {np.count_nonzero(low_parent)} vs parent, {np.count_nonzero(low_train)} vs train"
    )
    figure.legends[0].texts[2].set_text(clipped.get_label())
    share_line.set_data(epochs, 100 * np.asarray(rejected, dtype=float) / n_components)
    axes.set_ylim(P_FLOOR / 5, 3)  # p-values are at most 1; autoscaling on a log axis would add decades of margin
    first, last = (epochs.min(), epochs.max()) if epochs.size else (0, 1)
    axes.set_xlim(first - 0.5, max(last, first + 1) + 0.5)
    share_line.axes.set_xlim(axes.get_xlim())
    return figure


def training_metrics(rows: list[dict], path) -> None:
    """Each headline metric divided by its noise floor, over epochs: at 1 or below, the generator is
    indistinguishable from the parent by that metric.

    ``rows`` are training_details.csv rows. A metric NAME is read from ``m_NAME`` (value) and
    ``m_NAME_floor`` (the null's 95th percentile); without such columns, today's headline numbers:
    norm KS D ÷ ``ks_floor_95`` and the off-diagonal correlation spread ÷ the parent sample's.
    """
    save(training_metrics_figure(rows), path, dpi=80)


def headline_ratios(rows: list[dict]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Value ÷ floor per metric over the rows, and the metrics whose floor is 0 that were ever nonzero."""

    def column(name: str) -> np.ndarray:
        values = []
        for row in rows:
            try:
                values.append(float(row.get(name, math.nan)))
            except (TypeError, ValueError):
                values.append(math.nan)
        return np.array(values)

    names = sorted({key[2:-6] for row in rows for key in row if key.startswith("m_") and key.endswith("_floor")})
    pairs = [(f"{name} ÷ its floor", f"m_{name}", f"m_{name}_floor") for name in names]
    if not pairs:  # today's headline numbers, before the calibrated metrics
        pairs = [
            ("norm KS D ÷ the KS floor (ks_floor_95)", "norm_ks_parent_D", "ks_floor_95"),
            ("off-diagonal correlation std ÷ the parent sample's", "offdiag_std_generated", "offdiag_std_parent"),
        ]
    ratios, zero_floor = {}, []
    for name, value_key, floor_key in pairs:
        values, floors = column(value_key), column(floor_key)
        if not np.isfinite(values).any():
            continue
        positive = floors > 0
        ratio = np.where(positive, ratio_to_floor(values, floors), np.nan)
        if np.isfinite(ratio).any():
            ratios[name] = ratio
        if np.any((floors == 0) & (values != 0) & np.isfinite(values)):
            zero_floor.append(value_key.removeprefix("m_"))
    return ratios, zero_floor


def training_metrics_figure(rows: list[dict]):
    plt = pyplot()
    epochs = np.array([float(row.get("epoch", index)) for index, row in enumerate(rows)], dtype=float)
    ratios, zero_floor = headline_ratios(rows)
    figure, axes = plt.subplots(figsize=(8, 5), layout="constrained")
    axes.set_yscale("log")
    markers = "os^Dv<>ph*"
    handles = []
    positive = np.concatenate([ratio[np.isfinite(ratio) & (ratio > 0)] for ratio in ratios.values()] or [np.ones(1)])
    positive = positive if positive.size else np.ones(1)  # every value at or below 0: the axis as for 1
    # A value at or below 0 (an unbiased MMD² can be negative) has no place on a log axis: drawn at
    # 0.001, or below every positive value, with its own marker.
    at_or_below_zero = min(1e-3, 10 ** math.floor(math.log10(positive.min()) - 1))
    for index, (name, ratio) in enumerate(ratios.items()):
        present = np.isfinite(ratio) & (ratio > 0)
        every_epoch = present.all()
        (line,) = axes.plot(
            epochs[present],
            ratio[present],
            marker=markers[index % len(markers)],
            markersize=4,
            linestyle="-" if every_epoch else "none",  # a costly metric measured now and then: markers only
            label=name + ("" if every_epoch else " (epochs where measured)"),
        )
        handles.append(line)
        zero = np.isfinite(ratio) & (ratio <= 0)
        if zero.any():
            (at_zero,) = axes.plot(
                epochs[zero],
                np.full(np.count_nonzero(zero), at_or_below_zero),
                "v",
                color=line.get_color(),
                markersize=6,
            )
            at_zero.set_label(f"{name} ≤ 0 (drawn at {at_or_below_zero:g})")
            handles.append(at_zero)
    floor = axes.axhline(
        1, color=PARENT_COLOUR, linestyle="--", linewidth=1.2, label="noise floor (1 = the null's 95%)"
    )
    handles.append(floor)
    if not ratios:
        axes.text(
            0.5, 0.5, "no metric with a positive noise floor in these rows", transform=axes.transAxes, ha="center"
        )
    drawn = [positive]
    if any(np.any(ratio <= 0) for ratio in ratios.values()):
        drawn.append(np.array([at_or_below_zero]))
    values = np.concatenate(drawn)
    axes.set_ylim(min(0.3, values.min() / 1.5), max(3.0, values.max() * 1.5))  # every marker inside the frame
    if epochs.size:
        axes.set_xlim(epochs.min() - 0.5, max(epochs.max(), epochs.min() + 1) + 0.5)
    axes.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("metric ÷ its noise floor (log scale)")
    title = "Headline metrics against their noise floor: at or below 1, indistinguishable from the parent"
    axes.set_title(title, fontsize=10)
    if zero_floor:
        figure.text(
            0.01,
            0.01,
            f"floor 0 (any nonzero value is a failure), nonzero in some epoch: {', '.join(zero_floor)}",
            fontsize=8,
            color=GENERATED_COLOUR,
        )
    legend_below(figure, handles, ncols=2)
    return figure
