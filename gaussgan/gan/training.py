"""One training run, read top to bottom: a run is epochs, an epoch is steps.

:func:`train` sets the run up (dataset, options, run directory, a fresh or resumed state) and ends it
with the verdict; :func:`run_epochs` is the loop over epochs; :func:`train_epoch` is one epoch (its
steps, then diagnostics, figures, CSV row, models and checkpoint); :func:`train_steps` is the
D-step / G-step loop. Everything random flows from one seed through explicit generators whose
states are in the checkpoint, so a resumed run continues exactly where an uninterrupted one would be.
"""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaussgan._version import __version__
from gaussgan.data.datasets import load_dataset
from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.figures import plots
from gaussgan.figures.worker import FigureWorker
from gaussgan.gan import judging, outputs, rules
from gaussgan.gan.checkpoint import State, save_models
from gaussgan.gan.models import recalibrate_batch_norm, resolve_device
from gaussgan.gan.options import TrainConfig
from gaussgan.gan.run_page import announce_run_page
from gaussgan.gan.rundir import (
    NULL_CACHE,
    TEST_CORR,
    VERDICT,
    RunDirectory,
    data_fingerprint,
    run_name,
)
from gaussgan.gan.schedules import lr_factor
from gaussgan.gan.start import (
    batch_bounds,
    check_options,
    check_verdict_only,
    open_run,
    options_bound_to_epochs,
    resume_command,
    start_state,
)
from gaussgan.gan.tensorboard import TensorBoard, check_available
from gaussgan.stats import diagnostics
from gaussgan.stats.metrics import Context
from gaussgan.stats.nulls import NullCache
from gaussgan.system.interrupt import GracefulStop


def train(config: TrainConfig) -> RunDirectory:
    """Train a GAN on ``config.dataset`` and write the run directory; return it."""
    if config.tensorboard:
        check_available()
    data_np, parent, metadata = load_dataset(config.dataset, dtype=np.float32)
    check_options(config, len(data_np), parent.dim)
    config = replace(config, dataset=str(Path(config.dataset).resolve()))
    device = resolve_device(config.device)
    # Small matrices: a second thread costs more in synchronisation than it gains, and the
    # figure worker needs a core of its own.
    torch.set_num_threads(config.threads)
    directory = RunDirectory.named(
        config.runs_dir,
        run_name(parent.name, parent.dim, config.latent_dim, config.latent_sigma, config.rule, config.postfix),
    )
    fingerprint = data_fingerprint(data_np, parent, metadata)
    record = {
        "parent": parent.to_dict(),
        "torch": torch.__version__,
        "gaussgan": __version__,
        "device_used": str(device),
    }
    with directory.claimed():
        if config.verdict_only:
            seed = check_verdict_only(config, directory, fingerprint)
            finish_with_verdict(config.with_seed(seed), directory, data_np)
            return directory
        config, record = open_run(config, directory, record, fingerprint)
        print(f"run directory {directory}", flush=True)
        state, rows = start_state(
            config, directory, parent=parent, device=device, n_samples=len(data_np), fingerprint=fingerprint
        )
        if config.resume:
            if done_already(config, directory, state, data_np):
                return directory
            directory.write_config(record)
        run_epochs(Run.open(config, directory, parent, data_np, fingerprint, device), state, rows)
        print("\n".join(outputs.summary_lines(directory.read_csv(), parent.dim, directory)), flush=True)
        finish_with_verdict(config, directory, data_np)
    print(f"done: {directory}")
    return directory


def done_already(config: TrainConfig, directory: RunDirectory, state: State, data_np: np.ndarray) -> bool:
    """``--resume``: say where the run continues; True when it has nothing left to train."""
    if state.epoch > config.epochs:
        raise UserError(
            f"cannot resume with -n {config.epochs}: the run has {state.epoch} epochs done already; "
            f"-n can only extend a run: expected -n {state.epoch + 1} or more"
        )
    if state.epoch == config.epochs:
        if directory.file(VERDICT).is_file():  # every epoch is in the checkpoint: only the verdict could be missing
            bound = options_bound_to_epochs(config)
            extends = f"a new run with {' and '.join(bound)} takes another -n" if bound else "a larger -n extends it"
            print(
                f"the run has its {state.epoch} epochs and its verdict already; nothing to do ({extends})", flush=True
            )
        else:
            finish_with_verdict(config, directory, data_np)
        return True
    if state.step:
        print(f"resuming in epoch {state.epoch}, at batch {state.step}", flush=True)
    elif state.epoch:
        print(f"resuming after epoch {state.epoch - 1}", flush=True)
    else:
        print("resuming: no epoch was saved yet, training from the start", flush=True)
    return False


