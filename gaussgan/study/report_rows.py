"""One run's row of a report: its files read and checked (:mod:`.report_checks`), then summarised into one row
of summary.csv — the final and best epochs' ratios to their floors, n* and the data limit, the spectrum."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gaussgan.gan.options import OPTION_COLUMNS
from gaussgan.gan.rundir import CONFIG, CSV, VERDICT, RunDirectory, is_finished
from gaussgan.study.answer import n_star_rank
from gaussgan.study.report_checks import check_config, check_table, metric_names, verdict_problem

if TYPE_CHECKING:
    import pandas as pd

# The options a run's row shows, from its config.json (and the dataset's parent and size).
# The columns that tell one configuration from another: the dataset's, then the options table's.
CONFIG_COLUMNS = ("dist", "dim", "n_samples", *OPTION_COLUMNS)


@dataclass
class Run:
    path: Path
    config: dict
    table: pd.DataFrame  # pandas DataFrame, one row per epoch, with the ratio columns added
    verdict: dict


def load_run(path: Path) -> Run:
    """A run's config.json and its CSV (ratio columns added), each checked (a UserError names the file and
    the field), and its verdict.json when there is one and it can be used (else a warning, and none)."""
    import pandas as pd

    directory = RunDirectory(path)
    directory.check_opened()  # a run holding a link is skipped (with a warning), never read through it
    config = directory.read_config()
    check_config(config, path / CONFIG)
    table = pd.DataFrame(directory.read_csv())
    if table.empty:
        table = pd.DataFrame({"epoch": pd.Series(dtype=int)})
    check_table(table, path / CSV)
    return Run(path, config, add_ratios(table), read_verdict(directory))


def read_verdict(directory: RunDirectory) -> dict:
    """verdict.json, or {} with a warning when its content is not what train.py writes: the run is reported
    without it. A verdict.json that cannot be read at all (a link, a pipe) is a UserError: the run is skipped."""
    verdict = directory.read_verdict()
    problem = verdict_problem(verdict)
    if problem:
        warn(f"left out the verdict of {directory.path}: {directory.path / VERDICT}: {problem}")
        return {}
    return verdict


def warn(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    print("warning: " + " ".join(message.split()), file=sys.stderr)


def add_ratios(table):
    """norm_ks_ratio, sigma_rho_ratio and m_<name>_ratio for every epoch (NaN where a number is missing)."""
    import numpy as np

    from gaussgan.stats.floors import ratio_to_floor

    def column(name):
        return table[name].astype(float) if name in table else np.nan

    table["norm_ks_ratio"] = ratio_to_floor(column("norm_ks_parent_D"), column("ks_floor_95"))
    table["sigma_rho_ratio"] = ratio_to_floor(column("offdiag_std_generated"), column("offdiag_std_parent"))
    for name in metric_names(table):
        table[f"{name}_ratio"] = ratio_to_floor(column(name), column(f"{name}_floor"))
    return table


def distance_from_one(values):
    """How far a ratio is from 1, either way (2 and 0.5 equally far)."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.log(np.asarray(values, dtype=float)))


def epoch_score(table):
    """One number per epoch, the larger of the norm KS ratio and the sigma_rho ratio's distance from 1 (as a
    ratio): at most ~1 when both sit on the floor. The best epoch is the one where it is smallest."""
    import numpy as np

    ks = table["norm_ks_ratio"].to_numpy(dtype=float)
    rho = np.exp(distance_from_one(table["sigma_rho_ratio"]))
    with np.errstate(invalid="ignore"):
        return np.fmax(ks, rho)


