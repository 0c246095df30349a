"""A run read and written only inside itself: links, pipes and files where a run has its own, through the real commands.

Each case replaces one file or sub-folder of a finished run by a symbolic link (to another run, out of the
runs folder), a pipe, or a file where a folder is expected, then resumes it, recomputes its verdict
(``--verdict-only``), logs it for TensorBoard, samples it or reports it. A damaged or hostile run is one
``error:`` line with exit status 2, and afterwards every file of the folder (the run, the other run, what
lies outside the runs folder) holds the bytes it held before: nothing was written through a link.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_clean_error, run_module, run_script

DATA = "datasets/data_gauss_dim3.h5"
TINY = ["-f", DATA, "-d", "2", "-c", "0.1", "--n-eval", "100", "--max-n", "1000", "--null-repeats", "250"]
TRAIN = [*TINY, "--seed", "1", "-q", "--inline-figures"]
NAME = "gauss_dim3_2_1_van"
RUN = Path("runs") / NAME
OTHER = Path("runs") / f"{NAME}_other"  # another run, a copy of the first: what a link must never reach
OUTSIDE = Path("outside")  # a folder out of the runs folder

RESUME = ("train.py", *TRAIN, "-n", "3", "--resume")
VERDICT_ONLY = ("train.py", *TRAIN, "-n", "2", "--verdict-only")
SAMPLE = ("-m", "gaussgan", "sample", str(RUN), "-n", "10", "--seed", "1", "-o", "out.npy")


def command(folder: Path, words: tuple) -> object:
    if words[0] == "-m":
        return run_module(*words[2:], cwd=folder, timeout=120)
    return run_script(words[0], *words[1:], cwd=folder, timeout=120)


def state(folder: Path) -> dict:
    """Every entry under ``folder``, links not followed: a file's bytes (hashed) and time, a link's target,
    a folder, a pipe. Equal before and after: nothing was written, moved or left behind."""
    entries: dict[str, tuple] = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                entries[key] = ("link", os.readlink(path))
            elif path.is_dir():
                entries[key] = ("folder",)
            elif path.is_file():
                entries[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
            else:
                entries[key] = ("pipe",)
    return entries


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny finished 2-epoch run, a copy of it as another run, and a folder out of the runs folder holding
    copies of the run's files (the targets of links out)."""
    folder = tmp_path_factory.mktemp("links")
    result = run_script("gen-samples.py", "-n", 100, "-b", 2, "-d", 3, "--seed", 1, "-q", cwd=folder)
    assert result.returncode == 0, result.stderr
    result = run_script("train.py", *TRAIN, "-n", "2", cwd=folder)
    assert result.returncode == 0, result.stderr
    shutil.copytree(folder / RUN, folder / OTHER, symlinks=True)
    (folder / OUTSIDE).mkdir()
    for name in ("training_details.csv", "verdict.json", "models/generator.pth.tar"):
        shutil.copy(folder / RUN / name, folder / OUTSIDE / Path(name).name)
    (folder / OUTSIDE / "figure.png").write_text("someone else's figure")
    return folder


@pytest.fixture
def folder(base, tmp_path) -> Path:
    copy = tmp_path / "work"
    shutil.copytree(base, copy, symlinks=True)
    return copy


