"""One training run, read top to bottom: a run is epochs, an epoch is steps.

:func:`train` sets the run up (dataset, options, run directory, a fresh or resumed state) and ends it
with the verdict; :func:`run_epochs` is the loop over epochs; :func:`train_epoch` is one epoch (its
steps, then diagnostics, figures, CSV row, models and checkpoint); :func:`train_steps` is the
D-step / G-step loop. Everything random flows from one seed through explicit generators whose
states are in the checkpoint, so a resumed run continues exactly where an uninterrupted one would be.
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, cast

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
from gaussgan.gan.packed import PER_REPLICA, Pack, pack_key, together
from gaussgan.gan.run_page import announce_run_page
from gaussgan.gan.rundir import (
    NULL_CACHE,
    TEST_CORR,
    VERDICT,
    RunDirectory,
    data_fingerprint,
    run_name,
    within_runs,
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

HISTORY_EVERY = 20.0  # seconds of a run's epochs between two drawings of its history figures (about 4% of them)


def train(config: TrainConfig) -> RunDirectory:
    """Train a GAN on ``config.dataset`` and write the run directory; return it."""
    directory, failure = train_together([config])[0]
    if failure:
        raise UserError(failure)
    return directory


def train_together(configs: list[TrainConfig]) -> list[tuple[RunDirectory, str]]:
    """Train runs on one dataset as one pack (:mod:`gaussgan.gan.packed`), each into its own ordinary run
    directory; return each run's directory with why it failed ('' when it did not). A run that diverges
    stops alone; a problem with the options or the dataset stops them all before anything is written."""
    first = configs[0]
    if first.tensorboard:
        check_available()
    data_np, parent, metadata = load_dataset(first.dataset, dtype=np.float32)
    check_packable(configs)
    check_options(first, len(data_np), parent.dim, runs=len(configs))  # the others share what it checks
    configs = [replace(config, dataset=str(Path(config.dataset).resolve())) for config in configs]
    device = resolve_device(first.device)
    # Small matrices: a second thread costs more in synchronisation than it gains, and the
    # figure worker needs a core of its own.
    torch.set_num_threads(first.threads)
    directories = [RunDirectory.named(c.runs_dir, run_name(parent.name, parent.dim, c.latent_dim,
                   c.latent_sigma, c.rule, c.postfix)) for c in configs]  # fmt: skip
    if len({directory.path for directory in directories}) < len(directories):
        raise UserError("runs trained together need run names of their own; expected distinct seeds or postfixes")
    fingerprint = data_fingerprint(data_np, parent, metadata)
    record = {
        "parent": parent.to_dict(),
        "torch": torch.__version__,
        "gaussgan": __version__,
        "device_used": str(device),
        # How it was trained: with which runs, stacked (the command recorded makes them all again).
        "packed_with": [directory.path.name for directory in directories] if len(configs) > 1 else [],
    }
    with ExitStack() as claims:
        for directory in directories:
            claims.enter_context(directory.claimed())
        if first.verdict_only:
            for config, directory in zip(configs, directories, strict=True):
                seed = check_verdict_only(config, directory, fingerprint)
                finish_with_verdict(config.with_seed(seed), directory, data_np)
            return [(directory, "") for directory in directories]
        runs = []
        for config, directory in zip(configs, directories, strict=True):
            config, run_record = open_run(config, directory, dict(record), fingerprint)
            print(f"run directory {directory}", flush=True)
            state, rows = start_state(
                config, directory, parent=parent, device=device, n_samples=len(data_np), fingerprint=fingerprint
            )
            if config.resume:
                if done_already(config, directory, state, data_np):
                    continue
                directory.write_config(run_record)
            runs.append(Run.open(config, directory, parent, data_np, fingerprint, device, state, rows))
        # Runs resumed from different points (one stopped by divergence, say) train as separate packs.
        for position in sorted({(run.state.epoch, run.state.step) for run in runs}):
            run_epochs([run for run in runs if (run.state.epoch, run.state.step) == position])
        for run in runs:
            if not run.failure:
                print("\n".join(outputs.summary_lines(run.directory.read_csv(), parent.dim, run.directory)), flush=True)
                finish_with_verdict(run.config, run.directory, data_np)
                print(f"done: {run.directory}")
    failures = {run.directory.path: run.failure for run in runs}
    return [(directory, failures.get(directory.path, "")) for directory in directories]


def check_packable(configs: list[TrainConfig]) -> None:
    """Runs trained together share everything but what :data:`PER_REPLICA` lists, and each has its own seed."""
    key = pack_key(configs[0])
    for config in configs[1:]:
        differ = [name for name, value in pack_key(config).items() if value != key[name]]
        if differ:
            raise UserError(
                f"runs trained together must share their options but {', '.join(PER_REPLICA)}; these differ: "
                f"{', '.join(differ)}; expected separate commands for them"
            )
    seeds = [config.seed for config in configs if config.seed is not None]
    if len(set(seeds)) != len(seeds):
        raise UserError(f"runs trained together need a seed each: {seeds} repeats one; expected each seed once")


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
    """One run being trained: its state and everything its epochs need, set up once."""

    config: TrainConfig
    directory: RunDirectory
    parent: Parent
    data: torch.Tensor  # the training set on the run's device
    data_np: np.ndarray  # and on the CPU, for the diagnostics
    fingerprint: dict  # of the training set, kept in every checkpoint
    context: Context  # the metrics' fixed reference samples, seeded by the run
    nulls: NullCache  # their simulated null distributions, cached in the run directory
    state: State  # networks, optimisers, random generators, history
    rows: list[dict]  # the CSV's rows so far
    board: TensorBoard | None = None
    figures: Any = None  # the FigureWorker, while the epochs run (shared by the runs trained together)
    stop: Any = None  # the GracefulStop, likewise
    bar: Any = None  # the progress bar over epochs, likewise
    failure: str = ""  # why it stopped early (it diverged); '' while it trains
    history_age: float = math.inf  # seconds of its own epochs since its history figures were last drawn
    history_rows: int = 0  # and how many rows they showed

    @classmethod
    def open(cls, config, directory, parent, data_np, fingerprint, device, state, rows) -> Run:
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
            state=state,
            rows=rows,
            board=TensorBoard(directory) if config.tensorboard else None,
        )


def run_epochs(runs: list[Run]) -> None:
    """The epochs still to train of runs at one point of training, together, under one progress bar, with one
    figure worker and Ctrl-C handling."""
    from tqdm import tqdm

    config = runs[0].config
    guard = partial(within_runs, [run.directory for run in runs])  # each figure in its run, checked as it is saved
    with (
        FigureWorker(background=config.background_figures, guard=guard) as figures,
        GracefulStop() as stop,
        ExitStack() as boards,
    ):
        for run in runs:
            run.figures, run.stop = figures, stop
            if run.board is not None:
                boards.enter_context(run.board)
            if not run.directory.file(TEST_CORR).exists():
                reference = run.parent.sample(run.config.n_eval, np.random.default_rng(run.config.seed))
                title = f"Correlation matrix of a parent sample (n = {run.config.n_eval})"
                path = run.directory.file(TEST_CORR)
                figures.submit([(plots.correlation_matrix, (diagnostics.correlation(reference), title, path))])
        desc = "run" if len(runs) == 1 else f"{len(runs)} runs"
        bar = tqdm(total=config.epochs, initial=runs[0].state.epoch, desc=desc, unit="epoch", position=0,
                   disable=config.quiet or None, file=sys.stderr)  # fmt: skip
        with bar:
            while training := [run for run in runs if not run.failure and run.state.epoch < run.config.epochs]:
                for run in training:
                    run.bar = bar
                train_epoch(training)
                bar.update(1)
        figures.wait()
        for run in runs:
            if run.board is not None and not run.failure:
                run.board.add_figures(run.directory, run.state.epoch - 1)


def train_epoch(runs: list[Run]) -> None:
    """One epoch of runs trained together: one pass over the data for all of them (:func:`train_steps`), then
    each run's own end of epoch (:func:`finish_epoch`). A run that diverged stops there, alone, unless alone."""
    from tqdm import tqdm

    config, state, stop = runs[0].config, runs[0].state, runs[0].stop
    started = time.perf_counter()
    steps = tqdm(total=len(batch_bounds(len(runs[0].data), config.batch_size)), initial=state.step,
                 desc=f"epoch {state.epoch}/{config.epochs - 1}", unit="batch", position=1, leave=False,
                 disable=config.quiet or None, file=sys.stderr)  # fmt: skip
    before = [(run.state.epoch, len(run.state.d_losses), len(run.state.g_losses)) for run in runs]
    with steps:
        train_steps(Pack([run.state for run in runs], [run.config for run in runs]), runs[0].data, stop, steps)
    share = (time.perf_counter() - started) / len(runs)  # each run's share of the pass's time
    for run, (epoch, d_from, g_from) in zip(runs, before, strict=True):
        try:
            finish_epoch(run, epoch, d_from, g_from, share, named=len(runs) > 1)
        except Diverged as error:
            if len(runs) == 1:
                raise
            run.failure = str(error)
            run.bar.write(f"error: {run.directory.path.name}: {error}; the other runs go on", file=sys.stderr)
    if stop.requested:
        where = f"during epoch {state.epoch}" if state.step else f"after epoch {state.epoch - 1}"
        stop_here(stop, config, where)


