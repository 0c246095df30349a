"""``python -m gaussgan report RUNS_OR_STUDY... -o DIR``: what many runs show, on one page.

Reads ordinary run directories (a run, a folder of runs, or a study file's runs) and writes to DIR:

    summary.csv             one row per run (:mod:`.report_rows`): n*, options, final and best metrics, time
    summary_by_config.csv   seeds of one configuration together: median, min and max of every metric
    scatter.png  heatmaps.png  versus_dimension.png  curves.png  calibration.png
    index.html              the tables and figures on one self-contained page (figures embedded)
    .gaussgan-report        the report's mark: the files it wrote, the only ones --force replaces

Every metric is shown as a ratio to its noise floor (norm KS D ÷ its 95% floor; any calibrated ``m_<name>``
column ÷ ``m_<name>_floor``) or to the parent's own value (sigma_rho ratio: the spread of the generated
off-diagonal correlations ÷ that of a parent sample), so that 1 reads "as close as an honest sample".

Every run is checked before a number of it is used (:mod:`.report_checks`): a damaged one is skipped with a
warning naming the file and the field, and counted on the page. The report is built in a hidden folder and
put into place whole (:mod:`.report_output`, which also holds the rule for replacing an earlier report).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gaussgan import cli
from gaussgan.errors import UserError
from gaussgan.gan.rundir import RunDirectory
from gaussgan.stats.ranks import lower_median
from gaussgan.study.answer import best_by_n_star
from gaussgan.study.report_checks import metric_names
from gaussgan.study.report_output import check_output, staging_folder
from gaussgan.study.report_page import describe_configuration, index_html
from gaussgan.study.report_rows import CONFIG_COLUMNS, Run, load_run, summary_row, warn
from gaussgan.system.files import folder_for_the_block

if TYPE_CHECKING:
    pass

SEARCH_DEPTH = 3  # how deep below a given folder runs are looked for (runs/, runs/<study>/, ...)
CALIBRATION_PARENTS = 4  # at most this many parents in the calibration figure
# Columns of n* as ranks (inf: not told apart up to the largest size) that configurations aggregate.
RANK_COLUMNS = ("n_star_rank", "n_star_rank_min", "n_star_rank_max", "data_limit_fit", "data_limit_fresh")


def add_report_command(commands):
    """The ``report`` sub-command on ``python -m gaussgan``'s sub-parsers."""
    parser = commands.add_parser(
        "report",
        help="tables, figures and an index.html over many runs (a study, folders of runs, single runs)",
        description="Summarise runs: summary.csv (one row per run), summary_by_config.csv (seeds together), "
        "figures across runs, and index.html showing them all.",
        epilog="examples:\n  python -m gaussgan report studies/quick.toml -o report/quick\n"
        "  python -m gaussgan report runs/width runs/gauss_dim10_100_1_van -o report/mixed --force",
        formatter_class=cli.argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs", nargs="+", metavar="RUNS_OR_STUDY", help="run directories, folders of runs, or study files (.toml)"
    )
    parser.add_argument("-o", "--out", default="report", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace the files of an earlier report in the output folder (those its .gaussgan-report lists); "
        "anything else in the folder stays",
    )
    parser.set_defaults(run=_report)
    return parser


def _report(args) -> int:
    return report_command(args)


# --- Finding and reading runs ----------------------------------------------------------------------
@dataclass
class Sources:
    runs: list[Path]
    titles: list[str]
    notes: list[str]
    inputs: list[Path]  # as given: run directories, folders of runs, study files
    descriptions: list[str] = field(default_factory=list)  # what the study files say of themselves


def find_runs(inputs: list[str]) -> Sources:
    """Every run directory the inputs name, each once, in a stable order; a study names its planned runs."""
    runs: dict[Path, None] = {}
    titles, notes, descriptions = [], [], []
    for text in inputs:
        path = Path(text)
        if path.suffix == ".toml" or path.is_file():
            found, title, note, description = _study_runs(path)
            if description:  # what the file says of itself: shown as such, the title's facts come from the runs
                descriptions.append(f"{title}: {description}")
        elif not path.exists():
            raise UserError(f"{text!r} does not exist; expected a run directory, a folder of runs or a study file")
        elif (path / "config.json").is_file():
            found, title, note = [path], path.name, ""
        else:
            found, title, note = _runs_below(path), path.name or str(path), ""
            if not found:
                raise UserError(
                    f"no runs found in {text!r} (nor {SEARCH_DEPTH} levels below); expected run directories "
                    "written by train.py or a sweep (each with its config.json)"
                )
        titles.append(title)
        if note:
            notes.append(note)
        runs.update((run.resolve(), None) for run in found)
    return Sources(list(runs), titles, notes, [Path(text) for text in inputs], descriptions)


