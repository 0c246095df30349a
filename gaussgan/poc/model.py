"""The proof of concept's networks and its model file.

A model file holds plain values (format, version, rule, shapes, activation, epochs) and the
generator's state dict, written with :func:`gaussgan.system.files.save_torch_file` (atomic, same
content -> same bytes) and read with :func:`gaussgan.system.files.load_torch_file` (weights only: a
crafted file cannot run code). Before a network is built from a file, every recorded value is
checked and every tensor is compared with the shape the recorded sizes imply and shown to hold
its own data, so a small file cannot make the reader allocate a huge network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from gaussgan.errors import UserError
from gaussgan.gan.models import mlp, mlp_shapes
from gaussgan.system.files import holds_its_values, load_torch_file, save_torch_file
from gaussgan.system.resources import require_memory

# Network settings, chosen by measurement on a 2-core CPU (see docs/poc.md):
# LeakyReLU, not the documented ReLU, whose generator stayed too narrow (std 0.94-0.95,
# KS D 0.033-0.035 after 2000 epochs, against 0.98 and 0.022-0.031 with LeakyReLU).
GENERATOR_HIDDEN = (64, 64)
DISCRIMINATOR_HIDDEN = (64, 64)
ACTIVATION = "leaky_relu"
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2)}
WEIGHT_BYTES = 4  # float32

MODEL_FORMAT = "gaussgan-poc-generator"
MODEL_VERSION = 1


def layer_shapes(sizes: list[int]) -> dict[str, tuple[int, ...]]:
    """The state dict of ``build_network(sizes, ...)``, names and shapes, without building it
    (a bare ``models.mlp``: no BatchNorm, no prefix)."""
    return mlp_shapes(sizes, prefix="")


def parameter_count(sizes: list[int]) -> int:
    return sum(math.prod(shape) for shape in layer_shapes(sizes).values())


def build_network(sizes: list[int], activation: str, rng: torch.Generator | None = None) -> nn.Sequential:
    """A fully connected network; with ``rng``, its initial weights come from that generator.

    The initialisation is PyTorch's default for Linear, U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    redrawn from ``rng`` so a seed fixes the weights without touching torch's global RNG.
    """
    network = mlp(sizes, activation=ACTIVATIONS[activation])
    if rng is not None:
        with torch.no_grad():
            for layer in network.modules():
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=rng)
                    layer.bias.uniform_(-bound, bound, generator=rng)
    return network


def generator_sizes(in_shape: int, out_shape: int) -> list[int]:
    return [in_shape, *GENERATOR_HIDDEN, out_shape]


def discriminator_sizes(out_shape: int) -> list[int]:
    return [out_shape, *DISCRIMINATOR_HIDDEN, 1]


def save_model(path: Path, generator: nn.Module, rule: str, in_shape: int, out_shape: int, epochs: int) -> None:
    """Write the generator atomically: plain values and tensors only, readable with weights_only=True."""
    checkpoint = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "rule": rule,
        "in_shape": in_shape,
        "out_shape": out_shape,
        "hidden": list(GENERATOR_HIDDEN),
        "activation": ACTIVATION,
        "epochs": epochs,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in generator.state_dict().items()},
    }
    save_torch_file(checkpoint, path)  # same seed, same bytes


class SavedModel(NamedTuple):
    generator: nn.Module  # on the CPU, in eval mode
    in_shape: int
    out_shape: int


def load_model(path: Path) -> SavedModel:
    """Read a model saved by either script; anything else is a UserError, never code run."""
    checkpoint = load_torch_file(path, "model file")
    name = str(path)
    if checkpoint.get("format") != MODEL_FORMAT:
        raise UserError(f"{name!r} is not a model saved by naive.py or adversarial.py")
    if checkpoint.get("version") != MODEL_VERSION:
        raise UserError(
            f"model file {name!r} has version {checkpoint.get('version')!r}; this code reads {MODEL_VERSION}"
        )
    in_shape, out_shape = recorded_size(checkpoint, name, "in_shape"), recorded_size(checkpoint, name, "out_shape")
    hidden = checkpoint.get("hidden")
    if not isinstance(hidden, list) or not hidden:
        raise damaged(name, f"'hidden' is {hidden!r}; expected a list of layer widths")
    sizes = [in_shape, *(checked_size(width, name, "hidden") for width in hidden), out_shape]
    activation = checkpoint.get("activation")
    if activation not in ACTIVATIONS:
        raise damaged(name, f"'activation' is {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
    state_dict = checked_weights(checkpoint.get("state_dict"), layer_shapes(sizes), name)
    # The tensors are real and of the right shapes; a second copy goes into the network.
    require_memory(parameter_count(sizes) * WEIGHT_BYTES, f"the network in model file {name!r}")
    generator = build_network(sizes, activation)
    generator.load_state_dict(state_dict)
    return SavedModel(generator.eval(), in_shape, out_shape)


def damaged(name: str, what: str) -> UserError:
    return UserError(f"model file {name!r} is damaged: {what}")


def recorded_size(checkpoint: dict, name: str, key: str) -> int:
    if key not in checkpoint:
        raise damaged(name, f"{key!r} is missing")
    return checked_size(checkpoint[key], name, key)


def checked_size(value: object, name: str, key: str) -> int:
    """A recorded layer width: a positive int (bool, though an int to Python, is not a width)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise damaged(name, f"{key!r} holds {value!r}; expected a positive integer")
    return value


def checked_weights(state_dict: object, expected: dict[str, tuple[int, ...]], name: str) -> dict[str, torch.Tensor]:
    """Every tensor the recorded sizes imply, of that shape, float32, finite, and holding its own data.

    Holding its own data: a tensor read from a file may be a view (a zero stride repeats one
    number over any shape), so its shape alone says nothing about the file's size; a
    contiguous tensor whose storage has room for every element was really stored in full.
    """
    if not isinstance(state_dict, dict):
        raise damaged(name, "'state_dict' is missing or not a dictionary of tensors")
    missing, unexpected = sorted(set(expected) - set(state_dict)), sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise damaged(name, f"its weights do not fit its recorded shapes (missing {missing}, unexpected {unexpected})")
    for key, shape in expected.items():
        tensor = state_dict[key]
        if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.float32:
            raise damaged(name, f"{key!r} is not a float32 tensor")
        if tuple(tensor.shape) != shape:
            raise damaged(
                name, f"its weights do not fit its recorded shapes ({key!r} is {tuple(tensor.shape)}, expected {shape})"
            )
        if not holds_its_values(tensor):
            raise damaged(name, f"{key!r} is a view that repeats fewer stored numbers over its shape")
        if not torch.isfinite(tensor).all():
            raise damaged(name, f"{key!r} holds NaN or infinite weights")
    return state_dict
