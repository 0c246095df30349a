"""A run's page, ``RUN/index.html``: the run at a glance, written when its verdict is given.

Its name and key options (config.json), the verdict (n*, the reading, the metrics at n*; the training set's own
limit and the generator's spectrum when verdict.json holds them), the summary of its epochs (as the command
prints it), the whole run's figures and those of its last epoch. One self-contained file: the figures are
embedded (base64 data URIs) and every text is escaped, so it opens anywhere, without a server, copied alone.
Every file is read and the page written through the run's :class:`RunDirectory`, never through a link; a
figure that is missing or cannot be used is named as such, not drawn as a broken image.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gaussgan.errors import UserError
from gaussgan.gan.judging import n_star_text
from gaussgan.gan.outputs import summary_lines
from gaussgan.gan.rundir import (
    CONFIG,
    CSV,
    INDEX,
    LOSSES_FIGURE,
    METRICS_FIGURE,
    PVALUES_FIGURE,
    VERDICT,
    RunDirectory,
)
from gaussgan.system.files import atomic_path, check_regular_file
from gaussgan.system.pages import PAGE_STYLE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The whole run's figures, in the page's order, with their captions.
RUN_FIGURES = {
    METRICS_FIGURE: "Each calibrated metric ÷ its noise floor, per epoch (at or below 1: as close as honest samples)",
    LOSSES_FIGURE: "D and G loss per step, with a moving average over one epoch",
    PVALUES_FIGURE: "Norm KS p-values per epoch (vs the parent, vs the training set) and components rejected",
}
# The last epoch's figures (samples/KIND_epochNNNNN.png): the last epoch always draws all four.
EPOCH_FIGURES = {
    "comp_hist": "Per-component histograms, parent (black) vs generated (red)",
    "rhist": "Norm distribution, parent vs generated",
    "ks": "KS statistic and p-value per component",
    "corr": "Generated correlation matrix, and its off-diagonal values against a parent sample's",
}
# The options shown (config.json's names), in this order; the others are in config.json, linked.
KEY_OPTIONS = (
    "rule",
    "epochs",
    "latent_dim",
    "latent_sigma",
    "batch_size",
    "scale",
    "lr",
    "lr_schedule",
    "lr_floor",
    "warmup",
    "critic_steps",
    "d_lr_ratio",
    "r1_weight",
    "gp_weight",
    "ema_decay",
    "mixture",
    "batch_norm",
    "n_eval",
    "seed",
    "max_n",
    "null_repeats",
    "draws",
    "device_used",
    "gaussgan",
    "torch",
)
STYLE = (
    PAGE_STYLE
    + """