def _study_runs(path: Path) -> tuple[list[Path], str, str, str]:
    from gaussgan.study.plan import load_study, plan, study_datasets

    study = load_study(path)
    planned = plan(study, study_datasets(study))
    found = [run.run_dir for run in planned if (run.run_dir / "config.json").is_file()]
    if not found:
        raise UserError(
            f"no runs of study {path} in {study.runs_dir}; expected them to be trained first "
            f"(python -m gaussgan sweep {path})"
        )
    note = (
        f"study {study.name}: {len(planned) - len(found)} of {len(planned)} runs not found yet"
        if len(found) < len(planned)
        else ""
    )
    return found, f"study {study.name}", note, study.description


def _runs_below(folder: Path) -> list[Path]:
    runs = []
    for root, folders, _ in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        if (Path(root) / "config.json").is_file() and Path(root) != folder:
            runs.append(Path(root))
            folders[:] = []  # a run's own folders (models, samples) hold no runs
        elif depth >= SEARCH_DEPTH:
            folders[:] = []
    return runs


def summarise(runs: list[Run]):
    """summary.csv's table: one row per run, in run-name order."""
    import pandas as pd

    summary = pd.DataFrame([summary_row(run) for run in runs])
    return summary.sort_values(["run", "path"], kind="stable").reset_index(drop=True)


def metric_columns(summary) -> list[str]:
    """The columns that are measurements (not options, not timings)."""
    return [
        column
        for column in summary.columns
        if column.startswith(("final_", "best_")) and column not in ("final_epoch",) or column in ("n_star",)
    ]


def by_config(summary):
    """summary_by_config.csv: the runs of one configuration (all options but the seed) together."""
    import pandas as pd

    keys = [key for key in CONFIG_COLUMNS if key in summary]
    metrics = [column for column in metric_columns(summary) + ["seconds_total"] if column in summary]
    numeric = summary[keys + metrics].copy()
    for column in metrics:
        numeric[column] = pd.to_numeric(numeric[column], errors="coerce")
    grouped = numeric.groupby(keys, dropna=False, sort=True)
    table = grouped[metrics].agg(["median", "min", "max"])
    table.columns = [f"{column}_{statistic}" for column, statistic in table.columns]
    # n* as ranks: the lower median (a size some run had; "not told apart" above every size), the range.
    ranks = summary[keys].copy()
    for column in RANK_COLUMNS:
        ranks[column] = pd.to_numeric(summary[column], errors="coerce") if column in summary else math.nan
    by_rank = ranks.groupby(keys, dropna=False, sort=True)
    ranked = pd.DataFrame(
        {
            "n_star_rank_median": by_rank["n_star_rank"].agg(lower_median),
            "n_star_rank_min": by_rank["n_star_rank_min"].min(),
            "n_star_rank_max": by_rank["n_star_rank_max"].max(),
            "data_limit_fit_median": by_rank["data_limit_fit"].agg(lower_median),
            "data_limit_fresh_median": by_rank["data_limit_fresh"].agg(lower_median),
        }
    )
    counts = summary.groupby(keys, dropna=False, sort=True).agg(
        runs=("run", "size"), seeds=("seed", lambda seeds: " ".join(str(seed) for seed in sorted(seeds)))
    )
    return counts.join(ranked).join(table).reset_index()


def varied_options(summary) -> list[str]:
    """The options that differ between runs, less those that only follow the rule (its default lr, ...)."""
    varied = [key for key in (*CONFIG_COLUMNS, "seed") if key in summary and summary[key].nunique(dropna=False) > 1]
    if "rule" not in varied:
        return varied
    by_rule = summary.groupby("rule")
    return [key for key in varied if key == "rule" or by_rule[key].nunique(dropna=False).max() > 1]


# --- The parents for the calibration figure ------------------------------------------------------------
def parents_of(runs: list[Run], notes: list[str]) -> list[tuple[str, object]]:
    """The distinct parents of the runs (at most CALIBRATION_PARENTS, spread over the dimensions). A parent
    whose floors would not fit in memory, by the dimension its run claims, is left out with a note."""
    from gaussgan.figures.report_figures import noise_floor_memory
    from gaussgan.system.resources import require_memory

    seen: dict[str, Run] = {}
    for run in runs:
        seen.setdefault(json.dumps(run.config["parent"], sort_keys=True), run)
    chosen = sorted(seen.values(), key=lambda run: (run.config["parent"]["dist"], run.config["parent"]["dim"]))
    if len(chosen) > CALIBRATION_PARENTS:
        step = (len(chosen) - 1) / (CALIBRATION_PARENTS - 1)
        chosen = [chosen[round(i * step)] for i in range(CALIBRATION_PARENTS)]
    parents = []
    for run in chosen:
        dim = run.config["parent"]["dim"]
        try:
            require_memory(noise_floor_memory(dim), f"its noise floor (dimension {dim:,})")
        except UserError as error:
            notes.append(f"calibration figure: left out the parent of {run.path.name}: {error}")
            warn(notes[-1])
            continue
        parent = rebuild_parent(run)
        if parent is not None and parent.dim == dim:
            parents.append((parent.describe(), parent))
    return parents


