"""Judging generated samples against the parent, with calibrated metrics: each epoch's metric columns, a run's
verdict (verdict.json, n*) and the verdict of ``python -m gaussgan evaluate`` on any samples file.

The statistics are in :mod:`gaussgan.stats.metrics` (what each metric computes), :mod:`gaussgan.stats.nulls`
(its floor and p-value from simulated honest samples) and :mod:`gaussgan.stats.verdict` (Holm across
metrics, n*). This module feeds them samples: from a run's saved generator, or from a file.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.gan.rundir import NULL_CACHE, VERDICT
from gaussgan.stats.metrics import EPOCH_METRICS, Context, applicable, one_blas_thread
from gaussgan.stats.nulls import NullCache, judge
from gaussgan.stats.verdict import MIN_SAMPLES, Verdict, distinguishability, grid_for
from gaussgan.system.files import atomic_path, check_output_file, check_regular_file

# Bytes per sample value the verdict holds at once: the samples, their whitened or normal-score copy,
# a sorted copy in the KS tests, the classifier's features (a few times d), with room to spare.
VERDICT_BYTES_PER_VALUE = 8 * 8


def epoch_columns(generated: np.ndarray, context: Context, cache: NullCache, costly: bool) -> dict[str, float]:
    """The training table's metric columns for one epoch: ``m_NAME``, ``m_NAME_floor``, ``m_NAME_p``.

    Costly metrics (MMD, classifier) are NaN in the epochs they skip; metrics that do not apply to
    the parent have no columns at all.
    """
    columns: dict[str, float] = {}
    with one_blas_thread():
        for metric in applicable(context.parent, EPOCH_METRICS):
            if metric.costly and not costly:
                value = floor = p = float("nan")
            else:
                judged = judge(metric, generated, context, cache)
                value, floor, p = judged.value, judged.floor, judged.p
            columns |= {f"m_{metric.name}": value, f"m_{metric.name}_floor": floor, f"m_{metric.name}_p": p}
    return columns


def verdict_seed(seed: int) -> int:
    """The seed of the verdict's draws, derived from the run's (so --verdict-only gives the same verdict)."""
    return int(np.random.SeedSequence([seed, 0x5EED]).generate_state(1)[0])


def check_verdict_memory(n: int, dim: int, what: str) -> None:
    from gaussgan.system.resources import require_memory

    require_memory(n * dim * VERDICT_BYTES_PER_VALUE, what, "ask for a smaller --max-n")


def run_verdict(run_dir: Path, train_rows: np.ndarray, *, seed: int, max_n: int, repeats: int, quiet: bool) -> Verdict:
    """The verdict on a run's saved generator (the averaged one), written to the run's verdict.json."""
    from gaussgan.gan.sampling import generated_chunks, generator_epochs, load_generator, parent_of

    started = time.perf_counter()
    generator, saved = load_generator(run_dir)
    parent = parent_of(saved, run_dir / "models" / "generator.pth.tar")
    epochs = generator_epochs(saved)
    if not quiet:
        judged = (
            f"the mixture of the averaged generators of epochs {epochs[0]} to {epochs[-1]}"
            if len(epochs) > 1
            else f"epoch {epochs[0]}'s averaged generator"
        )
        print(f"verdict: testing up to {max_n:,} samples of {judged} against the parent ...", flush=True)
    check_verdict_memory(max_n, parent.dim, f"the verdict on {max_n:,} samples of dimension {parent.dim}")
    failure = "the generator produced NaN or infinite values; no verdict can be given"
    samples = np.concatenate(
        list(generated_chunks(generator, saved["latent_sigma"], max_n, verdict_seed(seed), failure))
    )
    verdict = give_verdict(
        samples,
        parent,
        seed=seed,
        train_rows=train_rows,
        cache_path=run_dir / NULL_CACHE,
        max_n=max_n,
        repeats=repeats,
        quiet=quiet,
    )
    # The time it took, beside the epochs' seconds_total in the CSV: together, what the run cost.
    seconds = round(time.perf_counter() - started, 2)
    write_verdict(
        run_dir / VERDICT,
        verdict,
        {"run": run_dir.name, "epoch": saved["epoch"], "epochs_mixed": epochs, "seed": seed, "seconds": seconds},
    )
    return verdict


def give_verdict(
    samples: np.ndarray,
    parent: Parent,
    *,
    seed: int,
    train_rows: np.ndarray | None,
    cache_path: Path | None,
    max_n: int,
    repeats: int,
    quiet: bool,
) -> Verdict:
    """n* and every metric at each size tested, with a progress line per size unless ``quiet``."""
    from tqdm import tqdm

    cache = NullCache(cache_path)
    context = Context(parent, seed=seed, train=None if train_rows is None else np.asarray(train_rows, dtype=float))
    sizes = grid_for(len(samples), max_n)
    with (
        tqdm(total=len(sizes), desc="verdict", unit="size", leave=False, disable=quiet or None, file=sys.stderr) as bar,
        one_blas_thread(),
    ):
        verdict = distinguishability(samples, context, cache, max_n, repeats, progress=lambda n: bar.update(1))
    cache.save()
    return verdict


def write_verdict(path: Path, verdict: Verdict, extra: dict) -> None:
    content = {**extra, **verdict.as_dict()}
    with atomic_path(path) as temporary:
        # Strict JSON (jq, JavaScript, other languages): a metric without a value has null, not NaN.
        temporary.write_text(json.dumps(_nan_to_none(content), indent=1, allow_nan=False) + "\n")


def _nan_to_none(value):
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def print_verdict(verdict: Verdict, file=None) -> None:
    file = file or sys.stdout  # looked up now: a redirected stdout is the one written to
    print(verdict.table(), file=file)
    print(f"n* = {verdict.n_star:,}" if verdict.n_star else "n* > " + f"{verdict.tested[-1]:,}", file=file)
    print(verdict.reading(), file=file, flush=True)


# --- evaluate: samples from any generator ----------------------------------------------------------------
# Rows checked for NaN at a time in a memory-mapped .npy file (a file larger than memory is read in pieces).
CHECK_ROWS = 100_000


def read_samples(path: Path) -> np.ndarray:
    """Samples (n, d) from .h5 (the dataset layout), .npy (memory-mapped: read when used) or .csv (a header
    line is allowed), of any real type; checked for their format only (see :func:`check_samples`)."""
    suffix = path.suffix.lower()
    if suffix not in (".h5", ".npy", ".csv"):
        raise UserError(f"samples {str(path)!r}: expected a file ending in .h5, .npy or .csv")
    check_regular_file(path, "samples file")
    if suffix == ".h5":
        from gaussgan.data.datasets import load_dataset

        samples = load_dataset(str(path), dtype=np.float64)[0]
    elif suffix == ".npy":
        try:
            samples = np.load(path, allow_pickle=False, mmap_mode="r")
        except ValueError as error:
            if "object" in str(error).lower():
                raise UserError(f"{str(path)!r} holds Python objects; expected numbers") from None
            raise UserError(f"cannot read {str(path)!r} as a .npy array ({str(error)[:100]})") from None
        except (OSError, EOFError) as error:
            raise UserError(f"cannot read {str(path)!r} as a .npy array ({str(error)[:100]})") from None
        if samples.dtype.kind not in "fiu":
            raise UserError(f"{str(path)!r} holds {samples.dtype} values; expected real numbers")
    else:
        samples = read_csv_samples(path)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2:
        raise UserError(f"{str(path)!r} holds an array of shape {samples.shape}; expected (samples, dimension)")
    return samples


def read_csv_samples(path: Path) -> np.ndarray:
    import warnings

    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
        try:
            [float(word) for word in first.split(",")]
            header = 0
        except ValueError:
            header = 1  # a header line, e.g. x0,x1,...
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": an empty file is refused below
            return np.loadtxt(path, delimiter=",", skiprows=header, ndmin=2)
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {str(path)!r} ({error.__class__.__name__})") from None
    except ValueError as error:
        why = str(error).splitlines()[0].split("; use")[0][:100]
        raise UserError(f"{str(path)!r} is not a table of numbers ({why})") from None


def check_samples(samples: np.ndarray, parent: Parent, where: str) -> None:
    """Enough samples, of the parent's dimension, every value finite (a memory-mapped file in pieces)."""
    if len(samples) < MIN_SAMPLES:
        raise UserError(f"{where} holds {len(samples)} samples; a verdict needs at least {MIN_SAMPLES}")
    if samples.shape[1] != parent.dim:
        raise UserError(f"{where} holds samples of dimension {samples.shape[1]}; the parent has dimension {parent.dim}")
    if samples.dtype.kind != "f":
        return  # integers are finite
    bad, first = 0, -1
    for start in range(0, len(samples), CHECK_ROWS):
        rows = ~np.all(np.isfinite(samples[start : start + CHECK_ROWS]), axis=1)
        if first < 0 and rows.any():
            first = start + int(np.argmax(rows))
        bad += int(rows.sum())
    if bad:
        what = "1 sample holds" if bad == 1 else f"{bad} samples hold"
        raise UserError(f"{where}: {what} NaN or infinite values (the first at row {first}); expected finite numbers")