.table { overflow-x: auto; }
table { font-size: 0.85em; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
td.detail, th.detail { text-align: left; white-space: normal; color: #555; }
tr.rejected td { background: #fbeaea; }
.nstar { font-size: 1.3em; background: #eef3fb; padding: 0.6em 1em; border-left: 4px solid #46a; }
code { word-break: break-all; }
pre { background: #f8f8f8; padding: 0.6em; white-space: pre-wrap; }
"""
)


def write_run_page(directory: RunDirectory) -> Path:
    """Write the run's index.html (atomically, through the run) and return its path."""
    page = run_page_html(directory)
    path = directory.file(INDEX)
    with atomic_path(path) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return path


def announce_run_page(directory: RunDirectory) -> Path:
    """Write the run's index.html and say where it is, on stdout (in the lines that end the command's output)."""
    path = write_run_page(directory)
    print(f"see {path} (the run on one page: open it in a browser)", flush=True)
    return path


def run_page_html(directory: RunDirectory) -> str:
    """The page's HTML: what the run's files hold, a note for each file that cannot be read."""
    notes: list[str] = []
    config: dict = _read(directory.read_config, {}, notes)
    verdict: dict = _read(directory.read_verdict, {}, notes)
    rows: list[dict] = _read(directory.read_csv, [], notes)
    name = directory.path.name
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>gaussgan run: {_escape(name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>gaussgan run: {_escape(name)}</h1>",
        _introduction(config, rows),
    ]
    parts += [f'<p class="note">{_escape(note)}</p>' for note in notes]
    parts += _verdict_section(verdict)
    parts += _summary_section(rows, config, verdict, directory)
    parts += _options_section(config)
    parts.append("<h2>The whole run</h2>")
    parts += [_figure(directory, figure, caption) for figure, caption in RUN_FIGURES.items()]
    last = rows[-1].get("epoch") if rows else verdict.get("epoch")
    if isinstance(last, (int, float)) and not isinstance(last, bool) and math.isfinite(last):
        parts.append(f"<h2>The last epoch, {int(last)}</h2>")
        for kind, caption in EPOCH_FIGURES.items():
            figure = directory.figure(kind, int(last)).relative_to(directory.path).as_posix()
            parts.append(_figure(directory, figure, caption))
    else:
        parts.append('<h2>The last epoch</h2><p class="note">no epoch is recorded: no epoch figures to show</p>')
    parts.append(
        f'<p>Files: <a href="{CONFIG}">{CONFIG}</a> (every option), <a href="{VERDICT}">{VERDICT}</a> '
        f'(every metric at every size tested), <a href="{CSV}">{CSV}</a> (one row per epoch), '
        '<a href="samples/">samples/</a> (every epoch\'s figures).</p>'
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _read(read: Callable[[], Any], default: Any, notes: list[str]) -> Any:
    """What ``read`` returns, or ``default`` with a note saying why (a damaged or hostile file: the page
    still shows the rest)."""
    try:
        return read()
    except UserError as error:
        notes.append(str(error))
        return default


def _introduction(config: dict, rows: list[dict]) -> str:
    data = _dict(config.get("data"))
    words = []
    if data.get("parent"):
        words.append(f"Parent {_escape(data['parent'])}")
    if config.get("dataset"):
        samples = f" ({data['samples']:,} training rows)" if isinstance(data.get("samples"), int) else ""
        words.append(f"dataset <code>{_escape(config['dataset'])}</code>{_escape(samples)}")
    if rows:
        words.append(f"{len(rows)} epochs recorded")
    text = "; ".join(words) + "." if words else ""
    if config.get("command"):
        text += f" Made by <code>{_escape(config['command'])}</code>"
    return f"<p>{text}</p>"


# --- The verdict -----------------------------------------------------------------------------------------
def _verdict_section(verdict: dict) -> list[str]:
    parts = ["<h2>Verdict</h2>"]
    if "n_star" not in verdict or not _size_or_none(verdict["n_star"]) or not isinstance(verdict.get("tested_n"), list):
        return parts + [f'<p class="note">no verdict: {VERDICT} is missing or incomplete</p>']
    tested = [n for n in verdict["tested_n"] if isinstance(n, int)]
    largest = max(tested) if tested else 0
    n_star = verdict["n_star"]
    headline = f"n* {n_star_text(n_star, largest)}"
    draws = verdict.get("draws")
    if isinstance(draws, int) and draws > 1:
        low, high = verdict.get("n_star_min"), verdict.get("n_star_max")
        headline = (
            f"n* {n_star_text(n_star, largest)} (the median of {draws} draws; from {_n_text(low, largest)} "
            f"to {_n_text(high, largest)})"
        )
    limit = verdict.get("data_limit")
    if isinstance(limit, dict):
        headline += f"; the training set's own fit {_limit_text(limit, 'n_star_fit', largest)}"
    parts.append(f'<p class="nstar"><b>{_escape(headline)}</b></p>')
    parts.append(f"<p>{_escape(verdict.get('reading', ''))}</p>")
    judged = _judged_text(verdict)
    if judged:
        parts.append(f"<p>{_escape(judged)}</p>")
    if isinstance(limit, dict):
        parts.append(f"<p>{_escape(_data_limit_text(limit, largest))}</p>")
    spectrum = verdict.get("generator_spectrum")
    if isinstance(spectrum, dict):
        parts.append(f"<p>{_escape(_spectrum_text(spectrum, verdict.get('dim')))}</p>")
    parts += _verdict_table(verdict, tested)
    return parts


def _limit_text(limit: dict, key: str, largest: int) -> str:
    top = limit.get("largest")
    return _n_text(limit.get(key), top if _size_or_none(top) and top is not None else largest)


def _size_or_none(value) -> bool:
    """Whether ``value`` is what verdict.json holds for an n*: a size, or null (no size rejected)."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def _n_text(value, largest: int) -> str:
    """An n* as the command prints it ("5,000", or "> 100,000" for null); "?" when it is not one."""
    return n_star_text(value, largest) if _size_or_none(value) else "?"


def _data_limit_text(limit: dict, largest: int) -> str:
    rows = limit.get("n_train")
    of = f"of {rows:,} rows " if isinstance(rows, int) else ""
    return (
        f"What the training set allows: the Gaussian fitted to the training set {of}(its mean and covariance) has "
        f"n* {_limit_text(limit, 'n_star_fit', largest)}; one fitted to a fresh parent sample of the same size, "
        f"n* {_limit_text(limit, 'n_star_fresh', largest)}. A generator far below the first did not learn what its rows hold (a reference, not a bound: a generator can beat the plain fit)."
    )


def _spectrum_text(spectrum: dict, dim) -> str:
    text = (
        f"The generator's covariance in normal scores: eigenvalues {_number(spectrum.get('eigenvalue_min'))} to "
        f"{_number(spectrum.get('eigenvalue_max'))}"
    )
    ranges = []
    samples = spectrum.get("n")
    for key, whose in (
        (
            "marchenko_pastur_samples",
            f"an honest sample of {samples:,}" if isinstance(samples, int) else "an honest sample as large",
        ),
        ("marchenko_pastur_training", "the training set's"),
        ("marchenko_pastur", "expected"),
    ):
        bounds = spectrum.get(key)
        if isinstance(bounds, (list, tuple)) and len(bounds) == 2:
            ranges.append(f"{whose}: {_number(bounds[0])} to {_number(bounds[1])}")
    if ranges:
        text += f" (Marchenko–Pastur ranges, {'; '.join(ranges)})"
    text += f"; mean squared norm {_number(spectrum.get('mean_squared_norm'), 4)}"
    expected = spectrum.get("expected_mean_squared_norm", dim)
    return text + (f" (parent: {_number(expected, 4)})." if isinstance(expected, (int, float)) else ".")


def _judged_text(verdict: dict) -> str:
    epochs = verdict.get("epochs_mixed")
    words = []
    if isinstance(epochs, list) and epochs:
        words.append(
            f"Judged: the mixture of the averaged generators of epochs {epochs[0]} to {epochs[-1]}"
            if len(epochs) > 1
            else f"Judged: epoch {epochs[0]}'s averaged generator"
        )
    if isinstance(verdict.get("max_n"), int):
        words.append(f"up to {verdict['max_n']:,} samples")
    if isinstance(verdict.get("seconds"), (int, float)):
        words.append(f"in {verdict['seconds']:.0f} s")
    return ", ".join(words) + "." if words else ""


def _verdict_table(verdict: dict, tested: list[int]) -> list[str]:
    from gaussgan.stats.metrics import METRICS

    results = _dict(verdict.get("results"))
    n = verdict["n_star"] if isinstance(verdict["n_star"], int) else max(tested, default=0)
    judged = results.get(str(n))
    if not isinstance(judged, list):
        return ['<p class="note">verdict.json holds no metrics at that size</p>']
    label = lambda name: METRICS[name].label if name in METRICS else str(name)
    head = (
        "".join(f"<th>{word}</th>" for word in ("metric", "value", "floor", "p", "level", ""))
        + '<th class="detail">detail</th>'
    )
    lines = [f"<p>The metrics at n = {n:,}:</p>", f'<div class="table"><table><tr>{head}</tr>']
    for entry in (entry for entry in judged if isinstance(entry, dict)):
        rejected = entry.get("rejected") is True
        cells = [label(entry.get("name"))]
        cells += [
            _number(entry.get(key), digits) for key, digits in (("value", 4), ("floor", 4), ("p", 3), ("level", 2))
        ]
        cells.append("rejected" if rejected else "")
        used, size = entry.get("n_used"), entry.get("n")
        detail = str(entry.get("detail") or "")
        if isinstance(used, int) and isinstance(size, int) and used < size:
            detail = f"[last {used:,}] {detail}".strip()
        row = "".join(f"<td>{_escape(cell)}</td>" for cell in cells) + f'<td class="detail">{_escape(detail)}</td>'
        lines.append(f'<tr class="rejected">{row}</tr>' if rejected else f"<tr>{row}</tr>")
    undefined = _dict(verdict.get("undefined"))
    for name, why in undefined.items():
        lines.append(
            f'<tr><td>{_escape(label(name))}</td><td colspan="5">—</td><td class="detail">{_escape(why)}</td></tr>'
        )
    lines.append("</table></div>")
    lines += _sizes_table(results, tested, lambda name: METRICS[name].short if name in METRICS else str(name))
    return lines


def _sizes_table(results: dict, tested: list[int], label: Callable[[Any], str]) -> list[str]:
    """Each size tested, largest first, and the metrics that rejected there."""
    rows = []
    for n in sorted(tested, reverse=True):
        judged = results.get(str(n))
        if not isinstance(judged, list):
            continue
        names = [
            label(entry.get("name")) for entry in judged if isinstance(entry, dict) and entry.get("rejected") is True
        ]
        rows.append(f'<tr><td>{n:,}</td><td class="detail">{_escape(", ".join(names) or "none")}</td></tr>')
    if not rows:
        return []
    return [
        "<p>Every size tested:</p>",
        '<div class="table"><table><tr><th>n</th><th class="detail">rejected by</th></tr>',
        *rows,
        "</table></div>",
    ]


# --- The summary and the options ---------------------------------------------------------------------------
def _summary_section(rows: list[dict], config: dict, verdict: dict, directory: RunDirectory) -> list[str]:
    parts = ["<h2>Summary</h2>"]
    if not rows:
        return parts + [f'<p class="note">no epochs recorded ({CSV} is missing or empty)</p>']
    parent = _dict(config.get("parent"))
    dim = parent.get("dim", verdict.get("dim"))
    if not isinstance(dim, int) or isinstance(dim, bool):
        return parts + [f'<p class="note">no summary: the dimension is not recorded ({CONFIG}, {VERDICT})</p>']
    try:
        lines = summary_lines(rows, dim, directory)
    except KeyError as error:  # a table from an older version, without a column
        return parts + [f'<p class="note">no summary: {CSV} has no column {_escape(error)}</p>']
    except (TypeError, ValueError) as error:
        return parts + [f'<p class="note">no summary: {CSV} holds values it cannot use ({_escape(error)})</p>']
    return parts + [f"<pre>{_escape(chr(10).join(lines))}</pre>"]


def _options_section(config: dict) -> list[str]:
    from gaussgan.gan.options import specs

    table = specs()
    rows = []
    for name in KEY_OPTIONS:
        if name not in config:
            continue
        flags = "/".join(table[name].flags) if name in table else ""
        value = config[name]
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        rows.append(f"<tr><td>{_escape(name)}</td><td>{_escape(flags)}</td><td>{_escape(shown)}</td></tr>")
    if not rows:
        return ["<h2>Options</h2>", f'<p class="note">no options: {CONFIG} could not be read</p>']
    return [
        "<h2>Options</h2>",
        '<div class="table"><table><tr><th>option</th><th>flag</th><th>value</th></tr>',
        *rows,
        f'</table></div><p>Every option is in <a href="{CONFIG}">{CONFIG}</a>.</p>',
    ]


# --- Figures ---------------------------------------------------------------------------------------------
def _figure(directory: RunDirectory, name: str, caption: str) -> str:
    """The figure ``name`` (a path in the run) embedded, or a line naming it as missing and why."""
    figure_id = _escape(Path(name).stem)
    try:
        content = check_regular_file(directory.file(name), "figure").read_bytes()
        problem = "" if content.startswith(PNG_SIGNATURE) else "not a PNG image"
    except FileNotFoundError:
        content, problem = b"", "missing"
    except UserError as error:
        content, problem = b"", "missing" if "does not exist" in str(error) else str(error)
    except OSError as error:
        content, problem = b"", f"cannot be read ({error.strerror or error})"
    link = f'(<a href="{_escape(name)}">{_escape(name)}</a>)'
    if problem:
        return (
            f'<figure id="{figure_id}" class="missing"><p class="note">{_escape(name)}: {_escape(problem)}</p>'
            f"<figcaption><b>{_escape(caption)}.</b></figcaption></figure>"
        )
    encoded = base64.b64encode(content).decode("ascii")
    return (
        f'<figure id="{figure_id}"><img alt="{_escape(caption)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption><b>{_escape(caption)}.</b> {link}</figcaption></figure>"
    )


def _dict(value) -> dict:
    """``value`` when it is a JSON object, else {} (a damaged file shows less, never fails the page)."""
    return value if isinstance(value, dict) else {}


def _number(value, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def _escape(value) -> str:
    return html.escape(str(value))
