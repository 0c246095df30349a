"""Draw samples from a trained run's generator and write them as a dataset, CSV or .npy file.

Every format is written chunk by chunk into a temporary file, so memory stays flat in the
number of samples; the file appears under its name only once it is complete. An existing
output is kept unless ``force``.
"""

from __future__ import annotations

import math
import os
import resource
from pathlib import Path

import numpy as np

from gaussgan.errors import UserError
from gaussgan.gan.rundir import GENERATOR, GENERATOR_BEST, RunDirectory
from gaussgan.system.files import atomic_path, check_output_file

# Which saved generator ``--epoch`` picks: the run's final one, or the best epoch's by the headline
# metric (written by training in the same format).
GENERATOR_FILES = {"last": GENERATOR, "best": GENERATOR_BEST}
CHUNK = 100_000  # samples generated at a time: bounded memory for any n (and the same draws for any n)
GENERATOR_KEYS = ("latent_dim", "data_dim", "hidden", "batch_norm")


def load_generator(run_dir: str | Path, batch: int = CHUNK, epoch: str = "last"):
    """The run's saved generator (eval mode, on the CPU) and the plain values stored with it.

    ``epoch`` is ``"last"`` (the run's final generator: the mixture of its last epochs' averaged
    generators when the file holds one) or ``"best"`` (the best epoch's averaged generator).

    The file is checked against the architecture it claims before the network is built, and
    the memory that network needs for batches of ``batch`` samples is checked to be available.
    """
    import torch

    from gaussgan.gan.models import (
        FLOAT_BYTES,
        Generator,
        GeneratorMixture,
        check_spec,
        check_state_dict,
        generator_shapes,
        mlp_bytes,
    )
    from gaussgan.system.files import load_torch_file
    from gaussgan.system.resources import require_memory

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {str(run_dir)!r} does not exist; expected a folder written by train.py")
    if epoch not in GENERATOR_FILES:
        raise UserError(f"--epoch {epoch!r}: expected one of {', '.join(GENERATOR_FILES)}")
    path = RunDirectory(run_dir).file(GENERATOR_FILES[epoch])  # inside the run: never another's through a link
    if epoch == "best" and not os.path.lexists(path):
        raise UserError(
            f"{str(path)!r} does not exist: this run kept no best generator (runs written before it was saved "
            "have none); use --epoch last"
        )
    saved = load_torch_file(path, "generator file")
    if "spec" not in saved or "state_dict" not in saved:
        raise UserError(f"{path} does not hold a gaussgan generator (no spec or state_dict)")
    spec = check_spec(saved["spec"], GENERATOR_KEYS, str(path))
    weights = mixture_weights(saved, path)
    for state_dict in weights:
        check_state_dict(state_dict, generator_shapes(spec), str(path))
    check_saved_values(saved, path)
    sizes = [spec["latent_dim"], *spec["hidden"], spec["data_dim"]]
    # The networks, a batch through them, and the float64 copy of its output that is written.
    require_memory(
        mlp_bytes(sizes, batch, copies=len(weights)) + 2 * batch * spec["data_dim"] * FLOAT_BYTES * 2,
        f"the generator in {path} (widths {sizes[:4]}{'...' if len(sizes) > 4 else ''}"
        f"{f', a mixture of {len(weights)}' if len(weights) > 1 else ''}) on {batch:,} samples at a time",
    )
    members = []
    for state_dict in weights:
        member = Generator(**spec)
        try:
            member.load_state_dict(state_dict)
        except (RuntimeError, TypeError, ValueError) as error:
            raise UserError(f"{path} does not hold a gaussgan generator ({type(error).__name__})") from None
        if not all(torch.isfinite(tensor).all() for tensor in member.state_dict().values()):
            raise UserError(f"{path}: the generator's weights hold NaN or infinite values; it cannot be sampled")
        members.append(member)
    generator = members[0] if len(members) == 1 else GeneratorMixture(members)
    return generator.eval().requires_grad_(False), saved


def mixture_weights(saved: dict, path: Path) -> list:
    """The state dicts of the saved generator: the mixture's members, or the one network."""
    if "mixture" not in saved:
        return [saved["state_dict"]]
    members, last = saved["mixture"], saved.get("epoch")
    if (
        not isinstance(members, list)
        or not members
        or not all(isinstance(member, dict) and isinstance(member.get("state_dict"), dict) for member in members)
        or not isinstance(last, int)
        or [member.get("epoch") for member in members] != list(range(last - len(members) + 1, last + 1))
    ):
        raise UserError(
            f"{path}: the generator's mixture is damaged; expected the weights of consecutive epochs ending at "
            "the file's epoch"
        )
    return [member["state_dict"] for member in members]


def generator_epochs(saved: dict) -> list[int]:
    """The epochs whose averaged generators a saved generator (checked by :func:`load_generator`) mixes."""
    return [member["epoch"] for member in saved["mixture"]] if "mixture" in saved else [saved["epoch"]]


def check_saved_values(saved: dict, path: Path) -> None:
    """The plain values saved with the generator that sampling uses: latent width, epoch, parent."""
    sigma = saved.get("latent_sigma")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma < math.inf:
        raise UserError(f"{path}: latent_sigma is {sigma!r}; expected a positive finite number")
    if isinstance(saved.get("epoch"), bool) or not isinstance(saved.get("epoch"), int):
        raise UserError(f"{path}: epoch is {saved.get('epoch')!r}; expected an integer")
    parent_of(saved, path)


