"""gen-samples.py's work: for each dimension, write a dataset and the histogram of its norms.

Every output stays inside ``out_dir`` (plain names, resolved paths checked), existing outputs are
kept unless ``force`` (all checked before any is written), each dataset has one writer at a time (a lock), memory is checked before it is allocated and stays flat in the number
of batches, and Ctrl-C / SIGTERM stop at a safe point: completed dimensions are kept, the one
being written leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gaussgan.distributions import Parent, expected_norm, parents_from_options
from gaussgan.errors import UserError
from gaussgan.parents import DEFAULT_XHI, DEFAULT_XLO
from gaussgan.system import locks
from gaussgan.system.files import atomic_path, folder_for_the_block, inside, refuse_existing, safe_name
from gaussgan.system.interrupt import GracefulStop
from gaussgan.system.resources import require_memory

# What the longest name derived from an output name adds to it: the temporary
# ".NAME.PID.RANDOM.tmp.png" (a PID has at most 7 digits on Linux).
DERIVED_NAME_EXTRA = len(".") + len(".4194304.") + 8 + len(".tmp.png")
# Norms of heavy-tailed parents (Cauchy) are also counted in fine log-spaced bins, so that their
# histogram shows the bulk on a log axis: equal bins would put almost every sample in the first one.
# 50 bins per decade from 1e-30 to 1e160 cover every norm a parent may produce (values within ±1e154).
LOG_NORM_EDGES = 10 ** np.linspace(-30, 160, 190 * 50 + 1)
# Per-batch work besides the batch itself, in float64 values per sample: the norms and the
# histogram's bin indices and their temporaries (3.1 measured with VmHWM at d = 1, rounded up).
NORM_VALUES_PER_SAMPLE = 4


@dataclass(frozen=True)
class GenerationConfig:
    dist: str
    dims: list[int]
    n_samples: int  # per batch
    n_batches: int
    mu: float = 0.0
    sigma: tuple[float, float, int] = (1.0, 0.0, 1)
    xlo: float = DEFAULT_XLO
    xhi: float = DEFAULT_XHI
    seed: int = 0
    out_dir: str = "datasets"
    postfix: str = ""
    quiet: bool = False
    force: bool = False  # replace existing datasets and histograms


def dataset_name(dist: str, dim: int, postfix: str = "") -> str:
    return f"data_{dist}_dim{dim}{postfix}.h5"


def histogram_name(dist: str, dim: int, postfix: str = "") -> str:
    return f"hist_{dist}_dim{dim}{postfix}.png"


def seed_for_dimension(seed: int, dim: int) -> np.random.SeedSequence:
    """Each dimension gets its own stream, the same whichever other dimensions are asked for."""
    return np.random.SeedSequence([seed, dim])


def batch_memory(parent: Parent, n_samples: int) -> int:
    """Bytes one batch costs while it is drawn, checked and written (see NORM_VALUES_PER_SAMPLE)."""
    return parent.sample_memory(n_samples) + NORM_VALUES_PER_SAMPLE * 8 * n_samples


def check_names(config: GenerationConfig) -> None:
    """The postfix is a plain name, and every name derived from it fits the file system."""
    safe_name(config.postfix, "-p/--postfix")
    folder = Path(config.out_dir)
    while not folder.exists() and folder != folder.parent:  # the limit of the file system it will be on
        folder = folder.parent
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    longest = max(len(os.fsencode(histogram_name(config.dist, dim, config.postfix))) for dim in config.dims)
    longest += DERIVED_NAME_EXTRA
    if longest > name_max:
        raise UserError(
            f"-p/--postfix is {len(config.postfix)} characters long: the file names it makes would have "
            f"up to {longest} bytes; expected at most {name_max} (use a shorter postfix)"
        )


def generate(config: GenerationConfig) -> list[Path]:
    """Write every dataset of ``config``; return their paths. Completed dimensions stay if a later one fails.

    An existing output is refused unless ``config.force``; a dataset that holds exactly what this
    command would write (same parent, size, seed and version, with its histogram) is kept as it is.
    """
    config = replace(config, dims=list(dict.fromkeys(config.dims)))  # -d 2 2: one file, one writer
    # The flag, not an exception, from here on: a signal that lands inside h5py or a finaliser
    # would otherwise be swallowed there ("Exception ignored in ...") and the run would go on.
    with GracefulStop() as stop:
        parents = checked_parents(config)
        written = write_all(config, parents, stop)
    stop.raise_if_requested()  # a signal that came after the last check
    return written


def checked_parents(config: GenerationConfig) -> list[Parent]:
    """Every dimension's parent, once names and memory are checked: bad input leaves no file behind."""
    check_names(config)
    # The one way a parent is checked and built from options: evaluate's -s/--dist goes through it too.
    parents = parents_from_options(config.dist, config.dims, config.mu, config.sigma, config.xlo, config.xhi)
    largest = max(parents, key=lambda parent: batch_memory(parent, config.n_samples))
    require_memory(
        batch_memory(largest, config.n_samples),
        f"a batch of {config.n_samples:,} samples of dimension {largest.dim:,}",
        "use a smaller -n (samples per batch) and more batches -b: the file holds n*b samples",
    )
    return parents


