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
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np
import torch

from gaussgan._version import __version__
from gaussgan.data.datasets import load_dataset
from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.figures import plots
from gaussgan.figures.worker import FigureWorker
from gaussgan.gan import evaluation, rules
from gaussgan.gan.models import (
    EMA,
    Discriminator,
    Generator,
    check_state_dict,
    hidden_sizes,
    mlp_bytes,
    recalibrate_batch_norm,
    resolve_device,
)
from gaussgan.gan.options import DISCRIMINATOR_WIDTHS, GENERATOR_WIDTHS, TrainConfig, hyperparameter_changes
from gaussgan.gan.rundir import (
    CHECKPOINT,
    DISCRIMINATOR,
    GENERATOR,
    GENERATOR_BEST,
    RunDirectory,
    data_changes,
    data_fingerprint,
    run_name,
)
from gaussgan.gan.schedules import lr_factor
from gaussgan.gan.tensorboard import TensorBoard, check_available
from gaussgan.stats import diagnostics
from gaussgan.stats.metrics import Context
from gaussgan.stats.nulls import NullCache
from gaussgan.system.files import save_torch_file
from gaussgan.system.interrupt import GracefulStop
from gaussgan.system.resources import require_memory
from gaussgan.system.seeds import choose_seed

CHECKPOINT_KEYS = (
    "config",
    "epoch",
    "step",
    "permutation",
    "generator",
    "ema_generator",
    "discriminator",
    "optimizer_g",
    "optimizer_d",
    "rng",
    "eval_torch_rng",
    "eval_rng",
    "d_losses",
    "g_losses",
    "d_epoch",
    "g_epoch",
)


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
    # The averaged generator's weights (CPU) at the end of each epoch of the final mixture so far:
    # {"epoch": e, "state_dict": ...}, oldest first (TrainConfig.mixture).
    snapshots: list = field(default_factory=list)

    def checkpoint(self, config: TrainConfig, data: dict | None = None) -> dict:
        """Everything needed to continue exactly, and the fingerprint of the ``data`` it was trained on."""
        return {
            "config": asdict(config),
            "data": data,
            "version": __version__,
            "epoch": self.epoch,
            "step": self.step,
            "permutation": self.permutation.cpu() if self.permutation is not None else None,
            "generator": self.generator.state_dict(),
            "ema_generator": self.ema.model.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "rng": self.rng.get_state(),
            "rng_device": self.rng.device.type,
            "eval_torch_rng": self.eval_torch_rng.get_state(),
            "eval_rng": self.eval_rng.bit_generator.state,
            "d_losses": torch.tensor(self.d_losses),
            "g_losses": torch.tensor(self.g_losses),
            "d_epoch": torch.tensor(self.d_epoch),
            "g_epoch": torch.tensor(self.g_epoch),
            "snapshots": self.snapshots,
        }

    def restore(self, saved: dict, device: torch.device) -> None:
        """Continue from ``saved``, a checkpoint already checked by :func:`check_checkpoint`."""
        self.generator.load_state_dict(saved["generator"])
        self.ema.model.load_state_dict(saved["ema_generator"])
        self.discriminator.load_state_dict(saved["discriminator"])
        self.optimizer_g.load_state_dict(saved["optimizer_g"])
        self.optimizer_d.load_state_dict(saved["optimizer_d"])
        if saved.get("rng_device", "cpu") == self.rng.device.type:
            self.rng.set_state(saved["rng"])
        else:  # a CPU and a CUDA generator keep different states: continue from a fresh, seeded one
            self.rng.manual_seed(
                int(np.random.SeedSequence([int(saved["config"]["seed"]), int(saved["epoch"])]).generate_state(1)[0])
            )
            print(
                f"note: resumed on {self.rng.device.type} from a {saved.get('rng_device', 'cpu')} checkpoint: "
                "the random stream continues from a new seed, so the run is not bit-identical",
                file=sys.stderr,
            )
        self.eval_torch_rng.set_state(saved["eval_torch_rng"])
        self.eval_rng.bit_generator.state = saved["eval_rng"]
        self.epoch, self.step = int(saved["epoch"]), int(saved["step"])
        self.permutation = None if saved["permutation"] is None else saved["permutation"].to(device)
        for name in ("d_losses", "g_losses", "d_epoch", "g_epoch"):
            setattr(self, name, saved[name].tolist())
        # Checkpoints written before the mixture have none: the mixture starts from the resumed epochs.
        self.snapshots = list(saved.get("snapshots", []))

    def take_snapshot(self, config: TrainConfig) -> None:
        """Keep the averaged generator of the epoch just completed when it belongs to the final mixture,
        and drop those a longer run (resumed with a larger -n) has moved out of it."""
        epoch = self.epoch - 1
        start = config.mixture_start()
        self.snapshots = [snapshot for snapshot in self.snapshots if start <= snapshot["epoch"] < epoch]
        if epoch >= start:
            weights = {name: value.detach().cpu().clone() for name, value in self.ema.model.state_dict().items()}
            self.snapshots.append({"epoch": epoch, "state_dict": weights})


