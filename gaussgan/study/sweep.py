"""``python -m gaussgan sweep STUDY.toml``: every run of a study, in parallel through Dask, restartable.

Each run is an ordinary :func:`gaussgan.gan.training.train` call in a Dask worker process (one torch thread
each), writing an ordinary run directory. The sweep is idempotent: a finished run is skipped, an unfinished
one resumed from its checkpoint, and a run directory made with other options is reported, never mixed
(:func:`run_state` decides, in one place). A stopped sweep (Ctrl-C, SIGTERM) kills its workers at once:
every run keeps its last checkpoint (files are only ever replaced whole, locks die with their process),
and the next sweep resumes it; the epoch under way when it stopped is trained again, identically.

By default the workers form a :class:`dask.distributed.LocalCluster` of processes on loopback; with
``--scheduler ADDRESS`` they are those of an existing Dask cluster, which must see the same file system.
"""

from __future__ import annotations

import contextlib
import io
import logging
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
from gaussgan.study.plan import DatasetSpec, PlannedRun, Study

EXIT_RUNS_FAILED = 1
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler that answers (one that refuses is reported at once)


# --- Which runs are done: the one place that decides -----------------------------------------------------
@dataclass(frozen=True)
class RunState:
    kind: str  # "new", "partial", "finished" or "changed"
    epochs_done: int = 0
    why: str = ""  # for "changed": what differs


def run_state(run: PlannedRun) -> RunState:
    """Where a planned run stands on disk: new (no run directory), partial (as planned, fewer epochs saved:
    resumed with ``--resume``), finished (:func:`is_finished`) or changed (made with other options, or not a
    run at all: reported, never mixed)."""

    directory = RunDirectory(run.run_dir)
    if not directory.exists():
        if run.run_dir.is_symlink() or run.run_dir.is_file() or run.run_dir.is_dir() and holds_files(run.run_dir):
            return RunState("changed", why="exists and is not a gaussgan run (no config.json)")
        return RunState("new")
    try:
        saved = directory.read_config()
    except UserError as error:
        return RunState("changed", why=str(error))
    changes = hyperparameter_changes(saved, run.config)
    if changes:
        return RunState("changed", why="; ".join(changes))
    epoch = checkpoint_epoch(directory.file(CHECKPOINT))
    if epoch > run.config.epochs:
        return RunState(
            "changed", epoch, f"has {epoch} epochs, the study asks for {run.config.epochs} (runs are only extended)"
        )
    if is_finished(run.run_dir, run.config.epochs, epoch):
        return RunState("finished", epoch)
    return RunState("partial", epoch)


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


def execute_run(name: str, options: dict) -> dict:
    """Train one run in this worker (a new one, or resumed); return what happened, never raise."""
    started = time.perf_counter()
    from gaussgan.gan.options import TrainConfig
    from gaussgan.gan.rundir import RunDirectory
    from gaussgan.gan.training import train

    result: dict[str, Any] = {
        "name": name,
        "ok": False,
        "error": "",
        "traceback": "",
        "resumed": False,
        "pid": os.getpid(),
    }
    with _ONE_RUN_AT_A_TIME:
        config = TrainConfig(**options)
        result["resumed"] = RunDirectory(Path(config.runs_dir) / name).exists()
        output = io.StringIO()  # train's lines (run directory, seed, done) would interleave on the terminal
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                train(replace(config, resume=result["resumed"]))
            result["ok"] = True
        except UserError as error:
            result["error"] = str(error)
        except Exception as error:  # a bug: its traceback goes with it
            result["error"] = f"{type(error).__name__}: {error}"
            result["traceback"] = traceback.format_exc()
    result["seconds"] = time.perf_counter() - started
    return result


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