def clear(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def link(name: str, target: str, relative: bool = False):
    """The run's ``name`` replaced by a link to ``target`` (a path in the test folder)."""

    def make(folder: Path) -> None:
        entry = folder / RUN / name
        clear(entry)
        entry.symlink_to(os.path.relpath(folder / target, entry.parent) if relative else folder / target)

    return make


def regular_file(name: str):
    def make(folder: Path) -> None:
        clear(folder / RUN / name)
        (folder / RUN / name).write_text("a file where the run keeps a folder")

    return make


def pipe(name: str):
    def make(folder: Path) -> None:
        clear(folder / RUN / name)
        os.mkfifo(folder / RUN / name)

    return make


LINK = ["symbolic link"]
CASES = {
    # --resume: every sub-folder and file it reads or writes.
    "resume, models/ to another run's": (link("models", f"{OTHER}/models"), RESUME, ["models", *LINK]),
    "resume, models/ to another run's (relative link)": (
        link("models", f"{OTHER}/models", relative=True),
        RESUME,
        ["models", *LINK],
    ),
    "resume, samples/ out of the runs folder": (link("samples", str(OUTSIDE)), RESUME, ["samples", *LINK]),
    "resume --tensorboard, tensorboard/ out of the runs folder": (
        link("tensorboard", str(OUTSIDE)),
        (*RESUME, "--tensorboard"),
        ["tensorboard", *LINK],
    ),
    "resume, the checkpoint another run's": (
        link("checkpoint.pth.tar", f"{OTHER}/checkpoint.pth.tar"),
        RESUME,
        ["checkpoint.pth.tar", *LINK],
    ),
    "resume, config.json another run's": (
        link("config.json", f"{OTHER}/config.json"),
        RESUME,
        ["config.json", *LINK],
    ),
    "resume, the CSV out of the run": (
        link("training_details.csv", f"{OUTSIDE}/training_details.csv"),
        RESUME,
        ["training_details.csv", *LINK],
    ),
    "resume, the generator file out of the run": (
        link("models/generator.pth.tar", f"{OUTSIDE}/generator.pth.tar"),
        RESUME,
        ["generator.pth.tar", *LINK],
    ),
    "resume, the next epoch's figure out of the run": (
        link("samples/comp_hist_epoch00002.png", f"{OUTSIDE}/figure.png"),
        RESUME,
        ["comp_hist_epoch00002.png", *LINK],
    ),
    "resume, the null cache another run's": (
        link("null_cache.json", f"{OTHER}/null_cache.json"),
        RESUME,
        ["null_cache.json", *LINK],
    ),
    "resume, samples a file": (regular_file("samples"), RESUME, ["samples", "not a folder"]),
    "resume, models a file": (regular_file("models"), RESUME, ["models", "not a folder"]),
    "resume, samples a pipe": (pipe("samples"), RESUME, ["samples", "not a folder"]),
    "resume --tensorboard, tensorboard a file": (
        regular_file("tensorboard"),
        (*RESUME, "--tensorboard"),
        ["tensorboard", "not a folder"],
    ),
    # --verdict-only reads the generator and writes verdict.json and the null cache.
    "verdict-only, models/ to another run's": (link("models", f"{OTHER}/models"), VERDICT_ONLY, ["models", *LINK]),
    "verdict-only, verdict.json out of the run": (
        link("verdict.json", f"{OUTSIDE}/verdict.json"),
        VERDICT_ONLY,
        ["verdict.json", *LINK],
    ),
    "verdict-only, the null cache another run's": (
        link("null_cache.json", f"{OTHER}/null_cache.json"),
        VERDICT_ONLY,
        ["null_cache.json", *LINK],
    ),
    # sample reads one generator file.
    "sample, models/ to another run's": (link("models", f"{OTHER}/models"), SAMPLE, ["models", *LINK]),
    "sample, the generator file out of the run": (
        link("models/generator.pth.tar", f"{OUTSIDE}/generator.pth.tar"),
        SAMPLE,
        ["generator.pth.tar", *LINK],
    ),
    "sample --epoch best, the best generator another run's": (
        link("models/generator_best.pth.tar", f"{OTHER}/models/generator_best.pth.tar"),
        (*SAMPLE, "--epoch", "best"),
        ["generator_best.pth.tar", *LINK],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_run_is_never_read_or_written_through_a_link_or_an_odd_file(folder, case):
    make, words, expected = CASES[case]
    make(folder)
    before = state(folder)
    assert_clean_error(command(folder, words), *expected)
    assert state(folder) == before  # the run, the other run and the outside folder: every byte as it was


def test_resume_through_a_run_directory_that_is_a_link_to_another_run_is_refused(folder):
    # `-p link` names runs/NAME_link, a link to the other run (whose record says -p link): resuming it would
    # write the other run under a second name, with a lock of its own.
    config = json.loads((folder / OTHER / "config.json").read_text())
    (folder / OTHER / "config.json").write_text(json.dumps({**config, "postfix": "link"}, indent=2, sort_keys=True))
    (folder / "runs" / f"{NAME}_link").symlink_to(folder / OTHER)
    before = state(folder)
    assert_clean_error(command(folder, (*RESUME, "-p", "link")), f"{NAME}_link", "symbolic link")
    assert state(folder) == before


def test_sample_follows_a_link_to_the_run_itself_given_by_the_user(folder):
    # The boundary: the run folder the user names may be a link; what lies inside the run may not.
    (folder / "latest").symlink_to(folder / RUN)
    result = run_module("sample", "latest", "-n", "10", "--seed", "1", "-o", "out.npy", cwd=folder, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (folder / "out.npy").is_file()


def test_the_report_never_reads_a_verdict_linked_out_of_the_run(folder):
    forged = {**json.loads((folder / OUTSIDE / "verdict.json").read_text()), "n_star": 424242, "reading": "FORGED"}
    (folder / OUTSIDE / "verdict.json").write_text(json.dumps(forged))
    link("verdict.json", f"{OUTSIDE}/verdict.json")(folder)
    before = state(folder)
    result = run_module("report", "runs", "-o", "report", cwd=folder, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "verdict.json" in result.stderr and "symbolic link" in result.stderr  # the run skipped, and why
    summary = (folder / "report" / "summary.csv").read_text()
    assert "424242" not in summary and "FORGED" not in summary
    assert len(pd.read_csv(folder / "report" / "summary.csv")) == 1  # the other run alone
    after = state(folder)
    assert {key: value for key, value in after.items() if not key.startswith("report")} == before


def test_extending_a_decayed_learning_rate_is_refused_naming_the_schedule(folder):
    result = run_script("train.py", *TRAIN, "-n", "1", "--lr-schedule", "linear", "-p", "lin", cwd=folder)
    assert result.returncode == 0, result.stderr
    before = state(folder)
    result = run_script("train.py", *TRAIN, "-n", "2", "--lr-schedule", "linear", "-p", "lin", "--resume", cwd=folder)
    assert_clean_error(result, "--lr-schedule linear", "-n 1")
    assert state(folder) == before
