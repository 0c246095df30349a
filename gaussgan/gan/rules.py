"""Update rules: the losses of a vanilla GAN and of WGAN-GP, and one optimiser step of each network.

Both rules share one training loop: every batch trains the discriminator (critic) once, and
the generator trains once every ``critic_steps`` batches (1 for vanilla, 5 for WGAN-GP as in
Gulrajani et al. 2017). Every function works for any batch size, the last smaller batch included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from gaussgan.gan.options import RULES  # the rules a step function accepts; anything else is a bug in the caller


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
    """Binary cross-entropy, real -> 1 and fake -> 0, on logits (softplus form: no overflow)."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def vanilla_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)): strong gradients while D still wins easily."""
    return F.softplus(-d_fake).mean()


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """E[(||grad_x critic(x_hat)||_2 - 1)^2] at x_hat = e*real + (1-e)*fake, one e ~ U(0,1) per sample."""
    weight = torch.rand(len(real), 1, device=real.device, dtype=real.dtype, generator=generator)
    mixed = (weight * real + (1 - weight) * fake).requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((gradient.norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(discriminator: nn.Module, real: torch.Tensor, d_real: torch.Tensor) -> torch.Tensor:
    """E[||grad_x D(x)||^2] at the real samples (Mescheder et al. 2018); ``real`` must require grad."""
    (gradient,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    return gradient.pow(2).sum(dim=1).mean()


def wgan_critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """E[D(fake)] - E[D(real)]: the negative of the critic's Wasserstein estimate (penalty added apart)."""
    return d_fake.mean() - d_real.mean()


def wgan_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    return -d_fake.mean()


def discriminator_step(
    rule: str,
    generator: nn.Module,
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    real: torch.Tensor,
    latent: Callable[[int], torch.Tensor],
    *,
    gp_weight: float = 10.0,
    rng: torch.Generator | None = None,
    r1_weight: float = 0.0,
) -> torch.Tensor:
    """One optimiser step of the discriminator (critic) on ``real`` and as many generated samples.

    ``gp_weight`` and ``rng`` (the gradient penalty's weight and random generator) are used by
    WGAN-GP only; ``r1_weight`` (gamma of the R1 penalty gamma/2 * E||grad D(real)||^2, 0: none) by
    either rule. All are keyword-only so that they cannot be swapped by position.
    """
    check_rule(rule)
    with torch.no_grad():
        fake = generator(latent(len(real)))
    if r1_weight:
        real = real.detach().requires_grad_(True)
    d_real, d_fake = discriminator(real), discriminator(fake)
    if rule == "vanilla":
        loss = vanilla_discriminator_loss(d_real, d_fake)
    else:
        loss = wgan_critic_loss(d_real, d_fake) + gp_weight * gradient_penalty(discriminator, real.detach(), fake, rng)
    if r1_weight:
        loss = loss + r1_weight / 2 * r1_penalty(discriminator, real, d_real)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()  # a tensor: reading it as a float would wait for the GPU every step


def generator_step(
    rule: str,
    generator: nn.Module,
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    latent: Callable[[int], torch.Tensor],
) -> torch.Tensor:
    """One optimiser step of the generator against the current discriminator (whose weights stay put)."""
    check_rule(rule)
    discriminator.requires_grad_(False)  # no gradients for D's weights: saves their backward pass
    d_fake = discriminator(generator(latent(batch_size)))
    discriminator.requires_grad_(True)
    loss = vanilla_generator_loss(d_fake) if rule == "vanilla" else wgan_generator_loss(d_fake)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()
