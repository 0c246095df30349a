"""train.py's options, each declared once: the field of :class:`TrainConfig` and its :class:`Option`.

From this one table come train.py's parser (:func:`add_arguments`), the options a study may vary and
their checks (:data:`GRID_OPTIONS`), how a varied option shows in a run's name (:func:`name_tag`), the
equivalent train.py command (:func:`train_command`), the report's configuration columns
(:data:`OPTION_COLUMNS`) and the values that describe a run recorded before an option existed
(:data:`ADDED_LATER`). Kept free of heavy imports so that ``train.py --help`` answers at once.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from gaussgan import cli
from gaussgan.errors import UserError
from gaussgan.gan.schedules import SCHEDULES
from gaussgan.stats.constants import MAX_N, MIN_NULL_REPEATS, MIN_SAMPLES, NULL_REPEATS, NULL_REPEATS_BEFORE_OPTION

# The update rules, spelled one way everywhere in code (run names abbreviate them: van, wass).
RULES = ("vanilla", "wgan-gp")
# Per-rule defaults, chosen by the experiments in docs/defaults.md ("Choosing the defaults").
RULE_DEFAULTS = {
    "vanilla": {"lr": 5e-5, "critic_steps": 1, "d_lr_ratio": 4.0, "r1_weight": 10.0},
    "wgan-gp": {"lr": 5e-5, "critic_steps": 5, "d_lr_ratio": 4.0, "r1_weight": 0.0},
}
DEVICES = ("auto", "cpu", "cuda")
GENERATOR_WIDTHS = (128, 128, 128)
DISCRIMINATOR_WIDTHS = (128, 128, 128)
_VAN, _WASS = RULE_DEFAULTS["vanilla"], RULE_DEFAULTS["wgan-gp"]


@dataclass(frozen=True)
class Option:
    """What one train.py option is, besides its field's name and default.

    flags: train.py's flags (none: not on the command line); kind: the value's kind, which parses the
    command line and checks a study's values; grid: a study may vary it; tag: how a varied value shows
    in a run name's postfix (a prefix, or a function of the value; None: the name shows it already);
    column: its place among the report's configuration columns (0: not one); before: the value that describes what
    training did in a run recorded before the option existed (None: every record holds it); resumable: may differ when a run is
    resumed (every other option must match the saved run); argparse: the rest of add_argument's words.
    """

    flags: tuple[str, ...] = ()
    help: str = ""
    kind: cli.Kind | None = None
    grid: bool = False
    tag: str | Callable[[Any], str] | None = None
    column: int = 0
    before: Any = None
    resumable: bool = False
    argparse: dict = field(default_factory=dict)


def option(default: Any, *flags: str, help: str = "", kind: cli.Kind | None = None, **what: Any):
    """A TrainConfig field declared with its :class:`Option` (keywords: those of Option, and argparse's)."""
    known = {name: what.pop(name) for name in ("grid", "tag", "column", "before", "resumable") if name in what}
    return field(default=default, metadata={"option": Option(flags, help, kind, argparse=what, **known)})


def _grid(default: Any, *flags: str, tag: str | Callable[[Any], str] | None, column: int, **what: Any):
    """An option a study may vary, and its place among the report's configuration columns (0: none)."""
    return option(default, *flags, grid=True, tag=tag, column=column, **what)


@dataclass(frozen=True)
class TrainConfig:
    """Every option of train.py, field names equal to the parsed arguments' names.

    The options of :data:`RULE_DEFAULTS` given as None take the rule's default at construction, so no
    field but ``seed`` is ever None; ``seed`` is None until a run draws one or resumes one.
    """

    # The dataset's path may change on resume (a project folder moved or copied): its contents may
    # not, and the fingerprint in config.json and the checkpoint checks them.
    dataset: str = option(
        MISSING, "-f", "--file", metavar="FILE", required=True, resumable=True,
        help="dataset (.h5) written by gen-samples.py",
    )  # fmt: skip
    latent_dim: int = _grid(
        100, "-d", "--latent-dim", kind=cli.positive_int, tag=None, column=1,
        help="dimension of the generator's latent space (default: %(default)s)",
    )  # fmt: skip
    latent_sigma: float = _grid(
        1.0, "-s", "--latent-sigma", kind=cli.positive_float, tag=None, column=2,
        help="width (sigma) of the Gaussian latent distribution, every component (default: %(default)s)",
    )  # fmt: skip
    epochs: int = _grid(
        80, "-n", "--epochs", kind=cli.positive_int, tag="n", column=20, resumable=True,
        help="number of epochs, numbered 0 to N-1 in file names, the CSV and messages (default: %(default)s)",
    )  # fmt: skip
    rule: str = _grid(
        "vanilla", "-w", "--wasserstein", kind=cli.choice(RULES), tag=None, column=3, action="store_const", const="wgan-gp",
        help="WGAN-GP: Wasserstein loss with gradient penalty (default: vanilla GAN)",
    )  # fmt: skip
    batch_size: int = _grid(
        64, "-b", "--batch-size", kind=cli.positive_int, tag="b", column=5, help="batch size (default: %(default)s)"
    )
    scale: float = _grid(
        1.0, "-c", "--scale", kind=cli.positive_float, tag="c", column=4,
        help="width multiplier of both networks' hidden layers (default: %(default)s: 3 layers of 128)",
    )  # fmt: skip
    # None: the rule's default, filled in __post_init__ (likewise critic_steps, d_lr_ratio, r1_weight).
    lr: float = _grid(
        None, "--lr", kind=cli.positive_float, tag="lr", column=6,
        help="Adam learning rate of the generator, and of the discriminator times --d-lr-ratio "
        f"(default: {_VAN['lr']:g} vanilla, {_WASS['lr']:g} WGAN-GP)",
    )  # fmt: skip
    # The learning rate over the run: constant, or decayed (linear, cosine) to lr_floor x lr at the
    # last step, after an optional linear warm-up over the first warmup share of the run.
    lr_schedule: str = _grid(
        "constant", "--lr-schedule", kind=cli.choice(SCHEDULES), tag="", column=7, before="constant",
        help="learning rate over the run: constant, or decayed linearly or along a cosine to --lr-floor x --lr "
        "at the last step (default: %(default)s)",
    )  # fmt: skip
    lr_floor: float = _grid(
        0.0, "--lr-floor", kind=cli.fraction, tag="floor", column=8, before=0.0,
        help="where a decaying schedule ends, as a fraction of --lr, in [0, 1) (default: %(default)s)",
    )  # fmt: skip
    warmup: float = _grid(
        0.0, "--warmup", kind=cli.fraction, tag="warm", column=9, before=0.0,
        help="share of the run, in [0, 1), over which the learning rate first rises linearly from 0 to the "
        "schedule's value, whatever the schedule (default: %(default)s, none)",
    )  # fmt: skip
    beta1: float = _grid(
        0.0, "--beta1", kind=cli.fraction, tag="beta1-", column=12, help="Adam beta1 (default: %(default)s)"
    )
    beta2: float = _grid(
        0.9, "--beta2", kind=cli.fraction, tag="beta2-", column=13, help="Adam beta2 (default: %(default)s)"
    )
    critic_steps: int = _grid(
        None, "--critic-steps", kind=cli.positive_int, tag="k", column=14,
        help="discriminator steps per generator step, counted over the whole run "
        f"(default: {_VAN['critic_steps']} vanilla, {_WASS['critic_steps']} WGAN-GP)",
    )  # fmt: skip
    gp_weight: float = _grid(
        10.0,
        "--gp-weight",
        kind=cli.positive_float,
        tag="gp",
        column=15,
        help="gradient penalty weight lambda (default: %(default)s)",
    )
    # The discriminator's learning rate as a multiple of lr (a two time-scale update rule), and the
    # weight gamma of the R1 penalty gamma/2 * E||grad D(real)||^2, which damps the rotation of the
    # two networks around the equilibrium.
    d_lr_ratio: float = _grid(
        None, "--d-lr-ratio", kind=cli.positive_float, tag="dlr", column=10, before=1.0,
        help="the discriminator's learning rate as a multiple of --lr: a two time-scale update rule "
        f"(default: {_VAN['d_lr_ratio']:g} vanilla, {_WASS['d_lr_ratio']:g} WGAN-GP)",
    )  # fmt: skip
    r1_weight: float = _grid(
        None, "--r1", kind=cli.non_negative_float, tag="r1-", column=11, before=0.0,
        help="weight gamma of the R1 penalty gamma/2 * E||grad D(real)||^2 on the discriminator, either rule; "
        f"0 turns it off (default: {_VAN['r1_weight']:g} vanilla, {_WASS['r1_weight']:g} WGAN-GP)",
    )  # fmt: skip
    ema_decay: float = _grid(
        0.995, "--ema-decay", kind=cli.fraction, tag="ema", column=16,
        help="decay of the moving average of the generator's weights, used for evaluation and sampling; "
        "0 turns it off (default: %(default)s)",
    )  # fmt: skip
    # The run's final generator (saved, sampled, judged by the verdict) is the mixture of the averaged
    # generator at each of the last mixture x epochs epochs (at least the last one): the averaged
    # generator still wanders around the parent from epoch to epoch, and a mixture averages that out.
    mixture: float = _grid(
        0.5, "--mixture", kind=cli.share, tag="mix", column=17, before=0.0, metavar="SHARE",
        help="the run's final generator (saved, sampled, judged by the verdict) is a mixture of the averaged "
        "generator at each of the last SHARE x epochs epochs, samples taking turns among them; 0: the last "
        "epoch's alone (default: %(default)s, the second half of the run)",
    )  # fmt: skip
    batch_norm: bool = _grid(
        True, "--batch-norm", kind=cli.boolean, tag=lambda on: "bn" if on else "nobn", column=18,
        action=cli.argparse.BooleanOptionalAction,
        help="BatchNorm in the generator's hidden layers (default: on, as in the original gaussGAN)",
    )  # fmt: skip
    seed: int | None = option(
        None, "--seed", kind=cli.seed_value, nargs="+", metavar="SEED",
        help="random seed; same seed, same results on CPU (default: drawn, printed, recorded). Several seeds "
        "train several runs together in one process, stacked (faster than one after another), each into its "
        "own run directory named _seedS",
    )  # fmt: skip
    device: str = _grid(
        "auto", "--device", kind=cli.choice(DEVICES), tag="", column=0, resumable=True,
        help="auto: CUDA when present (default: %(default)s)",
    )  # fmt: skip
    threads: int = option(
        1, "--threads", kind=cli.positive_int, resumable=True,
        help="CPU threads for torch; figures are drawn in another process (default: %(default)s)",
    )  # fmt: skip
    runs_dir: str = option("runs", "-o", "--runs-dir", help="where run directories go (default: %(default)s)")
    postfix: str = option(
        "", "-p", "--postfix", type=cli.plain_name,
        help="appended to the run directory's name (a plain name: no '/', '\\' or '..')",
    )  # fmt: skip
    n_eval: int = _grid(
        1000, "--n-eval", kind=cli.positive_int, tag="neval", column=19,
        help="samples drawn for each epoch's diagnostics (default: %(default)s)",
    )  # fmt: skip
    corr_every: int = _grid(
        10, "--corr-every", kind=cli.positive_int, tag="corr", column=0,
        help="draw the correlation figure at epochs 0, N, 2N, ... and at the last (default: %(default)s)",
    )  # fmt: skip
    # Calibrated metrics: the costly ones every eval_every epochs; the verdict's largest sample size
    # and the honest samples drawn for each simulated null. None changes what training does.
    eval_every: int = _grid(
        5, "--eval-every", kind=cli.positive_int, tag="eval", column=0, before=5, resumable=True,
        help="compute the costly calibrated metrics (MMD, classifier) at epochs 0, N, 2N, ...; the others every "
        "epoch, and the end-of-run verdict all of them (default: %(default)s)",
    )  # fmt: skip
    max_n: int = _grid(
        MAX_N, "--max-n", kind=cli.at_least(MIN_SAMPLES), tag="maxn", column=0, before=MAX_N, resumable=True,
        help="largest number of generated samples the end-of-run verdict tests, on the grid 100, 200, 500, 1k, 2k, 5k, ... "
        f"(at least {MIN_SAMPLES}; default: %(default)s)",
    )  # fmt: skip
    null_repeats: int = _grid(
        NULL_REPEATS, "--null-repeats", kind=cli.at_least(MIN_NULL_REPEATS), tag="nulls", column=0,
        before=NULL_REPEATS_BEFORE_OPTION, resumable=True,
        help="honest parent samples drawn to simulate each metric's null distribution, which gives its floor and "
        f"p-value; at least {MIN_NULL_REPEATS}: below it a simulated p-value cannot pass the first step of the "
        "weighted Holm correction across the metrics (default: %(default)s)",
    )  # fmt: skip
    draws: int = _grid(
        1, "--draws", kind=cli.positive_int, tag="draws", column=0, before=1, resumable=True, metavar="K",
        help="give the end-of-run verdict on K independent draws of fresh generated samples (each up to --max-n) "
        "and n* as their median and range (default: %(default)s)",
    )  # fmt: skip
    verdict_only: bool = option(
        False, "--verdict-only", action="store_true", before=False, resumable=True,
        help="recompute the verdict (verdict.json) of the existing run these options name, without training "
        "(--max-n and --null-repeats may differ from the run's)",
    )  # fmt: skip
    force: bool = option(
        False, "--force", action="store_true", resumable=True, help="replace an existing run directory"
    )
    resume: bool = option(
        False, "--resume", action="store_true", resumable=True,
        help="continue the run from its last checkpoint (a larger -n extends it)",
    )  # fmt: skip
    background_figures: bool = option(
        True, "--inline-figures", action="store_false", resumable=True,
        help="draw figures in the training process instead of a background worker (slower)",
    )  # fmt: skip
    tensorboard: bool = option(
        False, "--tensorboard", action="store_true", before=False, resumable=True,
        help="also log every CSV column (each epoch) and the run's figures (at the end) for TensorBoard, in "
        "RUN/tensorboard/ (tensorboard --logdir RUNS_DIR); needs the tensorboard package: pip install '.[tensorboard]'",
    )  # fmt: skip
    quiet: bool = option(
        False, "-q", "--quiet", action="store_true", resumable=True,
        help="no progress bars and no per-epoch line; the summary and the verdict still print (without a terminal, "
        "the bars stay silent anyway)",
    )  # fmt: skip
    # The train.py command that made the run (recorded in config.json; not an option of its own).
    command: str = option("", resumable=True)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise UserError(f"unknown rule {self.rule!r}; expected one of {', '.join(RULES)}")
        if self.lr_schedule not in SCHEDULES:
            raise UserError(f"unknown --lr-schedule {self.lr_schedule!r}; expected one of {', '.join(SCHEDULES)}")
        for name, default in RULE_DEFAULTS[self.rule].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)

    def mixture_start(self) -> int:
        """The first epoch whose averaged generator joins the final mixture. It never moves back when a
        resumed run is extended, so the epochs before it are never needed and never kept."""
        # Rounded first: 0.07 x 100 is 7.000000000000001 in floating point, and 7 epochs are meant.
        return self.epochs - max(1, math.ceil(round(self.mixture * self.epochs, 9)))

    def with_seed(self, seed: int) -> TrainConfig:
        return replace(self, seed=seed)


