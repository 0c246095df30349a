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
    [[slices]]                            # a further grid on some of the datasets: [grid] with these changes
    name = "latent"                       # a plain name, in its runs' names
    dims = [10]                           # the datasets of these dimensions (default: all of [grid]'s)
    grid = { latent_dim = [5, 10] }
    [[slices]]                            # datasets of their own: [[datasets.generate]] with main = false
    name = "size"
    postfix = "_N100k"                    # the datasets generated with this postfix
    grid = {}

A slice's run that is also a run of [grid] (same dataset, options and seed) is trained once, as [grid]'s.

:func:`load_study` reads and checks the file (every problem a one-line :class:`UserError` naming the
key), and :func:`plan` turns it into one :class:`PlannedRun` per run: its run directory (named as
train.py names it, with a postfix for the options the name does not show) and its
:class:`~gaussgan.gan.options.TrainConfig`. Nothing here writes a file or imports torch.
"""

from __future__ import annotations

import collections
import difflib
import itertools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaussgan import cli
from gaussgan.errors import UserError
from gaussgan.gan.options import GRID_OPTIONS, IN_RUN_NAME, TrainConfig, name_tag, train_command
from gaussgan.parents import PARENTS
from gaussgan.study.values import check_count, check_list, grid_values, parse_toml

if TYPE_CHECKING:
    from gaussgan.data.generation import GenerationConfig


# --- What a study file may hold ----------------------------------------------------------------------
# The gen-samples options of a [[datasets.generate]] entry, with the kind each value must be.
GENERATE_OPTIONS: dict[str, cli.Kind] = {
    "dist": cli.Kind(str, lambda value: value in PARENTS, "one of " + ", ".join(PARENTS)),
    "dims": cli.positive_int,
    "n_samples": cli.positive_int,
    "n_batches": cli.positive_int,
    "mu": cli.finite_float,
    "sigma": cli.Kind(
        list,
        lambda value: (
            isinstance(value, list)
            and len(value) == 3
            and all(cli.finite_float.accepts(number) for number in value)
            and isinstance(value[2], int)
        ),
        "[DIAG, OFFDIAG, BLOCK] (two numbers and an integer)",
    ),
    "xlo": cli.finite_float,
    "xhi": cli.finite_float,
    "seed": cli.seed_value,
    "postfix": cli.Kind(str, lambda value: True, "a plain name"),
    # false: made for the slices that name its postfix; [grid] does not train on it
    "main": cli.boolean,
}
GENERATE_LISTS = ("dist", "dims")  # the gen-samples options that make one file per value
GENERATE_REQUIRED = ("dist", "dims", "n_samples", "n_batches")
TOP_LEVEL = ("description", "seeds", "runs_dir", "postfix", "datasets", "grid", "slices")
SLICE_KEYS = ("name", "dims", "postfix", "grid")
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
    postfix: str = ""  # the postfix it was generated with ("" for given files)
    main: bool = True  # trained on by [grid] (False: by the slices that name its postfix only)


@dataclass(frozen=True)
class Slice:
    """A further grid of a study: [grid] with ``grid``'s values instead, on some of its datasets."""

    name: str
    grid: dict[str, list]  # every value a list, the whole grid (the study's with this slice's changes)
    dims: list[int] | None = None  # None: every dimension
    postfix: str | None = None  # None: [grid]'s datasets; else the datasets generated with this postfix

    def takes(self, dataset: DatasetSpec) -> bool:
        chosen = dataset.main if self.postfix is None else dataset.postfix == self.postfix
        return chosen and (self.dims is None or dataset.dim in self.dims)


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
    slices: list[Slice] = field(default_factory=list)


