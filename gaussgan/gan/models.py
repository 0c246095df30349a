"""The networks: MLP generator and discriminator, the EMA copy of a generator, a mixture of
generators, device choice.

Kept small and plain (nn.Sequential of Linear + LeakyReLU) so a checkpoint holds only a
state dict and the few integers needed to rebuild the network.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from gaussgan.errors import UserError
from gaussgan.gan.options import DEVICES
from gaussgan.system.files import holds_its_values


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without CUDA is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA device is available; use --device cpu or auto")
    if name not in DEVICES:
        raise UserError(f"unknown device {name!r}; expected {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
    return torch.device(name)


def mlp(
    sizes: list[int],
    activation: Callable[[], nn.Module] | None = None,
    batch_norm: bool = False,
) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``; activation (and BatchNorm) between them, none after the last."""
    make_activation = activation or (lambda: nn.LeakyReLU(0.2))
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(width_in, width_out))
        if index < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(width_out))
            layers.append(make_activation())
    return nn.Sequential(*layers)


def hidden_sizes(base: tuple[int, ...], scale: float) -> list[int]:
    """Hidden widths multiplied by the ``-c/--scale`` factor (at least 1 unit each)."""
    if not math.isfinite(max(base) * scale):
        raise UserError(
            f"-c/--scale {scale:g} makes layers of infinitely many units; expected a moderate factor such as 0.5 or 2"
        )
    return [max(1, round(width * scale)) for width in base]


# --- Shapes and sizes, known before anything is built ----------------------------------------
# A model file claims an architecture (its spec); these say what that architecture's tensors
# must look like and what it costs, so a crafted or damaged file is refused before a single
# large tensor is allocated.
FLOAT_BYTES = 4
MAX_LAYERS = 1000  # far beyond any useful MLP; a spec with more is not a gaussgan network


def mlp_shapes(sizes: list[int], batch_norm: bool = False, prefix: str = "net.") -> dict[str, tuple[int, ...]]:
    """State-dict keys and tensor shapes of :func:`mlp` with these ``sizes``, without building it
    (``prefix``: where the network sits in its module, ``net.`` in Generator and Discriminator)."""
    shapes: dict[str, tuple[int, ...]] = {}
    position = 0  # index in the nn.Sequential: Linear, [BatchNorm1d], activation, Linear, ...
    for index, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        shapes[f"{prefix}{position}.weight"], shapes[f"{prefix}{position}.bias"] = (width_out, width_in), (width_out,)
        position += 1
        if index < len(sizes) - 2:
            if batch_norm:
                for name in ("weight", "bias", "running_mean", "running_var"):
                    shapes[f"{prefix}{position}.{name}"] = (width_out,)
                shapes[f"{prefix}{position}.num_batches_tracked"] = ()
                position += 1
            position += 1  # the activation holds no tensors
    return shapes


def generator_shapes(spec: dict) -> dict[str, tuple[int, ...]]:
    return mlp_shapes([spec["latent_dim"], *spec["hidden"], spec["data_dim"]], spec["batch_norm"])


def discriminator_shapes(spec: dict) -> dict[str, tuple[int, ...]]:
    return mlp_shapes([spec["data_dim"], *spec["hidden"], 1])


def mlp_bytes(sizes: list[int], batch: int, copies: int = 1) -> int:
    """Memory of an MLP: ``copies`` of its parameters (weights, gradients, optimiser moments, ...)
    and the activations of one batch (each layer's output, kept for the backward pass)."""
    parameters = sum((width_in + 1) * width_out for width_in, width_out in zip(sizes[:-1], sizes[1:], strict=True))
    return FLOAT_BYTES * (copies * parameters + batch * sum(sizes))


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_spec(spec, keys: tuple[str, ...], where: str) -> dict:
    """A saved network's spec: exactly ``keys``, positive integer sizes, a list of hidden widths."""
    if not isinstance(spec, dict) or set(spec) != set(keys):
        found = sorted(map(str, spec)) if isinstance(spec, dict) else type(spec).__name__
        raise UserError(f"{where}: the network spec is {found}; expected the keys {', '.join(keys)}")
    problems = [
        f"{key} = {spec[key]!r}" for key in ("latent_dim", "data_dim") if key in spec and not _positive_int(spec[key])
    ]
    hidden = spec["hidden"]
    if not isinstance(hidden, list) or not 0 < len(hidden) <= MAX_LAYERS or not all(map(_positive_int, hidden)):
        problems.append(f"hidden = {hidden!r}"[:100])
    if "batch_norm" in spec and not isinstance(spec["batch_norm"], bool):
        problems.append(f"batch_norm = {spec['batch_norm']!r}")
    if problems:
        raise UserError(
            f"{where}: the network spec is not valid ({'; '.join(problems)}); expected positive integer "
            f"sizes, 1 to {MAX_LAYERS} hidden widths and batch_norm true or false"
        )
    return spec