# --- What the table gives: every view is a function of the config class, so that a class with one more
# option (tests/gan/test_options.py) gets it everywhere; the module-level names are TrainConfig's views.
def specs(config_class: type = TrainConfig) -> dict[str, Option]:
    """Every option of ``config_class`` with its declaration, in the fields' order."""
    return {option.name: option.metadata["option"] for option in fields(config_class)}


def grid_options(config_class: type = TrainConfig) -> dict[str, cli.Kind]:
    """The options a study may vary, with the kind each value must be. Not among them: the dataset
    ([datasets]), the seed (seeds), where runs go (runs_dir, postfix), and what only steers one process
    (threads, quiet, force, resume, figures), which the sweep sets itself."""
    return {name: spec.kind for name, spec in specs(config_class).items() if spec.grid and spec.kind}


def config_columns(config_class: type = TrainConfig) -> tuple[str, ...]:
    """The options that tell one configuration of a study from another in the report's tables."""
    columns = [(spec.column, name) for name, spec in specs(config_class).items() if spec.column]
    return tuple(name for _, name in sorted(columns))


def added_later(config_class: type = TrainConfig) -> dict[str, Any]:
    """Options added after runs were first recorded, with the value that describes what training did in a
    run recorded before the option existed: such a record reads as if it held them (so it can be resumed
    with those values, replaced with --force, or reported), and a resume with other values says what differs."""
    return {name: spec.before for name, spec in specs(config_class).items() if spec.before is not None}


