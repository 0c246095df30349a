"""The networks: MLP generator and discriminator, the EMA copy of a generator, device choice.

Kept small and plain (nn.Sequential of Linear + LeakyReLU) so a checkpoint holds only a
state dict and the few integers needed to rebuild the network.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from gaussgan.errors import UserError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without CUDA is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA device is available; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; expected auto, cpu or cuda")
    return torch.device(name)


def mlp(
    sizes: list[int],
    activation: type[nn.Module] | None = None,
    batch_norm: bool = False,
) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``; activation (and BatchNorm) between them, none after the last."""
    make_activation = activation or (lambda: nn.LeakyReLU(0.2))
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(width_in, width_out))
        if index < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(width_out))
            layers.append(make_activation())
    return nn.Sequential(*layers)


def hidden_sizes(base: tuple[int, ...], scale: float) -> list[int]:
    """Hidden widths multiplied by the ``-c/--scale`` factor (at least 1 unit each)."""
    return [max(1, round(width * scale)) for width in base]


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
        return {"latent_dim": self.latent_dim, "data_dim": self.data_dim, "hidden": self.hidden, "batch_norm": self.batch_norm}


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
        for target, source in zip(self.model.parameters(), model.parameters()):
            target.lerp_(source, 1.0 - self.decay)


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, latent: Callable[[int], torch.Tensor], batches: int = 8, batch_size: int = 1024) -> None:
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
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