# --- Reading and checking --------------------------------------------------------------------------
def load_study(path: str | os.PathLike, overrides: dict | None = None) -> Study:
    """Read and check a study file; ``overrides`` (from the command line) replace its values."""
    from gaussgan.system.files import check_regular_file

    path = Path(path)
    where = str(path)
    check_regular_file(path, "study file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{where} is not a text file; expected a TOML study file") from None
    except OSError as error:
        from gaussgan.system.files import reason

        raise UserError(f"cannot read study file {where!r}: {reason(error)}") from None
    content = parse_toml(text, where)
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
    check_list(seeds, cli.seed_value.accepts, cli.seed_value.expected, where, "seeds")
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
    grid = {key: grid_values(key, value, where) for key, value in grid_table.items()}
    n_datasets = len(set(files)) + sum(len(entry["dist"]) * len(entry["dims"]) for entry in generate)
    slices = _check_slices(content.get("slices", []), grid, where)
    check_count(grid, n_datasets, seeds, where, extra=[slice_.grid for slice_ in slices])
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
        slices=slices,
    )


def _check_slices(slices, grid: dict[str, list], where: str) -> list[Slice]:
    """The [[slices]] tables, each checked: a plain unique name, dimensions, a postfix, [grid] options."""
    if isinstance(slices, dict):
        slices = [slices]
    if not isinstance(slices, list):
        raise UserError(f"{where}: slices is {slices!r}; expected [[slices]] tables")
    checked: list[Slice] = []
    for number, entry in enumerate(slices, 1):
        section = f"[[slices]] #{number}"
        entry = _table(entry, where, section)
        _check_keys(entry, SLICE_KEYS, where, section)
        name = _plain(_text(entry.get("name", ""), where, f"{section} name"), where, f"{section} name")
        if not name or name in {slice_.name for slice_ in checked}:
            raise UserError(f"{where}: {section} name {name!r}: expected a plain name that no other slice has")
        dims = entry.get("dims")
        if dims is not None:
            dims = dims if isinstance(dims, list) else [dims]
            check_list(dims, cli.positive_int.accepts, cli.positive_int.expected, where, f"{section} dims")
        postfix = entry.get("postfix")
        if postfix is not None:
            _plain(_text(postfix, where, f"{section} postfix"), where, f"{section} postfix")
        changes = _table(entry.get("grid", {}), where, f"{section} grid")
        _check_keys(changes, tuple(GRID_OPTIONS), where, f"{section} grid")
        changed = {key: grid_values(key, value, where) for key, value in changes.items()}
        checked.append(Slice(name=name, grid={**grid, **changed}, dims=dims, postfix=postfix))
    return checked


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
    from gaussgan.system.files import safe_name

    try:
        return safe_name(value, key)
    except UserError:
        raise UserError(f"{where}: {key} {value!r} is not a plain name: expected no '/', '\\' or '..'") from None


def _check_generate(entry, where: str, number: int) -> dict:
    section = f"[[datasets.generate]] #{number}"
    entry = _table(entry, where, section)
    _check_keys(entry, tuple(GENERATE_OPTIONS), where, section)
    missing = [key for key in GENERATE_REQUIRED if key not in entry]
    if missing:
        raise UserError(f"{where}: {section} has no {', '.join(missing)}; expected gen-samples.py's options")
    checked: dict[str, Any] = {}
    for key, value in entry.items():
        kind = GENERATE_OPTIONS[key]
        if key in GENERATE_LISTS:
            values = value if isinstance(value, list) else [value]
            check_list(values, kind.accepts, kind.expected, where, f"{section} {key}")
            checked[key] = list(dict.fromkeys(values))
        elif not kind.accepts(value):
            raise UserError(f"{where}: {section} {key}: expected {kind.expected}, got {value!r}")
        else:
            checked[key] = value
    if checked.get("postfix"):
        _plain(checked["postfix"], where, f"{section} postfix")
    if checked.get("main") is False and not checked.get("postfix"):
        raise UserError(
            f"{where}: {section} main = false needs a postfix: the slices that train on it name it by its postfix"
        )
    return checked