GRID_OPTIONS = grid_options()
# Varied options the run name shows already (train.py names a run by them).
IN_RUN_NAME = tuple(name for name, spec in specs().items() if name in GRID_OPTIONS and spec.tag is None)
OPTION_COLUMNS = config_columns()
ADDED_LATER = added_later()


def add_arguments(parser, config_class: type = TrainConfig) -> None:
    """Every option of train.py on ``parser``, as the table declares it."""
    defaults = {option.name: option.default for option in fields(config_class)}
    for name, spec in specs(config_class).items():
        if not spec.flags:
            continue
        words: dict[str, Any] = {"dest": name, "help": spec.help, **spec.argparse}
        default = defaults[name]
        if default is not MISSING and name not in RULE_DEFAULTS["vanilla"]:
            words["default"] = default
        if spec.kind is not None and "action" not in words and "type" not in words:
            if spec.kind.choices:  # argparse lists a choice's names in --help and in its message
                words["choices"] = spec.kind.choices
            else:
                words["type"] = spec.kind
        parser.add_argument(*spec.flags, **words)


def name_tag(name: str, value, config_class: type = TrainConfig) -> str:
    """How a varied option's value shows in a run name's postfix (``lr0.0003``, ``nobn``)."""
    tag = specs(config_class)[name].tag
    if callable(tag):
        return tag(value)
    return f"{tag}{value:g}" if isinstance(value, float) else f"{tag}{value}"