# --- The cluster -----------------------------------------------------------------------------------------
def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_reachable(address: str) -> None:
    """A scheduler that refuses the connection is reported at once (Dask would retry until its timeout)."""
    import socket
    from urllib.parse import urlsplit

    if "://" not in address:
        address = f"tcp://{address}"
    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls"):
        raise UserError(f"--scheduler {address!r}: expected tcp://HOST:PORT or tls://HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise UserError(f"--scheduler {address!r}: expected tcp://HOST:PORT (a dask scheduler listens on 8786)")
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise UserError(
            f"cannot reach the Dask scheduler at {address}: {error.strerror or error}; expected a running "
            "`dask scheduler` at that address"
        ) from None


class Cluster:
    """A Dask client, and the local cluster behind it when the sweep started one."""

    def __init__(self, scheduler: str | None, workers: int, background_figures: bool = False):
        import dask
        from dask.distributed import Client, LocalCluster

        self.local = None
        logging.getLogger("distributed").setLevel(logging.ERROR)
        if scheduler:
            check_reachable(scheduler)
            try:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as error:
                raise UserError(f"cannot connect to the Dask scheduler at {scheduler}: {error}") from None
            try:
                self.check_environment(scheduler)
            except BaseException:
                self.close()
                raise
            return
        # Killed workers leave their semaphores (a run's figure worker queues) to multiprocessing's resource
        # tracker, which removes them and says so at exit: expected, not worth a warning. Set before the
        # tracker starts (with the cluster), inherited by it.
        os.environ["PYTHONWARNINGS"] = ",".join(
            filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:resource_tracker:UserWarning"])
        )
        # A daemonic process may not start processes: the figure worker of a run needs a worker that is not.
        settings = {"distributed.worker.daemon": not background_figures, "distributed.scheduler.allowed-failures": 1}
        with dask.config.set(settings):
            self.local = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
                preload=["gaussgan.study.sweep"],
            )
            self.client = Client(self.local)

    def check_environment(self, scheduler: str) -> None:
        """The scheduler unpickles the runs' function and the workers run it: both need this gaussgan."""
        import importlib.util

        where = {"scheduler": [self.client.run_on_scheduler(importlib.util.find_spec, __name__)]}
        where["worker"] = list(self.client.run(importlib.util.find_spec, __name__).values())
        for role, specs in where.items():
            if any(spec is None for spec in specs):
                raise UserError(
                    f"a Dask {role} at {scheduler} cannot import {__name__}; expected the scheduler and workers "
                    "started from the environment this command runs in (gaussgan installed there, or on PYTHONPATH)"
                )

    def describe(self) -> str:
        if self.local is not None:
            return f"{len(self.local.workers)} local workers"
        workers = self.client.scheduler_info().get("workers", {})
        return f"the Dask cluster at {self.client.scheduler_info().get('address', '?')} ({len(workers)} workers now)"

    def stop_now(self, futures: list) -> None:
        """Stop the runs under way at once. Local workers are killed; on an external cluster the runs (the
        ``futures``) are cancelled and the workers running them restarted, so that nothing keeps writing them."""
        if self.local is not None:
            import psutil  # a dependency of distributed

            for nanny in list(self.local.workers.values()):
                pid = getattr(getattr(nanny, "process", None), "pid", None)
                try:
                    worker = psutil.Process(pid) if pid else None
                    # A run's own processes (its figure worker with --background-figures) go with it.
                    family = [*worker.children(recursive=True), worker] if worker else []
                except psutil.NoSuchProcess:
                    continue
                for process in family:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        process.kill()
            return
        keys = {str(future.key) for future in futures}
        try:
            busy = [
                worker for worker, running in self.client.processing().items() if keys & {str(key) for key in running}
            ]
            # Forgotten by the scheduler first (the call waits for it): a run whose worker is restarted
            # must not be given to another worker.
            self.client.cancel(futures, force=True)
            if busy:
                print(f"restarting the {len(busy)} workers that were running this sweep's runs", file=sys.stderr)
                self.client.restart_workers(busy, timeout=30, raise_for_error=False)
        except Exception as error:  # the cluster went away meanwhile: nothing left to stop there
            print(f"note: could not stop the runs on the cluster ({type(error).__name__}: {error})", file=sys.stderr)

    def close(self) -> None:
        """Close the client, and the local cluster. Its workers are killed first: by now they are idle (or must
        stop at once), and a graceful exit of a process that has imported torch takes seconds."""
        if self.local is not None:
            self.stop_now([])
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
        if self.local is not None:
            with contextlib.suppress(Exception):
                self.local.close(timeout=10)


