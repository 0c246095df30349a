"""Atomic file writing: a file appears complete or not at all.

Write to a temporary file in the destination's folder (same file system, so the
final ``os.replace`` is atomic), and remove it on any failure or interruption.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from gaussgan.errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)


def check_writable_dir(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``folder`` if needed and check that files can be written in it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} {str(folder)!r} is a file; expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create {what} {str(folder)!r}: {error.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{what} {str(folder)!r} is not writable")
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    The temporary name keeps the destination's suffix (unless ``suffix`` is given), so
    libraries that pick a format from the extension (matplotlib, numpy) still do.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    except OSError as error:
        raise UserError(f"cannot write in {str(path.parent)!r}: {error.strerror}") from None
    os.close(handle)
    temporary = Path(temporary)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
    try:
        yield temporary
        try:
            os.replace(temporary, path)
        except OSError as error:  # e.g. the destination is a folder
            raise UserError(f"cannot write {str(path)!r}: {error.strerror}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