def finish_epoch(run: Run, epoch: int, d_from: int, g_from: int, train_seconds: float, named: bool) -> None:
    """The end of epoch ``epoch`` (0-based, as every file name, CSV row and message shows it) for one run: a
    check that the numbers are finite, the diagnostics, then CSV row, figures, models and checkpoint. Part-way
    (stopped by Ctrl-C), only the checkpoint. ``named``: its epoch line starts with its name."""
    config, directory, state, rows = run.config, run.directory, run.state, run.rows
    started = time.perf_counter()
    # Checked before anything is saved: NaN weights must never replace the last good ones.
    what = divergence(state, d_from, g_from)
    if what:
        raise diverged(config, epoch, what, last_saved=epoch - 1)
    if state.epoch == epoch:  # stopped part-way: the batches done so far are kept
        directory.save_checkpoint(state.checkpoint(config, run.fingerprint))
        if run.history_rows != len(rows):
            run.figures.submit(history_figures(run))
        return

    comparison, generated, fresh = diagnose(state, config, run.parent, run.data_np)
    if not np.all(np.isfinite(generated)):
        raise diverged(config, epoch, "the generated samples", last_saved=epoch - 1)
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
    jobs = outputs.epoch_figures(
        directory, comparison, generated=generated, fresh=fresh, epoch=epoch, last=last, config=config
    )
    # The history figures (losses, p-values, metrics over the run so far) are drawn whole each time, which
    # every epoch would cost as much as the epoch's steps: once per HISTORY_EVERY seconds of the run's own
    # epochs (its share of a pack's), and at the last epoch and when the run stops, so that it always ends
    # with them complete.
    if last or run.stop.requested or run.history_age >= HISTORY_EVERY:
        jobs += history_figures(run)
    run.figures.submit(jobs)
    state.take_snapshot(config)  # after diagnose(): the BatchNorm statistics measured for these weights
    save_models(directory, state, config, run.parent, best=outputs.is_best_by_norm_ks(rows))
    # The whole epoch as it costs this run: its share of the steps, its diagnostics, waiting for figures, saving.
    rows[-1]["seconds_total"] = train_seconds + time.perf_counter() - started
    run.history_age += rows[-1]["seconds_total"]
    # CSV first: rows ahead of the checkpoint are dropped on resume, rows behind it would be lost.
    directory.write_csv(rows)
    directory.save_checkpoint(state.checkpoint(config, run.fingerprint))
    if run.board is not None:
        run.board.add_row(rows[-1])
    if not config.quiet:
        prefix = f"{directory.path.name}: " if named else ""
        run.bar.write(prefix + outputs.epoch_line(rows[-1], run.parent.dim), file=sys.stderr)