@dataclass
class Run:
    """What every epoch of one run needs besides the training state, set up once."""

    config: TrainConfig
    directory: RunDirectory
    parent: Parent
    data: torch.Tensor  # the training set on the run's device
    data_np: np.ndarray  # and on the CPU, for the diagnostics
    fingerprint: dict  # of the training set, kept in every checkpoint
    context: Context  # the metrics' fixed reference samples, seeded by the run
    nulls: NullCache  # their simulated null distributions, cached in the run directory
    board: TensorBoard | None = None
    figures: Any = None  # the FigureWorker, while the epochs run
    stop: Any = None  # the GracefulStop, likewise
    bar: Any = None  # the whole run's progress bar, likewise

    @classmethod
    def open(cls, config, directory, parent, data_np, fingerprint, device) -> Run:
        assert config.seed is not None
        return cls(
            config=config,
            directory=directory,
            parent=parent,
            data=torch.from_numpy(data_np).to(device),
            data_np=data_np,
            fingerprint=fingerprint,
            # Seeded by the run: the same fixed reference samples and simulated nulls every epoch and on resume.
            context=Context(parent, seed=config.seed),
            nulls=NullCache(directory.file(NULL_CACHE)),
            board=TensorBoard(directory) if config.tensorboard else None,
        )


def run_epochs(run: Run, state: State, rows: list[dict]) -> None:
    """The epochs still to train, under a whole-run progress bar, with the figure worker and Ctrl-C handling."""
    from tqdm import tqdm

    config = run.config
    with (
        # Every figure is saved inside the run: each path is checked again as the worker saves it.
        FigureWorker(background=config.background_figures, guard=run.directory.contained) as run.figures,
        GracefulStop() as run.stop,
        run.board if run.board is not None else nullcontext(),
    ):
        if not run.directory.file(TEST_CORR).exists():
            reference = run.parent.sample(config.n_eval, np.random.default_rng(config.seed))
            title = f"Correlation matrix of a parent sample (n = {config.n_eval})"
            run.figures.submit(
                [(plots.correlation_matrix, (diagnostics.correlation(reference), title, run.directory.file(TEST_CORR)))]
            )
        bar = tqdm(total=config.epochs, initial=state.epoch, desc="run", unit="epoch", position=0,
                   disable=config.quiet or None, file=sys.stderr)  # fmt: skip
        with bar as run.bar:
            while state.epoch < config.epochs:
                train_epoch(run, state, rows)
                run.bar.update(1)
        run.figures.wait()
        if run.board is not None:
            run.board.add_figures(run.directory, state.epoch - 1)


