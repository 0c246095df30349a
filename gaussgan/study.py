"""A study: a TOML file naming datasets and lists of train.py options, crossed into ordinary runs.

    seeds = [1, 2]                        # one run per seed (``_seedS`` in the run name when several)
    runs_dir = "runs/quick"               # default runs/<file stem>
    [datasets]
    dir = "datasets/quick"                # where generated datasets go (default datasets/<file stem>)
    files = ["data/data_gauss_dim10.h5"]  # existing datasets, and/or:
    [[datasets.generate]]                 # gen-samples.py options; a list in dist or dims makes one file each
    dist = ["gauss", "cauchy"]
    dims = [2, 10]
    n_samples = 500
    n_batches = 4
    seed = 1
    [grid]                                # train.py options by their config.json names; lists are crossed
    latent_dim = [2, 16]
    rule = ["vanilla", "wgan-gp"]
    scale = { log = [0.25, 4, 5] }        # 5 values spaced evenly in log between 0.25 and 4
    epochs = 8

:func:`load_study` reads and checks the file (every problem a one-line :class:`UserError` naming the
key), and :func:`plan` turns it into one :class:`PlannedRun` per run: its run directory (named as
train.py names it, with a postfix for the options the name does not show) and its
:class:`~gaussgan.config.TrainConfig`. Nothing here writes a file or imports torch.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import shlex
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaussgan import cli
from gaussgan.config import MIN_NULL_REPEATS as MIN_REPEATS
from gaussgan.config import RULES, TrainConfig, expected_type
from gaussgan.errors import UserError
from gaussgan.schedules import SCHEDULES

if TYPE_CHECKING:
    from gaussgan.generation import GenerationConfig

PARENT_NAMES = ("gauss", "trunc_gauss", "cauchy", "uniform")  # distributions.PARENTS, without importing numpy


# --- Value checks: (test, what was expected) -----------------------------------------------------
def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive(value) -> bool:
    return _is_number(value) and value > 0


def _fraction(value) -> bool:
    return _is_number(value) and 0 <= value < 1


def _seed(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


POSITIVE_INT = (_positive_int, "a positive integer")
POSITIVE = (_positive, "a positive number")
FRACTION = (_fraction, "a number in [0, 1)")
SHARE = (lambda value: _is_number(value) and 0 <= value <= 1, "a number in [0, 1]")
NON_NEGATIVE = (lambda value: _is_number(value) and value >= 0, "a number >= 0")

# The train.py options a study may vary, by their TrainConfig (config.json) names. Not here: the dataset
# ([datasets]), the seed (seeds), where runs go (runs_dir, postfix), and what only steers one process
# (threads, quiet, force, resume, figures), which the sweep sets itself.
GRID_OPTIONS: dict[str, tuple] = {
    "latent_dim": POSITIVE_INT,
    "latent_sigma": POSITIVE,
    "epochs": POSITIVE_INT,
    "rule": (lambda value: value in RULES, " or ".join(RULES)),
    "batch_size": POSITIVE_INT,
    "scale": POSITIVE,
    "lr": POSITIVE,
    "lr_schedule": (lambda value: value in SCHEDULES, " or ".join(SCHEDULES)),
    "lr_floor": FRACTION,
    "warmup": FRACTION,
    "d_lr_ratio": POSITIVE,
    "r1_weight": NON_NEGATIVE,
    "beta1": FRACTION,
    "beta2": FRACTION,
    "critic_steps": POSITIVE_INT,
    "gp_weight": POSITIVE,
    "ema_decay": FRACTION,
    "mixture": SHARE,
    "batch_norm": (lambda value: isinstance(value, bool), "true or false"),
    "n_eval": POSITIVE_INT,
    "corr_every": POSITIVE_INT,
    "device": (lambda value: value in ("auto", "cpu", "cuda"), "auto, cpu or cuda"),
}
# The verdicts' options, where this gaussgan's train.py has them (they only change what is measured).
VERDICT_OPTIONS: dict[str, tuple] = {
    "eval_every": POSITIVE_INT,
    "max_n": POSITIVE_INT,
    "null_repeats": (
        lambda value: _positive_int(value) and value >= MIN_REPEATS,
        f"an integer of at least {MIN_REPEATS}",
    ),
}
GRID_OPTIONS.update(
    {key: check for key, check in VERDICT_OPTIONS.items() if key in {option.name for option in fields(TrainConfig)}}
)
# Options recorded as floats: a grid's integers (lr = 1) become floats, as train.py would parse them.
FLOAT_OPTIONS = {option.name for option in fields(TrainConfig) if expected_type(option) is float}
# How a varied option shows in the run name's postfix (latent_dim, latent_sigma and rule are in the name).
NAME_TAGS = {
    "epochs": "n",
    "batch_size": "b",
    "scale": "c",
    "lr": "lr",
    "lr_schedule": "",
    "lr_floor": "floor",
    "warmup": "warm",
    "d_lr_ratio": "dlr",
    "r1_weight": "r1-",
    "beta1": "beta1-",
    "beta2": "beta2-",
    "critic_steps": "k",
    "gp_weight": "gp",
    "ema_decay": "ema",
    "mixture": "mix",
    "n_eval": "neval",
    "corr_every": "corr",
    "device": "",
    "eval_every": "eval",
    "max_n": "maxn",
    "null_repeats": "nulls",
}
IN_RUN_NAME = ("latent_dim", "latent_sigma", "rule")
# train.py's flag for each option, for the equivalent command recorded in each run's config.json.
TRAIN_FLAGS = {
    "latent_dim": "-d",
    "latent_sigma": "-s",
    "epochs": "-n",
    "batch_size": "-b",
    "scale": "-c",
    "lr": "--lr",
    "lr_schedule": "--lr-schedule",
    "lr_floor": "--lr-floor",
    "warmup": "--warmup",
    "d_lr_ratio": "--d-lr-ratio",
    "r1_weight": "--r1",
    "beta1": "--beta1",
    "beta2": "--beta2",
    "critic_steps": "--critic-steps",
    "gp_weight": "--gp-weight",
    "ema_decay": "--ema-decay",
    "mixture": "--mixture",
    "n_eval": "--n-eval",
    "corr_every": "--corr-every",
    "device": "--device",
    "eval_every": "--eval-every",
    "max_n": "--max-n",
    "null_repeats": "--null-repeats",
}

GENERATE_OPTIONS: dict[str, tuple] = {
    "dist": (lambda value: value in PARENT_NAMES, "one of " + ", ".join(PARENT_NAMES)),
    "dims": POSITIVE_INT,
    "n_samples": POSITIVE_INT,
    "n_batches": POSITIVE_INT,
    "mu": (_is_number, "a finite number"),
    "sigma": (
        lambda value: (
            isinstance(value, list)
            and len(value) == 3
            and all(_is_number(number) for number in value)
            and isinstance(value[2], int)
        ),
        "[DIAG, OFFDIAG, BLOCK] (two numbers and an integer)",
    ),
    "xlo": (_is_number, "a finite number"),
    "xhi": (_is_number, "a finite number"),
    "seed": (_seed, "a seed, an integer in [0, 2**63)"),
    "postfix": (lambda value: isinstance(value, str), "a plain name"),
}
GENERATE_LISTS = ("dist", "dims")  # the gen-samples options that make one file per value
GENERATE_REQUIRED = ("dist", "dims", "n_samples", "n_batches")
TOP_LEVEL = ("description", "seeds", "runs_dir", "postfix", "datasets", "grid")
DATASETS_KEYS = ("dir", "files", "generate")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a study: an existing file, or one that ``generation`` makes (``generation`` set)."""

    path: Path  # absolute
    dist: str
    dim: int
    tag: str = ""  # what tells it apart from another dataset of the same parent name and dimension
    generation: GenerationConfig | None = None  # one dimension to generate; None for a given file
    n_samples: int | None = None  # samples in the file, when known without reading it


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study: an ordinary train.py run with its run directory's name."""

    name: str
    run_dir: Path  # absolute
    config: TrainConfig
    dataset: DatasetSpec
    options: dict = field(default_factory=dict)  # the grid values of this run (and its seed)

    @property
    def seed(self) -> int:
        return int(self.config.seed)  # type: ignore[arg-type]  # a planned run always has one

    def cost(self) -> float:
        """A rough relative cost (epochs x steps x weights), to start the longest runs first."""
        width = 128 * self.config.scale
        samples = self.dataset.n_samples or 10_000
        weights = 3 * width * width + (self.config.latent_dim + 2 * self.dataset.dim) * width
        return self.config.epochs * samples * weights * (1 + 1 / self.config.critic_steps)


