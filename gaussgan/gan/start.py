"""Before the first step: the options checked against the data and the memory, the run directory opened
(new, resumed or replaced), and the state to start from (fresh, or the checkpoint's). Also the policy of
``--verdict-only`` and the command that continues a stopped run."""

from __future__ import annotations

import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.gan import judging
from gaussgan.gan.checkpoint import State, build_state, check_checkpoint, restore_checkpoint
from gaussgan.gan.models import hidden_sizes, mlp_bytes
from gaussgan.gan.options import DISCRIMINATOR_WIDTHS, GENERATOR_WIDTHS, TrainConfig, hyperparameter_changes
from gaussgan.gan.rundir import CHECKPOINT, CONFIG, TENSORBOARD, RunDirectory, data_changes
from gaussgan.system.resources import require_memory
from gaussgan.system.seeds import choose_seed


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a left-over single sample joins the batch before it,
    because BatchNorm cannot normalise a batch of one."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, starts[1:] + [n], strict=True))


def memory_estimate(config: TrainConfig, n_samples: int, dim: int, runs: int = 1) -> int:
    """Bytes that training allocates beyond the dataset already loaded, from the options alone; ``runs``
    trained together hold their networks, sample orders and mixtures at once, and evaluate one at a time."""
    generator = [config.latent_dim, *hidden_sizes(GENERATOR_WIDTHS, config.scale), dim]
    discriminator = [dim, *hidden_sizes(DISCRIMINATOR_WIDTHS, config.scale), 1]
    batch = min(config.batch_size, n_samples)
    # Weights, gradients, two Adam moments (and the EMA copy of G); activations kept for the backward
    # pass, of real and generated batches (and the gradient penalty's interpolates).
    networks = mlp_bytes(generator, 4 * batch, copies=5) + mlp_bytes(discriminator, 6 * batch, copies=4)
    # Each epoch: BatchNorm recalibration batches and n_eval latent draws through G; the generated,
    # parent and training samples in float64 with the KS tests' sorted copies and the figure
    # worker's copies; two d x d correlation matrices and the figures' copies of them.
    evaluation_bytes = mlp_bytes(generator, max(1024, config.n_eval), copies=0) + 4 * config.n_eval * config.latent_dim
    samples = 8 * config.n_eval * dim * 16
    correlations = 8 * dim * dim * 8
    order = 8 * n_samples * 2  # the epoch's sample order and its copy in the checkpoint
    # The averaged generators kept for the final mixture, in the state and in the checkpoint being saved.
    mixture = mlp_bytes(generator, 0, copies=2 * (config.epochs - config.mixture_start()))
    # The end-of-run verdict runs after training has released its batches; the larger of the two counts.
    verdict = config.max_n * dim * judging.VERDICT_BYTES_PER_VALUE
    held = runs * (networks + order + mixture)
    return max(held + evaluation_bytes + samples + correlations, verdict + runs * (order + mixture))


def check_options(config: TrainConfig, n_samples: int, dim: int, runs: int = 1) -> None:
    """Refuse, before anything is written, an option set that cannot train on these data (``runs`` of them
    trained together)."""
    if n_samples < 2:
        raise UserError(f"{config.dataset} holds {n_samples} sample; training needs at least 2")
    if config.batch_norm and config.batch_size == 1:
        raise UserError(
            "-b/--batch-size 1 with BatchNorm: BatchNorm cannot normalise a batch of one sample; "
            "expected -b 2 or more, or --no-batch-norm"
        )
    widths = hidden_sizes(GENERATOR_WIDTHS, config.scale)
    together = f"{runs} runs trained together, each " if runs > 1 else ""
    require_memory(
        memory_estimate(config, n_samples, dim, runs),
        f"{together}training with latent dimension {config.latent_dim}, hidden widths {widths}, --n-eval "
        f"{config.n_eval} and {n_samples:,} samples of dimension {dim}",
        "ask for less: smaller -d/--latent-dim, -c/--scale, --n-eval or --max-n"
        + (", or fewer seeds at once" if runs > 1 else ""),
    )


