"""The training step as it was before runs were stacked (gaussgan at commit cf0189a, December 2026): the
baseline of the benchmarks' "today's steps per second" and of the step's overhead. nn.Linear networks and one
torch.optim.Adam each (its default, unfused, on the CPU), the discriminator's passes over real and generated
samples apart, the penalties' gradients apart, the moving average one lerp per weight tensor. Kept only to be
measured against; nothing in the package uses it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def epoch(state, config, data: torch.Tensor) -> None:
    """One pass over ``data`` as train_steps made it at cf0189a, for the run ``state`` (a checkpoint.State)."""
    generator, discriminator = state.generator, state.discriminator
    opt_g, opt_d, rng = state.optimizer_g, state.optimizer_d, state.rng
    permutation = torch.randperm(len(data), generator=rng)

    def latent(size: int) -> torch.Tensor:
        return torch.randn(size, config.latent_dim, generator=rng) * config.latent_sigma

    d_losses, g_losses, positions = [], [], []
    starts = range(0, len(data), config.batch_size)
    for index, start in enumerate(starts):
        for optimizer, rate in ((opt_d, config.lr * config.d_lr_ratio), (opt_g, config.lr)):
            for group in optimizer.param_groups:
                group["lr"] = rate
        real = data[permutation[start : start + config.batch_size]]
        with torch.no_grad():
            fake = generator(latent(len(real)))
        if config.r1_weight:
            real = real.detach().requires_grad_(True)
        d_real, d_fake = discriminator(real), discriminator(fake)
        if config.rule == "vanilla":
            loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        else:
            weight = torch.rand(len(real), 1, generator=rng)
            mixed = (weight * real.detach() + (1 - weight) * fake).requires_grad_(True)
            (gradient,) = torch.autograd.grad(discriminator(mixed).sum(), mixed, create_graph=True)
            penalty = ((gradient.norm(2, dim=1) - 1) ** 2).mean()
            loss = d_fake.mean() - d_real.mean() + config.gp_weight * penalty
        if config.r1_weight:
            (gradient,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            loss = loss + config.r1_weight / 2 * gradient.pow(2).sum(dim=1).mean()
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        d_losses.append(loss.detach())
        positions.append(index)
        if (index + 1) % config.critic_steps == 0:
            discriminator.requires_grad_(False)
            scores = discriminator(generator(latent(len(real))))
            discriminator.requires_grad_(True)
            loss = F.softplus(-scores).mean() if config.rule == "vanilla" else -scores.mean()
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            g_losses.append(loss.detach())
            with torch.no_grad():
                for target, source in zip(state.ema.model.parameters(), generator.parameters(), strict=True):
                    target.lerp_(source, 1.0 - state.ema.decay)
    # The losses read back once per pass, as train_steps did.
    torch.stack(d_losses).tolist(), torch.stack(g_losses).tolist()