@dataclass
class Study:
    """A study file, checked, with its overrides applied."""

    path: Path
    name: str
    description: str
    seeds: list[int]
    runs_dir: Path
    datasets_dir: Path
    postfix: str
    files: list[Path]
    generate: list[dict]
    grid: dict[str, list]  # every value a list, in the file's order


# --- Reading and checking --------------------------------------------------------------------------
def load_study(path: str | os.PathLike, overrides: dict | None = None) -> Study:
    """Read and check a study file; ``overrides`` (from the command line) replace its values."""
    from gaussgan.files import check_regular_file

    tomllib = toml_reader()
    path = Path(path)
    where = str(path)
    check_regular_file(path, "study file")
    try:
        content = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{where} is not a text file; expected a TOML study file") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{where} is not valid TOML: {error}") from None
    except OSError as error:
        from gaussgan.files import reason

        raise UserError(f"cannot read study file {where!r}: {reason(error)}") from None
    overrides = overrides or {}
    _check_keys(content, TOP_LEVEL, where, "the top level")
    grid_table = _table(content.get("grid", {}), where, "[grid]")
    _check_keys(grid_table, tuple(GRID_OPTIONS), where, "[grid]")
    grid_table = {**grid_table, **overrides.get("grid", {})}
    datasets = _table(content.get("datasets", {}), where, "[datasets]")
    _check_keys(datasets, DATASETS_KEYS, where, "[datasets]")

    stem = path.stem
    seeds = overrides.get("seeds", content.get("seeds", [1]))
    if not isinstance(seeds, list):
        seeds = [seeds]
    _check_list(seeds, _seed, "a seed, an integer in [0, 2**63)", where, "seeds")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"{where}: seeds {seeds} repeats a seed; expected each seed once")
    runs_dir = overrides.get("runs_dir") or _text(content.get("runs_dir", f"runs/{stem}"), where, "runs_dir")
    datasets_dir = overrides.get("datasets_dir") or _text(
        datasets.get("dir", f"datasets/{stem}"), where, "[datasets] dir"
    )
    postfix = _text(content.get("postfix", ""), where, "postfix")
    if postfix:
        _plain(postfix, where, "postfix")
    files = datasets.get("files", [])
    if not isinstance(files, list) or not all(isinstance(name, str) and name for name in files):
        raise UserError(f"{where}: [datasets] files is {files!r}; expected a list of dataset file names")
    generate = datasets.get("generate", [])
    if isinstance(generate, dict):
        generate = [generate]
    if not isinstance(generate, list):
        raise UserError(f"{where}: [datasets] generate is {generate!r}; expected [[datasets.generate]] tables")
    generate = [_check_generate(entry, where, number) for number, entry in enumerate(generate, 1)]
    if not files and not generate:
        raise UserError(
            f"{where}: no datasets; expected [datasets] files = [...] or [[datasets.generate]] tables "
            "(gen-samples.py options)"
        )
    grid = {key: _grid_values(key, value, where) for key, value in grid_table.items()}
    return Study(
        path=path,
        name=stem,
        description=_text(content.get("description", ""), where, "description"),
        seeds=seeds,
        runs_dir=Path(runs_dir),
        datasets_dir=Path(datasets_dir),
        postfix=postfix,
        files=[Path(name) for name in files],
        generate=generate,
        grid=grid,
    )


