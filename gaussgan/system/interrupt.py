"""Graceful stopping: the first Ctrl-C or SIGTERM asks the work to stop at a safe point.

Long loops check :attr:`GracefulStop.requested` after each step, save what they have, and
then raise :class:`KeyboardInterrupt` (exit 130) or :class:`Terminated` (exit 143).
A second Ctrl-C stops at once; files are written atomically, so what was saved stays intact.
Outside those blocks (start-up, the verdict) a signal stops at once, and is remembered: should its
exception be lost on the way, the next block still stops at its first check.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, NoReturn


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that the same cleanup runs."""


# The stop signal received outside any GracefulStop block (None: none). Raising from a signal handler
# is not enough on its own: the exception lands wherever the main thread happens to be, and some
# places swallow it (an extension module's import, a finalizer); a run then trained on as if never
# asked to stop. Recorded here too, the request is honoured by the next GracefulStop block.
received: int | None = None


def stop_exception(signum: int) -> BaseException:
    """What a stop on ``signum`` raises: KeyboardInterrupt for Ctrl-C, Terminated otherwise."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


def raise_for_signal(signum, frame) -> NoReturn:
    """The handler outside GracefulStop blocks: stop now, and remember it."""
    global received
    received = signum
    raise stop_exception(signum)


class GracefulStop:
    """Context manager that turns SIGINT / SIGTERM into a flag while the block runs."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}  # what signal.signal returned: a handler or a constant

    def _handle(self, signum, frame) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        self.requested = signum

    def raise_if_requested(self) -> None:
        """Raise the exception that matches the signal received, if any."""
        if self.requested is not None:
            raise stop_exception(self.requested)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            # Read before the handlers go in: a signal that lands between them sets the flag, which this
            # assignment must not then overwrite (seen: a Ctrl-C just after start-up, and the run went on).
            self.requested = received  # a request whose exception was swallowed: stop at the first check
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
