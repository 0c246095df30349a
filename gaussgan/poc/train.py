"""The proof of concept's work: train a generator with one of the two rules, or sample from one.

Both rules share the network (:mod:`gaussgan.poc.model`), the sampling and the verdict; they
differ in one step function each (:func:`naive_trainer`, :func:`adversarial_trainer`). The
adversarial losses and Adam are the package's own (:mod:`gaussgan.gan.rules`), the seed comes from
:func:`gaussgan.system.seeds.choose_seed`, and Ctrl-C / SIGTERM go through
:class:`gaussgan.system.interrupt.GracefulStop`: training stops after the current step, saves the
model trained so far (once at least one epoch ended), and exits 130 / 143.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from tqdm import tqdm

from gaussgan.errors import UserError
from gaussgan.gan import rules
from gaussgan.gan.models import EMA, resolve_device
from gaussgan.poc.config import DISCRIMINATOR_LR_FACTOR, PocConfig
from gaussgan.poc.model import (
    ACTIVATION,
    GENERATOR_HIDDEN,
    WEIGHT_BYTES,
    build_network,
    discriminator_sizes,
    generator_sizes,
    load_model,
    parameter_count,
    save_model,
)
from gaussgan.poc.reading import VERDICT_SAMPLES, verdict_lines
from gaussgan.system.interrupt import GracefulStop
from gaussgan.system.resources import require_memory
from gaussgan.system.seeds import choose_seed

NAIVE_ADAM_BETAS = (0.9, 0.999)  # Adam's own defaults: nothing adversarial to damp
GAN_ADAM_BETAS = (0.5, 0.999)  # the usual GAN choice: less momentum than Adam's default 0.9
# Samples come from an exponential moving average of the generator's weights, taken over
# the last third of the steps so far (EMA_WARMUP) and at most ~1/(1 - EMA_DECAY) steps: the
# generator itself keeps circling the solution, its average sits close to it.
EMA_DECAY = 0.9995
EMA_WARMUP = 4
GENERATE_CHUNK = 100_000  # rows generated and printed at a time, to bound memory...
GENERATE_CHUNK_BYTES = 64 * 1024**2  # ...and fewer when samples are wide


# --- randomness -----------------------------------------------------------------------------


def stream_seeds(seed: int) -> tuple[int, int, int]:
    """Three independent seeds from one: weights, training samples, verdict / generated samples.

    Deriving them (rather than re-using ``seed``) keeps the streams unrelated to each other.
    """
    weights, training, sampling = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return int(weights), int(training), int(sampling)


def torch_rng(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def uniform_inputs(count: int, in_shape: int, rng: torch.Generator) -> torch.Tensor:
    """Generator input: uniform on [-0.5, 0.5], on the generator's device."""
    return torch.rand(count, in_shape, generator=rng, device=rng.device) - 0.5


def target_samples(count: int, out_shape: int, rng: torch.Generator) -> torch.Tensor:
    """The target distribution: N(0, 1) in each component, independent components."""
    return torch.randn(count, out_shape, generator=rng, device=rng.device)


# --- the two training rules ---------------------------------------------------------------------


class Trainer(NamedTuple):
    """One training rule: ``step(real, inputs)`` updates the networks and returns its losses;
    ``sampler`` is the network to sample from and to save."""

    step: Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
    sampler: nn.Module


def naive_trainer(generator: nn.Module, learning_rate: float, device: torch.device) -> Trainer:
    """Fit G(u) to target samples by mean squared error."""
    optimizer = rules.adam(generator.parameters(), learning_rate, NAIVE_ADAM_BETAS, device)

    def step(real: torch.Tensor, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = functional.mse_loss(generator(inputs), real)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"mse": loss.detach()}

    return Trainer(step, generator)