def toml_reader():
    """Python's tomllib (3.11+); on 3.10 the tomli package, its origin, when it is installed."""
    try:
        import tomllib

        return tomllib
    except ImportError:
        try:
            import tomli

            return tomli
        except ImportError:
            raise UserError(
                "study files need Python 3.11 or later (tomllib), or the tomli package on Python 3.10 "
                "(pip install tomli)"
            ) from None


def _check_keys(table: dict, known: tuple[str, ...], where: str, section: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"{where}: unknown option {key!r} in {section}{hint}; expected one of {', '.join(known)}")


def _table(value, where: str, section: str) -> dict:
    if not isinstance(value, dict):
        raise UserError(f"{where}: {section} is {value!r}; expected a table")
    return value


def _text(value, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise UserError(f"{where}: {key} is {value!r}; expected a string")
    return value


def _plain(value: str, where: str, key: str) -> str:
    from gaussgan.files import safe_name

    try:
        return safe_name(value, key)
    except UserError:
        raise UserError(f"{where}: {key} {value!r} is not a plain name: expected no '/', '\\' or '..'") from None


def _check_list(values: list, test, expected: str, where: str, key: str) -> None:
    if not values:
        raise UserError(f"{where}: {key} is an empty list: the study would have no runs; expected {expected}")
    for value in values:
        if not test(value):
            raise UserError(f"{where}: {key}: expected {expected} (or a list of them), got {value!r}")


def _grid_values(key: str, value, where: str) -> list:
    """The values of one [grid] option, as a list: a value, a list, or {log|linear = [start, stop, count]}."""
    test, expected = GRID_OPTIONS[key]
    if isinstance(value, dict):
        value = _spaced(key, value, where)
    values = value if isinstance(value, list) else [value]
    _check_list(values, test, expected, where, f"[grid] {key}")
    if key in FLOAT_OPTIONS:
        values = [float(number) for number in values]
    if len(set(map(repr, values))) != len(values):
        raise UserError(f"{where}: [grid] {key} = {values} repeats a value; expected each value once")
    return values


def _spaced(key: str, table: dict, where: str) -> list:
    """{log = [start, stop, count]} or {linear = [...]}: evenly spaced values; integers rounded, repeats dropped."""
    import numpy as np

    if len(table) != 1 or next(iter(table)) not in ("log", "linear"):
        raise UserError(
            f"{where}: [grid] {key} = {table!r}; expected a value, a list, or {{log = [start, stop, count]}} "
            "or {linear = [start, stop, count]}"
        )
    spacing, bounds = next(iter(table.items()))
    if (
        not isinstance(bounds, list)
        or len(bounds) != 3
        or not all(_positive(number) for number in bounds[:2])
        or not _positive_int(bounds[2])
    ):
        raise UserError(
            f"{where}: [grid] {key} {spacing} = {bounds!r}; expected [start, stop, count]: two positive numbers "
            "and a positive integer"
        )
    start, stop, count = bounds
    points = np.geomspace(start, stop, count) if spacing == "log" else np.linspace(start, stop, count)
    if GRID_OPTIONS[key] is not POSITIVE_INT:
        return [float(f"{point:.4g}") for point in points]
    # count distinct integers, as evenly spaced as integers allow: where rounding would repeat a value
    # (the low end of a log scale), the next integer.
    if count > int(stop) - int(math.ceil(start)) + 1:
        raise UserError(
            f"{where}: [grid] {key} {spacing} = {bounds!r}: there are not {count} integers between {start} and {stop}"
        )
    values: list[int] = []
    for point in points:
        values.append(max(int(round(point)), values[-1] + 1 if values else 1))
    return values


def _check_generate(entry, where: str, number: int) -> dict:
    section = f"[[datasets.generate]] #{number}"
    entry = _table(entry, where, section)
    _check_keys(entry, tuple(GENERATE_OPTIONS), where, section)
    missing = [key for key in GENERATE_REQUIRED if key not in entry]
    if missing:
        raise UserError(f"{where}: {section} has no {', '.join(missing)}; expected gen-samples.py's options")
    checked: dict[str, Any] = {}
    for key, value in entry.items():
        test, expected = GENERATE_OPTIONS[key]
        if key in GENERATE_LISTS:
            values = value if isinstance(value, list) else [value]
            _check_list(values, test, expected, where, f"{section} {key}")
            checked[key] = list(dict.fromkeys(values))
        elif not test(value):
            raise UserError(f"{where}: {section} {key}: expected {expected}, got {value!r}")
        else:
            checked[key] = value
    if checked.get("postfix"):
        _plain(checked["postfix"], where, f"{section} postfix")
    return checked


# --- The command line ------------------------------------------------------------------------------
SWEEP_EPILOG = """\
every run is an ordinary train.py run in RUNS_DIR (the study's runs_dir), named as train.py names it, with
a postfix for the options its name does not show (and _seedS with several seeds). Relaunching the same
command skips finished runs and resumes unfinished ones; Ctrl-C / SIGTERM stop at once, leaving every run
resumable. Exit status: 0 every run succeeded, 1 some failed (listed), 2 bad input (nothing written),
130 / 143 stopped.

examples:
  python -m gaussgan sweep studies/quick.toml --workers 2
  python -m gaussgan sweep studies/quick.toml --dry-run
  python -m gaussgan sweep studies/width.toml --set latent_dim=1,10 --seeds 1 2 3 -o runs/width-small
  python -m gaussgan sweep studies/dimension.toml --scheduler tcp://head-node:8786
"""


def add_sweep_command(commands):
    """The ``sweep`` sub-command on ``python -m gaussgan``'s sub-parsers."""
    parser = commands.add_parser(
        "sweep",
        help="run every configuration of a study (a TOML file) in parallel, restartable",
        description="Train every run of a study through Dask: a local cluster of worker processes, or an "
        "existing Dask cluster (--scheduler).",
        epilog=SWEEP_EPILOG,
        formatter_class=cli.argparse.RawDescriptionHelpFormatter,
    )
    add_sweep_arguments(parser)
    parser.set_defaults(run=_sweep)
    return parser


def _sweep(args) -> int:
    from gaussgan.sweep import sweep_command

    return sweep_command(args)


def add_sweep_arguments(parser) -> None:
    """The options of ``python -m gaussgan sweep`` (parsing only: nothing heavy is imported)."""
    parser.add_argument("study", metavar="STUDY.toml", help="study file (see studies/)")
    parser.add_argument(
        "--workers",
        type=cli.positive_int,
        help="local Dask worker processes, one torch thread each (default: the number of cores, at most one per run)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask cluster, e.g. tcp://HOST:8786 (workers must see the same file system)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the runs and which are done; run nothing")
    parser.add_argument("--seeds", type=cli.seed_value, nargs="+", metavar="S", help="replace the study's seeds")
    parser.add_argument("--epochs", type=cli.positive_int, help="replace the study's epochs (every run)")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="OPTION=V1,V2",
        help="replace one [grid] option's values, e.g. --set latent_dim=1,10,100 --set rule=wgan-gp",
    )
    parser.add_argument("-o", "--runs-dir", help="where the run directories go (default: the study's runs_dir)")
    parser.add_argument("--datasets-dir", help="where generated datasets go (default: the study's [datasets] dir)")
    parser.add_argument(
        "--background-figures",
        action="store_true",
        help="draw each run's figures in a process of its own, for workers with a spare core (default: inline, "
        "faster with one worker per core)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no line per run")


