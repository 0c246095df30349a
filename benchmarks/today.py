"""gaussgan as it was before runs were trained together (commit cf0189a, December 2026): "today", the baseline
of the benchmarks that measure what packing and the per-step cuts gained.

Two forms of it:
- :func:`epoch`, the training step as it was, written out here: nn.Linear networks and one torch.optim.Adam each
  (its default, unfused, on the CPU), the discriminator's passes over real and generated samples apart, the
  penalties' gradients apart, the moving average one lerp per weight tensor. Timed beside ours in one process.
- :func:`source_tree`, that commit's scripts and package themselves (``git archive``), for the rows that run
  today's ``train.py`` and today's sweep as a user ran them.
Kept only to be measured against; nothing in the package uses it.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import torch
import torch.nn.functional as F

COMMIT = "cf0189a10d380cc5578cd17403bea515e36e85f6"  # main when issue 26 was filed
REPO = Path(__file__).resolve().parents[1]


class Unavailable(Exception):
    """This checkout cannot give today's code (no git, or a shallow clone without :data:`COMMIT`)."""


def source_tree(folder: Path) -> Path:
    """Today's scripts and package, extracted into ``folder``/today (once). ``python TREE/train.py`` runs today's
    train.py (a script imports the package beside it); ``python -m gaussgan`` runs today's with
    :func:`environment`."""
    tree = folder / "today"
    if tree.is_dir():
        return tree
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", COMMIT], capture_output=True)
    except OSError as error:
        raise Unavailable(f"git could not run ({error.strerror})") from error
    if archive.returncode != 0:
        why = archive.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise Unavailable(f"this checkout lacks commit {COMMIT[:7]} ({why[0]}); git fetch --unshallow") from None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def environment(tree: Path) -> dict[str, str]:
    """The environment in which ``python -m gaussgan`` (and the Dask workers it starts) imports today's package:
    ``tree`` first on PYTHONPATH, before the editable install of ours."""
    paths = [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


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
