"""The training run: load the dataset, train generator and discriminator, diagnose every epoch.

Read top to bottom: :func:`train` sets the run up, then each epoch is
``train_epoch`` (the D-step / G-step loop) -> ``evaluate`` (diagnostics on fresh samples)
-> CSV row, figures, checkpoint. Everything random flows from one seed through explicit
generators, and all of their states are in the checkpoint, so a resumed run continues
exactly where an uninterrupted one would be.
"""
from __future__ import annotations

import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from gaussgan import diagnostics, plots, rules
from gaussgan._version import __version__
from gaussgan.background import FigureWorker
from gaussgan.config import DISCRIMINATOR_WIDTHS, GENERATOR_WIDTHS, TrainConfig, hyperparameter_changes
from gaussgan.datasets import load_dataset
from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.interrupt import GracefulStop
from gaussgan.models import EMA, Discriminator, Generator, hidden_sizes, recalibrate_batch_norm, resolve_device
from gaussgan.files import save_torch_file
from gaussgan.runs import DISCRIMINATOR, GENERATOR, RunDirectory, run_name

@dataclass
class State:
    """Everything that changes during training: networks, optimisers, random generators, history."""

    generator: Generator
    discriminator: Discriminator
    ema: EMA
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    rng: torch.Generator  # training: permutations, latent draws, penalty weights
    eval_rng: np.random.Generator  # diagnostics: fresh parent samples and training subsets
    eval_torch_rng: torch.Generator  # diagnostics: latent draws (CPU, identical on every device)
    epoch: int = 0  # last completed epoch
    permutation: torch.Tensor | None = None  # set while an epoch is under way
    step: int = 0  # batches done in the current epoch
    d_losses: list = field(default_factory=list)  # per discriminator step, every epoch
    g_losses: list = field(default_factory=list)  # per generator step, every epoch
    d_epoch: list = field(default_factory=list)  # fractional epoch of each entry, for the loss plot
    g_epoch: list = field(default_factory=list)

    def checkpoint(self, config: TrainConfig) -> dict:
        return {
            "config": asdict(config), "version": __version__, "epoch": self.epoch, "step": self.step,
            "permutation": self.permutation.cpu() if self.permutation is not None else None,
            "generator": self.generator.state_dict(), "ema_generator": self.ema.model.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(), "optimizer_d": self.optimizer_d.state_dict(),
            "rng": self.rng.get_state(), "rng_device": self.rng.device.type,
            "eval_torch_rng": self.eval_torch_rng.get_state(),
            "eval_rng": self.eval_rng.bit_generator.state,
            "d_losses": torch.tensor(self.d_losses), "g_losses": torch.tensor(self.g_losses),
            "d_epoch": torch.tensor(self.d_epoch), "g_epoch": torch.tensor(self.g_epoch),
        }

    def restore(self, saved: dict, device: torch.device) -> None:
        self.generator.load_state_dict(saved["generator"])
        self.ema.model.load_state_dict(saved["ema_generator"])
        self.discriminator.load_state_dict(saved["discriminator"])
        self.optimizer_g.load_state_dict(saved["optimizer_g"])
        self.optimizer_d.load_state_dict(saved["optimizer_d"])
        if saved.get("rng_device", "cpu") == self.rng.device.type:
            self.rng.set_state(saved["rng"])
        else:  # a CPU and a CUDA generator keep different states: continue from a fresh, seeded one
            self.rng.manual_seed(int(np.random.SeedSequence([int(saved["config"]["seed"]), int(saved["epoch"])]).generate_state(1)[0]))
            print(f"note: resumed on {self.rng.device.type} from a {saved.get('rng_device', 'cpu')} checkpoint: "
                  "the random stream continues from a new seed, so the run is not bit-identical", file=sys.stderr)
        self.eval_torch_rng.set_state(saved["eval_torch_rng"])
        self.eval_rng.bit_generator.state = saved["eval_rng"]
        self.epoch, self.step = int(saved["epoch"]), int(saved["step"])
        self.permutation = None if saved["permutation"] is None else saved["permutation"].to(device)
        for name in ("d_losses", "g_losses", "d_epoch", "g_epoch"):
            setattr(self, name, saved[name].tolist())