# --- The sweep ----------------------------------------------------------------------------------------------
def run_sweep(study: Study, runs, todo, states, missing, args) -> int:
    from gaussgan.system.files import folder_for_the_block
    from gaussgan.system.locks import exclusive

    workers = args.workers or min(available_cores(), len(todo))
    runs_dir = study.runs_dir.resolve()
    resumed = sum(1 for run in todo if states[run.name].kind == "partial")
    with contextlib.ExitStack() as stack:
        # One sweep per runs directory (before any worker starts); the folder and the lock go again if the
        # cluster cannot be reached.
        stack.enter_context(folder_for_the_block(runs_dir, "runs directory"))
        stack.enter_context(exclusive(runs_dir, "study runs directory"))
        cluster = Cluster(args.scheduler, workers, background_figures=args.background_figures)
        stack.callback(cluster.close)
        print(
            f"study {study.name}: {len(runs)} runs in {runs_dir}: {len(runs) - len(todo)} done, {resumed} to resume, "
            f"{len(todo) - resumed} to start; on {cluster.describe()}",
            flush=True,
        )
        if missing:
            print(f"generating {len(missing)} datasets in {study.datasets_dir}", flush=True)
            generate_datasets(missing)
        started = time.perf_counter()
        results = execute(cluster, todo, quiet=args.quiet)
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


def execute(cluster: Cluster, todo: list[PlannedRun], quiet: bool) -> list[dict]:
    """Submit every run (longest first), collect results as they come, stop at once on Ctrl-C / SIGTERM."""
    from tqdm import tqdm

    from gaussgan.system.interrupt import GracefulStop

    order = sorted(todo, key=lambda run: -run.cost())
    finished: queue.Queue = queue.Queue()
    token = uuid.uuid4().hex[:8]
    futures: dict[str, tuple[Any, PlannedRun]] = {}
    results: list[dict] = []
    bar = tqdm(total=len(todo), unit="run", disable=quiet or None, file=sys.stderr, smoothing=0, dynamic_ncols=True)
    lines = not quiet and bar.disable  # no terminal: a line per run instead of the bar (logs, batch jobs)
    with GracefulStop() as stop:
        try:
            for rank, run in enumerate(order):
                future = cluster.client.submit(
                    execute_run,
                    run.name,
                    asdict(run.config),
                    key=f"gaussgan-run-{run.name}-{token}",
                    priority=len(order) - rank,
                    pure=False,
                )
                future.add_done_callback(finished.put)
                futures[str(future.key)] = (future, run)
            while len(results) < len(order):
                if stop.requested:
                    break
                try:
                    future = finished.get(timeout=0.2)
                except queue.Empty:
                    continue
                result = collect(future, futures[str(future.key)][1])
                results.append(result)
                bar.update(1)
                report_result(result, bar, lines, len(results), len(order))
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


def collect(future, run: PlannedRun) -> dict:
    """The result of one run's task, or why its task failed (its worker died, ...)."""
    try:
        return future.result()
    except Exception as error:  # the task itself never raises: this is Dask's own report
        name = type(error).__name__
        why = "the worker running it died (out of memory, or killed)" if name == "KilledWorker" else str(error)
        return {"name": run.name, "ok": False, "error": f"{name}: {why}", "traceback": "", "seconds": float("nan")}


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
        f"{counts[kind]} {kind}" for kind in ("finished", "partial", "new", "changed") if kind in counts
    )
    print(f"study {study.name}: {len(runs)} runs in {study.runs_dir.resolve()} ({summary})")
    width = max(len(run.name) for run in runs)
    for run in runs:
        state = states[run.name]
        detail = ""
        if state.kind == "partial":
            detail = f"epoch {state.epochs_done}/{run.config.epochs}"
        elif state.kind == "changed":
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