def write_all(config: GenerationConfig, parents: list[Parent], stop: GracefulStop) -> list[Path]:
    """Lock every output, then write one dimension after another, checking for a stop between them."""
    written: list[Path] = []
    # matplotlib takes ~0.3 s to import: a thread does it while the first batches are drawn and
    # written (numpy and h5py release the GIL for much of that), not after them.
    threading.Thread(target=_import_plotting, daemon=True).start()
    # A run that writes nothing leaves no empty folder behind.
    with folder_for_the_block(Path(config.out_dir), "output folder") as out_dir:
        outputs = [
            (
                output_path(out_dir, dataset_name(config.dist, parent.dim, config.postfix), "dataset"),
                output_path(out_dir, histogram_name(config.dist, parent.dim, config.postfix), "histogram"),
            )
            for parent in parents
        ]
        with contextlib.ExitStack() as held:
            # Every lock first: a second gen-samples on the same files stops before writing anything.
            for data_path, _ in outputs:
                held.enter_context(locks.exclusive(data_path, "dataset"))
            # Checked once the locks are held (no other writer can create them now), before any is written.
            # The same command run again (same seed, same options) finds its own outputs: kept, not refused.
            identical = [
                not config.force and holds_these_samples(*pair, parent, config)
                for parent, pair in zip(parents, outputs, strict=True)
            ]
            refuse_existing(
                [path for pair, same in zip(outputs, identical, strict=True) if not same for path in pair], config.force
            )
            for parent, (data_path, histogram_path), same in zip(parents, outputs, identical, strict=True):
                stop.raise_if_requested()  # between dimensions: the completed ones stay
                if same:
                    print(f"dim {parent.dim}: {data_path} kept: it holds these samples already (same seed and options)")
                else:
                    write_dimension(parent, data_path, histogram_path, config, stop)
                written.append(data_path)
    return written


def holds_these_samples(data_path: Path, histogram_path: Path, parent: Parent, config: GenerationConfig) -> bool:
    """Whether ``data_path`` and its histogram are what this command would write: a dataset of the same
    parent, size and seed, written by this version (the same bytes), next to its histogram."""
    import h5py

    from gaussgan._version import __version__
    from gaussgan.data import datasets

    if not (data_path.is_file() and histogram_path.is_file()) or data_path.is_symlink():
        return False
    try:
        with h5py.File(data_path, "r") as handle:
            saved, fields = datasets.read_metadata(handle, data_path)
            shape = handle["data"].shape if isinstance(handle.get("data"), h5py.Dataset) else None
    except (UserError, OSError, KeyError, TypeError, ValueError):
        return False  # unreadable or foreign: not ours to keep silently
    return bool(
        shape == (config.n_batches * config.n_samples, parent.dim)
        and fields.get("seed") == config.seed
        and fields.get("n_batches") == config.n_batches
        and fields.get("n_samples") == config.n_samples
        and fields.get("version") == __version__
        and saved.name == parent.name
        and saved.mu == parent.mu
        and (saved.xlo, saved.xhi) == (parent.xlo, parent.xhi)
        and np.array_equal(saved.sigma, parent.sigma)
    )


