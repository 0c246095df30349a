"""Safe file handling: outputs stay in their folder, appear complete or not at all, and
every write failure (disk full, size limit, permissions) is a clear error.

Atomic writes go to a temporary file in the destination's folder (same file system, so the
final ``os.replace`` is atomic). The temporary's name carries the writer's PID, so one left
behind by a ``kill -9`` is recognisable and removed by the next writer that finds its
process dead (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from gaussgan.errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)
# .<destination name>.<pid>.<random>.tmp<suffix>
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp[^/]*$")


def reason(error: BaseException) -> str:
    """A short human reason for an OS or library error (h5py puts errno in its message only)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    for code, name in (
        (errno.ENOSPC, "No space left on device"),
        (errno.EFBIG, "File too large"),
        (errno.EDQUOT, "Disk quota exceeded"),
        (errno.EROFS, "Read-only file system"),
        (errno.EACCES, "Permission denied"),
    ):
        if f"errno = {code}," in text or name in text:
            return name
    return text


def safe_name(name: str, option: str) -> str:
    """A file or folder name made from user input (a postfix, a run name): one path component."""
    if "/" in name or "\\" in name or "\0" in name or ".." in name or name == ".":
        raise UserError(f"{option} {name!r} is not a plain name: expected no '/', '\\' or '..'")
    return name


def inside(path: str | os.PathLike, folder: str | os.PathLike, what: str = "output") -> Path:
    """``path``, checked to lie inside ``folder`` once both are resolved (symlinks included)."""
    path, folder = Path(path), Path(folder).resolve()
    resolved = path.resolve()
    if resolved != folder and folder not in resolved.parents:
        raise UserError(f"{what} {str(path)!r} would be written outside its folder {str(folder)!r}")
    return path