def rebuild_parent(run: Run):
    """The run's parent: from config.json when its covariance is diagonal (exact), else from the dataset's
    metadata, else from the generator's model file; None when none can be read."""
    from gaussgan.distributions import Parent, make_parent

    summary = run.config["parent"]
    try:
        if not summary.get("sigma_offdiag_max"):
            return make_parent(
                summary["dist"],
                int(summary["dim"]),
                float(summary["mu"]),
                (float(summary["sigma_diag"]), 0.0, 1),
                float(summary["xlo"]),
                float(summary["xhi"]),
            )
    except (KeyError, TypeError, ValueError, UserError):
        pass
    try:
        import h5py

        from gaussgan.data.datasets import read_metadata
        from gaussgan.system.files import check_regular_file

        dataset = check_regular_file(run.config["dataset"], "dataset")
        with h5py.File(dataset, "r") as handle:
            return read_metadata(handle, dataset)[0]
    except (OSError, KeyError, UserError):
        pass
    try:
        from gaussgan.gan.rundir import GENERATOR
        from gaussgan.system.files import load_torch_file

        return Parent.from_state(load_torch_file(RunDirectory(run.path).file(GENERATOR), "model")["parent"])
    except (KeyError, UserError):
        return None


# --- Writing ----------------------------------------------------------------------------------------------
def report_command(args) -> int:
    """Read the runs, check the output folder, then build the report in a hidden folder and put it in place."""
    from gaussgan.system.locks import exclusive

    sources = find_runs(args.inputs)
    runs, skipped = read_runs(sources.runs)
    out = Path(args.out)
    check_output(out, args.force, sources.inputs, sources.runs)
    summary = summarise(runs)
    grouped = by_config(summary)
    varied = varied_options(summary)
    best = best_by_n_star(grouped)
    with folder_for_the_block(out.parent, "report's folder"), exclusive(out, "report"):
        check_output(out, args.force, sources.inputs, sources.runs)  # again, with the lock held
        with staging_folder(out) as staging:
            draw_figures(runs, summary, varied, best, sources.notes, staging)
            page = index_html(sources, summary, grouped, varied, best, skipped, staging)
            summary.to_csv(staging / "summary.csv", index=False, float_format="%.6g")
            grouped.to_csv(staging / "summary_by_config.csv", index=False, float_format="%.6g")
            (staging / "index.html").write_text(page, encoding="utf-8")
    print(f"report of {len(runs)} runs: {out / 'index.html'}")
    if best is not None:
        print(f"best configuration: {describe_configuration(best, varied)}")
    return 0


def read_runs(paths: list[Path]) -> tuple[list[Run], list[str]]:
    """The runs that can be read, and a line for each one skipped (also warned about on stderr)."""
    runs, skipped = [], []
    for path in paths:
        try:
            runs.append(load_run(path))
        except UserError as error:
            skipped.append(f"{path.name}: {error}")
            warn(f"skipped {path}: {error}")
    if not runs:
        raise UserError(f"none of the {len(paths)} runs found could be read; expected runs written by train.py")
    return runs, skipped


def draw_figures(runs: list[Run], summary, varied: list[str], best, notes: list[str], folder: Path) -> None:
    """The figures of the page (:data:`gaussgan.study.report_page.FIGURES`), in ``folder``."""
    import numpy as np

    from gaussgan.figures import n_star_figures, report_figures

    n_star_figures.n_star_heatmaps(summary, varied, folder / "n_star_heatmaps.png")
    n_star_figures.n_star_versus_dimension(summary, varied, folder / "n_star_versus_dimension.png")
    n_star_figures.spectra(summary, folder / "spectra.png")
    report_figures.width_latent_scatter(summary, folder / "scatter.png", best)
    report_figures.dimension_heatmaps(summary, folder / "heatmaps.png")
    report_figures.versus_dimension(summary, varied, folder / "versus_dimension.png")
    metrics = ["norm_ks_ratio", "sigma_rho_ratio"]
    metrics += sorted({f"{name}_ratio" for run in runs for name in metric_names(run.table)})
    curves = [({"rule": run.config["rule"], "dim": run.config["parent"]["dim"]}, run.table) for run in runs]
    report_figures.epoch_curves(curves, metrics, folder / "curves.png")
    rng = np.random.default_rng(0)  # the same report from the same runs
    floors = [(label, report_figures.noise_floor(parent, rng)) for label, parent in parents_of(runs, notes)]
    n_evals = [int(value) for value in summary["n_eval"].dropna()]
    report_figures.calibration(floors, n_evals, folder / "calibration.png")