def train_epoch(run: Run, state: State, rows: list[dict]) -> None:
    """Epoch ``state.epoch`` (0-based, as every file name, CSV row and message shows it): its steps, a
    check that the numbers are finite, the diagnostics, then CSV row, figures, models and checkpoint."""
    from tqdm import tqdm

    config, directory = run.config, run.directory
    epoch, started = state.epoch, time.perf_counter()
    last_saved = state.epoch - 1  # the last completed (and saved) epoch; -1: none
    d_from, g_from = len(state.d_losses), len(state.g_losses)
    steps = tqdm(total=len(batch_bounds(len(run.data), config.batch_size)), initial=state.step,
                 desc=f"epoch {epoch}/{config.epochs - 1}", unit="batch", position=1, leave=False,
                 disable=config.quiet or None, file=sys.stderr)  # fmt: skip
    with steps:
        train_steps(state, config, run.data, run.stop, steps)
    # Checked before anything is saved: NaN weights must never replace the last good ones.
    what = divergence(state, d_from, g_from)
    if what:
        raise diverged(config, epoch, what, last_saved)
    if run.stop.requested and state.epoch == epoch:  # stopped part-way: the batches done so far are kept
        directory.save_checkpoint(state.checkpoint(config, run.fingerprint))
        stop_here(run.stop, config, f"during epoch {epoch}")
    train_seconds = time.perf_counter() - started

    comparison, generated, fresh = diagnose(state, config, run.parent, run.data_np)
    if not np.all(np.isfinite(generated)):
        raise diverged(config, epoch, "the generated samples", last_saved)
    metric_started = time.perf_counter()
    # On a fixed schedule (epochs 0, N, 2N, ...), not at the last epoch: a run extended later has the same table.
    metric_columns = judging.epoch_columns(generated, run.context, run.nulls, costly=epoch % config.eval_every == 0)
    run.nulls.save()
    rows.append(
        {
            "epoch": epoch,
            "d_loss": epoch_mean(state.d_losses, state.d_epoch, epoch),
            "g_loss": epoch_mean(state.g_losses, state.g_epoch, epoch),
            **comparison.summary(),
            **metric_columns,
            "lr": state.optimizer_g.param_groups[0]["lr"],
            "seconds_train": train_seconds,
            "seconds_metrics": time.perf_counter() - metric_started,
        }
    )
    last = epoch == config.epochs - 1
    run.figures.submit(
        outputs.epoch_figures(
            directory, comparison, generated=generated, fresh=fresh, epoch=epoch, last=last, config=config
        )
        + outputs.history_figures(directory, state, rows, run.parent.dim, rule=config.rule)
    )
    state.take_snapshot(config)  # after diagnose(): the BatchNorm statistics measured for these weights
    save_models(directory, state, config, run.parent, best=outputs.is_best_by_norm_ks(rows))
    # The whole epoch as it costs: steps, diagnostics, waiting for the figure worker, saving.
    rows[-1]["seconds_total"] = time.perf_counter() - started
    # CSV first: rows ahead of the checkpoint are dropped on resume, rows behind it would be lost.
    directory.write_csv(rows)
    directory.save_checkpoint(state.checkpoint(config, run.fingerprint))
    if run.board is not None:
        run.board.add_row(rows[-1])
    if not config.quiet:
        run.bar.write(outputs.epoch_line(rows[-1], run.parent.dim), file=sys.stderr)
    if run.stop.requested:
        stop_here(run.stop, config, f"after epoch {epoch}")


def train_steps(state: State, config: TrainConfig, data: torch.Tensor, stop: GracefulStop, progress) -> None:
    """The steps of one pass over the data: a D-step per batch, a G-step every ``critic_steps`` D-steps."""
    n, batch_size = len(data), config.batch_size
    if state.permutation is None:
        state.permutation, state.step = torch.randperm(n, generator=state.rng, device=data.device), 0

    def latent(size: int) -> torch.Tensor:
        z = torch.randn(size, config.latent_dim, generator=state.rng, device=data.device)
        return z * config.latent_sigma

    d_losses, g_losses = [], []
    bounds = batch_bounds(n, batch_size)
    total_steps = config.epochs * len(bounds)
    for begin, end in bounds[state.step :]:
        set_learning_rate(state, config, (state.epoch * len(bounds) + state.step) / max(total_steps - 1, 1))
        real = data[state.permutation[begin:end]]
        # D-step: the discriminator maximises log D(x) + log(1 - D(G(z))) (vanilla), or the critic
        # E[D(x)] - E[D(G(z))] less the gradient penalty (WGAN-GP); an R1 penalty on real samples if asked.
        d_loss = rules.discriminator_step(
            config.rule, state.generator, state.discriminator, state.optimizer_d, real, latent,
            gp_weight=config.gp_weight, rng=state.rng, r1_weight=config.r1_weight,
        )  # fmt: skip
        d_losses.append(d_loss)
        state.step += 1
        state.d_epoch.append(state.epoch + state.step / len(bounds))
        # Counted over the whole run, not per epoch: an epoch shorter than critic_steps still trains G.
        if len(state.d_epoch) % config.critic_steps == 0:
            # G-step: the generator maximises log D(G(z)) (vanilla, non-saturating) or E[D(G(z))] (WGAN-GP);
            # then its moving average follows it.
            g_loss = rules.generator_step(
                config.rule, state.generator, state.discriminator, state.optimizer_g, len(real), latent
            )
            g_losses.append(g_loss)
            state.ema.update(state.generator)
            state.g_epoch.append(state.epoch + state.step / len(bounds))
        progress.update(1)
        if stop.requested:
            break
    # One transfer per epoch, not one per step (each .item() would wait for the GPU).
    state.d_losses += torch.stack(d_losses).tolist() if d_losses else []
    state.g_losses += torch.stack(g_losses).tolist() if g_losses else []
    if state.step == len(bounds):  # complete, even when a stop came during its last batch
        state.permutation, state.step = None, 0
        state.epoch += 1