def parent_of(saved: dict, path: Path):
    """The parent distribution saved with the generator (written into .h5 outputs)."""
    import torch

    from gaussgan.distributions import Parent

    try:
        values = saved["parent"]
        sigma = values["sigma"]
        if not isinstance(sigma, torch.Tensor) or sigma.numel() != values["dim"] ** 2:
            raise TypeError("sigma")
        parent = Parent.from_state(values, "the parent saved with the generator")
    except UserError as error:
        raise UserError(f"{path}: the parent saved with the generator is not valid: {error}") from None
    except (KeyError, TypeError, ValueError, OverflowError):
        raise UserError(
            f"{path}: the parent saved with the generator is missing or damaged; "
            "expected name, dim, mu, sigma, xlo and xhi"
        ) from None
    if parent.dim != saved["spec"]["data_dim"]:
        raise UserError(
            f"{path}: the parent has dimension {parent.dim} but the generator makes {saved['spec']['data_dim']}"
        )
    return parent


def memory_needed(n: int, suffix: str) -> int:
    """Bytes the output format holds in memory beyond one chunk: the .h5 writer keeps every sample's norm."""
    return 8 * n if suffix == ".h5" else 0


def smallest_file_size(n: int, dim: int, suffix: str) -> int:
    """A lower bound on the output's size: 8 bytes a value (.h5, .npy), at least a digit and a separator (.csv)."""
    return n * dim * (2 if suffix == ".csv" else 8)


def check_room(out: Path, nbytes: int) -> None:
    """Refuse at once an output that cannot fit (over the file-size limit, or the free space of its file
    system), instead of failing after minutes of writing."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and nbytes > limit:
        raise UserError(
            f"cannot write {str(out)!r}: it needs at least {nbytes:,} bytes but the file-size limit "
            f"(ulimit -f) is {limit:,} bytes; ask for fewer samples (-n)"
        )
    try:
        status = os.statvfs(out.parent)
    except OSError:
        return
    if nbytes > status.f_bavail * status.f_frsize:
        raise UserError(
            f"cannot write {str(out)!r}: it needs at least {nbytes:,} bytes but its file system has "
            f"{status.f_bavail * status.f_frsize:,} bytes free; ask for fewer samples (-n) or write elsewhere"
        )


def csv_header(dim: int) -> str:
    """The first line of a .csv output: one column name per component, x0 to x(dim-1)."""
    return ",".join(f"x{component}" for component in range(dim)) + "\n"


def generated_chunks(generator, latent_sigma: float, n: int, seed: int, failure: str):
    """``n`` samples (float64) of a saved generator (eval mode, CPU), ``CHUNK`` at a time; the latent
    draws come from a generator seeded ``seed``, so the same seed gives the same samples. A non-finite
    sample raises a UserError saying ``failure``."""
    import torch

    rng = torch.Generator().manual_seed(seed)
    for start in range(0, n, CHUNK):
        z = torch.randn(min(CHUNK, n - start), generator.latent_dim, generator=rng) * latent_sigma
        with torch.inference_mode():  # no autograd bookkeeping while sampling, and only here
            chunk = generator(z).double().numpy()
        if not np.all(np.isfinite(chunk)):
            raise UserError(failure)
        yield chunk


def sample_run(
    run_dir: str | Path, n: int, out: str | Path, *, seed: int, epoch: str = "last", force: bool = False
) -> Path:
    """Write ``n`` samples of the run's generator to ``out`` (.h5 dataset layout, .csv or .npy).

    ``epoch`` picks the generator (``"last"`` or ``"best"``); an existing ``out`` is kept unless ``force``.
    """

    from gaussgan.data.datasets import write_batches
    from gaussgan.system.resources import require_memory

    out = check_output_file(out, (".h5", ".csv", ".npy"), "output", force=force)
    generator, saved = load_generator(run_dir, batch=min(n, CHUNK), epoch=epoch)
    require_memory(
        memory_needed(n, out.suffix),
        f"{n:,} samples written as {out.suffix}",
        "ask for fewer samples (-n), or write .csv or .npy, which are streamed",
    )
    check_room(out, smallest_file_size(n, generator.data_dim, out.suffix) + len(csv_header(generator.data_dim)))
    failure = f"the generator of {run_dir} produced NaN or infinite values; nothing was written"

    def chunks():
        return generated_chunks(generator, saved["latent_sigma"], n, seed, failure)

    if out.suffix == ".h5":
        parent = parent_of(saved, Path(run_dir) / GENERATOR)
        chunk_sizes = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
        # One "batch" per chunk keeps the layout's n_batches * n_samples = n_total when n divides evenly.
        n_batches, n_samples = (len(chunk_sizes), chunk_sizes[0]) if len(set(chunk_sizes)) == 1 else (1, n)
        write_batches(
            out,
            parent,
            chunks(),
            n_batches,
            n_samples,
            seed=seed,
            extra_metadata={"source": f"generator of run {Path(run_dir).resolve().name}, epoch {saved['epoch']}"},
        )
    elif out.suffix == ".csv":
        with atomic_path(out) as temporary, open(temporary, "w") as handle:
            handle.write(csv_header(generator.data_dim))
            for chunk in chunks():
                np.savetxt(handle, chunk, delimiter=",", fmt="%.9g")
    else:
        write_npy(out, chunks(), (n, generator.data_dim))
    return out


def write_npy(out: Path, chunks, shape: tuple[int, int]) -> None:
    """A float64 .npy file, the header first, then the rows chunk by chunk (the bytes ``np.save`` writes)."""
    from numpy.lib import format as npy

    header = {"descr": npy.dtype_to_descr(np.dtype("<f8")), "fortran_order": False, "shape": shape}
    with atomic_path(out) as temporary, open(temporary, "wb") as handle:
        npy.write_array_header_1_0(handle, header)
        for chunk in chunks:
            handle.write(np.ascontiguousarray(chunk, dtype="<f8").data)
