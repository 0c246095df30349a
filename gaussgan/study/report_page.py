"""The report's page, index.html: the overview, the best configuration, the figures (embedded) and the
tables; plain HTML and one style block, readable without a server."""

from __future__ import annotations

import html
import math
from pathlib import Path

# The report's figures with their captions, in the page's order, and its tables.
FIGURES = {
    "scatter.png": "Width × latent dimension (the original gaussGAN cross-run figure)",
    "heatmaps.png": "Data dimension × latent dimension, per rule",
    "versus_dimension.png": "Final ratio versus data dimension, per rule, with seed bands",
    "curves.png": "Every run epoch by epoch, grouped by rule",
    "calibration.png": "The noise floor against the sample size, computed from the parent",
}
TABLES = ("summary.csv", "summary_by_config.csv")


def describe_configuration(row: dict, varied: list[str]) -> str:
    keys = [key for key in varied if key != "seed"] or ["dist", "dim", "latent_dim", "rule"]
    shown = ", ".join(f"{key} {_plain(row.get(key))}" for key in keys)
    return (
        f"{shown}: median final norm KS D ÷ floor {_plain(row.get('final_norm_ks_ratio_median'))}, "
        f"σ_ρ ratio {_plain(row.get('final_sigma_rho_ratio_median'))} over {row.get('runs')} runs (seeds {row.get('seeds')})"
    )


def _plain(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3g}"
    return str(value)


RUN_COLUMNS = (
    "run",
    "finished",
    "epochs_done",
    "final_norm_ks_ratio",
    "final_sigma_rho_ratio",
    "final_rejected_bh",
    "best_epoch",
    "best_norm_ks_ratio",
    "best_sigma_rho_ratio",
    "n_star",
    "n_star_min",
    "n_star_max",
    "distinguished_by",
    "seconds_total",
)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.table { overflow-x: auto; max-height: 40em; overflow-y: auto; }
table { border-collapse: collapse; font-size: 0.8em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; } td:first-child, th:first-child { text-align: left; }
.best { background: #eef7ee; padding: 0.6em 1em; border-left: 4px solid #4a4; }
.note { color: #a60; }
"""
CAPTIONS = {
    "scatter.png": "Each point is a configuration (median over the runs that share it). 1 is the parent's own "
    "value: the norm KS statistic at its 95% floor, the generated correlations as spread as a parent sample's.",
    "heatmaps.png": "Median final ratio per (data dimension, latent dimension), over seeds and other options.",
    "versus_dimension.png": "One line per configuration of the other varied options; the band spans the seeds.",
    "curves.png": "A thin line per run; colour: data dimension. Below the dashed line is at the noise floor.",
    "calibration.png": "What two honest samples of the parent show at sample size N: both numbers fall as "
    "N^-1/2, so a run's ratio is measured against the floor at its --n-eval (red).",
}


def index_html(sources, summary, grouped, varied: list[str], best, skipped: list[str], folder: Path) -> str:
    """The page: overview, best configuration, figures (embedded), then the tables."""
    import base64

    finished = int(summary["finished"].sum())
    title = "; ".join(sources.titles)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>gaussgan report: {html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>gaussgan report: {html.escape(title)}</h1>",
        f"<p>{len(summary)} runs ({finished} finished), {len(grouped)} configurations"
        + (f", {len(skipped)} {'run' if len(skipped) == 1 else 'runs'} skipped (each named below)" if skipped else "")
        + ". Options varied: "
        f"{html.escape(', '.join(varied) or 'none')}. Tables: "
        '<a href="summary.csv">summary.csv</a> (one row per run), '
        '<a href="summary_by_config.csv">summary_by_config.csv</a> (seeds together).</p>',
    ]
    for note in sources.notes + [f"skipped {entry}" for entry in skipped]:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    if best is not None:
        parts.append(
            f'<p class="best"><b>Best configuration</b> (smallest median final score, the worse of the two ratios): '
            f"{html.escape(describe_configuration(best, varied))}</p>"
        )
    parts.append("<h2>Figures</h2>")
    for name, caption in FIGURES.items():
        encoded = base64.b64encode((folder / name).read_bytes()).decode("ascii")
        parts.append(
            f'<figure id="{name.removesuffix(".png")}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{encoded}">'
            f"<figcaption><b>{html.escape(caption)}.</b> {html.escape(CAPTIONS[name])} "
            f'(<a href="{name}">{name}</a>)</figcaption></figure>'
        )
    config_columns = [key for key in varied if key != "seed"] or ["dist", "dim", "latent_dim", "rule"]
    shown = config_columns + ["runs", "seeds"]
    shown += [
        column
        for column in grouped.columns
        if column.endswith("_median")
        and column.startswith(("final_norm_ks_ratio", "final_sigma_rho_ratio", "final_m_"))
    ]
    shown += [column for column in ("final_score_median", "n_star_median", "seconds_total_median") if column in grouped]
    parts.append("<h2>Configurations (seeds together)</h2>")
    parts.append(_table(grouped, shown))
    parts.append("<h2>Runs</h2>")
    parts.append(_table(summary, [column for column in RUN_COLUMNS if column in summary]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _table(table, columns: list[str]) -> str:
    columns = [column for column in dict.fromkeys(columns) if column in table]
    formatted = table[columns].to_html(
        index=False, escape=True, na_rep="", float_format=lambda value: f"{value:.3g}", border=0
    )
    return f'<div class="table">{formatted}</div>'
