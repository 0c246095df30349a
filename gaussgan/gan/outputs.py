"""What a run shows as it goes: each epoch's figure jobs (for the figure worker), the line it prints,
the best epoch so far, and the summary at the end."""

from __future__ import annotations

import numpy as np

from gaussgan.figures import plots
from gaussgan.gan.checkpoint import State
from gaussgan.gan.options import TrainConfig
from gaussgan.gan.rundir import LOSSES_FIGURE, METRICS_FIGURE, PVALUES_FIGURE, RunDirectory


def epoch_figures(
    directory: RunDirectory, comparison, *, generated, fresh, epoch: int, last: bool, config: TrainConfig
) -> list:
    """The figures of one epoch, as (function, arguments) jobs for the figure worker."""
    jobs = [
        (
            plots.component_histograms,
            (generated, fresh, epoch, directory.figure("comp_hist", epoch), 20, comparison.ks_statistic),
        ),
        (
            plots.norm_distributions,
            (
                comparison.norms_generated,
                comparison.norms_parent,
                comparison.norm_ks_parent,
                epoch,
                directory.figure("rhist", epoch),
            ),
        ),
        (
            plots.ks_per_component,
            (comparison.ks_statistic, comparison.ks_pvalue, comparison.ks_floor, epoch, directory.figure("ks", epoch)),
        ),
    ]
    if epoch % config.corr_every == 0 or last:
        jobs.append(
            (
                plots.correlations,
                (comparison.corr_generated, comparison.corr_parent, epoch, directory.figure("corr", epoch)),
            )
        )
    return jobs


def history_figures(directory: RunDirectory, state: State, rows: list[dict], dim: int, rule: str) -> list:
    """Loss curves (with the optimal discriminator's values for ``rule`` vanilla) and p-values over the run so far."""
    column = lambda name: np.array([row[name] for row in rows], dtype=float)
    return [
        (
            plots.losses,
            (
                np.array(state.d_epoch),
                np.array(state.d_losses),
                np.array(state.g_epoch),
                np.array(state.g_losses),
                directory.file(LOSSES_FIGURE),
                rule,
            ),
        ),
        (
            plots.pvalues,
            (
                column("epoch"),
                column("norm_ks_parent_p"),
                column("norm_ks_train_p"),
                column("rejected_raw"),
                dim,
                directory.file(PVALUES_FIGURE),
            ),
        ),
        (plots.training_metrics, ([dict(row) for row in rows], directory.file(METRICS_FIGURE))),
    ]


def is_best_by_norm_ks(rows: list[dict]) -> bool:
    """Whether the last row has the smallest norm KS distance from the parent so far (the best epoch).
    A tie keeps the earlier epoch, the one :func:`best_by_norm_ks` and the summary name."""
    distances = [row["norm_ks_parent_D"] for row in rows]
    return len(distances) == 1 or bool(distances[-1] < min(distances[:-1]))


def best_by_norm_ks(rows: list[dict]) -> dict:
    return min(rows, key=lambda row: row["norm_ks_parent_D"])


def epoch_line(row: dict, dim: int) -> str:
    """One line per epoch: the mean losses, the norm KS distance from the parent against its floor, and the
    components rejected at 0.05 (raw, and after Benjamini–Hochberg)."""
    return (
        f"epoch {row['epoch']}: loss D {row['d_loss']:.3f} G {row['g_loss']:.3f}  "
        f"norm KS {row['norm_ks_parent_D']:.3f} (floor {row['ks_floor_95']:.3f}) p {row['norm_ks_parent_p']:.3g}  "
        f"components rejected {row['rejected_raw']}/{dim} (BH {row['rejected_bh']})"
    )


def summary_lines(rows: list[dict], dim: int, directory: RunDirectory) -> list[str]:
    """How the run ended against the floors: the final and the best epoch (by norm KS vs the parent)."""
    final, best = rows[-1], best_by_norm_ks(rows)
    seconds = sum(row.get("seconds_total", 0) for row in rows)
    lines = [
        f"summary: {len(rows)} epochs in {seconds:.0f} s; run directory {directory}",
        f"  final epoch {final['epoch']}: norm KS D {final['norm_ks_parent_D']:.3f} (floor {final['ks_floor_95']:.3f}), "
        f"components rejected {final['rejected_bh']}/{dim} after BH (~0 for honest samples)"
        + (
            f", off-diagonal correlation spread {final['offdiag_std_generated']:.3f} "
            f"(a parent sample: {final['offdiag_std_parent']:.3f})"
            if dim > 2  # with one off-diagonal value there is no spread
            else ""
        ),
        f"  best epoch {best['epoch']} (by norm KS vs the parent): D {best['norm_ks_parent_D']:.3f}; "
        "its generator is models/generator_best.pth.tar (python -m gaussgan sample RUN --epoch best)",
    ]
    return lines