def build_state(config: TrainConfig, dim: int, device: torch.device) -> State:
    """Fresh networks and optimisers; every random generator seeded from ``config.seed``."""
    seeds = np.random.SeedSequence(config.seed).generate_state(4)
    torch.manual_seed(int(seeds[0]))  # weight initialisation
    generator = Generator(config.latent_dim, dim, hidden_sizes(GENERATOR_WIDTHS, config.scale),
                          batch_norm=config.batch_norm).to(device)
    discriminator = Discriminator(dim, hidden_sizes(DISCRIMINATOR_WIDTHS, config.scale)).to(device)
    betas = (config.beta1, config.beta2)
    fused = device.type == "cuda"  # fused Adam: one kernel for all parameters
    rng = torch.Generator(device=device)
    rng.manual_seed(int(seeds[1]))
    eval_torch_rng = torch.Generator()
    eval_torch_rng.manual_seed(int(seeds[2]))
    return State(
        generator=generator, discriminator=discriminator, ema=EMA(generator, config.ema_decay),
        optimizer_g=torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas, fused=fused),
        optimizer_d=torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=betas, fused=fused),
        rng=rng, eval_rng=np.random.default_rng(seeds[3]), eval_torch_rng=eval_torch_rng,
    )


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a left-over single sample joins the batch before it,
    because BatchNorm cannot normalise a batch of one."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, starts[1:] + [n]))


def train_epoch(state: State, config: TrainConfig, data: torch.Tensor, stop: GracefulStop, progress) -> None:
    """One pass over the data: a discriminator step per batch, a generator step every ``critic_steps``."""
    n, batch_size = len(data), config.batch_size
    if state.permutation is None:
        state.permutation, state.step = torch.randperm(n, generator=state.rng, device=data.device), 0

    def latent(size: int) -> torch.Tensor:
        z = torch.randn(size, config.latent_dim, generator=state.rng, device=data.device)
        return z * config.latent_sigma

    d_losses, g_losses = [], []
    bounds = batch_bounds(n, batch_size)
    for begin, end in bounds[state.step:]:
        real = data[state.permutation[begin:end]]
        d_losses.append(rules.discriminator_step(config.rule, state.generator, state.discriminator,
                                                 state.optimizer_d, real, latent, config.gp_weight, state.rng))
        state.step += 1
        state.d_epoch.append(state.epoch + state.step / len(bounds))
        # Counted over the whole run, not per epoch: an epoch shorter than critic_steps still trains G.
        if len(state.d_epoch) % config.critic_steps == 0:
            g_losses.append(rules.generator_step(config.rule, state.generator, state.discriminator,
                                                 state.optimizer_g, len(real), latent))
            state.ema.update(state.generator)
            state.g_epoch.append(state.epoch + state.step / len(bounds))
        progress.update(1)
        if stop.requested:
            break
    # One transfer per epoch, not one per step (each .item() would wait for the GPU).
    state.d_losses += torch.stack(d_losses).tolist() if d_losses else []
    state.g_losses += torch.stack(g_losses).tolist() if g_losses else []
    if not stop.requested:
        state.permutation, state.step = None, 0
        state.epoch += 1


@torch.no_grad()
def evaluate(state: State, config: TrainConfig, parent: Parent, data: np.ndarray) -> diagnostics.Comparison:
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