def open_run(config: TrainConfig, run: RunDirectory, record: dict, fingerprint: dict) -> tuple[TrainConfig, dict]:
    """Check the run against the saved one (``--resume``), complete the config with the seed, and create the run directory with its config.json (a new run); call with the lock held."""
    seed = config.seed
    if config.resume and run.exists():
        run.check_opened()
        saved = run.read_config()
        changes = hyperparameter_changes(saved, config if seed is None else config.with_seed(seed))
        if changes:
            raise UserError("cannot resume: options differ from the saved run: " + "; ".join(changes))
        check_same_data(saved.get("data"), fingerprint, run.file(CONFIG))
        seed = saved["seed"]
    config = config.with_seed(choose_seed(seed))
    record = {**asdict(config), **record, "data": fingerprint}
    run.prepare(record, force=config.force, resume=config.resume, protected=(Path(config.dataset),))
    if config.tensorboard:  # checked now, before a resumed run's config.json is rewritten
        run.folder(TENSORBOARD)
    return config, record


def check_same_data(saved, fingerprint: dict, where) -> None:
    """``--resume`` continues on the data the run was trained on, or not at all."""
    if saved is None:
        print(
            f"note: {where} has no fingerprint of its training data (written by an older gaussgan); "
            "cannot check that the dataset is the same",
            file=sys.stderr,
        )
        return
    changes = data_changes(saved, fingerprint)
    if changes:
        raise UserError(
            f"cannot resume: the dataset is not the one the run was trained on ({'; '.join(changes)}); "
            "expected the same data, or a new run (--force to replace it, -p to name another)"
        )


def start_state(
    config: TrainConfig,
    run: RunDirectory,
    *,
    parent: Parent,
    device: torch.device,
    n_samples: int,
    fingerprint: dict | None = None,
) -> tuple[State, list[dict]]:
    """A fresh state, or the one in the run's checkpoint with the CSV rows up to it (``--resume``)."""
    state = build_state(config, parent.dim, device)
    saved = run.load_checkpoint() if config.resume else None
    if saved is None:
        return state, []
    where = str(run.file(CHECKPOINT))
    check_checkpoint(saved, state, n_samples, len(batch_bounds(n_samples, config.batch_size)), where)
    check_schedule_length(config, saved)
    if fingerprint is not None and saved.get("data") is not None:
        check_same_data(saved["data"], fingerprint, where)
    restore_checkpoint(state, saved, device, where)
    return state, [row for row in run.read_csv() if row["epoch"] < state.epoch]


def check_schedule_length(config: TrainConfig, saved: dict) -> None:
    """A decaying ``--lr-schedule`` or a ``--warmup`` sets the learning rate by the share of the run done,
    a share of ``-n``: the steps a checkpoint holds followed the schedule of its own ``-n``, so another ``-n``
    is refused rather than bending the schedule (its record would describe a run that never was)."""
    trained_for = saved["config"]["epochs"]  # a whole number: checked with the checkpoint
    started = saved["epoch"] or saved["step"]
    shorter = config.epochs < saved["epoch"]  # refused with its own message once the run is open
    if trained_for == config.epochs or not started or shorter:
        return
    depends = options_bound_to_epochs(config)
    if depends:
        raise UserError(
            f"cannot resume with -n {config.epochs}: the run was trained with {' and '.join(depends)} over "
            f"-n {trained_for}, and its learning rate follows the share of -n done; expected -n {trained_for}, "
            f"or a new run with -n {config.epochs} (--force to replace it, -p to name another)"
        )


def options_bound_to_epochs(config: TrainConfig) -> list[str]:
    """The options (as typed) that make the learning rate a function of the share of ``-n`` done; [] when none."""
    bound = [f"--lr-schedule {config.lr_schedule}"] if config.lr_schedule != "constant" else []
    return bound + ([f"--warmup {config.warmup:g}"] if config.warmup else [])


def check_verdict_only(config: TrainConfig, run: RunDirectory, fingerprint: dict) -> int:
    """``--verdict-only`` recomputes the verdict of the run these options name: it must exist, with these
    options and data, and hold no link; returns its seed."""
    if not run.exists():
        raise UserError(
            f"--verdict-only: there is no run at {run}; expected the options of an existing run (the same -d, -s, -w, -p)"
        )
    run.check_opened()
    saved = run.read_config()
    changes = hyperparameter_changes(saved, config)
    if changes:
        raise UserError("--verdict-only: options differ from the saved run: " + "; ".join(changes))
    check_same_data(saved.get("data"), fingerprint, run.file(CONFIG))
    return int(saved["seed"])


def resume_command(config: TrainConfig) -> str:
    """The command that continues this run: the original one without --force, with --resume."""
    words = [
        word for word in shlex.split(config.command or "python train.py ...") if word not in ("--force", "--resume")
    ]
    return shlex.join(words + ["--resume"])