def build_state(config: TrainConfig, dim: int, device: torch.device) -> State:
    """Fresh networks and optimisers; every random generator seeded from ``config.seed``."""
    seeds = np.random.SeedSequence(config.seed).generate_state(4)
    torch.manual_seed(int(seeds[0]))  # weight initialisation
    generator = Generator(
        config.latent_dim, dim, hidden_sizes(GENERATOR_WIDTHS, config.scale), batch_norm=config.batch_norm
    ).to(device)
    discriminator = Discriminator(dim, hidden_sizes(DISCRIMINATOR_WIDTHS, config.scale)).to(device)
    betas = (config.beta1, config.beta2)
    rng = torch.Generator(device=device)
    rng.manual_seed(int(seeds[1]))
    eval_torch_rng = torch.Generator()
    eval_torch_rng.manual_seed(int(seeds[2]))
    return State(
        generator=generator,
        discriminator=discriminator,
        ema=EMA(generator, config.ema_decay),
        optimizer_g=rules.adam(generator.parameters(), config.lr, betas, device),
        optimizer_d=rules.adam(discriminator.parameters(), config.lr * config.d_lr_ratio, betas, device),
        rng=rng,
        eval_rng=np.random.default_rng(seeds[3]),
        eval_torch_rng=eval_torch_rng,
    )


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a left-over single sample joins the batch before it,
    because BatchNorm cannot normalise a batch of one."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, starts[1:] + [n], strict=True))


def set_learning_rate(state: State, config: TrainConfig, progress: float) -> None:
    """Both networks' learning rate at ``progress`` (0 at the run's first step, 1 at its last)."""
    lr = config.lr * lr_factor(config.lr_schedule, progress, config.lr_floor, config.warmup)
    for optimizer, rate in ((state.optimizer_d, lr * config.d_lr_ratio), (state.optimizer_g, lr)):
        for group in optimizer.param_groups:
            group["lr"] = rate


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
    total_steps = config.epochs * len(bounds)
    for begin, end in bounds[state.step :]:
        set_learning_rate(state, config, (state.epoch * len(bounds) + state.step) / max(total_steps - 1, 1))
        real = data[state.permutation[begin:end]]
        d_losses.append(
            rules.discriminator_step(
                config.rule,
                state.generator,
                state.discriminator,
                state.optimizer_d,
                real,
                latent,
                gp_weight=config.gp_weight,
                rng=state.rng,
                r1_weight=config.r1_weight,
            )
        )
        state.step += 1
        state.d_epoch.append(state.epoch + state.step / len(bounds))
        # Counted over the whole run, not per epoch: an epoch shorter than critic_steps still trains G.
        if len(state.d_epoch) % config.critic_steps == 0:
            g_losses.append(
                rules.generator_step(
                    config.rule, state.generator, state.discriminator, state.optimizer_g, len(real), latent
                )
            )
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


