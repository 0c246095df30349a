"""The report's page, index.html: the overview, the best configuration, the figures (embedded) and the
tables; plain HTML and one style block, readable without a server."""

from __future__ import annotations

import html
import math
from pathlib import Path

from gaussgan.study.answer import answer_sentence, dimension_sentence, facts_line, range_text, size_text
from gaussgan.system.pages import PAGE_STYLE

# The report's figures with their captions, in the page's order, and its tables. The n* heatmap comes first,
# right under the answer; the others follow under "Figures".
FIGURES = {
    "n_star_heatmaps.png": "n* over the varied options, per rule",
    "n_star_versus_dimension.png": "n* against the data dimension, beside the training set's own Gaussian fit",
    "spectra.png": "The generators' covariance eigenvalues against Marchenko–Pastur",
    "scatter.png": "Width × latent dimension (the original gaussGAN cross-run figure)",
    "heatmaps.png": "Data dimension × latent dimension, per rule",
    "versus_dimension.png": "Final ratio versus data dimension, per rule, with seed bands",
    "curves.png": "Every run epoch by epoch, grouped by rule",
    "calibration.png": "The noise floor against the sample size, computed from the parent",
}
TABLES = ("summary.csv", "summary_by_config.csv")


def configuration_name(row: dict, varied: list[str]) -> str:
    """A configuration by its varied options (all but the seed), e.g. "dim 10, latent_dim 16, rule vanilla"."""
    keys = [key for key in varied if key != "seed"] or ["dist", "dim", "latent_dim", "rule"]
    return ", ".join(f"{key} {_plain(row.get(key))}" for key in keys)


def describe_configuration(row: dict, varied: list[str]) -> str:
    """A configuration, its n* over seeds and its final ratios: the line under "best configuration"."""
    largest = row.get("max_n_max", math.nan)
    n_star = size_text(row.get("n_star_rank_median", math.nan), largest)
    low, high = row.get("n_star_rank_min", math.nan), row.get("n_star_rank_max", math.nan)
    limit = row.get("data_limit_fit_median", math.nan)
    return (
        f"{configuration_name(row, varied)}: n* {n_star} (median over {row.get('runs')} runs, seeds "
        f"{row.get('seeds')}; range {range_text(low, high, largest)})"
        + (f"; the training set's own fit {size_text(limit, largest)}" if not _missing(limit) else "")
        + f"; median final norm KS D ÷ floor {_plain(row.get('final_norm_ks_ratio_median'))}, "
        f"σ_ρ ratio {_plain(row.get('final_sigma_rho_ratio_median'))}"
    )


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3g}"
    return str(value)


RUN_COLUMNS = (
    "run",
    "n*",
    "n* range",
    "own fit n*",
    "finished",
    "epochs_done",
    "latent < d",
    "eigenvalues",
    "Marchenko–Pastur",
    "final_norm_ks_ratio",
    "final_sigma_rho_ratio",
    "final_rejected_bh",
    "best_epoch",
    "best_norm_ks_ratio",
    "best_sigma_rho_ratio",
    "distinguished_by",
    "seconds_total",
)
STYLE = (
    PAGE_STYLE
    + """
.table { overflow-x: auto; max-height: 40em; overflow-y: auto; }
table { font-size: 0.8em; }
th { background: #f4f4f4; position: sticky; top: 0; } td:first-child, th:first-child { text-align: left; }
.best { background: #eef7ee; padding: 0.6em 1em; border-left: 4px solid #4a4; }
.answer { font-size: 1.15em; background: #f3f6fb; padding: 0.6em 1em; border-left: 4px solid #36c; }
.facts { color: #444; margin-top: -0.5em; }
"""
)
CAPTIONS = {
    "n_star_heatmaps.png": "Each cell: the median n* over the seeds of one configuration, and below it the range "
    "over seeds (and draws). n* is the smallest sample size at which the verdict tells the generator from the "
    "parent, with a 5% error rate for the whole verdict: larger is better; 'none' means no size up to the "
    "largest tested told it apart.",
    "n_star_versus_dimension.png": "Markers: median n* over seeds, bars their range; the grey dashed line is the "
    "n* of each training set's own Gaussian fit (its plain sample mean and covariance): a generator far below it "
    "did not learn what its rows hold. It is a reference, not a bound: a generator can beat the plain fit (a "
    "shrunken covariance is closer to the parent's than the sample covariance). Hollow markers: a latent "
    "dimension below the data dimension, which puts the samples on a lower-dimensional set (told apart for n "
    "large enough, whatever the width).",
    "spectra.png": "Each bar spans one run's covariance eigenvalues (normal scores of 100,000 generated samples "
    "by default). The light band is the Marchenko–Pastur range (1 ± √(d/N))² of N training rows, the darker one "
    "that of an honest sample as large as the verdict's: eigenvalues outside them are the generator's. "
    "Eigenvalues below 0.0001 (a latent space smaller than the data leaves many at 0) are drawn at 0.0001.",
    "scatter.png": "Each point is a configuration (median over the runs that share it). 1 is the parent's own "
    "value: the norm KS statistic at its 95% floor, the generated correlations as spread as a parent sample's.",
    "heatmaps.png": "Median final ratio per (data dimension, latent dimension), over seeds and other options.",
    "versus_dimension.png": "One line per configuration of the other varied options; the band spans the seeds.",
    "curves.png": "A thin line per run; colour: data dimension. Below the dashed line is at the noise floor.",
    "calibration.png": "What two honest samples of the parent show at sample size N: both numbers fall as "
    "N^-1/2, so a run's ratio is measured against the floor at its --n-eval (red).",
}