def evaluate_samples(
    samples_path: str,
    *,
    parent_dataset: str | None,
    parent_spec: dict | None,
    memorisation: bool,
    out: str | None,
    max_n: int,
    repeats: int,
    seed: int,
    cache_dir: str | None,
    force: bool,
    quiet: bool,
) -> Verdict:
    """``python -m gaussgan evaluate``: the verdict on samples from any generator.

    The parent comes from a dataset's metadata (``parent_dataset``) or from gen-samples options
    (``parent_spec``: dist, mu, sigma, xlo, xhi; the dimension is the samples'). With ``memorisation``,
    the dataset's rows are the generator's training set and the memorisation test runs against them.
    """
    from gaussgan.data.datasets import load_dataset
    from gaussgan.distributions import make_parent

    out_path = Path(out) if out else None
    if out_path is not None:
        check_output_file(out_path, (".json",), "-o", force=force, inputs=(samples_path, parent_dataset, cache_dir))
    train_rows = None
    if parent_dataset is not None:
        rows, parent, _ = load_dataset(parent_dataset, dtype=np.float64)
        train_rows = rows if memorisation else None
    samples = read_samples(Path(samples_path))
    if parent_dataset is None:
        assert parent_spec is not None
        parent = make_parent(dim=samples.shape[1], **parent_spec)
    check_samples(samples, parent, repr(samples_path))
    available = len(samples)
    used = min(available, max_n)
    check_verdict_memory(used, parent.dim, f"the verdict on {used:,} samples of dimension {parent.dim}")
    samples = np.asarray(samples[:used], dtype=np.float64)  # the rows the verdict tests, read now
    cache = None
    if cache_dir:
        from gaussgan.stats.nulls import check_cache_folder

        check_cache_folder(Path(cache_dir))
        cache = Path(cache_dir) / NULL_CACHE
    verdict = give_verdict(
        samples, parent, seed=seed, train_rows=train_rows, cache_path=cache, max_n=max_n, repeats=repeats, quiet=quiet
    )
    verdict.available = available
    print_verdict(verdict)
    if out_path is not None:
        # "parent" itself is the verdict's (the parent's name): the source says where it came from.
        source = {
            "samples": str(samples_path),
            "parent_dataset": parent_dataset,
            "parent_description": parent.describe(),
            "seed": seed,
        }
        write_verdict(out_path, verdict, source)
        print(f"wrote {out_path}")
    return verdict