# --- From a study to its runs -------------------------------------------------------------------------
def study_datasets(study: Study) -> list[DatasetSpec]:
    """Every dataset of the study: the given files (their parent read from their metadata) and those to generate."""
    from gaussgan.data.generation import GenerationConfig, dataset_name

    specs = [_file_spec(path) for path in study.files]
    folder = study.datasets_dir.resolve()
    for entry in study.generate:
        common = {key: value for key, value in entry.items() if key not in GENERATE_LISTS}
        if "sigma" in common:
            common["sigma"] = tuple(common["sigma"])
        common.setdefault("seed", 0)
        postfix = common.pop("postfix", "")
        main = common.pop("main", True)
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
                    postfix=postfix,
                    main=main,
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
    # Datasets of the same parent name and dimension need a tag in their runs' names to stay apart: their
    # postfix, and where that does not tell them apart (given files, equal postfixes), their file name. A
    # dataset without a postfix beside others with one keeps its plain run names.
    same_parent = collections.Counter((spec.dist, spec.dim) for spec in specs)
    same_tag = collections.Counter((spec.dist, spec.dim, spec.tag) for spec in specs)

    def tag(spec: DatasetSpec) -> str:
        if same_parent[spec.dist, spec.dim] == 1:
            return ""
        return spec.path.stem if same_tag[spec.dist, spec.dim, spec.tag] > 1 else spec.tag

    return [replace(spec, tag=tag(spec)) for spec in specs]


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

    from gaussgan.data.datasets import read_metadata
    from gaussgan.system.files import check_regular_file

    check_regular_file(path, "dataset")
    try:
        with h5py.File(path, "r") as handle:
            parent, fields = read_metadata(handle, path)
            rows = handle["data"].shape[0] if "data" in handle and hasattr(handle["data"], "shape") else None
    except OSError:
        raise UserError(f"{path} is not a readable HDF5 file (empty, truncated or another format)") from None
    return DatasetSpec(path=path.resolve(), dist=parent.name, dim=parent.dim, n_samples=rows or fields.get("n_total"))


def plan(study: Study, datasets: list[DatasetSpec] | None = None, background_figures: bool = False) -> list[PlannedRun]:
    """One PlannedRun per (dataset, grid point, seed) of [grid], then of each slice, in a stable order; a
    slice's run that [grid] has already is left out; names checked to be distinct."""
    datasets = study_datasets(study) if datasets is None else datasets
    planned = _grid_runs(study, study.grid, [dataset for dataset in datasets if dataset.main], "", background_figures)
    seen = {_identity(run) for run in planned}
    for slice_ in study.slices:
        chosen = [dataset for dataset in datasets if slice_.takes(dataset)]
        for run in _grid_runs(study, slice_.grid, chosen, slice_.name, background_figures):
            if _identity(run) not in seen:
                seen.add(_identity(run))
                planned.append(run)
    _check_distinct(planned, study)
    return planned


def _identity(run: PlannedRun) -> tuple:
    """What makes two planned runs the same training: the dataset, every option, the seed."""
    return run.dataset.path, tuple(sorted((key, repr(value)) for key, value in run.options.items()))


def _grid_runs(
    study: Study, grid: dict[str, list], datasets: list[DatasetSpec], tag: str, background_figures: bool
) -> list[PlannedRun]:
    """The runs of one grid over ``datasets``, their names tagged with ``tag`` (a slice's name)."""
    from gaussgan.gan.rundir import run_name

    keys = list(grid)
    varied = [key for key in keys if len(grid[key]) > 1 and key not in IN_RUN_NAME]
    runs_dir = study.runs_dir.resolve()
    planned: list[PlannedRun] = []
    for dataset in datasets:
        for values in itertools.product(*(grid[key] for key in keys)):
            options = dict(zip(keys, values, strict=True))
            if options.get("batch_size") == 1 and options.get("batch_norm", True):
                raise UserError(
                    f"{study.path}: [grid] batch_size 1 with BatchNorm cannot train (BatchNorm needs two samples); "
                    "expected batch_size 2 or more, or batch_norm = false"
                )
            for seed in study.seeds:
                tags = [study.postfix, dataset.tag, tag]
                tags += [name_tag(key, options[key]) for key in varied]
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
    return planned


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
