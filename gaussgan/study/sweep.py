"""``python -m gaussgan sweep STUDY.toml``: every run of a study, in parallel through Dask, restartable.

Each run is an ordinary :func:`gaussgan.gan.training.train` call in a Dask worker process (one torch thread
each), writing an ordinary run directory. The sweep is idempotent: a finished run is skipped, an unfinished
one resumed from its checkpoint, and a run directory made with other options is reported, never mixed
(:func:`run_state` decides, in one place). A stopped sweep (Ctrl-C, SIGTERM) kills its workers at once:
every run keeps its last checkpoint (files are only ever replaced whole, locks die with their process),
and the next sweep resumes it; the epoch under way when it stopped is trained again, identically.

A finished run whose verdict was given with other verdict options (``max_n``, ``null_repeats``, ``draws``) is judged
again, as ``train.py --verdict-only`` judges it, its epochs kept; a run whose epochs were made with another
``eval_every`` is reported like any changed option.

By default the workers form a :class:`dask.distributed.LocalCluster` of processes on loopback; with
``--scheduler ADDRESS`` they are those of an existing Dask cluster, which must see the same file system
(:mod:`gaussgan.study.cluster` says how it is reached, securely).
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from gaussgan.errors import UserError
from gaussgan.gan.options import hyperparameter_changes
from gaussgan.gan.rundir import CHECKPOINT, RunDirectory, checkpoint_epoch, holds_files, is_finished
from gaussgan.stats.verdict import PROCEDURE
from gaussgan.study.cluster import Cluster, SchedulerAddress
from gaussgan.study.packs import make_packs, pack_command
from gaussgan.study.plan import DatasetSpec, PlannedRun, Study

EXIT_RUNS_FAILED = 1
# The verdict's options: those a finished run is judged again for (train.py --verdict-only redoes its verdict,
# its epochs kept), and the one that shaped the epochs themselves (their costly metrics' cadence): a run made
# with another is reported as changed, never mixed.
REJUDGED = ("max_n", "null_repeats", "draws")
NOT_MIXED = ("eval_every",)


# --- Which runs are done: the one place that decides -----------------------------------------------------
@dataclass(frozen=True)
class RunState:
    kind: str  # "new", "partial", "finished", "rejudge" or "changed"
    epochs_done: int = 0
    why: str = ""  # for "changed" and "rejudge": what differs


def run_state(run: PlannedRun) -> RunState:
    """Where a planned run stands on disk: new (no run directory), partial (as planned, fewer epochs saved:
    resumed with ``--resume``), finished (:func:`is_finished`, its verdict given with the study's verdict
    options), rejudge (finished, its verdict given with other ones, or unreadable) or changed (made with other
    options, or not a run at all: reported, never mixed)."""

    directory = RunDirectory(run.run_dir)
    if not directory.exists():
        if run.run_dir.is_symlink() or run.run_dir.is_file() or run.run_dir.is_dir() and holds_files(run.run_dir):
            return RunState("changed", why="exists and is not a gaussgan run (no config.json)")
        return RunState("new")
    try:
        directory.check_opened()  # a link anywhere in the run: reported, never followed
        saved = directory.read_config()
    except UserError as error:
        return RunState("changed", why=str(error))
    changes = hyperparameter_changes(saved, run.config) + option_changes(saved, run.config, NOT_MIXED)
    if changes:
        return RunState("changed", why="; ".join(changes))
    epoch = checkpoint_epoch(directory.file(CHECKPOINT))
    if epoch > run.config.epochs:
        return RunState(
            "changed", epoch, f"has {epoch} epochs, the study asks for {run.config.epochs} (runs are only extended)"
        )
    if is_finished(run.run_dir, run.config.epochs, epoch):
        stale = verdict_changes(directory, saved, run.config)
        return RunState("rejudge", epoch, "; ".join(stale)) if stale else RunState("finished", epoch)
    return RunState("partial", epoch)


def option_changes(saved: dict, config, names: tuple[str, ...]) -> list[str]:
    return [
        f"{name}: {saved[name]!r} -> {getattr(config, name)!r}"
        for name in names
        if saved[name] != getattr(config, name)
    ]


def verdict_changes(directory: RunDirectory, saved: dict, config) -> list[str]:
    """How a finished run's verdict differs from the one the study asks for ([] when it is that one): its
    max_n as verdict.json records it, its null_repeats as config.json does (the sweep records it there when it
    judges a run again). A verdict.json that cannot be read is judged again: it is only ever recomputed."""
    verdict = directory.read_verdict()
    judged = verdict.get("max_n")
    if not isinstance(judged, int) or isinstance(judged, bool) or "n_star" not in verdict:
        return ["its verdict.json is unreadable or incomplete"]
    if verdict.get("procedure") != PROCEDURE:
        return ["its verdict was given by an earlier procedure (n* from 1,000, confirmed by the next size)"]
    return option_changes({**saved, "max_n": judged}, config, REJUDGED)


def record_verdict_options(run_dir: Path, config) -> None:
    """After ``--verdict-only``: config.json records the verdict options the run was judged with, as a resumed
    run's does, so that the next sweep finds it finished (the run's lock held, as train.py holds it)."""
    from gaussgan.system.locks import exclusive

    directory = RunDirectory(run_dir)
    with exclusive(run_dir, "run directory"):
        saved = directory.read_config()
        directory.write_config({**saved, **{name: getattr(config, name) for name in REJUDGED}})


# --- Datasets --------------------------------------------------------------------------------------------
def dataset_difference(spec: DatasetSpec) -> str:
    """How an existing generated dataset differs from what the study asks for ('' when it is the one)."""
    import h5py
    import numpy as np

    from gaussgan.data.datasets import read_metadata
    from gaussgan.distributions import make_parent
    from gaussgan.system.files import check_regular_file

    generation = spec.generation
    if generation is None:  # a given file: used as it is
        return ""
    check_regular_file(spec.path, "dataset")
    try:
        with h5py.File(spec.path, "r") as handle:
            parent, fields = read_metadata(handle, spec.path)
    except OSError:
        return "it is not a readable HDF5 file"
    expected = make_parent(generation.dist, spec.dim, generation.mu, generation.sigma, generation.xlo, generation.xhi)
    differences = []
    for name, saved, wanted in (
        ("parent", parent.describe(), expected.describe()),
        ("samples", fields.get("n_total"), generation.n_samples * generation.n_batches),
        ("seed", fields.get("seed"), generation.seed),
    ):
        if saved != wanted:
            differences.append(f"{name} {saved} (the study: {wanted})")
    if not differences and not np.array_equal(parent.sigma, expected.sigma):
        differences.append("another covariance")
    return ", ".join(differences)


def check_datasets(datasets: list[DatasetSpec]) -> list[DatasetSpec]:
    """The generated datasets still to make; one that exists with other options is an error (nothing written)."""
    missing = []
    for spec in datasets:
        if spec.generation is None:
            continue
        if not os.path.lexists(spec.path):
            missing.append(spec)
            continue
        difference = dataset_difference(spec)
        if difference:
            raise UserError(
                f"dataset {spec.path} exists but was not made with the study's options ({difference}); "
                "expected the same options, another --datasets-dir, or the file moved away"
            )
    return missing


def generate_datasets(missing: list[DatasetSpec]) -> None:
    from gaussgan.data.generation import generate

    for spec in missing:
        if spec.generation is not None:
            generate(spec.generation)


# --- In a worker ------------------------------------------------------------------------------------------
# Runs set process-wide torch state (the weight-initialisation seed, the thread count): one at a time per
# process, whatever the number of threads a worker was started with.
_ONE_RUN_AT_A_TIME = threading.Lock()


def execute_pack(names: list[str], options: list[dict], rejudge: bool = False) -> list[dict]:
    """Train runs together in this worker (new ones, or resumed), or with ``rejudge`` give a finished run its
    verdict again (``--verdict-only``); return what happened to each, never raise."""
    started = time.perf_counter()
    from gaussgan.gan.options import TrainConfig
    from gaussgan.gan.training import train, train_together

    results: list[dict[str, Any]] = [
        {"name": name, "ok": False, "error": "", "traceback": "", "resumed": False, "pid": os.getpid()}
        for name in names
    ]
    with _ONE_RUN_AT_A_TIME:
        configs = [TrainConfig(**words) for words in options]
        for result, config in zip(results, configs, strict=True):
            result["resumed"] = RunDirectory(Path(config.runs_dir) / result["name"]).exists()
        output = io.StringIO()  # train's lines (run directory, seed, done) would interleave on the terminal
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                if rejudge:
                    train(replace(configs[0], verdict_only=True))
                    record_verdict_options(Path(configs[0].runs_dir) / names[0], configs[0])
                    results[0]["ok"] = True
                else:
                    resumed = [replace(c, resume=r["resumed"]) for c, r in zip(configs, results, strict=True)]
                    for result, (_, failure) in zip(results, train_together(resumed), strict=True):
                        result["ok"], result["error"] = not failure, failure
        except UserError as error:
            for result in results:
                result["error"] = str(error)
        except Exception as error:  # a bug: its traceback goes with it
            for result in results:
                result["error"] = f"{type(error).__name__}: {error}"
                result["traceback"] = traceback.format_exc()
    for result in results:  # each run's share of the pack's time
        result["seconds"] = (time.perf_counter() - started) / len(results)
    return results


def dask_setup(worker) -> None:
    """Preload of the local workers: Ctrl-C reaches the whole process group, but the sweep decides when its
    workers stop (it kills them); and the imports a run needs are paid once, while the cluster starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default lock holds a multiprocessing semaphore, which a killed worker would leave behind (and
    # Python warn about); a run's bars are off in a sweep, and one process needs no cross-process lock.
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    warm_up()


def warm_up() -> None:
    """What the first run in a fresh process would otherwise pay for (1-2 s): the imports, torch's first
    optimiser step (it loads torch._dynamo and sympy), and matplotlib's first text on a log axis (its fonts
    and math-text parser)."""
    import h5py  # noqa: F401
    import pandas  # noqa: F401
    import scipy.stats  # noqa: F401
    import torch

    import gaussgan.data.datasets  # noqa: F401
    import gaussgan.gan.training  # noqa: F401
    from gaussgan.figures import plots

    layer = torch.nn.Linear(1, 1)
    optimiser = torch.optim.Adam(layer.parameters())
    layer(torch.ones(1, 1)).sum().backward()
    optimiser.step()

    plt = plots.pyplot()
    figure, axes = plt.subplots(figsize=(2, 2))
    axes.semilogy([1, 2], [1e-3, 1e3], label="warm-up")
    axes.set_title("warm-up")
    axes.legend()
    figure.savefig(io.BytesIO(), format="png", dpi=40)
    plt.close(figure)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# --- The sweep ----------------------------------------------------------------------------------------------
def run_sweep(study: Study, runs, todo, states, missing, args, scheduler: SchedulerAddress | None = None) -> int:
    from gaussgan.system.files import folder_for_the_block
    from gaussgan.system.locks import exclusive

    runs_dir = study.runs_dir.resolve()
    resumed = sum(1 for run in todo if states[run.name].kind == "partial")
    rejudged = {run.name for run in todo if states[run.name].kind == "rejudge"}
    workers = args.workers or min(available_cores(), len(todo))
    packs = make_packs(todo, rejudged, args.pack, workers)
    workers = min(workers, len(packs)) if not args.workers else workers
    with contextlib.ExitStack() as stack:
        # One sweep per runs directory (before any worker starts); the folder and the lock go again if the
        # cluster cannot be reached.
        stack.enter_context(folder_for_the_block(runs_dir, "runs directory"))
        stack.enter_context(exclusive(runs_dir, "study runs directory"))
        cluster = Cluster(scheduler, workers, background_figures=args.background_figures)
        stack.callback(cluster.close)
        again = f"{len(rejudged)} to judge again, " if rejudged else ""
        print(
            f"study {study.name}: {len(runs)} runs in {runs_dir}: {len(runs) - len(todo)} done, {again}"
            f"{resumed} to resume, {len(todo) - resumed - len(rejudged)} to start; on {cluster.describe()}",
            flush=True,
        )
        if missing:
            print(f"generating {len(missing)} datasets in {study.datasets_dir}", flush=True)
            generate_datasets(missing)
        started = time.perf_counter()
        results = execute(cluster, packs, rejudged, quiet=args.quiet)
    failed = [result for result in results if not result["ok"]]
    elapsed = time.perf_counter() - started
    print(
        f"study {study.name}: {len(todo) - len(failed)} of {len(todo)} runs trained in {format_seconds(elapsed)}; "
        f"{len(runs) - len(failed)} of {len(runs)} done. Report: python -m gaussgan report {study.path} "
        f"-o report/{study.name}",
        flush=True,
    )
    if failed:
        names = ", ".join(result["name"] for result in failed[:5]) + (" ..." if len(failed) > 5 else "")
        print(f"error: {len(failed)} of {len(todo)} runs failed (their errors are above): {names}", file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0


def execute(cluster: Cluster, packs: list[list[PlannedRun]], rejudged: set[str], quiet: bool) -> list[dict]:
    """Submit every pack of runs trained together (the longest first; those in ``rejudged`` to be judged again
    only), collect each run's result as it comes, stop at once on Ctrl-C / SIGTERM."""
    from tqdm import tqdm

    from gaussgan.system.interrupt import GracefulStop

    packs = sorted(packs, key=lambda runs: -sum(run.cost() for run in runs))
    total = sum(len(runs) for runs in packs)
    finished: queue.Queue = queue.Queue()
    token = uuid.uuid4().hex[:8]
    futures: dict[str, tuple[Any, list[PlannedRun]]] = {}
    results: list[dict] = []
    bar = tqdm(total=total, unit="run", disable=quiet or None, file=sys.stderr, smoothing=0, dynamic_ncols=True)
    lines = not quiet and bar.disable  # no terminal: a line per run instead of the bar (logs, batch jobs)
    with GracefulStop() as stop:
        try:
            for rank, runs in enumerate(packs):
                # The command each run records makes the whole pack again, with the same names.
                command = pack_command([run.config for run in runs])
                future = cluster.client.submit(
                    execute_pack,
                    [run.name for run in runs],
                    [asdict(replace(run.config, command=command)) for run in runs],
                    runs[0].name in rejudged,
                    key=f"gaussgan-run-{runs[0].name}-{token}",
                    priority=len(packs) - rank,
                    pure=False,
                )
                future.add_done_callback(finished.put)
                futures[str(future.key)] = (future, runs)
            while len(results) < total:
                if stop.requested:
                    break
                try:
                    future = finished.get(timeout=0.2)
                except queue.Empty:
                    continue
                for result in collect(future, futures[str(future.key)][1]):
                    results.append(result)
                    bar.update(1)
                    report_result(result, bar, lines, len(results), total)
        except BaseException:
            cluster.stop_now([future for future, _ in futures.values()])
            bar.close()
            raise
        if stop.requested:
            cluster.stop_now([future for future, _ in futures.values()])
            bar.close()
            print(
                f"stopped: {sum(result['ok'] for result in results)} runs completed in this sweep; the others keep "
                "their last checkpoint. Run the same command again to continue",
                file=sys.stderr,
            )
            stop.raise_if_requested()
    bar.close()
    return results


def collect(future, runs: list[PlannedRun]) -> list[dict]:
    """The results of one pack's task, or why its task failed (its worker died, ...), for each of its runs."""
    try:
        return future.result()
    except Exception as error:  # the task itself never raises: this is Dask's own report
        name = type(error).__name__
        why = "the worker running it died (out of memory, or killed)" if name == "KilledWorker" else str(error)
        return [
            {"name": run.name, "ok": False, "error": f"{name}: {why}", "traceback": "", "seconds": float("nan")}
            for run in runs
        ]


def report_result(result: dict, bar, lines: bool, count: int, total: int) -> None:
    if not result["ok"]:
        bar.write(f"failed: {result['name']}: {result['error'].splitlines()[0] if result['error'] else ''}", sys.stderr)
        if result.get("traceback"):
            bar.write(result["traceback"].rstrip(), sys.stderr)
    elif lines:
        print(f"[{count}/{total}] done {result['name']} ({result['seconds']:.1f} s)", file=sys.stderr, flush=True)


def print_plan(study: Study, runs: list[PlannedRun], states: dict, missing: list[DatasetSpec]) -> None:
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state.kind] = counts.get(state.kind, 0) + 1
    summary = ", ".join(
        f"{counts[kind]} {kind}" for kind in ("finished", "rejudge", "partial", "new", "changed") if kind in counts
    )
    print(f"study {study.name}: {len(runs)} runs in {study.runs_dir.resolve()} ({summary})")
    width = max(len(run.name) for run in runs)
    for run in runs:
        state = states[run.name]
        detail = ""
        if state.kind == "partial":
            detail = f"epoch {state.epochs_done}/{run.config.epochs}"
        elif state.kind in ("changed", "rejudge"):
            detail = state.why
        print(f"  {state.kind:<8}  {run.name:<{width}}  {detail}".rstrip())
    if missing:
        print(
            f"datasets to generate: {', '.join(spec.path.name for spec in missing)} in {study.datasets_dir.resolve()}"
        )


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"