def history_figures(run: Run) -> list:
    """The figure jobs of the run's history so far; noted as drawn now."""
    run.history_age, run.history_rows = 0.0, len(run.rows)
    return outputs.history_figures(run.directory, run.state, run.rows, run.parent.dim, rule=run.config.rule)


def train_steps(pack: Pack, data: torch.Tensor, stop: GracefulStop, progress) -> None:
    """The steps of one pass over the data, for every run of ``pack`` at once: a D-step per batch, a G-step
    every ``critic_steps`` D-steps. ``real`` and every latent batch are (runs, batch, dim)."""
    config, states = pack.configs[0], pack.states  # the shared options: batch size, rule, schedule, epochs
    n, batch_size = len(data), config.batch_size
    for state in states:
        if state.permutation is None:
            state.permutation, state.step = torch.randperm(n, generator=state.rng, device=data.device), 0
    order, done = together([cast(torch.Tensor, state.permutation) for state in states]), states[0].step
    bounds = batch_bounds(n, batch_size)
    total_steps, critic_count = config.epochs * len(bounds), len(states[0].d_epoch)
    d_losses, g_losses, d_positions, g_positions = [], [], [], []
    for begin, end in bounds[done:]:
        progress_share = (states[0].epoch * len(bounds) + done) / max(total_steps - 1, 1)
        pack.set_learning_rate(lr_factor(config.lr_schedule, progress_share, config.lr_floor, config.warmup))
        real = data[order[:, begin:end]]
        # D-step: the discriminator maximises log D(x) + log(1 - D(G(z))) (vanilla), or the critic
        # E[D(x)] - E[D(G(z))] less the gradient penalty (WGAN-GP); an R1 penalty on real samples if asked.
        d_losses.append(
            rules.discriminator_step(
                config.rule, pack.generator, pack.discriminator, pack.optimizer_d, real, pack.latent,
                gp_weight=pack.gp_weight, mixing=pack.mixing, r1_weight=pack.r1_weight,
            )
        )  # fmt: skip
        done += 1
        critic_count += 1
        d_positions.append(states[0].epoch + done / len(bounds))
        # Counted over the whole run, not per epoch: an epoch shorter than critic_steps still trains G.
        if critic_count % config.critic_steps == 0:
            # G-step: the generator maximises log D(G(z)) (vanilla, non-saturating) or E[D(G(z))] (WGAN-GP);
            # then its moving average follows it.
            g_losses.append(
                rules.generator_step(
                    config.rule, pack.generator, pack.discriminator, pack.optimizer_g, len(real[0]), pack.latent
                )
            )
            pack.update_average()
            g_positions.append(states[0].epoch + done / len(bounds))
        progress.update(1)
        if stop.requested:
            break
    pack.unpack()
    # One transfer per pass, not one per step (each .item() would wait for the GPU): (steps, runs) -> per run.
    d_table = torch.stack(d_losses).T.tolist() if d_losses else [[] for _ in states]
    g_table = torch.stack(g_losses).T.tolist() if g_losses else [[] for _ in states]
    for state, d_run, g_run in zip(states, d_table, g_table, strict=True):
        state.d_losses += d_run
        state.g_losses += g_run
        state.d_epoch += d_positions
        state.g_epoch += g_positions
        state.step = done
        if done == len(bounds):  # complete, even when a stop came during its last batch
            state.permutation, state.step = None, 0
            state.epoch += 1


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


class Diverged(UserError):
    """A run's numbers became NaN or infinite: it stops; runs trained with it go on."""


def diverged(config: TrainConfig, epoch: int, what: str, last_saved: int) -> Diverged:
    kept = f"the run keeps its last good checkpoint (epoch {last_saved})" if last_saved >= 0 else "no epoch was saved"
    return Diverged(
        f"training diverged in epoch {epoch}: {what} became NaN or infinite; {kept}. Expected finite "
        f"numbers: a smaller --lr (now {config.lr:g}) or -s/--latent-sigma (now {config.latent_sigma:g}) "
        "usually helps, in a new run (-p NAME or --force)"
    )


def stop_here(stop: GracefulStop, config: TrainConfig, where: str) -> None:
    print(f"stopped {where}; saved. To continue: {resume_command(config)}", file=sys.stderr)
    stop.raise_if_requested()
