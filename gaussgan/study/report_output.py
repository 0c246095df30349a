"""The report's output folder, and the one rule for replacing what is in it.

The report marks its folder with :data:`MARKER`: the gaussgan version and the names of the files it
wrote. ``--force`` trusts that mark and nothing else: it replaces exactly the files the mark lists,
each a regular file at the top of the folder (never a sub-folder, a link, or a name the report does
not write), and leaves the rest of the folder as it was (a ``.git/``, a ``.htpasswd``, notes). A folder
without the mark that holds anything, hidden names included, is not a report and is refused; so are a
link, a file, and a folder that is an input of the report or lies inside a run.

The report is built whole in a hidden folder next to the output first. A new output is that folder
renamed into place; an existing one receives its mark first, then each new file by an atomic rename
over the old one, so that a report stopped half-way is still recognised, and replaced by the next
``--force``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import stat
from pathlib import Path

from gaussgan._version import __version__
from gaussgan.errors import UserError
from gaussgan.study.report_page import FIGURES, TABLES
from gaussgan.system.files import atomic_path, reason

MARKER = ".gaussgan-report"
MARKER_FORMAT = 1
MARKER_BYTES = 64 * 1024  # a mark lists a handful of names: a larger file is not one
WRITTEN = (*TABLES, *FIGURES, "index.html")  # every file the report writes, besides its mark


def check_output(out: Path, force: bool, inputs: list[Path], runs: list[Path]) -> None:
    """Refuse, with one error line, an output the report may not write: called before the work, and again
    with the output's lock held."""
    if out.is_symlink():
        raise UserError(
            f"output {str(out)!r} is a link; the report neither writes through nor replaces a link: choose another -o"
        )
    if out.exists() and not out.is_dir():
        raise UserError(f"output {str(out)!r} is a file; expected a folder for the report")
    _refuse_inputs(out, inputs, runs)
    entries = sorted(os.listdir(out)) if out.exists() else []
    if not entries:
        return
    listed = marked_files(out, entries)
    if not force:
        raise UserError(f"report {str(out)!r} exists already; use --force to replace it")
    for name in sorted({*listed, *WRITTEN}):
        try:
            mode = (out / name).lstat().st_mode
        except FileNotFoundError:
            continue
        if name not in listed:
            problem = "which the report did not write"
        elif not stat.S_ISREG(mode):
            problem = f"as {'a folder' if stat.S_ISDIR(mode) else 'a link' if stat.S_ISLNK(mode) else 'a special file'}"
            problem += ", not the file the report wrote"
        else:
            continue
        raise UserError(
            f"report {str(out)!r} holds {name!r}, {problem}; --force replaces only the files the report wrote: "
            "move it away or choose another -o"
        )


def _refuse_inputs(out: Path, inputs: list[Path], runs: list[Path]) -> None:
    """The output is none of the report's inputs, and not inside a run (its folder is train.py's)."""
    target = out.resolve()
    for source in inputs:
        if source.resolve() == target:
            raise UserError(f"output {str(out)!r} is an input of this report ({source}); expected another -o")
    for run in runs:
        if run.resolve() in target.parents or run.resolve() == target:
            raise UserError(
                f"output {str(out)!r} lies inside the run {str(run)!r}, an input of this report; expected a folder "
                "outside every run"
            )


def marked_files(out: Path, entries: list[str]) -> list[str]:
    """The files the folder's mark lists; a folder without a mark, or with a damaged one, is refused."""
    if MARKER not in entries:
        shown = ", ".join(repr(name) for name in entries[:3]) + (
            f" and {len(entries) - 3} more" if len(entries) > 3 else ""
        )
        raise UserError(
            f"output folder {str(out)!r} exists and is not a report (it holds {shown} and no {MARKER}); "
            "the report neither writes into nor replaces it: choose another -o"
        )
    path = out / MARKER
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MARKER_BYTES:
            raise ValueError("not a small regular file")
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _damaged(out, f"{reason(error) if isinstance(error, OSError) else error}") from None
    if not isinstance(content, dict) or content.get("format") != MARKER_FORMAT:
        raise _damaged(out, f"expected an object of format {MARKER_FORMAT}")
    files = content.get("files")
    if not isinstance(files, list) or not all(isinstance(name, str) for name in files):
        raise _damaged(out, "expected a list of the file names the report wrote")
    strange = [name for name in files if name not in WRITTEN]
    if strange:
        raise _damaged(out, f"it lists {strange[0]!r}, which is not a file the report writes")
    return files


def _damaged(out: Path, why: str) -> UserError:
    return UserError(
        f"output folder {str(out)!r} has a damaged {MARKER} ({why}); --force trusts only the mark a report "
        "wrote: move the folder away or choose another -o"
    )


def _mark(files) -> str:
    return json.dumps({"gaussgan": __version__, "format": MARKER_FORMAT, "files": sorted(files)}, indent=2) + "\n"


class staging_folder:
    """A hidden folder next to ``out`` that the report is built in; put into place when the block
    succeeds (replacing the files of the previous report), removed when it fails, leaving
    ``out`` as it was. Enter it with the output's lock held: a staging folder of this output found then
    was left by a report that was killed, and is removed."""

    def __init__(self, out: Path):
        self.out = out
        self.path = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmpreport"

    def __enter__(self) -> Path:
        leftover = re.compile(rf"^\.{re.escape(self.out.name)}\.\d+\.[0-9a-f]{{8}}\.tmpreport$")
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.out.parent):
                if leftover.match(entry.name) and entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
        try:
            self.path.mkdir()
        except OSError as error:
            raise UserError(f"cannot write in {str(self.out.parent)!r}: {reason(error)}") from None
        return self.path

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        try:
            if os.path.lexists(self.out):
                self._replace_files()
            else:
                (self.path / MARKER).write_text(_mark(WRITTEN), encoding="utf-8")
                os.rename(self.path, self.out)
        except (OSError, UserError) as error:
            shutil.rmtree(self.path, ignore_errors=True)
            detail = reason(error) if isinstance(error, OSError) else str(error)
            raise UserError(
                f"cannot write report {str(self.out)!r}: {detail}; run again with --force to replace what was written"
            ) from None

    def _replace_files(self) -> None:
        """The mark first (a report stopped after it is still recognised as one), then each new file
        renamed over the old one. The old mark lists no file the new report does not write."""
        with atomic_path(self.out / MARKER) as temporary:
            temporary.write_text(_mark(WRITTEN), encoding="utf-8")
        for name in WRITTEN:
            os.replace(self.path / name, self.out / name)
        os.rmdir(self.path)