def epoch_figures(run: RunDirectory, comparison, generated, fresh, epoch: int, last: bool, config: TrainConfig) -> list:
    """The figures of one epoch, as (function, arguments) jobs for the figure worker."""
    jobs = [
        (plots.component_histograms, (generated, fresh, epoch, run.figure("comp_hist", epoch))),
        (plots.norm_distributions, (comparison.norms_generated, comparison.norms_parent, comparison.norm_ks_parent,
                                    epoch, run.figure("rhist", epoch))),
        (plots.ks_per_component, (comparison.ks_statistic, comparison.ks_pvalue, comparison.ks_floor, epoch,
                                  run.figure("ks", epoch))),
    ]
    if epoch % config.corr_every == 0 or last:
        jobs.append((plots.correlations, (comparison.corr_generated, comparison.corr_parent, epoch, run.figure("corr", epoch))))
    return jobs


def history_figures(run: RunDirectory, state: State, rows: list[dict], dim: int) -> list:
    """Loss curves and p-values over the whole run so far."""
    column = lambda name: np.array([row[name] for row in rows], dtype=float)
    return [
        (plots.losses, (np.array(state.d_epoch), np.array(state.d_losses), np.array(state.g_epoch),
                        np.array(state.g_losses), run.file("training_model_losses.png"))),
        (plots.pvalues, (column("epoch"), column("norm_ks_parent_p"), column("norm_ks_train_p"),
                         column("rejected_raw"), dim, run.file("training_pvalues.png"))),
    ]


def save_models(run: RunDirectory, state: State, config: TrainConfig, parent: Parent) -> None:
    """The EMA generator (the one evaluated) and the discriminator, each rebuildable from its file alone."""
    parent_values = {"name": parent.name, "dim": parent.dim, "mu": parent.mu, "xlo": parent.xlo, "xhi": parent.xhi,
                     "sigma": torch.from_numpy(parent.sigma)}
    common = {"epoch": state.epoch, "version": __version__, "run": run.path.name, "parent": parent_values,
              "latent_sigma": config.latent_sigma}
    save_torch_file({**common, "spec": state.ema.model.spec(), "state_dict": state.ema.model.state_dict()},
                    run.file(GENERATOR))
    save_torch_file({**common, "spec": state.discriminator.spec(), "state_dict": state.discriminator.state_dict()},
                    run.file(DISCRIMINATOR))


def epoch_mean(losses: list, positions: list, epoch: int) -> float:
    """Mean of the losses recorded during ``epoch`` (positions are fractional epochs in (epoch-1, epoch])."""
    positions = np.asarray(positions)
    chosen = np.asarray(losses)[(positions > epoch - 1) & (positions <= epoch)]
    return float(chosen.mean()) if chosen.size else float("nan")


def resume_command(config: TrainConfig) -> str:
    """The command that continues this run: the original one without --force, with --resume."""
    words = [word for word in shlex.split(config.command or "python train.py ...") if word not in ("--force", "--resume")]
    return shlex.join(words + ["--resume"])


def open_run(config: TrainConfig, parent: Parent) -> tuple[TrainConfig, RunDirectory]:
    """The run directory, checked and made; the config completed with the seed and the rule's defaults."""
    run = RunDirectory(Path(config.runs_dir) / run_name(parent.name, parent.dim, config.latent_dim,
                                                         config.latent_sigma, config.wasserstein, config.postfix))
    seed = config.seed
    if config.resume and run.exists():
        saved = run.read_config()
        changes = hyperparameter_changes(saved, config.with_defaults(saved["seed"] if seed is None else seed))
        if changes:
            raise UserError("cannot resume: options differ from the saved run: " + "; ".join(changes))
        seed = saved["seed"]
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    config = config.with_defaults(seed)
    run.prepare(force=config.force, resume=config.resume)
    return config, run


def start_state(config: TrainConfig, run: RunDirectory, parent: Parent, device: torch.device) -> tuple[State, list[dict]]:
    """A fresh state, or the one in the run's checkpoint with the CSV rows up to it (``--resume``)."""
    state = build_state(config, parent.dim, device)
    saved = run.load_checkpoint() if config.resume else None
    if saved is None:
        return state, []
    state.restore(saved, device)
    print(f"resuming after epoch {state.epoch}" + (f", batch {state.step}" if state.step else ""), flush=True)
    return state, [row for row in run.read_csv() if row["epoch"] <= state.epoch]


