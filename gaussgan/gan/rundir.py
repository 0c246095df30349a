"""The run directory: its name, config.json, training_details.csv, models and checkpoint.

    runs/<dist>_dim<d>_<latent_dim>_<latent_sigma>_<van|wass>[_<postfix>]/
        config.json  training_details.csv  checkpoint.pth.tar  test_corr.png
        training_model_losses.png  training_pvalues.png
        models/generator.pth.tar  models/discriminator.pth.tar
        samples/{comp_hist,corr,rhist,ks}_epochNNNNN.png
        verdict.json  null_cache.json  index.html (the run on one page)

Every file is written atomically, and every checkpoint is read with ``weights_only=True``
so that loading a file from someone else can never run their code.

A run directory appears complete with its config.json or not at all: it is built under a
hidden name and renamed into place, so a run stopped during start-up is either absent or
resumable. One process at a time writes it (a lock next to it, held for the whole run), and
``--force`` replaces only a folder that is recognisably a run, never a link, never one that
holds the input dataset, never anything outside the runs directory.

A run is read and written only inside itself. Every file and sub-folder is reached through
:meth:`RunDirectory.file` (or :meth:`~RunDirectory.folder`), which refuses a path that passes through a
symbolic link or whose resolved location leaves the run; a run opened to be continued or judged again
holds no link at all (:meth:`RunDirectory.check_opened`), so that a link to another run, or out of the
runs folder, is one error before anything is read or written, never a file written through it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import MISSING, fields
from pathlib import Path

from gaussgan.errors import UserError
from gaussgan.gan.options import ADDED_LATER, RULE_DEFAULTS, TrainConfig
from gaussgan.system.files import (
    atomic_path,
    check_regular_file,
    folder_for_the_block,
    inside,
    load_torch_file,
    reason,
    safe_name,
    save_torch_file,
)
from gaussgan.system.locks import exclusive

CONFIG, CSV, CHECKPOINT = "config.json", "training_details.csv", "checkpoint.pth.tar"
GENERATOR, DISCRIMINATOR = "models/generator.pth.tar", "models/discriminator.pth.tar"
GENERATOR_BEST = "models/generator_best.pth.tar"  # the best epoch's generator, by norm KS vs the parent
VERDICT, NULL_CACHE = "verdict.json", "null_cache.json"
INDEX = "index.html"  # the run on one page (gaussgan.gan.run_page), written with each verdict
TENSORBOARD = "tensorboard"  # the event files' folder (--tensorboard)
# The figures of the whole run (samples/ holds those of each epoch: RunDirectory.figure).
TEST_CORR, LOSSES_FIGURE = "test_corr.png", "training_model_losses.png"
PVALUES_FIGURE, METRICS_FIGURE = "training_pvalues.png", "training_metrics.png"
WHOLE_RUN_FIGURES = (METRICS_FIGURE, PVALUES_FIGURE, LOSSES_FIGURE, TEST_CORR)
SUBFOLDERS = ("models", "samples")


# The rule as the documented run-directory names abbreviate it.
RULE_TAGS = {"vanilla": "van", "wgan-gp": "wass"}


def run_name(dist: str, dim: int, latent_dim: int, latent_sigma: float, rule: str, postfix: str = "") -> str:
    """e.g. ``gauss_dim10_100_0.1_van``; the postfix, when given, after an underscore. Always one plain name."""
    name = f"{dist}_dim{dim}_{latent_dim}_{latent_sigma:g}_{RULE_TAGS[rule]}"
    if postfix:
        name = f"{name}_{safe_name(postfix, '-p/--postfix').lstrip('_')}"
    return safe_name(name, "run name")


def holds_files(folder: Path) -> bool:
    """Whether anything but empty folders lies under ``folder``."""
    for _, _, files in os.walk(folder):
        if files:
            return True
    return False


class RunDirectory:
    """One training run's folder on disk."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @classmethod
    def named(cls, runs_dir: str | os.PathLike, name: str) -> RunDirectory:
        """``runs_dir/name``, checked to stay inside ``runs_dir`` (links included)."""
        return cls(inside(Path(runs_dir) / safe_name(name, "run name"), runs_dir, "run directory"))

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        """The run's file or sub-folder ``name`` (e.g. ``models/generator.pth.tar``), checked by :meth:`contained`."""
        return self.contained(self.path / name)

    def figure(self, kind: str, epoch: int) -> Path:
        return self.file(f"samples/{kind}_epoch{epoch:05d}.png")

    def contained(self, path: str | os.PathLike) -> Path:
        """``path``, checked to lie in this run with no symbolic link on the way from the run folder to it, its
        own name included (the run folder itself may be a link its user named). Called before every read and
        write, and by the figure worker just before it saves: nothing is read from, or written to, another run
        or a folder out of the runs folder through a link planted in this one."""
        path = Path(path)
        try:
            parts = path.relative_to(self.path).parts
        except ValueError:
            raise UserError(f"{str(path)!r} is not in the run {str(self.path)!r}; expected a file of the run") from None
        step = self.path
        for part in parts:
            step = step / part
            if step.is_symlink():
                raise UserError(_link_message(step))
        return inside(path, self.path, "run file")

    def folder(self, name: str, create: bool = True) -> Path:
        """The run's sub-folder ``name``, checked to be a real folder inside the run; made when missing (``create``)."""
        path = self.file(name)
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            if create:
                try:
                    path.mkdir()
                except OSError as error:
                    raise UserError(f"cannot create {str(path)!r}: {reason(error)}") from None
            return path
        except OSError as error:
            raise UserError(f"cannot read {str(path)!r}: {reason(error)}") from None
        if not stat.S_ISDIR(mode):
            raise UserError(
                f"{str(path)!r} is not a folder (a file, pipe or device); expected the run's {name}/ folder: "
                "move it away, or start a new run (--force to replace this one, -p to name another)"
            )
        return path

    def check_opened(self) -> None:
        """A run about to be continued or judged again (``--resume``, ``--verdict-only``) holds no link at all:
        not itself (a second name would be a second lock on one run), no file or folder in it. Checked once,
        before anything of it is read, so that a hostile or damaged run is one error with nothing written."""
        if self.path.is_symlink():
            raise UserError(_link_message(self.path))
        for root, folders, files in os.walk(self.path):  # a linked folder is listed, never entered
            for name in sorted(folders + files):
                if os.path.islink(os.path.join(root, name)):
                    raise UserError(_link_message(Path(root) / name))

    def exists(self) -> bool:
        return os.path.lexists(self.path / CONFIG)

    # --- Claiming, creating, replacing -------------------------------------------------------
    @contextlib.contextmanager
    def claimed(self) -> Iterator[RunDirectory]:
        """The runs directory made (and removed again if the command leaves it empty), and this run's
        lock held: a second train.py on the same run gets an error naming this process."""
        with folder_for_the_block(self.path.parent, "runs directory"), exclusive(self.path, "run directory"):
            self._remove_leftovers()
            yield self

    def prepare(self, record: dict, force: bool, resume: bool, protected: tuple[Path, ...] = ()) -> None:
        """Check the run can be written (call with the lock held, once the input and, with ``resume``, the
        saved config.json are checked): with ``resume``, that there is a run to continue; otherwise create it
        with ``record`` as its config.json, replacing a previous run only with ``force`` and only when it may go."""
        if resume:
            if not self.exists():
                raise UserError(
                    f"--resume: there is no run to resume in {self.path} (no {CONFIG}); "
                    "expected the same options as the run you want to continue"
                )
            for name in SUBFOLDERS:  # removed by hand since: the figures and models need them
                self.folder(name)
            return
        replace_old = False
        if self.path.is_symlink():
            raise UserError(
                f"run directory {self.path} is a symbolic link; train.py neither writes through nor "
                "replaces a link: remove it or choose another name with -p"
            )
        if self.path.exists() and not self.path.is_dir():
            raise UserError(
                f"run directory {self.path} is a file; expected a folder: move it or choose another name with -p"
            )
        if self.path.exists() and holds_files(self.path):
            self.check_replaceable(force, protected)
            replace_old = True
        self._create(record, replace_old)

    def check_replaceable(self, force: bool, protected: tuple[Path, ...]) -> None:
        """Refuse unless ``--force`` was given and the folder is a run train.py wrote, holding no input."""
        problems = self.not_a_run()
        if problems:
            raise UserError(
                f"{self.path} exists and is not a gaussgan run ({problems}); train.py neither continues nor "
                "replaces it (even with --force): move it away or choose another name with -p"
            )
        if not force:
            raise UserError(f"run {self.path} exists already; use --resume to continue it or --force to replace it")
        resolved = self.path.resolve()
        for path in protected:
            if resolved in Path(path).resolve().parents:
                raise UserError(
                    f"--force would delete the input dataset {path}, which lies inside the run directory "
                    f"{self.path}: move the dataset out of it first, or choose another run name with -p"
                )

    def not_a_run(self) -> str:
        """Why this folder is not recognisably a gaussgan run; '' when it is."""
        path = self.path / CONFIG
        if not path.is_file() or path.is_symlink():
            return f"no {CONFIG}"
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return f"{CONFIG} is not readable JSON"
        problems = record_problems(saved)
        return f"{CONFIG}: {problems[0]}" if problems else ""

    def _create(self, record: dict, replace_old: bool) -> None:
        """Build the run under a hidden name with its config.json, then rename it into place (replacing the old one)."""
        staging = self._hidden("tmprun")
        old = self._hidden("old") if replace_old else None
        try:
            staging.mkdir()
            for name in SUBFOLDERS:
                (staging / name).mkdir()
            try:
                write_json(staging / CONFIG, record)
            except UserError as error:  # name the file the user will look for, not the hidden one
                raise UserError(str(error).replace(str(staging), str(self.path))) from None
            if old is not None:
                os.rename(self.path, old)
            elif self.path.exists():  # an empty folder, or one holding empty folders only
                remove_empty_folders(self.path)
            os.rename(staging, self.path)
        except OSError as error:
            raise UserError(f"cannot create run directory {str(self.path)!r}: {reason(error)}") from None
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
                if old is not None and old.exists() and not os.path.lexists(self.path):
                    os.rename(old, self.path)  # stopped between the two renames: put the old run back
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)  # what is left over is removed by the next run of this name

    def _hidden(self, kind: str) -> Path:
        return self.path.parent / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.{kind}"

    def _remove_leftovers(self) -> None:
        """Half-built or replaced copies of this run left by a process that was killed. Only the lock
        holder makes them, and we hold the lock: every one found is stale. A replaced run whose
        replacement never took its place (killed between the two renames) is put back, not removed."""
        pattern = re.compile(rf"^\.{re.escape(self.path.name)}\.\d+\.[0-9a-f]{{8}}\.(tmprun|old)$")
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(self.path.parent), key=lambda entry: entry.name):
                match = pattern.match(entry.name)
                if not match or not entry.is_dir(follow_symlinks=False):
                    continue
                if match.group(1) == "old" and not os.path.lexists(self.path):
                    os.rename(entry.path, self.path)
                else:
                    shutil.rmtree(entry.path, ignore_errors=True)

    # --- The files ---------------------------------------------------------------------------
    def write_config(self, config: dict) -> None:
        write_json(self.file(CONFIG), config)

    def read_config(self) -> dict:
        path = check_regular_file(self.file(CONFIG), "run record")
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserError(
                f"cannot read {path}: {reason(error) if isinstance(error, OSError) else 'not valid JSON'}"
                f" ({str(error)[:80]})"
            ) from None
        return check_record(saved, str(path))

    def write_csv(self, rows: list[dict]) -> None:
        """The whole table, rewritten atomically each epoch (a few hundred rows: cheap, never torn)."""
        import pandas as pd

        with atomic_path(self.file(CSV)) as temporary:
            pd.DataFrame(rows).to_csv(temporary, index=False, float_format="%.6g")

    def read_csv(self) -> list[dict]:
        import pandas as pd

        if not os.path.lexists(self.file(CSV)):
            return []
        path = check_regular_file(self.file(CSV), "training table")
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as error:
            raise UserError(
                f"cannot read {path}: {str(error).strip().splitlines()[0][:100] if str(error).strip() else 'damaged'}"
            ) from None
        if "epoch" not in table or not pd.api.types.is_integer_dtype(table["epoch"]):
            raise UserError(f"{path} is damaged: expected an integer 'epoch' column")
        return table.to_dict("records")

    def read_verdict(self) -> dict:
        """verdict.json's content; {} when the run has none or it cannot be read (the report says so). A link is
        refused like any other (a UserError: the report skips the run and says why)."""
        path = self.file(VERDICT)
        if not path.exists():
            return {}
        try:
            verdict = json.loads(check_regular_file(path, "verdict").read_text())
        except (OSError, ValueError):
            return {}
        return verdict if isinstance(verdict, dict) else {}

    def save_checkpoint(self, state: dict) -> None:
        save_torch_file(state, self.file(CHECKPOINT))

    def load_checkpoint(self) -> dict | None:
        if not os.path.lexists(self.file(CHECKPOINT)):
            return None
        return load_torch_file(self.file(CHECKPOINT), "checkpoint")