def overrides_from(args) -> dict:
    """The study values the command line replaces."""
    tomllib = toml_reader()
    grid: dict = {}
    for assignment in args.assignments:
        key, equals, text = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not equals or not key or not text.strip():
            raise UserError(f"--set {assignment!r}: expected OPTION=VALUE or OPTION=V1,V2,...")
        if key not in GRID_OPTIONS:
            close = difflib.get_close_matches(key, tuple(GRID_OPTIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"--set: unknown option {key!r}{hint}; expected one of {', '.join(GRID_OPTIONS)}")
        values = []
        for item in text.split(","):
            try:  # a TOML value (number, true/false, "string"); a bare word is a string
                values.append(tomllib.loads(f"value = {item.strip()}")["value"])
            except tomllib.TOMLDecodeError:
                values.append(item.strip())
        grid[key] = values if len(values) > 1 else values[0]
    if args.epochs is not None:
        grid["epochs"] = args.epochs
    overrides: dict = {"grid": grid}
    if args.seeds:
        overrides["seeds"] = list(args.seeds)
    if args.runs_dir:
        overrides["runs_dir"] = args.runs_dir
    if args.datasets_dir:
        overrides["datasets_dir"] = args.datasets_dir
    return overrides


# --- From a study to its runs -------------------------------------------------------------------------
def study_datasets(study: Study) -> list[DatasetSpec]:
    """Every dataset of the study: the given files (their parent read from their metadata) and those to generate."""
    from gaussgan.generation import GenerationConfig, dataset_name

    specs = [_file_spec(path) for path in study.files]
    folder = study.datasets_dir.resolve()
    for entry in study.generate:
        common = {key: value for key, value in entry.items() if key not in GENERATE_LISTS}
        if "sigma" in common:
            common["sigma"] = tuple(common["sigma"])
        common.setdefault("seed", 0)
        postfix = common.pop("postfix", "")
        for dist, dim in itertools.product(entry["dist"], entry["dims"]):
            _check_parent(dist, dim, common, study.path)
            generation = GenerationConfig(
                dist=dist, dims=[dim], out_dir=str(folder), postfix=postfix, quiet=True, **common
            )
            specs.append(
                DatasetSpec(
                    path=folder / dataset_name(dist, dim, postfix),
                    dist=dist,
                    dim=dim,
                    tag=postfix.lstrip("_"),
                    generation=generation,
                    n_samples=generation.n_samples * generation.n_batches,
                )
            )
    by_path: dict[Path, DatasetSpec] = {}
    for spec in specs:
        if spec.path in by_path:
            if spec.generation is not None and by_path[spec.path].generation != spec.generation:
                raise UserError(
                    f"{study.path}: two [[datasets.generate]] entries make {spec.path.name} with different "
                    "options; expected a postfix for one of them"
                )
            continue
        by_path[spec.path] = spec
    specs = list(by_path.values())
    # Datasets of the same parent name and dimension need a tag in their runs' names to stay apart.
    counts: dict[tuple[str, int], int] = {}
    for spec in specs:
        counts[spec.dist, spec.dim] = counts.get((spec.dist, spec.dim), 0) + 1
    return [
        replace(spec, tag=spec.tag or spec.path.stem) if counts[spec.dist, spec.dim] > 1 else replace(spec, tag="")
        for spec in specs
    ]


def _check_parent(dist: str, dim: int, options: dict, where) -> None:
    """The options make a valid parent, found before anything is written (up to d = 2000: a d x d matrix is built;
    larger ones are checked by gen-samples' own code, with their memory, when they are generated)."""
    from gaussgan.distributions import make_parent

    if dim > 2000:
        return
    keys = ("mu", "sigma", "xlo", "xhi")
    try:
        make_parent(dist, dim, **{key: options[key] for key in keys if key in options})
    except UserError as error:
        raise UserError(f"{where}: [[datasets.generate]] {dist}: {error}") from None


def _file_spec(path: Path) -> DatasetSpec:
    """A given dataset file: its parent's name and dimension and its size, from its metadata (data unread)."""
    import h5py

    from gaussgan.datasets import read_metadata
    from gaussgan.files import check_regular_file

    check_regular_file(path, "dataset")
    try:
        with h5py.File(path, "r") as handle:
            parent, fields = read_metadata(handle, path)
            rows = handle["data"].shape[0] if "data" in handle and hasattr(handle["data"], "shape") else None
    except OSError:
        raise UserError(f"{path} is not a readable HDF5 file (empty, truncated or another format)") from None
    return DatasetSpec(path=path.resolve(), dist=parent.name, dim=parent.dim, n_samples=rows or fields.get("n_total"))


def plan(study: Study, datasets: list[DatasetSpec] | None = None, background_figures: bool = False) -> list[PlannedRun]:
    """One PlannedRun per (dataset, grid point, seed), in a stable order; names checked to be distinct."""
    from gaussgan.runs import run_name

    datasets = study_datasets(study) if datasets is None else datasets
    keys = list(study.grid)
    varied = [key for key in keys if len(study.grid[key]) > 1 and key not in IN_RUN_NAME]
    runs_dir = study.runs_dir.resolve()
    planned: list[PlannedRun] = []
    for dataset in datasets:
        for values in itertools.product(*(study.grid[key] for key in keys)):
            options = dict(zip(keys, values, strict=True))
            if options.get("batch_size") == 1 and options.get("batch_norm", True):
                raise UserError(
                    f"{study.path}: [grid] batch_size 1 with BatchNorm cannot train (BatchNorm needs two samples); "
                    "expected batch_size 2 or more, or batch_norm = false"
                )
            for seed in study.seeds:
                tags = [study.postfix, dataset.tag]
                tags += [_tag(key, options[key]) for key in varied]
                tags.append(f"seed{seed}" if len(study.seeds) > 1 else "")
                postfix = "_".join(tag for tag in tags if tag)
                config = TrainConfig(
                    dataset=str(dataset.path),
                    seed=seed,
                    runs_dir=str(runs_dir),
                    postfix=postfix,
                    threads=1,
                    quiet=True,
                    # With one worker per core a figure process per run only competes with the other
                    # workers for the cores (benchmarks/sweep.py measures it): inline unless asked.
                    background_figures=background_figures,
                    **options,
                )
                name = run_name(dataset.dist, dataset.dim, config.latent_dim, config.latent_sigma, config.rule, postfix)
                config = replace(config, command=train_command(config))
                planned.append(
                    PlannedRun(
                        name=name,
                        run_dir=runs_dir / name,
                        config=config,
                        dataset=dataset,
                        options={"dataset": dataset.path.name, **options, "seed": seed},
                    )
                )
    _check_distinct(planned, study)
    return planned


def _tag(key: str, value) -> str:
    if key == "batch_norm":
        return "bn" if value else "nobn"
    if isinstance(value, float):
        return f"{NAME_TAGS[key]}{value:g}"
    return f"{NAME_TAGS[key]}{value}"


def _check_distinct(planned: list[PlannedRun], study: Study) -> None:
    seen: dict[str, PlannedRun] = {}
    for run in planned:
        if run.name in seen:
            first, second = seen[run.name].options, run.options
            differ = {key: (first.get(key), second.get(key)) for key in second if first.get(key) != second.get(key)}
            raise UserError(
                f"{study.path}: two runs would share the run directory {run.name} (they differ in "
                f"{', '.join(f'{key} {a!r} / {b!r}' for key, (a, b) in differ.items()) or 'nothing'}); "
                "expected values that differ in the run name: as printed with :g, or datasets with distinct postfixes"
            )
        seen[run.name] = run


def train_command(config: TrainConfig) -> str:
    """The train.py command line that makes the same run by hand (recorded in its config.json)."""
    defaults = TrainConfig(dataset=config.dataset, rule=config.rule)
    words = ["python", "train.py", "-f", config.dataset]
    for key, flag in TRAIN_FLAGS.items():
        if not hasattr(config, key):  # a verdict option of a newer train.py
            continue
        value = getattr(config, key)
        if value != getattr(defaults, key):
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if config.rule == "wgan-gp":
        words.append("-w")
    if not config.batch_norm:
        words.append("--no-batch-norm")
    words += ["--seed", str(config.seed), "-o", config.runs_dir]
    if config.postfix:
        words += ["-p", config.postfix]
    words += ["--threads", "1", "-q"] + ([] if config.background_figures else ["--inline-figures"])
    return shlex.join(words)
