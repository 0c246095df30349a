"""Draw samples from a trained run's generator and write them as a dataset, CSV or .npy file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gaussgan.errors import UserError
from gaussgan.files import atomic_path

CHUNK = 100_000  # samples generated at a time: bounded memory for any n


def load_generator(run_dir: str | Path):
    """The run's saved generator (eval mode, on the CPU) and the plain values stored with it."""
    import torch

    from gaussgan.models import Generator
    from gaussgan.files import load_torch_file
    from gaussgan.runs import GENERATOR

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {str(run_dir)!r} does not exist; expected a folder written by train.py")
    saved = load_torch_file(run_dir / GENERATOR, "generator file")
    try:
        generator = Generator(**saved["spec"])
        generator.load_state_dict(saved["state_dict"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise UserError(f"{run_dir / GENERATOR} does not hold a gaussgan generator ({type(error).__name__})") from None
    torch.set_grad_enabled(False)
    return generator.eval(), saved


def sample_run(run_dir: str | Path, n: int, out: str | Path, seed: int) -> Path:
    """Write ``n`` samples of the run's generator to ``out`` (.h5 dataset layout, .csv or .npy)."""
    import torch

    from gaussgan.datasets import write_batches
    from gaussgan.distributions import Parent

    out = Path(out)
    if out.suffix not in (".h5", ".csv", ".npy"):
        raise UserError(f"output {str(out)!r}: expected a name ending in .h5, .csv or .npy")
    if not out.parent.is_dir():
        raise UserError(f"output folder {str(out.parent)!r} does not exist")
    generator, saved = load_generator(run_dir)
    rng = torch.Generator().manual_seed(seed)

    def chunks():
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            z = torch.randn(size, generator.latent_dim, generator=rng) * saved["latent_sigma"]
            yield generator(z).double().numpy()

    if out.suffix == ".h5":
        values = saved["parent"]
        parent = Parent(values["name"], values["dim"], values["mu"], values["sigma"].numpy(), values["xlo"], values["xhi"])
        chunk_sizes = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
        # One "batch" per chunk keeps the layout's n_batches * n_samples = n_total when n divides evenly.
        n_batches, n_samples = (len(chunk_sizes), chunk_sizes[0]) if len(set(chunk_sizes)) == 1 else (1, n)
        write_batches(out, parent, chunks(), n_batches, n_samples, seed=seed,
                      extra_metadata={"source": f"generator of run {Path(run_dir).resolve().name}, epoch {saved['epoch']}"})
    else:
        data = np.concatenate(list(chunks()))
        with atomic_path(out) as temporary:
            if out.suffix == ".csv":
                np.savetxt(temporary, data, delimiter=",", fmt="%.9g")
            else:
                np.save(temporary, data)
    return out
