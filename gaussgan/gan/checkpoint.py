"""What a run saves and how it comes back: the training state, the checkpoint's schema and its checks,
and the model files (the generator sampling and the verdict read, the discriminator).

A checkpoint holds tensors and plain values only (read with ``weights_only=True``); everything random
flows from one seed through explicit generators whose states are in it, so a resumed run continues
exactly where an uninterrupted one would be. A checkpoint is checked against the run before it is used:
another run's, a damaged one or one of other data is one ``error:`` line, never a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import cast

import numpy as np
import torch

from gaussgan._version import __version__
from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.gan import rules
from gaussgan.gan.models import EMA, Discriminator, Generator, check_state_dict, hidden_sizes
from gaussgan.gan.options import DISCRIMINATOR_WIDTHS, GENERATOR_WIDTHS, TrainConfig
from gaussgan.gan.rundir import DISCRIMINATOR, GENERATOR, GENERATOR_BEST, RunDirectory
from gaussgan.system.files import save_torch_file

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
    options = saved["config"]
    if not isinstance(options, dict) or not _whole_number(options.get("epochs")):
        raise UserError(f"{where}: the options it was saved with are damaged; expected them with a whole -n (epochs)")
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