def _link_message(path: Path) -> str:
    try:
        target = f" (to {os.readlink(path)})"
    except OSError:
        target = ""
    return (
        f"{str(path)!r} is a symbolic link{target}; a run is read and written only inside itself, never through "
        "a link: expected the run's own file or folder there (remove the link)"
    )


def write_json(path: Path, content: dict) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def remove_empty_folders(folder: Path) -> None:
    """Remove ``folder`` and the empty folders in it (rmdir only: a file in there stops it)."""
    for root, _, _ in os.walk(folder, topdown=False):
        os.rmdir(root)


# --- Provenance: which data a run was trained on ------------------------------------------------
def data_fingerprint(data, parent, metadata: dict) -> dict:
    """What identifies a training set: the hash of its values as trained on, of its parent, and its seed."""
    import numpy as np

    values = np.ascontiguousarray(data)
    parent_hash = hashlib.sha256(json.dumps([parent.name, parent.dim, parent.mu, parent.xlo, parent.xhi]).encode())
    parent_hash.update(np.ascontiguousarray(parent.sigma, dtype="<f8").tobytes())
    seed = metadata.get("seed")
    return {
        "samples": int(values.shape[0]),
        "dim": int(values.shape[1]),
        "dtype": str(values.dtype),
        "data_sha256": hashlib.sha256(values.data).hexdigest(),
        "parent_sha256": parent_hash.hexdigest(),
        "parent": parent.describe(),
        "seed": None if seed is None else int(seed),
    }


