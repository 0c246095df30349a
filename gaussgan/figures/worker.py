"""Render figures in a separate process, so training never waits for matplotlib.

Figures are the slow part of an epoch (a 100-panel grid costs about a second to draw on
one core); a worker process draws them on another core while the next epoch trains.
At most ``max_pending`` epochs of figures wait in the queue, so memory stays bounded
when drawing is slower than training.

A worker may be given a ``guard``: called on every path among a job's arguments in the process that
saves the figure, just before it draws, so that a figure is saved only where its owner allows (a run
checks that the path lies inside it, with no link on the way) even when the folder changed since the
job was queued.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import PurePath

from gaussgan.errors import UserError
from gaussgan.system.interrupt import Terminated


def _ignore_interrupts() -> None:
    # Ctrl-C (and `timeout`, `scancel`, `kill -- -PGID`) signal the whole process group; the
    # main process decides when to stop, and the worker finishes the figures already asked for.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _draw(guard: Callable | None, function: Callable, arguments: tuple) -> None:
    """One figure job, its paths checked by ``guard`` first (a UserError it raises reaches the main process)."""
    if guard is not None:
        for argument in arguments:
            if isinstance(argument, PurePath):
                guard(argument)
    function(*arguments)


class FigureWorker:
    """Call plotting functions in a background process (or inline with ``background=False``).

    ``guard``, when given, must be picklable (a module-level function or a bound method): it travels to the
    worker process with each job."""

    def __init__(self, background: bool = True, max_pending: int = 3, guard: Callable | None = None):
        self.max_pending = max_pending
        self.guard = guard
        self._executor = (
            ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_ignore_interrupts)
            if background
            else None
        )
        self._batches: deque[list[Future]] = deque()

    def submit(self, jobs: list[tuple[Callable, tuple]]) -> None:
        """Draw one epoch's figures: a list of (function, arguments)."""
        if self._executor is None:
            for function, arguments in jobs:
                _draw(self.guard, function, arguments)
            return
        while len(self._batches) >= self.max_pending:
            self._wait(self._batches.popleft())
        self._batches.append(
            [self._executor.submit(_draw, self.guard, function, arguments) for function, arguments in jobs]
        )

    @staticmethod
    def _wait(futures: list[Future]) -> None:
        for future in futures:
            try:
                future.result()  # re-raises a plotting error here, in the main process (a UserError stays one)
            except BrokenProcessPool:
                raise UserError(
                    "the figure worker process died (out of memory, or killed); the epochs saved so far "
                    "are kept: continue with --resume, or draw figures inline with --inline-figures"
                ) from None

    def wait(self) -> None:
        """Wait until every figure asked for so far is drawn (the worker keeps running)."""
        while self._batches:
            self._wait(self._batches.popleft())

    def close(self, drop_pending: bool = False) -> None:
        """Wait for every figure asked for (unless ``drop_pending``), then stop the worker."""
        if drop_pending:
            self._batches.clear()
        try:
            while self._batches:
                self._wait(self._batches.popleft())
        except BaseException:
            drop_pending = True
            raise
        finally:
            if self._executor is None:  # inline: the figures kept for reuse belong to this run
                from gaussgan.figures.reuse import close_reused

                close_reused()
            else:
                # Figures not started are dropped; the one being drawn is waited for (a second at most),
                # so that no worker outlives the run and no temporary is left behind.
                self._executor.shutdown(wait=True, cancel_futures=drop_pending)

    def __enter__(self) -> FigureWorker:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
            return
        # Stopping on a signal: keep the figures of the epochs already done (seconds at most).
        # On an error, drop those not started yet. Either way the original exception is what surfaces,
        # and another Ctrl-C while waiting stops at once.
        try:
            self.close(drop_pending=not issubclass(exc_type, (KeyboardInterrupt, Terminated)))
        except BaseException:
            pass
