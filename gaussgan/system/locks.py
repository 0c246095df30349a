"""One writer per output: an exclusive advisory lock held for the life of the writing process.

The lock is ``flock`` on a hidden file next to the output (``.<name>.lock``), so it dies with
its process, ``kill -9`` included, and never needs cleaning by hand. A second writer gets a
clear error naming the holder's PID instead of mixing its output with the first one's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from gaussgan.errors import UserError


def lock_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.parent / f".{output.name}.lock"


@contextlib.contextmanager
def exclusive(output: str | os.PathLike, what: str, wait: bool = False) -> Iterator[None]:
    """Hold the lock of ``output`` while the block runs; another holder is a UserError (with ``wait``:
    wait for it to finish, for a cache that the first holder fills and the next one reads).

    The lock file is removed on release. Removing it is safe because a process that locked
    the file just before it was unlinked sees, after locking, that the path now names another
    file (or none) and tries again on the new one.
    """
    path = lock_path(output)
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise UserError(f"cannot lock {what} {str(output)!r}: {error.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(handle)
            raise UserError(
                f"{what} {str(output)!r} is being written by another process (PID {holder}); "
                "wait for it to finish or stop it"
            ) from None
        try:
            same = os.fstat(handle).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(handle)  # it was unlinked by the previous holder between our open and our lock
    try:
        with contextlib.suppress(OSError):  # the PID only informs a second writer; a full disk must not stop us here
            os.ftruncate(handle, 0)
            os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(handle)