def data_changes(saved, current: dict) -> list[str]:
    """How the training data differ from those a run was trained on ([] when they are the same)."""
    if not isinstance(saved, dict):
        return [f"the saved fingerprint is damaged ({type(saved).__name__})"]
    changes = []
    if saved.get("data_sha256") != current["data_sha256"] or saved.get("samples") != current["samples"]:
        changes.append(
            f"data: {saved.get('samples')} samples (sha256 {str(saved.get('data_sha256'))[:12]}) -> "
            f"{current['samples']} samples (sha256 {current['data_sha256'][:12]})"
        )
    if saved.get("parent_sha256") != current["parent_sha256"]:
        changes.append(f"parent: {saved.get('parent')} -> {current['parent']}")
    if saved.get("seed") != current["seed"]:
        changes.append(f"dataset seed: {saved.get('seed')} -> {current['seed']}")
    return changes


# --- config.json: the run record ------------------------------------------------------------------------
# What config.json holds besides every option: what a run directory is recognised by.
RECORD_KEYS = ("parent", "gaussgan")
# Options whose default is None: filled in by the rule's default or the drawn seed before recording.
_FILLED_IN = {**{name: type(value) for name, value in RULE_DEFAULTS["vanilla"].items()}, "seed": int}


def expected_type(option) -> type:
    """The type config.json records for a TrainConfig field (its default's, or the filled-in value's)."""
    if option.name in _FILLED_IN:
        return _FILLED_IN[option.name]
    return str if option.default is MISSING else type(option.default)