def stop_here(stop: GracefulStop, config: TrainConfig, where: str) -> None:
    print(f"stopped {where}; saved. To continue: {resume_command(config)}", file=sys.stderr)
    stop.raise_if_requested()


def train(config: TrainConfig) -> RunDirectory:
    """Train a GAN on ``config.dataset`` and write the run directory; return it."""
    from tqdm import tqdm

    data_np, parent, _ = load_dataset(config.dataset, dtype=np.float32)
    if len(data_np) < 2:
        raise UserError(f"{config.dataset} holds {len(data_np)} sample; training needs at least 2")
    config = replace(config, dataset=str(Path(config.dataset).resolve()))
    device = resolve_device(config.device)
    # Small matrices: a second thread costs more in synchronisation than it gains, and the
    # figure worker needs a core of its own.
    torch.set_num_threads(config.threads)
    config, run = open_run(config, parent)
    print(f"seed {config.seed}\nrun directory {run}", flush=True)
    state, rows = start_state(config, run, parent, device)
    run.write_config({**asdict(config), "parent": parent.to_dict(), "torch": torch.__version__,
                      "gaussgan": __version__, "device_used": str(device)})
    data = torch.from_numpy(data_np).to(device)
    steps_per_epoch = len(batch_bounds(len(data), config.batch_size))

    with FigureWorker(background=config.background_figures) as figures, GracefulStop() as stop:
        if not run.file("test_corr.png").exists():
            reference = parent.sample(config.n_eval, np.random.default_rng(config.seed))
            figures.submit([(plots.correlation_matrix, (diagnostics.correlation(reference),
                             f"Correlation matrix of a parent sample (n = {config.n_eval})", run.file("test_corr.png")))])
        while state.epoch < config.epochs:
            epoch = state.epoch + 1
            started = time.perf_counter()
            with tqdm(total=steps_per_epoch, initial=state.step, desc=f"epoch {epoch}/{config.epochs}", unit="batch",
                      leave=False, disable=config.quiet or None, file=sys.stderr) as progress:
                train_epoch(state, config, data, stop, progress)
            if stop.requested:
                run.save_checkpoint(state.checkpoint(config))
                stop_here(stop, config, f"during epoch {epoch}")
            train_seconds = time.perf_counter() - started

            comparison, generated, fresh = evaluate(state, config, parent, data_np)
            rows.append({"epoch": epoch, "d_loss": epoch_mean(state.d_losses, state.d_epoch, epoch),
                         "g_loss": epoch_mean(state.g_losses, state.g_epoch, epoch), **comparison.summary(),
                         "seconds_train": train_seconds})
            figures.submit(epoch_figures(run, comparison, generated, fresh, epoch, epoch == config.epochs, config)
                           + history_figures(run, state, rows, parent.dim))
            save_models(run, state, config, parent)
            # The whole epoch as it costs: steps, diagnostics, waiting for the figure worker, saving.
            rows[-1]["seconds_total"] = time.perf_counter() - started
            # CSV first: rows ahead of the checkpoint are dropped on resume, rows behind it would be lost.
            run.write_csv(rows)
            run.save_checkpoint(state.checkpoint(config))
            if not config.quiet:
                print_epoch(rows[-1], parent.dim)
            if stop.requested:
                stop_here(stop, config, f"after epoch {epoch}")
    print(f"done: {run}")
    return run


def print_epoch(row: dict, dim: int) -> None:
    print(f"epoch {row['epoch']}: D {row['d_loss']:.3f} G {row['g_loss']:.3f}  norm KS D {row['norm_ks_parent_D']:.3f} "
          f"p {row['norm_ks_parent_p']:.3g}  rejected {row['rejected_raw']}/{dim} (BH {row['rejected_bh']})",
          file=sys.stderr, flush=True)
