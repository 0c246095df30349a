"""Judging generated samples against the parent, with calibrated metrics: each epoch's metric columns, a run's
verdict (verdict.json, n*) and the verdict of ``python -m gaussgan evaluate`` on any samples file.

The statistics are in :mod:`gaussgan.stats.metrics` (what each metric computes), :mod:`gaussgan.stats.nulls`
(its floor and p-value from simulated honest samples) and :mod:`gaussgan.stats.verdict` (Holm across
metrics, n*). This module feeds them samples: from a run's saved generator, or from a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from gaussgan.distributions import Parent
from gaussgan.errors import UserError
from gaussgan.gan.rundir import GENERATOR, NULL_CACHE, VERDICT, RunDirectory
from gaussgan.stats.constants import MIN_SAMPLES
from gaussgan.stats.data_limit import spectrum
from gaussgan.stats.metrics import EPOCH_METRICS, Context, applicable, one_blas_thread
from gaussgan.stats.nulls import NullCache, judge
from gaussgan.stats.verdict import Verdict, by_size, distinguishability, grid_for, over_draws
from gaussgan.system.files import atomic_path, check_output_file, check_regular_file, folder_for_the_block

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


def verdict_seed(seed: int, draw: int = 0) -> int:
    """The seed of the verdict's samples, derived from the run's (so --verdict-only gives the same verdict);
    each further draw of ``--draws`` its own."""
    words = [seed, 0x5EED] + ([draw] if draw else [])
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def check_verdict_memory(n: int, dim: int, what: str) -> None:
    from gaussgan.system.resources import require_memory

    require_memory(n * dim * VERDICT_BYTES_PER_VALUE, what, "ask for a smaller --max-n")


def run_verdict(
    run_dir: Path,
    train_rows: np.ndarray,
    *,
    seed: int,
    max_n: int,
    repeats: int,
    quiet: bool,
    draws: int = 1,
    dataset: Path | None = None,
) -> tuple[Verdict, dict]:
    """The verdict on a run's saved generator (the averaged one), written to the run's verdict.json; with
    ``draws`` > 1, on that many fresh samples of it, n* as their median and range. Beside it: the
    generator's spectrum (:func:`generator_spectrum`) and, given the ``dataset`` file the training rows
    came from, the data limit (:mod:`gaussgan.gan.data_limit`); both are returned with the verdict."""
    from gaussgan.gan.data_limit import data_limit
    from gaussgan.gan.sampling import generated_chunks, generator_epochs, load_generator, parent_of

    started = time.perf_counter()
    directory = RunDirectory(run_dir)  # every file of the run read and written through it: never through a link
    # Opened first: a cache that is not a file of ours is refused before the samples are drawn.
    cache = NullCache(directory.file(NULL_CACHE), remedy=f"move it out of the run directory {str(run_dir)!r}")
    generator, saved = load_generator(run_dir)
    parent = parent_of(saved, directory.file(GENERATOR))
    epochs = generator_epochs(saved)
    # First, and once per dataset: what the training rows themselves allow (its own line when computed).
    limit = None
    if dataset is not None:
        limit = data_limit(dataset, train_rows, parent, max_n=max_n, repeats=repeats, cache=cache)
    if not quiet:
        judged = (
            f"the mixture of the averaged generators of epochs {epochs[0]} to {epochs[-1]}"
            if len(epochs) > 1
            else f"epoch {epochs[0]}'s averaged generator"
        )
        times = f" ({draws} draws)" if draws > 1 else ""
        print(f"verdict: testing up to {max_n:,} samples of {judged} against the parent{times} ...", flush=True)
    check_verdict_memory(max_n, parent.dim, f"the verdict on {max_n:,} samples of dimension {parent.dim}")
    failure = "the generator produced NaN or infinite values; no verdict can be given"
    first: list[np.ndarray] = []  # the first draw, kept for the spectrum

    def samples():  # one draw's samples in memory at a time
        for draw in range(draws):
            chunks = generated_chunks(generator, saved["latent_sigma"], max_n, verdict_seed(seed, draw), failure)
            drawn = np.concatenate(list(chunks))
            first[:] = first or [drawn]
            yield drawn

    verdict = give_verdict(
        samples(), parent, seed=seed, train_rows=train_rows, cache=cache, max_n=max_n, repeats=repeats, quiet=quiet
    )
    extra: dict = {"generator_spectrum": generator_spectrum(first.pop(), parent, len(train_rows))}
    if limit is not None:
        extra["data_limit"] = limit
    # The time it took, beside the epochs' seconds_total in the CSV: together, what the run cost.
    seconds = round(time.perf_counter() - started, 2)
    write_verdict(
        directory.file(VERDICT),
        verdict,
        {"run": run_dir.name, "epoch": saved["epoch"], "epochs_mixed": epochs, "seed": seed, "seconds": seconds}
        | extra,
    )
    return verdict, extra


def generator_spectrum(samples: np.ndarray, parent: Parent, n_train: int) -> dict:
    """The covariance eigenvalue range and mean squared norm of ``samples`` (normal scores), beside the
    Marchenko–Pastur ranges of an honest sample as large and of the training set (``n_train`` rows)."""
    from gaussgan.stats.data_limit import marchenko_pastur

    measured = spectrum(samples, parent)
    return measured | {
        "expected_mean_squared_norm": parent.dim,
        "marchenko_pastur_samples": marchenko_pastur(parent.dim, measured["n"]),
        "marchenko_pastur_training": marchenko_pastur(parent.dim, n_train),
    }


def give_verdict(
    draws: Iterable[np.ndarray],
    parent: Parent,
    *,
    seed: int,
    train_rows: np.ndarray | None,
    cache: NullCache,
    max_n: int,
    repeats: int,
    quiet: bool,
) -> Verdict:
    """n* and every metric at each size tested, for each draw of samples in turn (one draw: its verdict;
    several: the median draw's, :func:`over_draws`), with a progress bar per draw unless ``quiet``; the
    nulls drawn are saved in ``cache``."""
    from tqdm import tqdm

    context = Context(parent, seed=seed, train=None if train_rows is None else np.asarray(train_rows, dtype=float))
    verdicts = []
    for samples in draws:
        sizes = grid_for(len(samples), max_n)
        with (
            tqdm(
                total=len(sizes), desc="verdict", unit="size", leave=False, disable=quiet or None, file=sys.stderr
            ) as bar,
            one_blas_thread(),
        ):
            verdicts.append(
                distinguishability(samples, context, cache, max_n, repeats, progress=lambda n: bar.update(1))
            )
    cache.save()
    return over_draws(verdicts)


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
    print(f"n* {'= ' if verdict.n_star else ''}{n_star_text(verdict.n_star, verdict.tested[-1])}", file=file)
    if len(verdict.draws) > 1:
        each = ", ".join(n_star_text(n, verdict.tested[-1]) for n in sorted(verdict.draws, key=by_size))
        print(
            f"over {len(verdict.draws)} draws: n* median {n_star_text(verdict.n_star, verdict.tested[-1])} (each: {each}); "
            "the median draw is shown",
            file=file,
        )
    print(verdict.reading(), file=file, flush=True)


def data_limit_line(limit: dict, n_star: int | None) -> str:
    """The generator's n* next to the training set's own Gaussian fit's: what these N rows allow."""
    fit, fresh, largest = limit["n_star_fit"], limit["n_star_fresh"], limit["largest"]
    return (
        f"data limit: n* {n_star_text(n_star, largest)}; the training set's own Gaussian fit "
        f"{n_star_text(fit, largest)} (a fresh parent sample of the same {limit['n_train']:,} rows, fitted: "
        f"{n_star_text(fresh, largest)}): what the rows' plain sample mean and covariance give"
    )


def spectrum_line(spectrum: dict) -> str:
    """The generator's covariance eigenvalues and mean squared norm beside what an honest sample shows."""
    low, high = spectrum["marchenko_pastur_samples"]
    train_low, train_high = spectrum["marchenko_pastur_training"]
    return (
        f"spectrum: covariance eigenvalues {spectrum['eigenvalue_min']:.3g} to {spectrum['eigenvalue_max']:.3g} "
        f"(an honest sample of {spectrum['n']:,}: {low:.3g} to {high:.3g}; the training set's, Marchenko–Pastur: "
        f"{train_low:.3g} to {train_high:.3g}), mean squared norm {spectrum['mean_squared_norm']:.4g} "
        f"(parent: {spectrum['expected_mean_squared_norm']})"
    )


def n_star_text(n_star: int | None, largest: int) -> str:
    """ "5,000", or "> 100,000" when the largest size tested did not reject."""
    return f"{n_star:,}" if n_star else f"> {largest:,}"


# --- evaluate: samples from any generator ----------------------------------------------------------------
# Values checked at a time in a memory-mapped .npy file (a file larger than memory is read in pieces).
CHECK_VALUES = 1 << 22
# Reading a CSV holds each number about three times over: the growing array loadtxt fills, and its copy.
CSV_BYTES_PER_VALUE = 3 * 8
# Bytes of a file counted at a time while a CSV is sized.
COUNT_CHUNK = 1 << 20


def read_samples(path: Path) -> np.ndarray:
    """Samples (n, d) from .h5 (the dataset layout), .npy (memory-mapped: read when used) or .csv (a header
    line is allowed), of any real type, at least MIN_SAMPLES of them; their values are checked by
    :func:`check_values`. What a file claims (its header, its lines) is checked before it is read."""
    suffix = path.suffix.lower()
    if suffix not in (".h5", ".npy", ".csv"):
        raise UserError(f"samples {str(path)!r}: expected a file ending in .h5, .npy or .csv")
    check_regular_file(path, "samples file")
    if suffix == ".h5":
        from gaussgan.data.datasets import load_dataset

        samples = load_dataset(str(path), dtype=np.float64)[0]
    elif suffix == ".npy":
        samples = read_npy_samples(path)
    else:
        samples = read_csv_samples(path)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or not samples.shape[1]:
        raise UserError(f"{str(path)!r} holds an array of shape {samples.shape}; expected (samples, dimension)")
    check_count(len(samples), repr(str(path)))
    return samples


def check_count(count: int, where: str, at_most: bool = False) -> None:
    """At least MIN_SAMPLES samples (``at_most``: ``count`` is the file's lines, a bound on its samples)."""
    if count < MIN_SAMPLES:
        noun = "sample" if count == 1 else "samples"
        bound = f" at most ({count} line{'' if count == 1 else 's'})" if at_most else ""
        raise UserError(f"{where} holds {count} {noun}{bound}; a verdict needs at least {MIN_SAMPLES}")


def read_npy_samples(path: Path) -> np.ndarray:
    """A .npy array, memory-mapped (nothing is read until used), never unpickled; its header's dtype and
    shape are checked against the file before anything is built from them."""
    try:
        samples = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as error:
        if "object" in str(error).lower():
            raise UserError(f"{str(path)!r} holds Python objects; expected numbers") from None
        if "mmap length" in str(error):
            raise UserError(f"{str(path)!r} is shorter than its header claims; expected a whole .npy file") from None
        raise UserError(f"cannot read {str(path)!r} as a .npy array ({str(error)[:100]})") from None
    except (OSError, EOFError) as error:
        raise UserError(f"cannot read {str(path)!r} as a .npy array ({str(error)[:100]})") from None
    if samples.dtype.kind not in "fiu":
        raise UserError(f"{str(path)!r} holds {samples.dtype} values; expected real numbers")
    return samples


def read_csv_samples(path: Path) -> np.ndarray:
    """A CSV table of numbers: sized from its lines and separators before it is read, a UTF-8 byte-order mark
    ignored, and a first line taken for a header only when none of its fields is a number."""
    import warnings

    from gaussgan.system.resources import require_memory

    where = repr(str(path))
    lines, numbers = csv_size(path)
    check_count(lines, where, at_most=True)
    require_memory(numbers * CSV_BYTES_PER_VALUE, f"reading {where} ({numbers:,} numbers)", "write it as .npy instead")
    try:
        header = csv_header_lines(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": too few samples is refused below
            return np.loadtxt(path, delimiter=",", skiprows=header, ndmin=2, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {where} ({error.__class__.__name__})") from None
    except ValueError as error:
        why = str(error).splitlines()[0].split("; use")[0][:100]
        raise UserError(f"{where} is not a table of numbers ({why})") from None


def csv_size(path: Path) -> tuple[int, int]:
    """The lines of a file and the numbers they can hold at most (separators and lines), counted in pieces."""
    lines = separators = 0
    last = b"\n"
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(COUNT_CHUNK):
                lines += chunk.count(b"\n")
                separators += chunk.count(b",")
                last = chunk[-1:]
    except OSError as error:
        raise UserError(f"cannot read {str(path)!r} ({error.__class__.__name__})") from None
    lines += last != b"\n"  # a last line without its newline
    return lines, separators + lines


def csv_header_lines(path: Path) -> int:
    """Lines to skip before the data: up to and including a header, the first line that is not blank or a
    comment when none of its fields reads as a number (``x0,x1``); 0 when that line holds any number, so that
    a data row is never taken for a header (a damaged one is refused by the reader instead)."""
    with open(path, encoding="utf-8-sig") as handle:  # the byte-order mark is not part of the first field
        for position, line in enumerate(handle):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            return 0 if any(_is_number(field) for field in text.split(",")) else position + 1
    return 0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_values(samples: np.ndarray, where: str) -> None:
    """Every value finite and within ±MAX_MAGNITUDE, so that squares and sums stay finite. Read in blocks of
    about CHECK_VALUES values, whatever the width: a memory-mapped file is never loaded whole."""
    from gaussgan.distributions import MAX_MAGNITUDE

    if samples.dtype.kind != "f":
        return  # integers are finite, and the largest (2**64) is far below the limit
    counts, firsts = {"non-finite": 0, "huge": 0}, {"non-finite": -1, "huge": -1}
    rows_at_once = max(1, CHECK_VALUES // samples.shape[1])
    for start in range(0, len(samples), rows_at_once):
        block = np.asarray(samples[start : start + rows_at_once], dtype=np.float64)
        finite = np.isfinite(block)
        huge = np.abs(np.where(finite, block, 0.0)) > MAX_MAGNITUDE
        for problem, rows in (("non-finite", ~finite.all(axis=1)), ("huge", huge.any(axis=1))):
            if firsts[problem] < 0 and rows.any():
                firsts[problem] = start + int(np.argmax(rows))
            counts[problem] += int(rows.sum())
    expected = {
        "non-finite": "NaN or infinite values (the first at row {}); expected finite numbers",
        "huge": f"values beyond ±{MAX_MAGNITUDE:g} (the first at row {{}}); expected magnitudes within it, so that "
        "their squares (norms, variances) stay finite in float64",
    }
    for problem, message in expected.items():  # NaN first: a NaN is no magnitude
        if counts[problem]:
            what = "1 sample holds" if counts[problem] == 1 else f"{counts[problem]} samples hold"
            raise UserError(f"{where}: {what} " + message.format(firsts[problem]))


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
    draws: int = 1,
) -> Verdict:
    """``python -m gaussgan evaluate``: the verdict on samples from any generator; with ``draws`` > 1, on that
    many disjoint blocks of the file's rows, n* as their median and range.

    The parent comes from a dataset's metadata (``parent_dataset``) or from gen-samples options
    (``parent_spec``: name, mu, sigma, xlo, xhi; the dimension is the samples'), checked and built by
    gen-samples' own function. With ``memorisation``, the dataset's rows are the generator's training set and
    the memorisation test runs against them. Everything that can be checked before the work is: the output,
    the cache, the parent's options, then what the samples file claims, the memory, and the values.
    """
    from gaussgan.distributions import check_parent_options

    cache_path = Path(cache_dir) / NULL_CACHE if cache_dir else None
    out_path = Path(out) if out else None
    if out_path is not None:
        inputs = (samples_path, parent_dataset, cache_dir, cache_path)
        check_output_file(out_path, (".json",), "-o", force=force, inputs=inputs)
    if parent_spec is not None:
        check_parent_options(parent_spec["name"], parent_spec["sigma"])
    if cache_dir and os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
        raise UserError(f"--cache-dir {cache_dir!r} is not a folder (a file, pipe or device); expected a folder")
    cache = NullCache(cache_path, remedy="move it away, or choose another --cache-dir")
    samples, parent, train_rows = samples_and_parent(Path(samples_path), parent_dataset, parent_spec, memorisation)
    available = len(samples)
    block = available // draws
    if block < MIN_SAMPLES:
        raise UserError(
            f"--draws {draws}: {str(samples_path)!r} holds {available:,} samples, {block:,} per draw; expected at "
            f"least {MIN_SAMPLES} per draw (at most {available // MIN_SAMPLES} draws)"
        )
    used = min(block, max_n)
    check_verdict_memory(used, parent.dim, f"the verdict on {used:,} samples of dimension {parent.dim}")
    # A cache folder made for this command is removed again if the command fails before writing in it.
    making = cache_path.parent if cache_path is not None and not cache_path.parent.is_dir() else None
    blocks = (  # disjoint rows per draw, read when used
        np.asarray(samples[draw * block : draw * block + used], dtype=np.float64) for draw in range(draws)
    )
    with folder_for_the_block(making, "--cache-dir") if making else contextlib.nullcontext():
        verdict = give_verdict(
            blocks, parent, seed=seed, train_rows=train_rows, cache=cache, max_n=max_n, repeats=repeats, quiet=quiet
        )
    verdict.available = block
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


def samples_and_parent(
    samples_path: Path, parent_dataset: str | None, parent_spec: dict | None, memorisation: bool
) -> tuple[np.ndarray, Parent, np.ndarray | None]:
    """The samples (checked), their parent and, with ``memorisation``, the training rows."""
    from gaussgan.data.datasets import load_dataset
    from gaussgan.distributions import parents_from_options

    train_rows = None
    samples = read_samples(samples_path)
    where, dim = repr(str(samples_path)), samples.shape[1]
    if parent_dataset is not None:
        rows, parent, _ = load_dataset(parent_dataset, dtype=np.float64)
        train_rows = rows if memorisation else None
        if dim != parent.dim:
            raise UserError(f"{where} holds samples of dimension {dim}; the parent has dimension {parent.dim}")
    else:
        assert parent_spec is not None
        spec = {key: parent_spec[key] for key in ("mu", "sigma", "xlo", "xhi")}
        hint = f"the samples have dimension {dim:,}: are they one sample per row?"
        [parent] = parents_from_options(parent_spec["name"], [dim], **spec, hint=hint)
    check_values(samples, where)
    return samples, parent, train_rows