def check_writable_dir(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``folder`` if needed and check that files can be written in it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} {str(folder)!r} is a file; expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create {what} {str(folder)!r}: {reason(error)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{what} {str(folder)!r} is not writable")
    return folder


def check_regular_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` exists and is a regular file (a FIFO or device would hang or never end)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UserError(f"{what} {str(path)!r} does not exist") from None
    except OSError as error:
        raise UserError(f"cannot read {what} {str(path)!r}: {reason(error)}") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{what} {str(path)!r} is a folder; expected a file")
    if not stat.S_ISREG(mode):
        raise UserError(f"{what} {str(path)!r} is not a regular file (a pipe, socket or device); expected a file")
    return path


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Remove temporaries in ``folder`` left by writers that died (kill -9); return how many."""
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(str(folder)):
            match = _TEMPORARY.match(entry.name)
            if match and int(match.group(1)) != os.getpid() and not _process_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    The temporary name keeps the destination's suffix (unless ``suffix`` is given), so
    libraries that pick a format from the extension (matplotlib, numpy) still do. An OS
    error inside the block (disk full, file-size limit) becomes a UserError naming ``path``;
    the previous file at ``path`` stays intact and the temporary is removed.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    remove_stale_temporaries(path.parent)
    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}"
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_UMASK))
    except OSError as error:
        raise UserError(f"cannot write in {str(path.parent)!r}: {reason(error)}") from None
    try:
        try:
            yield temporary
            os.replace(temporary, path)
        except OSError as error:  # disk full, file too large, the destination is a folder, ...
            raise UserError(f"cannot write {str(path)!r}: {reason(error)}") from None
        except RuntimeError as error:  # h5py reports some failed writes as RuntimeError
            if "errno" not in str(error) and "write" not in str(error).lower():
                raise
            raise UserError(f"cannot write {str(path)!r}: {reason(error)}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def load_torch_file(path: str | os.PathLike, what: str) -> dict:
    """Read a checkpoint or model file safely: tensors and plain values only, onto the CPU.

    Nothing in the file can run code (``weights_only=True``); callers check that the tensors
    fit the architecture the file claims before building anything from it.
    """
    import pickle
    import warnings

    import torch

    path = check_regular_file(path, what)
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before refusing them
            warnings.simplefilter("ignore")
            content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unsupported content"
        raise UserError(f"{path} is not a safe {what}: refused to load it ({first_line})") from None
    except OSError as error:
        raise UserError(f"cannot read {what} {str(path)!r}: {reason(error)}") from None
    except Exception as error:  # torch.load raises many types on damaged or foreign content
        raise UserError(f"{path} is not a readable {what} ({type(error).__name__})") from None
    if not isinstance(content, dict):
        raise UserError(f"{path} is not a {what}: expected a dictionary of tensors and values")
    return content


def holds_its_values(tensor) -> bool:
    """Whether a tensor read from a file really holds every value its shape claims.

    A crafted file can claim a huge tensor backed by a few bytes (a zero stride repeats one number over
    any shape, an offset points past the data): a contiguous tensor whose storage, from its offset on,
    has room for every element was stored in full. Used for every weight read from a file.
    """
    stored = tensor.untyped_storage().nbytes() - tensor.storage_offset() * tensor.element_size()
    return tensor.is_contiguous() and stored >= tensor.numel() * tensor.element_size()


def save_torch_file(content: dict, path: str | os.PathLike) -> None:
    """Write ``content`` atomically with torch.save; the same content always gives the same bytes."""
    import io

    import torch

    # Through memory: torch.save names the archive inside after the file it writes, and the
    # temporary file's name is random.
    buffer = io.BytesIO()
    torch.save(content, buffer)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())


def refuse_existing(paths, force: bool) -> None:
    """The one overwrite rule of every command: an existing output is kept unless ``--force``.

    Called with every output of a command before any is written, so a refusal leaves nothing
    half-done. A dangling symlink counts as existing: replacing it would write where it points.
    """
    if force:
        return
    existing = [str(path) for path in paths if os.path.lexists(path)]
    if not existing:
        return
    shown = ", ".join(repr(name) for name in existing[:3])
    if len(existing) > 3:
        shown += f" and {len(existing) - 3} more"
    if len(existing) == 1:
        raise UserError(f"{shown} exists; it is kept as it is: use --force to replace it")
    raise UserError(f"{shown} exist; they are kept as they are: use --force to replace them")


def check_output_file(
    path: str | os.PathLike, suffixes: tuple[str, ...], what: str, *, force: bool, inputs: tuple = ()
) -> Path:
    """An output file a command is about to write: one of ``suffixes``, in an existing folder, not a folder
    itself, never one of the command's ``inputs`` (even under another name), and replaced only with
    ``force`` (:func:`refuse_existing`). Checked before any work, so a refusal costs nothing."""
    path = Path(path)
    listing = suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"
    if path.suffix not in suffixes:
        raise UserError(f"{what} {str(path)!r}: expected a file name ending in {listing}")
    if not path.parent.is_dir():
        raise UserError(f"the folder of {what} {str(path)!r} does not exist (or is not a folder)")
    if path.is_dir():
        raise UserError(f"{what} {str(path)!r} is a folder; expected a file name ending in {listing}")
    for source in inputs:
        with contextlib.suppress(OSError):
            if source is not None and path.exists() and os.path.samefile(path, source):
                raise UserError(f"{what} {str(path)!r} is an input of this command ({source}); expected another name")
    refuse_existing([path], force)
    return path


def check_destination(path: Path, what: str = "--model-path") -> None:
    """Fail before the work, not after it, when its result could not be saved at ``path``.

    An existing path must be a regular file: saving replaces it, and a FIFO or a device
    (``/dev/null``) must never be replaced by a model.
    """
    folder = path.parent
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise UserError(f"cannot use {what} {str(path)!r}: {error.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UserError(f"{what} {str(path)!r} is a folder; expected a file name")
    if mode is not None and not stat.S_ISREG(mode):
        raise UserError(
            f"{what} {str(path)!r} exists and is not a regular file (a pipe, socket or device); expected a file name"
        )
    if not folder.is_dir():
        raise UserError(f"the folder of {what} {str(path)!r} does not exist; create {str(folder)!r} first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write in {str(folder)!r}, the folder of {what} {str(path)!r}")


@contextlib.contextmanager
def folder_for_the_block(folder: Path, what: str) -> Iterator[Path]:
    """Create ``folder`` (and missing parents) for the block; remove again those it made that are left empty,
    so that a command that fails leaves no empty folders behind."""
    folder = Path(folder)
    missing = [path for path in (folder, *folder.parents) if not path.exists() and not path.is_symlink()]
    try:
        yield check_writable_dir(folder, what)
    finally:
        for path in missing:  # innermost first
            with contextlib.suppress(OSError):
                path.rmdir()