@torch.no_grad()
def evaluate(
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


def epoch_figures(run: RunDirectory, comparison, generated, fresh, epoch: int, last: bool, config: TrainConfig) -> list:
    """The figures of one epoch, as (function, arguments) jobs for the figure worker."""
    jobs = [
        (
            plots.component_histograms,
            (generated, fresh, epoch, run.figure("comp_hist", epoch), 20, comparison.ks_statistic),
        ),
        (
            plots.norm_distributions,
            (
                comparison.norms_generated,
                comparison.norms_parent,
                comparison.norm_ks_parent,
                epoch,
                run.figure("rhist", epoch),
            ),
        ),
        (
            plots.ks_per_component,
            (comparison.ks_statistic, comparison.ks_pvalue, comparison.ks_floor, epoch, run.figure("ks", epoch)),
        ),
    ]
    if epoch % config.corr_every == 0 or last:
        jobs.append(
            (plots.correlations, (comparison.corr_generated, comparison.corr_parent, epoch, run.figure("corr", epoch)))
        )
    return jobs


def history_figures(run: RunDirectory, state: State, rows: list[dict], dim: int) -> list:
    """Loss curves and p-values over the whole run so far."""
    column = lambda name: np.array([row[name] for row in rows], dtype=float)
    return [
        (
            plots.losses,
            (
                np.array(state.d_epoch),
                np.array(state.d_losses),
                np.array(state.g_epoch),
                np.array(state.g_losses),
                run.file("training_model_losses.png"),
            ),
        ),
        (
            plots.pvalues,
            (
                column("epoch"),
                column("norm_ks_parent_p"),
                column("norm_ks_train_p"),
                column("rejected_raw"),
                dim,
                run.file("training_pvalues.png"),
            ),
        ),
        (plots.training_metrics, ([dict(row) for row in rows], run.file("training_metrics.png"))),
    ]


def save_models(run: RunDirectory, state: State, config: TrainConfig, parent: Parent, best: bool = False) -> None:
    """The generator and the discriminator, each rebuildable from its file alone. The generator file holds
    the EMA generator (the one evaluated each epoch) and, once the run is in its last ``mixture`` share,
    the mixture of the averaged generators of those epochs, which sampling and the verdict use; the
    best generator so far (``best``) is the EMA generator alone."""
    common = {
        "epoch": state.epoch - 1,  # the epoch just completed, 0-based
        "version": __version__,
        "run": run.path.name,
        "parent": parent.to_state(array=torch.from_numpy),
        "latent_sigma": config.latent_sigma,
    }
    averaged = cast(Generator, state.ema.model)  # EMA keeps a copy of whatever network it is given
    generator = {**common, "spec": averaged.spec(), "state_dict": averaged.state_dict()}
    if best:
        save_torch_file(generator, run.file(GENERATOR_BEST))
    if len(state.snapshots) > 1:  # the final generator: the mixture of the epochs so far
        generator["mixture"] = state.snapshots
    save_torch_file(generator, run.file(GENERATOR))
    save_torch_file(
        {**common, "spec": state.discriminator.spec(), "state_dict": state.discriminator.state_dict()},
        run.file(DISCRIMINATOR),
    )


def epoch_mean(losses: list, positions: list, epoch: int) -> float:
    """Mean of the losses recorded during ``epoch`` (0-based: positions are fractional epochs in (epoch, epoch + 1])."""
    where = np.asarray(positions)
    chosen = np.asarray(losses)[(where > epoch) & (where <= epoch + 1)]
    return float(chosen.mean()) if chosen.size else float("nan")


def resume_command(config: TrainConfig) -> str:
    """The command that continues this run: the original one without --force, with --resume."""
    words = [
        word for word in shlex.split(config.command or "python train.py ...") if word not in ("--force", "--resume")
    ]
    return shlex.join(words + ["--resume"])


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_optimizer(saved, model: torch.nn.Module, where: str) -> None:
    """An optimiser's saved state fits ``model``: one entry per parameter, moments of the parameter's shape."""
    parameters = list(model.parameters())
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if (
        not isinstance(groups, list)
        or not all(isinstance(group, dict) and isinstance(group.get("params"), list) for group in groups)
        or not isinstance(saved.get("state"), dict)
    ):
        raise UserError(f"{where}: the optimiser state is damaged; expected param_groups and state")
    if sum(len(group["params"]) for group in groups) != len(parameters):
        raise UserError(
            f"{where}: the optimiser state is for {sum(len(g['params']) for g in groups)} parameter tensors; "
            f"the network has {len(parameters)}"
        )
    for index, values in saved["state"].items():
        if not isinstance(index, int) or not 0 <= index < len(parameters) or not isinstance(values, dict):
            raise UserError(f"{where}: the optimiser state names parameter {index!r}, which the network does not have")
        for name, value in values.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != parameters[index].shape:
                raise UserError(
                    f"{where}: the optimiser's {name} of parameter {index} has shape {tuple(value.shape)}; "
                    f"expected {tuple(parameters[index].shape)}"
                )


def check_checkpoint(saved: dict, state: State, n_samples: int, steps_per_epoch: int, where: str) -> None:
    """Refuse a checkpoint that does not fit this run (missing keys, other shapes, other data) before using it."""
    missing = [key for key in CHECKPOINT_KEYS if key not in saved]
    if missing:
        raise UserError(f"{where} is not a checkpoint of a gaussgan run: it has no {', '.join(missing)}")
    for key, model in (
        ("generator", state.generator),
        ("ema_generator", state.ema.model),
        ("discriminator", state.discriminator),
    ):
        check_saved_weights(saved[key], model, where, key)
    check_snapshots(saved.get("snapshots", []), state.ema.model, where)
    for key, model in (("optimizer_g", state.generator), ("optimizer_d", state.discriminator)):
        check_optimizer(saved[key], model, f"{where} ({key})")
    epoch, step, permutation = saved["epoch"], saved["step"], saved["permutation"]
    if not _whole_number(epoch) or not _whole_number(step) or step >= steps_per_epoch:
        raise UserError(
            f"{where}: epoch {epoch!r}, batch {step!r}; expected whole numbers, the batch below {steps_per_epoch}"
        )
    if permutation is not None:
        if not isinstance(permutation, torch.Tensor) or permutation.dim() != 1 or permutation.dtype != torch.int64:
            raise UserError(f"{where}: the epoch's sample order is damaged; expected a vector of sample indices")
        if len(permutation) != n_samples or not torch.equal(permutation.sort().values, torch.arange(n_samples)):
            raise UserError(
                f"{where}: the checkpoint's epoch runs over {len(permutation)} samples but the dataset holds "
                f"{n_samples}; expected the dataset the run was trained on"
            )
    for values, positions in (("d_losses", "d_epoch"), ("g_losses", "g_epoch")):
        tensors = saved[values], saved[positions]
        if not all(isinstance(t, torch.Tensor) and t.dim() == 1 and t.is_floating_point() for t in tensors) or len(
            tensors[0]
        ) != len(tensors[1]):
            raise UserError(f"{where}: the loss history {values} is damaged; expected two vectors of one length")


def check_snapshots(snapshots, model: torch.nn.Module, where: str) -> None:
    """The averaged generators kept for the final mixture: a list of {epoch, state_dict} of ``model``'s shapes."""
    if not isinstance(snapshots, list) or not all(
        isinstance(snapshot, dict)
        and _whole_number(snapshot.get("epoch"))
        and isinstance(snapshot.get("state_dict"), dict)
        for snapshot in snapshots
    ):
        raise UserError(
            f"{where}: the generators kept for the final mixture are damaged; expected a list of epochs and weights"
        )
    for snapshot in snapshots:
        check_saved_weights(snapshot["state_dict"], model, where, f"mixture's generator of epoch {snapshot['epoch']}")


def check_saved_weights(state_dict, model: torch.nn.Module, where: str, key: str) -> None:
    """A checkpoint's weights of ``model`` (named ``key``): its shapes, and finite."""
    check_state_dict(
        state_dict, {name: tuple(value.shape) for name, value in model.state_dict().items()}, f"{where} ({key})"
    )
    if not all(torch.isfinite(tensor).all() for tensor in state_dict.values() if tensor.is_floating_point()):
        raise UserError(
            f"{where}: the {key} weights hold NaN or infinite values; expected a checkpoint of a stable run"
        )


def restore_checkpoint(state: State, saved: dict, device: torch.device, where: str) -> None:
    try:
        state.restore(saved, device)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        first_line = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        raise UserError(f"{where} cannot be used to continue this run ({type(error).__name__}: {first_line})") from None


def memory_estimate(config: TrainConfig, n_samples: int, dim: int) -> int:
    """Bytes that training allocates beyond the dataset already loaded, from the options alone."""
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
    verdict = config.max_n * dim * evaluation.VERDICT_BYTES_PER_VALUE
    return max(networks + evaluation_bytes + samples + correlations + order + mixture, verdict + order + mixture)


def check_options(config: TrainConfig, n_samples: int, dim: int) -> None:
    """Refuse, before anything is written, an option set that cannot train on these data."""
    if n_samples < 2:
        raise UserError(f"{config.dataset} holds {n_samples} sample; training needs at least 2")
    if config.batch_norm and config.batch_size == 1:
        raise UserError(
            "-b/--batch-size 1 with BatchNorm: BatchNorm cannot normalise a batch of one sample; "
            "expected -b 2 or more, or --no-batch-norm"
        )
    widths = hidden_sizes(GENERATOR_WIDTHS, config.scale)
    require_memory(
        memory_estimate(config, n_samples, dim),
        f"training with latent dimension {config.latent_dim}, hidden widths {widths}, --n-eval {config.n_eval} "
        f"and {n_samples:,} samples of dimension {dim}",
        "ask for less: smaller -d/--latent-dim, -c/--scale, --n-eval or --max-n",
    )


def open_run(config: TrainConfig, run: RunDirectory, record: dict, fingerprint: dict) -> tuple[TrainConfig, dict]:
    """Check the run against the saved one (``--resume``), complete the config with the seed, and create the run directory with its config.json (a new run); call with the lock held."""
    seed = config.seed
    if config.resume and run.exists():
        saved = run.read_config()
        changes = hyperparameter_changes(saved, config if seed is None else config.with_seed(seed))
        if changes:
            raise UserError("cannot resume: options differ from the saved run: " + "; ".join(changes))
        check_same_data(saved.get("data"), fingerprint, run.file("config.json"))
        seed = saved["seed"]
    config = config.with_seed(choose_seed(seed))
    record = {**asdict(config), **record, "data": fingerprint}
    run.prepare(record, force=config.force, resume=config.resume, protected=(Path(config.dataset),))
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
    if fingerprint is not None and saved.get("data") is not None:
        check_same_data(saved["data"], fingerprint, where)
    restore_checkpoint(state, saved, device, where)
    return state, [row for row in run.read_csv() if row["epoch"] < state.epoch]


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
    run = RunDirectory.named(
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
    with run.claimed():
        if config.verdict_only:
            seed = check_verdict_only(config, run, fingerprint)
            finish_with_verdict(config.with_seed(seed), run, data_np)
            return run
        config, record = open_run(config, run, record, fingerprint)
        print(f"run directory {run}", flush=True)
        state, rows = start_state(config, run, parent, device, len(data_np), fingerprint)
        if config.resume:
            if state.epoch > config.epochs:
                raise UserError(
                    f"cannot resume with -n {config.epochs}: the run has {state.epoch} epochs done already; "
                    f"-n can only extend a run: expected -n {state.epoch + 1} or more"
                )
            if state.epoch == config.epochs:
                if run.file(evaluation.VERDICT).exists():
                    print(
                        f"the run has its {state.epoch} epochs and its verdict already; nothing to do "
                        "(a larger -n extends it)",
                        flush=True,
                    )
                else:
                    finish_with_verdict(config, run, data_np)
                return run
            if state.step:
                print(f"resuming in epoch {state.epoch}, at batch {state.step}", flush=True)
            elif state.epoch:
                print(f"resuming after epoch {state.epoch - 1}", flush=True)
            else:
                print("resuming: no epoch was saved yet, training from the start", flush=True)
            run.write_config(record)
        train_epochs(config, run, state, rows, parent, data_np, fingerprint, device)
        print("\n".join(summary_lines(run.read_csv(), parent.dim, run)), flush=True)
        finish_with_verdict(config, run, data_np)
    print(f"done: {run}")
    return run


def check_verdict_only(config: TrainConfig, run: RunDirectory, fingerprint: dict) -> int:
    """``--verdict-only`` recomputes the verdict of the run these options name: it must exist, with these
    options and data; returns its seed."""
    if not run.file("config.json").exists():
        raise UserError(
            f"--verdict-only: there is no run at {run}; expected the options of an existing run (the same -d, -s, -w, -p)"
        )
    saved = run.read_config()
    changes = hyperparameter_changes(saved, config)
    if changes:
        raise UserError("--verdict-only: options differ from the saved run: " + "; ".join(changes))
    check_same_data(saved.get("data"), fingerprint, run.file("config.json"))
    return int(saved["seed"])


def finish_with_verdict(config: TrainConfig, run: RunDirectory, data_np: np.ndarray) -> None:
    """The verdict on the run's saved generator: verdict.json, and the block that ends the output."""
    assert config.seed is not None
    verdict = evaluation.run_verdict(
        run.path, data_np, config.seed, config.max_n, config.null_repeats, quiet=config.quiet
    )
    evaluation.print_verdict(verdict, file=sys.stdout)  # the stdout of the moment (a sweep captures it)
    print(f"wrote {run.file(evaluation.VERDICT)}")


def train_epochs(
    config: TrainConfig,
    run: RunDirectory,
    state: State,
    rows: list[dict],
    parent: Parent,
    data_np: np.ndarray,
    fingerprint: dict,
    device: torch.device,
) -> None:
    """The epoch loop under a whole-run progress bar; each epoch is :func:`train_one_epoch`."""
    from tqdm import tqdm

    data = torch.from_numpy(data_np).to(device)
    assert config.seed is not None
    # Seeded by the run: the same fixed reference samples and simulated nulls every epoch and on resume.
    context = Context(parent, seed=config.seed)
    nulls = NullCache(run.file(evaluation.NULL_CACHE))
    board = TensorBoard(run.file("tensorboard")) if config.tensorboard else None
    with (
        FigureWorker(background=config.background_figures) as figures,
        GracefulStop() as stop,
        board if board is not None else nullcontext(),
    ):
        if not run.file("test_corr.png").exists():
            reference = parent.sample(config.n_eval, np.random.default_rng(config.seed))
            figures.submit(
                [
                    (
                        plots.correlation_matrix,
                        (
                            diagnostics.correlation(reference),
                            f"Correlation matrix of a parent sample (n = {config.n_eval})",
                            run.file("test_corr.png"),
                        ),
                    )
                ]
            )
        with tqdm(
            total=config.epochs,
            initial=state.epoch,
            desc="run",
            unit="epoch",
            position=0,
            disable=config.quiet or None,
            file=sys.stderr,
        ) as whole_run:
            while state.epoch < config.epochs:
                train_one_epoch(
                    config,
                    run,
                    state,
                    rows,
                    parent,
                    data,
                    data_np,
                    fingerprint,
                    figures,
                    stop,
                    context,
                    nulls,
                    board,
                    whole_run,
                )
                whole_run.update(1)
        figures.wait()
        if board is not None:
            board.add_figures(run.path, state.epoch - 1)


def train_one_epoch(
    config: TrainConfig,
    run: RunDirectory,
    state: State,
    rows: list[dict],
    parent: Parent,
    data: torch.Tensor,
    data_np: np.ndarray,
    fingerprint: dict,
    figures: FigureWorker,
    stop: GracefulStop,
    context: Context,
    nulls: NullCache,
    board,
    whole_run,
) -> None:
    """Epoch ``state.epoch`` (0-based, as every file name, CSV row and message shows it): train,
    check the numbers are finite, evaluate, then CSV, models and checkpoint."""
    from tqdm import tqdm

    epoch, started = state.epoch, time.perf_counter()
    last_saved = state.epoch - 1  # the last completed (and saved) epoch; -1: none
    d_from, g_from = len(state.d_losses), len(state.g_losses)
    with tqdm(
        total=len(batch_bounds(len(data), config.batch_size)),
        initial=state.step,
        desc=f"epoch {epoch}/{config.epochs - 1}",
        unit="batch",
        position=1,
        leave=False,
        disable=config.quiet or None,
        file=sys.stderr,
    ) as progress:
        train_epoch(state, config, data, stop, progress)
    # Checked before anything is saved: NaN weights must never replace the last good ones.
    what = divergence(state, d_from, g_from)
    if what:
        raise diverged(config, epoch, what, last_saved)
    if stop.requested and state.epoch == epoch:  # stopped part-way: the batches done so far are kept
        run.save_checkpoint(state.checkpoint(config, fingerprint))
        stop_here(stop, config, f"during epoch {epoch}")
    train_seconds = time.perf_counter() - started

    comparison, generated, fresh = evaluate(state, config, parent, data_np)
    if not np.all(np.isfinite(generated)):
        raise diverged(config, epoch, "the generated samples", last_saved)
    metric_started = time.perf_counter()
    # On a fixed schedule (epochs 0, N, 2N, ...), not at the last epoch: a run extended later has the same table.
    metric_columns = evaluation.epoch_columns(generated, context, nulls, costly=epoch % config.eval_every == 0)
    nulls.save()
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
    figures.submit(
        epoch_figures(run, comparison, generated, fresh, epoch, epoch == config.epochs - 1, config)
        + history_figures(run, state, rows, parent.dim)
    )
    state.take_snapshot(config)  # after evaluate(): the BatchNorm statistics measured for these weights
    save_models(run, state, config, parent, best=is_best(rows))
    # The whole epoch as it costs: steps, diagnostics, waiting for the figure worker, saving.
    rows[-1]["seconds_total"] = time.perf_counter() - started
    # CSV first: rows ahead of the checkpoint are dropped on resume, rows behind it would be lost.
    run.write_csv(rows)
    run.save_checkpoint(state.checkpoint(config, fingerprint))
    if board is not None:
        board.add_row(rows[-1])
    if not config.quiet:
        whole_run.write(epoch_line(rows[-1], parent.dim), file=sys.stderr)
    if stop.requested:
        stop_here(stop, config, f"after epoch {epoch}")


def is_best(rows: list[dict]) -> bool:
    """Whether the last row has the smallest norm KS distance from the parent so far (the best epoch).
    A tie keeps the earlier epoch, the one :func:`best_row` and the summary name."""
    distances = [row["norm_ks_parent_D"] for row in rows]
    return len(distances) == 1 or bool(distances[-1] < min(distances[:-1]))


def best_row(rows: list[dict]) -> dict:
    return min(rows, key=lambda row: row["norm_ks_parent_D"])


def epoch_line(row: dict, dim: int) -> str:
    return (
        f"epoch {row['epoch']}: D {row['d_loss']:.3f} G {row['g_loss']:.3f}  norm KS D {row['norm_ks_parent_D']:.3f} "
        f"p {row['norm_ks_parent_p']:.3g}  rejected {row['rejected_raw']}/{dim} (BH {row['rejected_bh']})"
    )


def summary_lines(rows: list[dict], dim: int, run: RunDirectory) -> list[str]:
    """How the run ended against the floors: the final and the best epoch (by norm KS vs the parent)."""
    final, best = rows[-1], best_row(rows)
    seconds = sum(row.get("seconds_total", 0) for row in rows)
    lines = [
        f"summary: {len(rows)} epochs in {seconds:.0f} s; run directory {run}",
        f"  final epoch {final['epoch']}: norm KS D {final['norm_ks_parent_D']:.3f} (floor {final['ks_floor_95']:.3f}), "
        f"components rejected {final['rejected_bh']}/{dim} after BH (~0 for honest samples)"
        + (
            f", off-diagonal correlation spread {final['offdiag_std_generated']:.3f} "
            f"(a parent sample: {final['offdiag_std_parent']:.3f})"
            if dim > 2  # with one off-diagonal value there is no spread
            else ""
        ),
        f"  best epoch {best['epoch']} (by norm KS vs the parent): D {best['norm_ks_parent_D']:.3f}; "
        "its generator is models/generator_best.pth.tar (python -m gaussgan sample RUN --epoch best)",
    ]
    return lines
