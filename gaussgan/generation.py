"""gen-samples.py's work: for each dimension, write a dataset and the histogram of its norms."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaussgan.files import check_writable_dir


@dataclass(frozen=True)
class GenerationConfig:
    dist: str
    dims: list[int]
    n_samples: int  # per batch
    n_batches: int
    mu: float = 0.0
    sigma: tuple[float, float, int] = (1.0, 0.0, 1)
    xlo: float = -1.5
    xhi: float = 1.5
    seed: int = 0
    out_dir: str = "datasets"
    postfix: str = ""
    quiet: bool = False


def dataset_name(dist: str, dim: int, postfix: str = "") -> str:
    return f"data_{dist}_dim{dim}{postfix}.h5"


def seed_for_dimension(seed: int, dim: int) -> np.random.SeedSequence:
    """Each dimension gets its own stream, the same whichever other dimensions are asked for."""
    return np.random.SeedSequence([seed, dim])


def generate(config: GenerationConfig) -> list[Path]:
    """Write every dataset of ``config``; return their paths. Completed dimensions stay if a later one fails."""
    from tqdm import tqdm

    from gaussgan import datasets, plots
    from gaussgan.distributions import expected_norm, make_parent

    # Validate every dimension before writing anything, so bad input leaves no file behind.
    parents = [make_parent(config.dist, dim, config.mu, config.sigma, config.xlo, config.xhi) for dim in config.dims]
    out_dir = check_writable_dir(config.out_dir)
    written = []
    for parent in parents:
        dim = parent.dim
        path = out_dir / dataset_name(config.dist, dim, config.postfix)
        rng = np.random.default_rng(seed_for_dimension(config.seed, dim))
        bar = lambda batches: tqdm(batches, desc=f"dim {dim}", unit="batch", disable=config.quiet or None, file=sys.stderr)
        summary = datasets.write_dataset(path, parent, config.n_samples, config.n_batches, rng, config.seed, bar)
        plots.norm_histogram(
            summary.norms, dim, f"{parent.describe()}: norms of {len(summary.norms):,} samples",
            out_dir / f"hist_{config.dist}_dim{dim}{config.postfix}.png", chi_density=parent.is_standard_normal,
        )
        expected = expected_norm(parent)
        reference = f" (expected {expected[0]:.4f} ± {expected[1]:.4f})" if expected else ""
        print(f"dim {dim}: {path}  norm mean {summary.norms.mean():.4f} ± std {summary.norms.std(ddof=1):.4f}{reference}")
        written.append(path)
    return written