def _has_type(value, expected: type) -> bool:
    if isinstance(value, bool):
        return expected is bool
    if expected is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, expected)


def with_later_options(saved: dict) -> dict:
    """``saved`` (config.json's content) with the options it predates filled in (:data:`ADDED_LATER`)."""
    return {**ADDED_LATER, **saved}


def record_problems(saved) -> list[str]:
    """What makes ``saved`` (config.json's content) not the record train.py writes; [] when it is."""
    if not isinstance(saved, dict):
        return [f"it holds a JSON {type(saved).__name__}, not an object"]
    saved = with_later_options(saved)
    missing = [option.name for option in fields(TrainConfig) if option.name not in saved]
    missing += [key for key in RECORD_KEYS if key not in saved]
    if missing:
        return [f"it has no {', '.join(missing)}"]
    problems = [
        f"{option.name} is {saved[option.name]!r}, expected {expected_type(option).__name__}"
        for option in fields(TrainConfig)
        if not _has_type(saved[option.name], expected_type(option))
    ]
    if not isinstance(saved["parent"], dict):
        problems.append(f"parent is {saved['parent']!r}, expected an object")
    return problems


def check_record(saved, where: str) -> dict:
    """``saved``, checked to be a run record (config.json) that train.py wrote; a UserError says what is wrong."""
    problems = record_problems(saved)
    if problems:
        raise UserError(f"{where} is not a gaussgan run record: {'; '.join(problems)[:300]}")
    return with_later_options(saved)


