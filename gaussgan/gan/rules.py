"""Update rules: the losses of a vanilla GAN and of WGAN-GP, and one optimiser step of each network.

Both rules share one training loop: every batch trains the discriminator (critic) once, and the generator
trains once every ``critic_steps`` batches (1 for vanilla, 5 for WGAN-GP as in Gulrajani et al. 2017).
Every function works on replicas (several runs trained together, :mod:`gaussgan.gan.packed`): scores of
shape (replicas, batch) give one loss per replica, and a run trained alone is one replica. Every function
works for any batch size, the last smaller batch included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from gaussgan.gan.options import RULES
from gaussgan.gan.packed import (
    StackedAdam,
    StackedNetwork,
)  # the rules a step function accepts; anything else is a bug in the caller


def check_rule(rule: str) -> str:
    """``rule`` if it is one of :data:`RULES`; a ValueError otherwise (never a silent fallback)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
    return rule


def adam(
    parameters: Iterable[nn.Parameter], lr: float, betas: tuple[float, float], device: torch.device | str
) -> torch.optim.Adam:
    """Adam for the networks on ``device``: fused into one kernel per step on CUDA, the default elsewhere."""
    fused = torch.device(device).type == "cuda"
    return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=fused)


def vanilla_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy, real -> 1 and fake -> 0, on logits (softplus form: no overflow); one per replica."""
    return F.softplus(-d_real).mean(-1) + F.softplus(d_fake).mean(-1)


def vanilla_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)): strong gradients while D still wins easily."""
    return F.softplus(-d_fake).mean(-1)


def input_gradients(scores: list[torch.Tensor], inputs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """The gradient of each sample's score with respect to that sample, for each of ``inputs`` (the samples
    ``scores`` come from, in order), kept differentiable: the penalties below are trained through it. One
    backward pass for them all: a score depends on its own sample only (no layer of the discriminator
    mixes samples)."""
    return torch.autograd.grad([score.sum() for score in scores], inputs, create_graph=True)


def gradient_penalty(gradient: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's E[(||grad_x critic(x_hat)||_2 - 1)^2], from the critic's gradient at the mixed samples x_hat
    = e*real + (1-e)*fake (one e ~ U(0,1) per sample)."""
    return ((gradient.norm(2, dim=-1) - 1) ** 2).mean(-1)


def r1_penalty(gradient: torch.Tensor) -> torch.Tensor:
    """E[||grad_x D(x)||^2] (Mescheder et al. 2018), from the discriminator's gradient at the real samples."""
    return gradient.pow(2).sum(dim=-1).mean(-1)


def wgan_critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """E[D(fake)] - E[D(real)]: the negative of the critic's Wasserstein estimate (penalty added apart)."""
    return d_fake.mean(-1) - d_real.mean(-1)


def wgan_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    return -d_fake.mean(-1)


def discriminator_step(
    rule: str,
    generator: StackedNetwork,
    discriminator: StackedNetwork,
    optimizer: StackedAdam,
    real: torch.Tensor,
    latent: Callable[[int], torch.Tensor],
    *,
    gp_weight: torch.Tensor | float = 10.0,
    mixing: Callable[[int], torch.Tensor] | None = None,
    r1_weight: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """One optimiser step of every replica's discriminator (critic) on ``real`` (replicas x batch x dim)
    and as many generated samples; each replica's loss.

    ``gp_weight`` and ``mixing`` (the gradient penalty's weight, one per replica or one for all, and the
    draw of its mixing weights for a batch size) are used by WGAN-GP only; ``r1_weight`` (gamma of the
    R1 penalty gamma/2 * E||grad D(real)||^2; None: no penalty) by either rule. All are keyword-only so
    that they cannot be swapped by position.
    """
    check_rule(rule)
    assert not discriminator.running, "one pass over all samples needs a discriminator without BatchNorm"
    size = real.shape[-2]
    with torch.no_grad():
        fake = generator(latent(size))
    samples = [real.detach().requires_grad_(r1_weight is not None), fake]
    if rule == "wgan-gp":
        assert mixing is not None, "WGAN-GP needs the gradient penalty's mixing weights"
        weight = mixing(size)
        samples.append((weight * samples[0].detach() + (1 - weight) * fake).requires_grad_(True))
    # Real, generated and (WGAN-GP) mixed samples. A run alone is bound by the number of operations: one
    # pass over them all. Runs together are bound by arithmetic: a pass each, so that the penalties'
    # second-order pass covers only the samples each penalty is taken at.
    if len(discriminator.weights) == 1:
        scores = list(discriminator(torch.cat(samples, dim=-2)).squeeze(-1).split(size, dim=-1))
    else:
        scores = [discriminator(sample).squeeze(-1) for sample in samples]
    d_real, d_fake = scores[0], scores[1]
    penalised = [index for index, sample in enumerate(samples) if sample.requires_grad]
    taken = input_gradients([scores[i] for i in penalised], [samples[i] for i in penalised]) if penalised else ()
    gradients = dict(zip(penalised, taken, strict=True))
    if rule == "vanilla":
        loss = vanilla_discriminator_loss(d_real, d_fake)
    else:
        loss = wgan_critic_loss(d_real, d_fake) + gp_weight * gradient_penalty(gradients[2])
    if r1_weight is not None:
        loss = loss + r1_weight / 2 * r1_penalty(gradients[0])
    (gradient,) = torch.autograd.grad(loss.sum(), discriminator.weights)  # each replica's own: the sum separates
    optimizer.update(gradient)
    return loss.detach()  # a tensor: reading it as a float would wait for the GPU every step


def generator_step(
    rule: str,
    generator: StackedNetwork,
    discriminator: StackedNetwork,
    optimizer: StackedAdam,
    batch_size: int,
    latent: Callable[[int], torch.Tensor],
) -> torch.Tensor:
    """One optimiser step of every replica's generator against its current discriminator, whose weights
    stay put (the gradient is taken for the generator's weights only); each replica's loss."""
    check_rule(rule)
    d_fake = discriminator(generator(latent(batch_size))).squeeze(-1)
    loss = vanilla_generator_loss(d_fake) if rule == "vanilla" else wgan_generator_loss(d_fake)
    (gradient,) = torch.autograd.grad(loss.sum(), generator.weights)
    optimizer.update(gradient)
    return loss.detach()