def adversarial_trainer(
    generator: nn.Module, out_shape: int, learning_rate: float, rng: torch.Generator, device: torch.device
) -> Trainer:
    """The classic GAN with the package's vanilla losses: one discriminator step, then one
    generator step on the same generated batch."""
    discriminator = build_network(discriminator_sizes(out_shape), ACTIVATION, rng).to(device)
    generator_optimizer = rules.adam(generator.parameters(), learning_rate, GAN_ADAM_BETAS, device)
    discriminator_optimizer = rules.adam(
        discriminator.parameters(), learning_rate * DISCRIMINATOR_LR_FACTOR, GAN_ADAM_BETAS, device
    )
    average = EMA(generator, EMA_DECAY)
    steps_done = 0

    def step(real: torch.Tensor, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        nonlocal steps_done
        fake = generator(inputs)
        # Discriminator: target samples are real, generated ones fake; both halves in one pass,
        # cheaper than two for networks this small. detach(): this step must not move G.
        scores = discriminator(torch.cat([real, fake.detach()])).squeeze(-1)
        discriminator_loss = rules.vanilla_discriminator_loss(scores[: len(real)], scores[len(real) :])
        discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        discriminator_optimizer.step()

        # Generator, non-saturating form; D's weights need no gradient here.
        discriminator.requires_grad_(False)
        generator_loss = rules.vanilla_generator_loss(discriminator(fake).squeeze(-1))
        discriminator.requires_grad_(True)
        generator_optimizer.zero_grad(set_to_none=True)
        generator_loss.backward()
        generator_optimizer.step()

        # A fixed decay would leave short runs sampling from weights close to the initial ones.
        steps_done += 1
        average.decay = min(EMA_DECAY, (1 + steps_done) / (EMA_WARMUP + steps_done))
        average.update(generator)
        return {"D": discriminator_loss.detach(), "G": generator_loss.detach()}

    return Trainer(step, average.model)


# --- train and generate -------------------------------------------------------------------------


def training_memory(config: PocConfig, in_shape: int, out_shape: int) -> int:
    """Bytes training needs at its peak, roughly (the large arrays, counted generously)."""
    generator_weights = parameter_count(generator_sizes(in_shape, out_shape))
    # weights, gradients and Adam's two moments, for G and D; the EMA copy of G
    weights = 4 * (generator_weights + parameter_count(discriminator_sizes(out_shape))) + generator_weights
    targets = 2 * config.number * out_shape  # this epoch's target samples, and the next one's while drawn
    if not config.dynamic_sample:  # the fixed set, its shuffled copy, and the permutation (int64)
        targets += 2 * config.number * out_shape + 2 * config.number
    batch = min(config.batch_size, config.number)
    activations = 8 * batch * (in_shape + out_shape + sum(GENERATOR_HIDDEN))  # forward and backward, G and D
    verdict = VERDICT_SAMPLES * (in_shape + 3 * out_shape)  # inputs, outputs, and a float64 copy
    return WEIGHT_BYTES * (weights + targets + activations + verdict)


def train(config: PocConfig) -> None:
    """Train a generator with ``config.rule``, save it, print a verdict on fresh samples.

    Ctrl-C or SIGTERM stop training after the current step: the model trained so far is saved
    when at least one epoch ended, and the interruption goes on up to the script (130 / 143).
    """
    in_shape, out_shape = config.in_shape or 1, config.out_shape or 1
    require_memory(
        training_memory(config, in_shape, out_shape),
        f"training on {config.number:,} samples per epoch with --in-shape {in_shape} --out-shape {out_shape}",
        "use a smaller NUMBER, --in-shape or --out-shape",
    )
    device = resolve_device(config.device)
    if device.type == "cpu":
        # These networks are tiny: a second thread costs more in hand-over than it computes.
        torch.set_num_threads(1)
    with GracefulStop() as stop:
        weights_seed, training_seed, sampling_seed = stream_seeds(choose_seed(config.seed))
        weights_rng, training_rng = torch_rng(weights_seed), torch_rng(training_seed, device)
        generator = build_network(generator_sizes(in_shape, out_shape), ACTIVATION, weights_rng).to(device)
        if config.rule == "naive":
            trainer = naive_trainer(generator, config.learning_rate, device)
        else:
            trainer = adversarial_trainer(generator, out_shape, config.learning_rate, weights_rng, device)

        started = time.perf_counter()
        epochs_done = train_epochs(trainer, config, in_shape, out_shape, training_rng, stop)
        seconds = time.perf_counter() - started
        if epochs_done:
            save_model(config.model_path, trainer.sampler, config.rule, in_shape, out_shape, epochs_done)
        if epochs_done < config.epochs:
            print(
                f"stopped after {epochs_done} of {config.epochs} epochs; model so far saved to {config.model_path}"
                if epochs_done
                else "stopped before the first epoch ended; no model saved",
                file=sys.stderr,
            )
        else:
            print(  # flushed: the verdict takes a moment, the model is already safe
                f"trained the {config.rule} generator for {epochs_done} epochs of {config.number} samples "
                f"in {seconds:.1f} s; model saved to {config.model_path}",
                flush=True,
            )
            if not stop.requested:
                samples = sample(trainer.sampler, VERDICT_SAMPLES, in_shape, torch_rng(sampling_seed, device))
                print(f"verdict on {VERDICT_SAMPLES:,} fresh samples against N(0, 1):")
                for line in verdict_lines(samples):
                    print(f"  {line}")
        stop.raise_if_requested()


def train_epochs(
    trainer: Trainer, config: PocConfig, in_shape: int, out_shape: int, rng: torch.Generator, stop: GracefulStop
) -> int:
    """Up to ``config.epochs`` epochs of ``config.number`` target samples; returns the epochs completed.

    The stop flag is read before every step: an epoch of many samples can take minutes.
    """
    progress = tqdm(
        total=config.epochs,
        desc=f"{config.rule} training",
        unit="epoch",
        file=sys.stderr,
        disable=config.quiet or not sys.stderr.isatty(),
    )
    if progress.disable and not config.quiet:  # a log still says when the work began, and how to stop it
        print(
            f"training the {config.rule} generator: {config.epochs} epochs of {config.number} samples "
            "(Ctrl-C stops and keeps the model so far)",
            file=sys.stderr,
            flush=True,
        )
    fixed_target = None if config.dynamic_sample else target_samples(config.number, out_shape, rng)
    epochs_done = 0
    with progress:
        while epochs_done < config.epochs:
            if fixed_target is None:
                target = target_samples(config.number, out_shape, rng)
            else:  # the same samples every epoch, in a new order
                target = fixed_target[torch.randperm(config.number, generator=rng, device=rng.device)]
            for real in torch.split(target, config.batch_size):
                if stop.requested:
                    return epochs_done
                losses = trainer.step(real, uniform_inputs(len(real), in_shape, rng))
            epochs_done += 1
            progress.update(1)
            if not progress.disable:
                progress.set_postfix({name: f"{loss.item():.3f}" for name, loss in losses.items()}, refresh=False)
    return epochs_done


def generate(config: PocConfig) -> None:
    """Print ``config.number`` samples from a saved model on stdout, one per line, chunk by chunk.

    Memory stays flat in ``config.number``; a stop request ends the output after a whole chunk.
    """
    device = resolve_device(config.device)
    model = load_model(config.model_path)
    for option, given, saved, what in (
        ("--in-shape", config.in_shape, model.in_shape, "input"),
        ("--out-shape", config.out_shape, model.out_shape, "output"),
    ):
        if given is not None and given != saved:
            raise UserError(
                f"model {str(config.model_path)!r} has {saved} {what} component(s), but {option} {given} was given; "
                f"leave {option} out to use the model's"
            )
    generator = model.generator.to(device)
    row_bytes = WEIGHT_BYTES * (model.in_shape + 3 * model.out_shape)  # inputs, outputs, a float64 copy
    chunk = max(1, min(GENERATE_CHUNK, GENERATE_CHUNK_BYTES // row_bytes))
    require_memory(chunk * row_bytes, f"generating {chunk:,} samples at a time")
    with GracefulStop() as stop:
        rng = torch_rng(stream_seeds(choose_seed(config.seed))[2], device)
        try:
            for start in range(0, config.number, chunk):
                if stop.requested:
                    break
                rows = sample(generator, min(chunk, config.number - start), model.in_shape, rng)
                np.savetxt(sys.stdout, rows, fmt="%.9g", delimiter="\t")
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped early (`... generate | head`): that is not an error. Point stdout
            # at /dev/null so the interpreter's final flush does not complain again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    stop.raise_if_requested()


def sample(generator: nn.Module, count: int, in_shape: int, rng: torch.Generator) -> np.ndarray:
    """``count`` samples from ``generator`` as a (count, out_shape) float64 array."""
    with torch.no_grad():
        return generator(uniform_inputs(count, in_shape, rng)).cpu().double().numpy()