def index_html(sources, summary, grouped, varied: list[str], best, skipped: list[str], folder: Path) -> str:
    """The page: the answer and the n* heatmap first, then the best configuration, the overview, the other
    figures (embedded) and the tables, n* their first numbers."""
    finished = int(summary["finished"].sum())
    title = "; ".join(sources.titles)
    if best is not None:
        best = {**best, "max_n_max": summary["max_n"].max() if "max_n" in summary else math.nan}
    first, *others = FIGURES
    answer = answer_sentence(summary, best, lambda row: configuration_name(row, varied))
    answer = f"{answer} {dimension_sentence(summary, varied)}".strip()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>gaussgan report: {html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>gaussgan report: {html.escape(title)}</h1>",
        f'<p class="facts">{html.escape(facts_line(summary))}</p>',
        f'<p class="answer" id="answer">{html.escape(answer)}</p>',
        _figure(folder, first),
    ]
    for note in sources.notes + [f"skipped {entry}" for entry in skipped]:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    if best is not None:
        parts.append(
            '<p class="best"><b>Best configuration</b> (ranked by median n* over seeds, larger is better; ties '
            f"go to the smaller final score, the worse of the two final ratios): {html.escape(describe_configuration(best, varied))}</p>"
        )
    parts.append(
        f"<p>{len(summary)} runs ({finished} finished), {len(grouped)} configurations"
        + (f", {len(skipped)} {'run' if len(skipped) == 1 else 'runs'} skipped (each named above)" if skipped else "")
        + f". Options varied: {html.escape(', '.join(varied) or 'none')}. Tables: "
        '<a href="summary.csv">summary.csv</a> (one row per run), '
        '<a href="summary_by_config.csv">summary_by_config.csv</a> (seeds together).</p>'
    )
    for description in sources.descriptions:
        parts.append(f"<p>The study file describes itself as: <i>{html.escape(description)}</i></p>")
    parts.append("<h2>Figures</h2>")
    parts += [_figure(folder, name) for name in others]
    largest = summary["max_n"].max() if "max_n" in summary else math.nan
    config_columns = [key for key in varied if key != "seed"] or ["dist", "dim", "latent_dim", "rule"]
    configurations = grouped.assign(
        **{
            "n* (median)": [size_text(value, largest) for value in grouped.get("n_star_rank_median", [])],
            "n* range": [
                range_text(low, high, largest)
                for low, high in zip(
                    grouped.get("n_star_rank_min", []), grouped.get("n_star_rank_max", []), strict=True
                )
            ],
            "own fit n*": [size_text(value, largest) for value in grouped.get("data_limit_fit_median", [])],
        }
    )
    shown = config_columns + ["n* (median)", "n* range", "own fit n*", "runs", "seeds"]
    shown += [
        column
        for column in grouped.columns
        if column.endswith("_median")
        and column.startswith(("final_norm_ks_ratio", "final_sigma_rho_ratio", "final_m_"))
    ]
    shown += [column for column in ("final_score_median", "seconds_total_median") if column in grouped]
    parts.append("<h2>Configurations (seeds together)</h2>")
    parts.append(_table(configurations, shown))
    parts.append("<h2>Runs</h2>")
    parts.append(_table(run_table(summary, largest), list(RUN_COLUMNS)))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def run_table(summary, largest):
    """The runs table's columns as the page shows them: n* and the data limit as sizes, the spectrum as ranges."""

    def ranges(low_column: str, high_column: str) -> list[str]:
        if low_column not in summary or high_column not in summary:
            return [""] * len(summary)
        return [
            "" if _missing(low) or _missing(high) else f"{low:.3g} to {high:.3g}"
            for low, high in zip(summary[low_column], summary[high_column], strict=True)
        ]

    def column(name: str) -> list:
        return list(summary[name]) if name in summary else [math.nan] * len(summary)

    return summary.assign(
        **{
            "n*": [size_text(value, largest) for value in column("n_star_rank")],
            "n* range": [
                range_text(low, high, largest)
                for low, high in zip(column("n_star_rank_min"), column("n_star_rank_max"), strict=True)
            ],
            "own fit n*": [size_text(value, largest) for value in column("data_limit_fit")],
            "latent < d": ["yes" if flag is True else "" for flag in column("latent_below_dim")],
            "eigenvalues": ranges("eigenvalue_min", "eigenvalue_max"),
            "Marchenko–Pastur": ranges("mp_training_min", "mp_training_max"),
        }
    )


def _figure(folder: Path, name: str) -> str:
    """One figure, embedded, with its caption and a link to its file."""
    import base64

    caption = FIGURES[name]
    encoded = base64.b64encode((folder / name).read_bytes()).decode("ascii")
    return (
        f'<figure id="{name.removesuffix(".png")}"><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{encoded}">'
        f"<figcaption><b>{html.escape(caption)}.</b> {html.escape(CAPTIONS[name])} "
        f'(<a href="{name}">{name}</a>)</figcaption></figure>'
    )


def _table(table, columns: list[str]) -> str:
    columns = [column for column in dict.fromkeys(columns) if column in table]
    formatted = table[columns].to_html(
        index=False, escape=True, na_rep="", float_format=lambda value: f"{value:.3g}", border=0
    )
    return f'<div class="table">{formatted}</div>'