def train_command(config: TrainConfig) -> str:
    """The train.py command line that makes the same run by hand (recorded in its config.json)."""
    table = specs(type(config))
    defaults = type(config)(dataset=config.dataset, rule=config.rule)
    words = ["python", "train.py", "-f", config.dataset]
    for name in grid_options(type(config)):
        value, spec = getattr(config, name), table[name]
        action = spec.argparse.get("action")
        if action == "store_const":  # -w: the flag alone, when the value is its constant
            words += [spec.flags[0]] if value == spec.argparse["const"] else []
        elif value == getattr(defaults, name):
            continue
        elif action is cli.argparse.BooleanOptionalAction:
            words.append(spec.flags[-1] if value else spec.flags[-1].replace("--", "--no-", 1))
        else:
            words += [spec.flags[0], f"{value:g}" if isinstance(value, float) else str(value)]
    words += ["--seed", str(config.seed), "-o", config.runs_dir]
    if config.postfix:
        words += ["-p", config.postfix]
    words += ["--threads", "1", "-q"] + ([] if config.background_figures else ["--inline-figures"])
    return shlex.join(words)


def seed_run_postfix(postfix: str, seed: int) -> str:
    """The postfix of one of several runs that differ by their seed only: ``seedS`` after the shared one."""
    return "_".join(part for part in (postfix, f"seed{seed}") if part)


def seed_runs(config: TrainConfig, seeds: list) -> list[TrainConfig]:
    """One run per seed, each named by its seed (``--seed 1 2 3``)."""
    return [replace(config, seed=seed, postfix=seed_run_postfix(config.postfix, seed)) for seed in seeds]


def hyperparameter_changes(saved: dict, current: TrainConfig) -> list[str]:
    """The options that differ from a saved run's, ignoring those a resume may change."""
    changes = []
    for option in fields(current):
        if option.metadata["option"].resumable or option.name not in saved:
            continue
        now = getattr(current, option.name)
        if now != saved[option.name] and not (option.name == "seed" and now is None):
            changes.append(f"{option.name}: {saved[option.name]!r} -> {now!r}")
    return changes