def _import_plotting() -> None:
    with contextlib.suppress(Exception):  # any problem shows again, with its message, when the figure is drawn
        from gaussgan.figures import plots

        plots.pyplot()


def output_path(out_dir: Path, name: str, what: str) -> Path:
    """``out_dir / name``, checked to stay inside ``out_dir`` and to be a file that can be replaced."""
    path = inside(out_dir / name, out_dir, what)
    if path.exists() and not path.is_file():  # found now, not after the batches are written
        raise UserError(
            f"{what} {str(path)!r} exists and is not a file (a folder, pipe or device); "
            "expected a file to replace, or nothing"
        )
    return path


def write_dimension(
    parent: Parent, data_path: Path, histogram_path: Path, config: GenerationConfig, stop: GracefulStop
) -> None:
    """Write one dataset and its histogram: both appear or, after an error or a stop while the batches or
    the figure are written, neither changes."""
    from tqdm import tqdm

    from gaussgan.data import datasets
    from gaussgan.figures import plots

    rng = np.random.default_rng(seed_for_dimension(config.seed, parent.dim))
    log_counts = np.zeros(len(LOG_NORM_EDGES) - 1, dtype=np.int64) if parent.name == "cauchy" else None
    progress = tqdm(
        range(config.n_batches), desc=f"dim {parent.dim}", unit="batch", disable=config.quiet or None, file=sys.stderr
    )

    def batches():
        # The safe points: before each batch and after the last; raising here unwinds through
        # the writer, which removes its temporary.
        for _ in progress:
            stop.raise_if_requested()
            batch = parent.sample(config.n_samples, rng)
            if log_counts is not None:
                log_counts[:] += log_norm_counts(datasets.batch_norms(batch))
            yield batch
            del batch  # the next batch is drawn with this one freed: one batch in memory at a time
        stop.raise_if_requested()

    with atomic_path(data_path) as temporary:
        norms = datasets.write_file(temporary, parent, batches(), config.n_batches, config.n_samples, config.seed)
        # Drawn before the dataset takes its name: if the figure cannot be written, the previous
        # dataset stays with its own histogram. A stop requested while it is drawn takes effect
        # once this dimension, complete by then, is saved.
        described = plots.describe_parent(parent)
        separator = "\n" if len(described) > 40 else " "  # a long description gets a line of its own
        title = f"{described}:{separator}norms of {norms.count:,} samples"
        counts, edges = (norms.counts, norms.edges) if log_counts is None else (log_counts, LOG_NORM_EDGES)
        plots.norm_histogram(
            counts,
            edges,
            parent.dim,
            title,
            histogram_path,
            chi_density=parent.is_standard_normal,
            log_axis=log_counts is not None,
        )
    expected = expected_norm(parent)
    reference = f" (expected {expected[0]:.4f} ± {expected[1]:.4f})" if expected else ""
    print(f"dim {parent.dim}: {data_path}  norm mean {norms.mean:.4f} ± std {norms.std:.4f}{reference}")


def log_norm_counts(norms: np.ndarray) -> np.ndarray:
    """How many of ``norms`` fall in each bin of LOG_NORM_EDGES (0 counts in the first bin)."""
    with np.errstate(divide="ignore"):
        index = np.floor((np.log10(norms) + 30) * 50)
    index = np.clip(np.nan_to_num(index, nan=0, neginf=0), 0, len(LOG_NORM_EDGES) - 2).astype(np.int64)
    return np.bincount(index, minlength=len(LOG_NORM_EDGES) - 1)