# --- Finished: the one definition ---------------------------------------------------------------------------
def is_finished(run_dir: Path, epochs: int, epoch: int | None = None) -> bool:
    """Whether a run has all its ``epochs``: the checkpoint at the last one and the CSV holding a row for each
    (at least: its numbering may start at 0 or 1, so rows are counted, not read). The one definition, used by
    training (nothing left to do), the sweep (skip or resume) and the report (the "finished" column).

    A run is finished only with its verdict.json: resuming it writes the verdict (a run recorded before runs
    ended with a verdict included).
    """
    run = RunDirectory(run_dir)
    try:
        checkpoint, table, verdict = (run.file(name) for name in (CHECKPOINT, CSV, VERDICT))
    except UserError:  # a link in the run: not finished (resuming it says why)
        return False
    epoch = checkpoint_epoch(checkpoint) if epoch is None else epoch
    if epoch != epochs or csv_rows(table) < epochs:
        return False
    return verdict.is_file()


def checkpoint_epoch(path: Path) -> int:
    """Epochs a checkpoint holds; 0 when there is none or it cannot be read (the resumed run then says why).

    Memory-mapped: only the epoch is read, not the weights of a large run. A link is not a run's checkpoint."""
    if path.is_symlink() or not path.is_file():
        return 0
    import pickle

    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        epoch = saved.get("epoch", 0) if isinstance(saved, dict) else 0
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
        return 0
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else 0


def csv_rows(path: Path) -> int:
    """Rows of a run's training_details.csv (lines after the header); 0 when absent, not a file, or a link."""
    if path.is_symlink() or not path.is_file():
        return 0
    try:
        with open(path, "rb") as handle:
            return max(0, sum(1 for line in handle if line.strip()) - 1)
    except OSError:
        return 0


def within_runs(directories: list[RunDirectory], path: str | os.PathLike) -> Path:
    """``path`` checked by the run it lies in: the figure worker's guard for runs trained together."""
    for directory in directories:
        if Path(path).is_relative_to(directory.path):
            return directory.contained(path)
    return directories[0].contained(path)  # in none: its error names the path