def check_state_dict(state_dict, shapes: dict[str, tuple[int, ...]], where: str) -> None:
    """``state_dict`` holds exactly the tensors ``shapes`` names, each of that shape and a number type."""
    if not isinstance(state_dict, dict):
        raise UserError(f"{where}: the weights are a {type(state_dict).__name__}; expected a dictionary of tensors")
    missing, unexpected = sorted(set(shapes) - set(state_dict)), sorted(map(str, set(state_dict) - set(shapes)))
    if missing or unexpected:
        raise UserError(
            f"{where}: the weights do not fit the network they claim (missing: {', '.join(missing) or '-'}; "
            f"unexpected: {', '.join(unexpected)[:200] or '-'})"
        )
    for name, shape in shapes.items():
        tensor = state_dict[name]
        if not isinstance(tensor, torch.Tensor):
            raise UserError(f"{where}: {name} is a {type(tensor).__name__}; expected a tensor of shape {shape}")
        if tuple(tensor.shape) != shape:
            raise UserError(f"{where}: {name} has shape {tuple(tensor.shape)}; the network it claims needs {shape}")
        if not holds_its_values(tensor):
            raise UserError(
                f"{where}: {name} claims {tensor.numel():,} values but the file holds "
                f"{tensor.untyped_storage().nbytes():,} bytes for it; expected real weights"
            )
        integral = name.endswith("num_batches_tracked")
        if tensor.is_complex() or tensor.dtype == torch.bool or (not integral and not tensor.is_floating_point()):
            raise UserError(
                f"{where}: {name} holds {tensor.dtype}; expected {'an integer' if integral else 'floating point'} tensor"
            )


class Generator(nn.Module):
    """z in R^latent_dim -> x in R^data_dim."""

    def __init__(self, latent_dim: int, data_dim: int, hidden: list[int], batch_norm: bool = False):
        super().__init__()
        self.latent_dim, self.data_dim = latent_dim, data_dim
        self.hidden, self.batch_norm = list(hidden), batch_norm
        self.net = mlp([latent_dim, *hidden, data_dim], batch_norm=batch_norm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def spec(self) -> dict:
        """Plain values that rebuild this network: ``Generator(**spec)``."""
        return {
            "latent_dim": self.latent_dim,
            "data_dim": self.data_dim,
            "hidden": self.hidden,
            "batch_norm": self.batch_norm,
        }


class GeneratorMixture(nn.Module):
    """A mixture of generators of one architecture: sample i of a batch comes from member i mod K.

    A run's final generator is the mixture of its averaged generator at each of its last epochs. The
    averaged generator's covariance still wanders by ~10% from epoch to epoch around the parent's
    (10-d Gaussian, eigenvalues 0.90-1.10); averaging the weights further shrinks the output, since
    the weights rotate, but a mixture averages the distributions themselves: its covariance is the
    mean of the members' (100,000 training samples, 3 seeds: n* 10,000-50,000 where the last epoch's
    averaged generator alone gives 5,000; docs/defaults.md). Members take turns, so
    any prefix of a batch draws from all of them evenly.
    """

    def __init__(self, members: list[Generator]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.latent_dim, self.data_dim = members[0].latent_dim, members[0].data_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = z.new_empty(len(z), self.data_dim)
        for index, member in enumerate(self.members):
            out[index :: len(self.members)] = member(z[index :: len(self.members)])
        return out


class Discriminator(nn.Module):
    """x in R^data_dim -> one real number: a logit (vanilla GAN) or a critic score (WGAN-GP)."""

    def __init__(self, data_dim: int, hidden: list[int]):
        super().__init__()
        self.data_dim, self.hidden = data_dim, list(hidden)
        self.net = mlp([data_dim, *hidden, 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def spec(self) -> dict:
        return {"data_dim": self.data_dim, "hidden": self.hidden}


class EMA:
    """Exponential moving average of a network's weights, used for evaluation and sampling.

    GAN generators oscillate around a good solution; the average sits close to it (10-d
    Gaussian, vanilla GAN: rejected components fall from ~100% to ~0%). BatchNorm running
    statistics are not averaged: they belong to other weights. :func:`recalibrate_batch_norm`
    measures them afresh for the averaged weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for target, source in zip(self.model.parameters(), model.parameters(), strict=True):
            target.lerp_(source, 1.0 - self.decay)


@torch.no_grad()
def recalibrate_batch_norm(
    model: nn.Module, latent: Callable[[int], torch.Tensor], batches: int = 8, batch_size: int = 1024
) -> None:
    """Set every BatchNorm's running mean and variance to their average over ``batches`` fresh batches.

    After this the model can be used in eval mode with any batch size, one sample included.
    """
    layers = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # None: a cumulative average over the batches seen
    model.train()
    for _ in range(batches):
        model(latent(batch_size))
    model.eval()
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