def summary_row(run: Run) -> dict:
    """The run's row of summary.csv."""
    import numpy as np

    config, table = run.config, run.table
    parent = config.get("parent", {}) if isinstance(config.get("parent"), dict) else {}
    data = config["data"] if isinstance(config.get("data"), dict) else {}
    row: dict = {"run": run.path.name, "path": str(run.path)}
    row["finished"] = is_finished(run.path, int(config["epochs"]))
    row["epochs_done"] = len(table)
    row["dist"], row["dim"] = parent.get("dist"), parent.get("dim")
    row["n_samples"] = data.get("samples")
    for key in CONFIG_COLUMNS:
        row.setdefault(key, config.get(key))
    row["seed"] = config.get("seed")
    metrics = ["norm_ks_ratio", "sigma_rho_ratio", *(f"{name}_ratio" for name in metric_names(table))]
    if len(table):
        last = table.iloc[-1]
        row["final_epoch"] = int(last["epoch"])
        for source, name in (
            ("norm_ks_parent_D", "final_norm_ks_D"),
            ("ks_floor_95", "final_ks_floor_95"),
            ("norm_ks_parent_p", "final_norm_ks_p"),
            ("offdiag_std_generated", "final_offdiag_std_generated"),
            ("offdiag_std_parent", "final_offdiag_std_parent"),
            ("rejected_raw", "final_rejected_raw"),
            ("rejected_bh", "final_rejected_bh"),
            ("comp_ks_max_D", "final_comp_ks_max_D"),
        ):
            row[name] = float(last[source]) if source in table else math.nan
        for metric in metrics:
            values = table[metric].to_numpy(dtype=float)
            finite = np.flatnonzero(np.isfinite(values))
            # A costly metric is not computed every epoch: its final value is the last one computed.
            row[f"final_{metric}"] = float(values[finite[-1]]) if finite.size else math.nan
            if metric == "sigma_rho_ratio":
                distance = distance_from_one(values)
                row[f"best_{metric}"] = float(values[np.nanargmin(distance)]) if finite.size else math.nan
            else:
                row[f"best_{metric}"] = float(np.nanmin(values)) if finite.size else math.nan
        for name in metric_names(table):
            if f"{name}_p" in table:
                values = table[f"{name}_p"].to_numpy(dtype=float)
                finite = np.flatnonzero(np.isfinite(values))
                row[f"final_{name}_p"] = float(values[finite[-1]]) if finite.size else math.nan
        score = epoch_score(table)
        row["final_score"] = float(score[-1])
        best = int(np.nanargmin(score)) if np.isfinite(score).any() else len(table) - 1
        row["best_epoch"] = int(table["epoch"].iloc[best])
        row["best_score"] = float(score[best])
    else:
        row["final_epoch"] = row["best_epoch"] = None
    # With --draws K: n* is the median draw's, and the range over the K draws beside it.
    row["n_star"] = run.verdict.get("n_star")
    row["n_star_min"] = run.verdict.get("n_star_min", row["n_star"])
    row["n_star_max"] = run.verdict.get("n_star_max", row["n_star"])
    row["draws"] = run.verdict.get("draws", 1)
    row |= theory_columns(run, row)
    row["distinguished_by"] = distinguished_by(run.verdict)
    row["max_n"] = run.verdict.get("max_n")
    row["reading"] = run.verdict.get("reading")
    seconds = table["seconds_total"].astype(float) if "seconds_total" in table else None
    row["seconds_total"] = float(seconds.sum()) if seconds is not None and len(seconds) else math.nan
    row["seconds_per_epoch"] = float(seconds.median()) if seconds is not None and len(seconds) else math.nan
    return row


def theory_columns(run: Run, row: dict) -> dict:
    """n* as a rank (inf: not told apart; NaN: no verdict), the data limit (the training set's own Gaussian
    fit's n*, and a fresh sample's), the generator's spectrum beside Marchenko–Pastur, and whether the latent
    space has fewer dimensions than the data."""
    from gaussgan.stats.data_limit import on_a_lower_dimensional_set

    verdict = run.verdict
    has = bool(verdict)
    found = verdict.get("data_limit")
    limit: dict = found if isinstance(found, dict) else {}
    found = verdict.get("generator_spectrum")
    spectrum: dict = found if isinstance(found, dict) else {}

    def size(key: str) -> float:  # a size of the grid, or null: not told apart; anything else is not recorded
        value = limit.get(key, math.nan)
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            return n_star_rank(value, True)
        return math.nan

    def number(source: dict, key: str) -> float:
        value = source.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan

    def pair(key: str) -> tuple[float, float]:
        value = spectrum.get(key)
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            return float(value[0]), float(value[1])
        return math.nan, math.nan

    latent, dim = row.get("latent_dim"), row.get("dim")
    columns = {
        "n_star_rank": n_star_rank(row["n_star"], has),
        "n_star_rank_min": n_star_rank(row["n_star_min"], has),
        "n_star_rank_max": n_star_rank(row["n_star_max"], has),
        "data_limit_fit": size("n_star_fit"),
        "data_limit_fresh": size("n_star_fresh"),
        "eigenvalue_min": number(spectrum, "eigenvalue_min"),
        "eigenvalue_max": number(spectrum, "eigenvalue_max"),
        "mean_squared_norm": number(spectrum, "mean_squared_norm"),
        "latent_below_dim": isinstance(latent, int)
        and isinstance(dim, int)
        and on_a_lower_dimensional_set(latent, dim),
    }
    columns["mp_training_min"], columns["mp_training_max"] = pair("marchenko_pastur_training")
    columns["mp_samples_min"], columns["mp_samples_max"] = pair("marchenko_pastur_samples")
    return columns


def distinguished_by(verdict: dict) -> str | None:
    """The metrics that reject at the verdict's n* (the first to tell the generator apart), or None."""
    results = verdict.get("results")
    rejecting = results.get(str(verdict.get("n_star")), []) if isinstance(results, dict) else []
    names = [
        entry["name"]
        for entry in rejecting
        if isinstance(entry, dict) and entry.get("rejected") is True and isinstance(entry.get("name"), str)
    ]
    return ", ".join(names) or None