def set_learning_rate(state: State, config: TrainConfig, progress: float) -> None:
    """Both networks' learning rate at ``progress`` (0 at the run's first step, 1 at its last)."""
    lr = config.lr * lr_factor(config.lr_schedule, progress, config.lr_floor, config.warmup)
    for optimizer, rate in ((state.optimizer_d, lr * config.d_lr_ratio), (state.optimizer_g, lr)):
        for group in optimizer.param_groups:
            group["lr"] = rate


@torch.no_grad()
def diagnose(
    state: State, config: TrainConfig, parent: Parent, data: np.ndarray
) -> tuple[diagnostics.Comparison, np.ndarray, np.ndarray]:
    """Generated samples (EMA generator) vs a fresh parent sample vs a training subset, all of size n_eval."""
    generator = state.ema.model
    device = next(generator.parameters()).device

    def latent(size: int) -> torch.Tensor:
        return (torch.randn(size, config.latent_dim, generator=state.eval_torch_rng) * config.latent_sigma).to(device)

    # The evaluated generator is the one saved: averaged weights, their own BatchNorm statistics.
    recalibrate_batch_norm(generator, latent)
    generated = generator(latent(config.n_eval)).double().cpu().numpy()
    fresh = parent.sample(config.n_eval, state.eval_rng)
    subset = data[state.eval_rng.choice(len(data), size=min(config.n_eval, len(data)), replace=False)]
    return diagnostics.compare(generated, fresh, subset.astype(np.float64)), generated, fresh


def finish_with_verdict(config: TrainConfig, directory: RunDirectory, data_np: np.ndarray) -> None:
    """The verdict on the run's saved generator: verdict.json, the block that ends the output, and index.html."""
    assert config.seed is not None
    verdict, extra = judging.run_verdict(
        directory.path,
        data_np,
        seed=config.seed,
        max_n=config.max_n,
        repeats=config.null_repeats,
        quiet=config.quiet,
        draws=config.draws,
        dataset=Path(config.dataset),
    )
    judging.print_verdict(verdict, file=sys.stdout)  # the stdout of the moment (a sweep captures it)
    print(judging.spectrum_line(extra["generator_spectrum"]))
    print(judging.data_limit_line(extra["data_limit"], verdict.n_star))
    print(f"wrote {directory.file(VERDICT)}")
    announce_run_page(directory)  # the run on one page, its verdict included


def epoch_mean(losses: list, positions: list, epoch: int) -> float:
    """Mean of the losses recorded during ``epoch`` (0-based: positions are fractional epochs in (epoch, epoch + 1])."""
    where = np.asarray(positions)
    chosen = np.asarray(losses)[(where > epoch) & (where <= epoch + 1)]
    return float(chosen.mean()) if chosen.size else float("nan")


def divergence(state: State, d_from: int, g_from: int) -> str:
    """What became NaN or infinite since the losses ``d_from``/``g_from``; '' when all is finite."""
    for name, losses in (("discriminator loss", state.d_losses[d_from:]), ("generator loss", state.g_losses[g_from:])):
        if not np.all(np.isfinite(losses)):
            return f"the {name}"
    for name, model in (
        ("generator", state.generator),
        ("discriminator", state.discriminator),
        ("averaged generator", state.ema.model),
    ):
        if not all(
            torch.isfinite(tensor).all() for tensor in model.state_dict().values() if tensor.is_floating_point()
        ):
            return f"the {name}'s weights"
    return ""


def diverged(config: TrainConfig, epoch: int, what: str, last_saved: int) -> UserError:
    kept = f"the run keeps its last good checkpoint (epoch {last_saved})" if last_saved >= 0 else "no epoch was saved"
    return UserError(
        f"training diverged in epoch {epoch}: {what} became NaN or infinite; {kept}. Expected finite "
        f"numbers: a smaller --lr (now {config.lr:g}) or -s/--latent-sigma (now {config.latent_sigma:g}) "
        "usually helps, in a new run (-p NAME or --force)"
    )


def stop_here(stop: GracefulStop, config: TrainConfig, where: str) -> None:
    print(f"stopped {where}; saved. To continue: {resume_command(config)}", file=sys.stderr)
    stop.raise_if_requested()
