"""train.py's options as one plain config object, with the per-rule defaults and the parents' bounds.

Kept free of heavy imports so that ``train.py --help`` answers at once.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields, replace

from gaussgan.errors import UserError
from gaussgan.schedules import SCHEDULES

# Bounds of trunc_gauss and uniform when none are given (data units), in gen-samples.py and in
# datasets of the original layout that do not record them.
DEFAULT_XLO, DEFAULT_XHI = -1.5, 1.5
# The update rules, spelled one way everywhere in code (run names abbreviate them: van, wass).
RULES = ("vanilla", "wgan-gp")
# Per-rule defaults, chosen by the experiments in the README ("Choosing the defaults").
RULE_DEFAULTS = {
    "vanilla": {"lr": 5e-5, "critic_steps": 1, "d_lr_ratio": 4.0, "r1_weight": 10.0},
    "wgan-gp": {"lr": 5e-5, "critic_steps": 5, "d_lr_ratio": 4.0, "r1_weight": 0.0},
}
GENERATOR_WIDTHS = (128, 128, 128)
DISCRIMINATOR_WIDTHS = (128, 128, 128)
# The fewest honest samples a simulated null may be drawn from: with fewer, the smallest Monte Carlo
# p-value, 1/(R + 1), cannot pass Holm's first step among all the metrics (gaussgan.nulls).
MIN_NULL_REPEATS = 150
# Marks an option that may differ when a run is resumed; every other option must match the saved run.
RESUMABLE = {"resumable": True}


def resumable(default):
    return field(default=default, metadata=RESUMABLE)


@dataclass(frozen=True)
class TrainConfig:
    """Every option of train.py, field names equal to the parsed arguments' names.

    The options of :data:`RULE_DEFAULTS` given as None take the rule's default at construction, so no
    field but ``seed`` is ever None; ``seed`` is None until a run draws one or resumes one.
    """

    # The dataset's path may change on resume (a project folder moved or copied): its contents may
    # not, and the fingerprint in config.json and the checkpoint checks them.
    dataset: str = field(metadata=RESUMABLE)
    latent_dim: int = 100
    latent_sigma: float = 1.0
    epochs: int = resumable(80)
    rule: str = "vanilla"
    batch_size: int = 64
    scale: float = 1.0
    lr: float = None  # type: ignore[assignment]  # None: the rule's default, filled in __post_init__
    beta1: float = 0.0
    beta2: float = 0.9
    critic_steps: int = None  # type: ignore[assignment]  # likewise
    gp_weight: float = 10.0
    # The discriminator's learning rate as a multiple of lr (a two time-scale update rule), and the
    # weight gamma of the R1 penalty gamma/2 * E||grad D(real)||^2, which damps the rotation of the
    # two networks around the equilibrium; None: the rule's default, like lr.
    d_lr_ratio: float = None  # type: ignore[assignment]
    r1_weight: float = None  # type: ignore[assignment]
    ema_decay: float = 0.995
    # The run's final generator (saved, sampled, judged by the verdict) is the mixture of the averaged
    # generator at each of the last mixture x epochs epochs (at least the last one): the averaged
    # generator still wanders around the parent from epoch to epoch, and a mixture averages that out.
    mixture: float = 0.5
    # The learning rate over the run: constant, or decayed (linear, cosine) to lr_floor x lr at the
    # last step, after an optional linear warm-up over the first warmup share of the run.
    lr_schedule: str = "constant"
    lr_floor: float = 0.0
    warmup: float = 0.0
    batch_norm: bool = True
    seed: int | None = None
    device: str = resumable("auto")
    threads: int = resumable(1)
    runs_dir: str = "runs"
    postfix: str = ""
    n_eval: int = 1000
    corr_every: int = 10
    # Calibrated metrics: the costly ones every eval_every epochs; the verdict's largest sample size
    # and the honest samples drawn for each simulated null. None changes what training does.
    eval_every: int = resumable(5)
    max_n: int = resumable(100_000)
    null_repeats: int = resumable(200)
    verdict_only: bool = resumable(False)
    tensorboard: bool = resumable(False)
    force: bool = resumable(False)
    quiet: bool = resumable(False)
    resume: bool = resumable(False)
    background_figures: bool = resumable(True)
    command: str = resumable("")

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


def hyperparameter_changes(saved: dict, current: TrainConfig) -> list[str]:
    """The options that differ from a saved run's, ignoring those a resume may change."""
    changes = []
    for option in fields(current):
        if option.metadata.get("resumable") or option.name not in saved:
            continue
        now = getattr(current, option.name)
        if now != saved[option.name] and not (option.name == "seed" and now is None):
            changes.append(f"{option.name}: {saved[option.name]!r} -> {now!r}")
    return changes


# What config.json holds besides every option: what a run directory is recognised by.
RECORD_KEYS = ("parent", "gaussgan")
# Options whose default is None: filled in by the rule's default or the drawn seed before recording.
_FILLED_IN = {**{name: type(value) for name, value in RULE_DEFAULTS["vanilla"].items()}, "seed": int}


def expected_type(option) -> type:
    """The type config.json records for a TrainConfig field (its default's, or the filled-in value's)."""
    if option.name in _FILLED_IN:
        return _FILLED_IN[option.name]
    return str if option.default is MISSING else type(option.default)


def _has_type(value, expected: type) -> bool:
    if isinstance(value, bool):
        return expected is bool
    if expected is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, expected)


# Options added after runs were first recorded, with the value that describes what training did in a run
# recorded before the option existed: such a record reads as if it held them (so it can be resumed with
# those values, replaced with --force, or reported), and a resume with other values says what differs.
ADDED_LATER = {
    "eval_every": 5,
    "max_n": 100_000,
    "null_repeats": 200,
    "verdict_only": False,
    "tensorboard": False,
    "lr_schedule": "constant",
    "lr_floor": 0.0,
    "warmup": 0.0,
    "d_lr_ratio": 1.0,
    "r1_weight": 0.0,
    "mixture": 0.0,
}


def with_later_options(saved: dict) -> dict:
    """``saved`` (config.json's content) with the options it predates filled in (:data:`ADDED_LATER`)."""
    return {**ADDED_LATER, **saved}


def record_problems(saved) -> list[str]:
    """What makes ``saved`` (config.json's content) not the record train.py writes; [] when it is."""
    if not isinstance(saved, dict):
        return [f"it holds a JSON {type(saved).__name__}, not an object"]
    saved = with_later_options(saved)
    missing = [option.name for option in fields(TrainConfig) if option.name not in saved]
    missing += [key for key in RECORD_KEYS if key not in saved]
    if missing:
        return [f"it has no {', '.join(missing)}"]
    problems = [
        f"{option.name} is {saved[option.name]!r}, expected {expected_type(option).__name__}"
        for option in fields(TrainConfig)
        if not _has_type(saved[option.name], expected_type(option))
    ]
    if not isinstance(saved["parent"], dict):
        problems.append(f"parent is {saved['parent']!r}, expected an object")
    return problems


def check_record(saved, where: str) -> dict:
    """``saved``, checked to be a run record (config.json) that train.py wrote; a UserError says what is wrong."""
    problems = record_problems(saved)
    if problems:
        raise UserError(f"{where} is not a gaussgan run record: {'; '.join(problems)[:300]}")
    return with_later_options(saved)
