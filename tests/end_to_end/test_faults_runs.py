"""Fault injection for train.py and `python -m gaussgan sample`, through the real scripts.

Each case does what an adversarial user or a failing machine does (a crafted postfix, a second
process, a replaced dataset, a file-size limit, a signal at start-up, a damaged or crafted file,
an absurd option, a diverging run) and checks the exit status, the message, and the state of
every file afterwards: nothing lost, nothing outside its folder, no temporaries, no empty folders,
and never a dead end between "use --resume" and "no run to resume".
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO, assert_clean_error, snapshot

DATA = "datasets/data_gauss_dim3.h5"
OPTIONS = ["-d", "4", "-c", "0.1", "--n-eval", "50", "--seed", "1", "-q", "-b", "16"]
# Runs that only need to succeed draw their figures inline (--inline-figures): no worker process to start.
NAME = "gauss_dim3_4_1_van"
RUN = f"runs/{NAME}"
LEFTOVER = re.compile(r"\.tmp|\.lock$|\.old$")


def run(folder: Path, *args, fsize: int | None = None, env: dict | None = None, timeout: float = 120):
    """``python <args>`` in ``folder`` (a script of the repository, or ``-m gaussgan ...``), optionally
    under a file-size limit (RLIMIT_FSIZE) as a full disk or a quota would impose."""
    args = [str(REPO / args[0]) if str(args[0]).endswith(".py") else args[0], *map(str, args[1:])]

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONHASHSEED": "0", **(env or {})},
        preexec_fn=limit if fsize is not None else None,
    )


def train(folder: Path, *args, **kwargs):
    return run(folder, "train.py", "-f", DATA, *OPTIONS, *args, **kwargs)


def sample(folder: Path, *args, **kwargs):
    return run(folder, "-m", "gaussgan", "sample", *args, **kwargs)


def leftovers(folder: Path) -> list[str]:
    """Temporaries, half-built runs and lock files: none may stay after a command ends."""
    return [str(path.relative_to(folder)) for path in folder.rglob(".*") if LEFTOVER.search(path.name)]


def empty_folders(folder: Path) -> list[str]:
    return [
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir())
    ]


def assert_untouched(folder: Path, before: dict) -> None:
    assert snapshot(folder) == before
    assert not leftovers(folder)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Three datasets (the one trained on; the same seed, half the samples; the same size, another seed)
    and a finished 2-epoch run on the first."""
    folder = tmp_path_factory.mktemp("faults")
    for samples, seed, out in ((50, 1, "datasets"), (25, 1, "small"), (50, 2, "other")):
        result = run(folder, "gen-samples.py", "-n", samples, "-b", 2, "-d", 3, "--seed", seed, "-q", "-o", out)
        assert result.returncode == 0, result.stderr
    result = train(folder, "-n", "2")
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def folder(base, tmp_path) -> Path:
    """A private copy of the base folder, for a test that changes it; its run records the copy's dataset,
    as if it had been trained there."""
    copy = tmp_path / "work"
    shutil.copytree(base, copy, symlinks=True)
    edit_json(copy / RUN / "config.json", lambda config: config.update(dataset=str((copy / DATA).resolve())))
    return copy


def edit_checkpoint(path: Path, change) -> None:
    content = torch.load(path, map_location="cpu", weights_only=True)
    change(content)
    torch.save(content, path)


def edit_json(path: Path, change) -> None:
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


# --- Containment: names are plain, runs stay inside -o, --force removes only a run that may go -------
@pytest.mark.parametrize(
    "postfix, force",
    [("x/../../victim", True), ("x/../../victim", False), ("../victim", True), ("/tmp/elsewhere", False)],
)
def test_a_postfix_never_escapes_the_runs_folder(folder, postfix, force):
    victim = folder / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    before = snapshot(folder)
    result = train(folder, "-o", "out", "-p", postfix, *(["--force"] if force else []))
    assert_clean_error(result, "-p/--postfix", "not a plain name")
    assert_untouched(folder, before)
    assert not (folder / "out").exists() and not empty_folders(folder)


def test_force_never_deletes_the_input_dataset_inside_the_run(folder):
    # The README's loop: samples of a run fed back to train.py, with the same options, hence the same run name.
    result = sample(folder, RUN, "-n", "100", "-o", f"{RUN}/generated.h5", "--seed", "3")
    assert result.returncode == 0, result.stderr
    before = snapshot(folder)
    result = run(folder, "train.py", "-f", f"{RUN}/generated.h5", *OPTIONS, "-n", "1", "--force")
    assert_clean_error(result, "--force would delete the input dataset", "generated.h5")
    assert_untouched(folder, before)


def test_force_never_deletes_a_folder_that_is_not_a_run(folder):
    shutil.rmtree(folder / RUN)
    (folder / RUN).mkdir()
    (folder / RUN / "thesis.tex").write_text("two years of work")
    before = snapshot(folder)
    result = train(folder, "-n", "1", "--force")
    assert_clean_error(result, "not a gaussgan run", "no config.json")
    assert_untouched(folder, before)


@pytest.mark.parametrize("target, words", [("runs/elsewhere", ["symbolic link"]), ("outside", ["outside its folder"])])
def test_force_never_replaces_a_link(folder, target, words):
    (folder / target).mkdir()
    (folder / target / "keep.txt").write_text("not yours")
    # The run directory of `-p link` is a link: to a folder inside the runs folder, or outside it.
    (folder / "runs" / f"{NAME}_link").symlink_to(folder / target)
    before = snapshot(folder)
    result = train(folder, "-n", "1", "--force", "-p", "link")
    assert_clean_error(result, *words)
    assert_untouched(folder, before)
    assert (folder / target / "keep.txt").read_text() == "not yours"


# --- One writer per run directory -------------------------------------------------------------------
def start_holder(folder: Path, *args: str) -> subprocess.Popen:
    """A train.py that has claimed its run directory, then frozen (SIGSTOP) so it holds the lock
    without using a core; figures inline, so that it has no worker process to leave behind."""
    process = subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), "-f", DATA, *OPTIONS, "--inline-figures", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("run directory"):
            break
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGSTOP)
    return process


@pytest.fixture(scope="module")
def busy(base, tmp_path_factory):
    """A copy of the base folder where a train.py holds the run `-p busy`."""
    folder = tmp_path_factory.mktemp("busy")
    shutil.copytree(base, folder, dirs_exist_ok=True)
    holder = start_holder(folder, "-n", "1000", "-p", "busy")
    yield folder, holder
    holder.kill()
    holder.communicate()


@pytest.mark.parametrize("mode", [[], ["--force"], ["--resume"]], ids=["plain", "force", "resume"])
def test_a_second_process_on_a_run_is_refused_naming_the_first(busy, mode):
    folder, holder = busy
    before = snapshot(folder / "runs")
    result = train(folder, "-n", "1", "-p", "busy", *mode)
    assert_clean_error(result, "being written by another process", f"PID {holder.pid}")
    assert holder.poll() is None  # the first one is untouched: still there (frozen), its files as they were
    assert snapshot(folder / "runs") == before


def test_the_lock_dies_with_its_process_kill_9(folder):
    holder = start_holder(folder, "-n", "1000", "-p", "killed")
    holder.kill()  # SIGKILL: no cleanup runs; the lock file stays on disk, the lock itself goes
    holder.communicate()
    assert (folder / f"runs/.{NAME}_killed.lock").exists()
    result = train(folder, "-n", "1", "-p", "killed")
    # Not "being written by another process": the lock was free, and is released again.
    assert_clean_error(result, "exists already", "--resume")
    assert not leftovers(folder)


# --- Provenance: a run continues on its own data, and -n never shrinks it ------------------------------
@pytest.mark.parametrize(
    "replacement, words",
    [
        ("other", ["dataset is not the one", "data: 100 samples", "dataset seed: 1 -> 2"]),  # same size, other data
        ("small", ["dataset is not the one", "-> 50 samples"]),  # shrunk: the same seed, fewer samples
    ],
)
def test_resume_refuses_a_replaced_dataset(folder, replacement, words):
    shutil.copy(folder / replacement / "data_gauss_dim3.h5", folder / DATA)
    before = snapshot(folder)
    result = train(folder, "-n", "3", "--resume")
    assert_clean_error(result, *words)
    assert_untouched(folder, before)


def test_resume_refuses_a_shrunk_dataset_mid_epoch_even_without_a_fingerprint(folder):
    # A run written before fingerprints existed, stopped during an epoch, then its dataset shrank:
    # the epoch's sample order covers 100 samples, the data now hold 50.
    edit_json(folder / RUN / "config.json", lambda config: config.pop("data"))
    edit_checkpoint(
        folder / RUN / "checkpoint.pth.tar",
        lambda saved: saved.update(data=None, step=3, permutation=torch.randperm(100)),
    )
    shutil.copy(folder / "small/data_gauss_dim3.h5", folder / DATA)
    before = snapshot(folder)
    result = train(folder, "-n", "3", "--resume")
    assert_clean_error(result, "100 samples", "holds 50")
    assert_untouched(folder, before)


def test_resume_with_fewer_epochs_never_rewrites_a_finished_run(folder):
    before = snapshot(folder)
    assert_clean_error(train(folder, "-n", "1", "--resume"), "2 epochs done", "-n 3 or more")
    assert_untouched(folder, before)
    result = train(folder, "-n", "2", "--resume")  # nothing to do, and nothing rewritten
    assert result.returncode == 0 and "nothing to do" in result.stdout, result.stderr
    assert_untouched(folder, before)
    assert json.loads((folder / RUN / "config.json").read_text())["epochs"] == 2


def test_the_run_records_what_it_was_trained_on(base):
    config = json.loads((base / RUN / "config.json").read_text())
    checkpoint = torch.load(base / RUN / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    assert config["data"] == checkpoint["data"]
    assert config["data"]["samples"] == 100 and config["data"]["seed"] == 1 and len(config["data"]["data_sha256"]) == 64


# --- Write failures: a clear error, the previous files intact, no temporaries --------------------------
def test_a_write_failure_at_start_up_leaves_nothing(folder):
    before = snapshot(folder)
    result = train(folder, "-n", "1", "-o", "new/runs", fsize=500)  # config.json is about 1.2 kB
    assert_clean_error(result, "cannot write", "config.json", "file too large")
    assert_untouched(folder, before)
    assert not (folder / "new").exists()


def test_a_write_failure_in_the_first_epoch_leaves_a_resumable_run(folder):
    result = train(folder, "-n", "1", "-o", "new", fsize=40_000)  # the checkpoint is about 60 kB
    assert_clean_error(result, "cannot write", "checkpoint.pth.tar", "file too large")
    run_dir = folder / "new" / NAME
    assert (run_dir / "config.json").exists() and not (run_dir / "checkpoint.pth.tar").exists()
    assert not leftovers(folder)
    # No dead end: the run is there, so --resume, and --resume finds it.
    assert_clean_error(train(folder, "-n", "1", "-o", "new"), "exists already", "--resume")
    result = train(folder, "--inline-figures", "-n", "1", "-o", "new", "--resume")
    assert result.returncode == 0, result.stderr
    assert len((run_dir / "training_details.csv").read_text().splitlines()) == 2


def test_a_write_failure_while_extending_a_finished_run_keeps_it_resumable(folder):
    checkpoint = (folder / RUN / "checkpoint.pth.tar").read_bytes()
    result = train(folder, "-n", "3", "--resume", fsize=40_000)
    assert_clean_error(result, "cannot write", "checkpoint.pth.tar")
    assert (folder / RUN / "checkpoint.pth.tar").read_bytes() == checkpoint
    assert not leftovers(folder)
    result = train(folder, "--inline-figures", "-n", "3", "--resume")
    assert result.returncode == 0 and "resuming after epoch 1" in result.stdout, result.stderr
    assert len((folder / RUN / "training_details.csv").read_text().splitlines()) == 4


def test_a_figure_that_cannot_be_written_is_one_error_and_the_worker_does_not_outlive_the_run(folder):
    (folder / RUN / "samples/ks_epoch00002.png").mkdir()  # what the worker must replace is a folder
    marker = f"gaussgan-test-{os.getpid()}-{time.monotonic_ns()}"
    result = train(folder, "-n", "3", "--resume", env={"GAUSSGAN_TEST_MARKER": marker})
    assert_clean_error(result, "cannot write", "ks_epoch00002.png", "is a directory")
    assert [line for line in result.stderr.splitlines() if not line.startswith("seed ")] == [
        result.stderr.splitlines()[-1]
    ]
    assert not processes_with(marker)
    assert not leftovers(folder)


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (the script's children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_figure_drawn_inline_that_cannot_be_written_keeps_the_last_epoch(folder):
    sizes = {name: (folder / RUN / name).stat().st_size for name in ("test_corr.png", "samples/ks_epoch00001.png")}
    assert sizes["test_corr.png"] < sizes["samples/ks_epoch00001.png"]
    shutil.rmtree(folder / RUN)
    limit = (sizes["test_corr.png"] + sizes["samples/ks_epoch00001.png"]) // 2  # test_corr.png fits, ks does not
    result = train(folder, "-n", "1", "--inline-figures", fsize=limit)
    assert_clean_error(result, "cannot write", "ks_epoch00000.png")
    assert not leftovers(folder) and not (folder / RUN / "checkpoint.pth.tar").exists()
    assert (folder / RUN / "config.json").exists()  # resumable: --resume starts from the beginning


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".h5"])
def test_sample_that_cannot_be_written_keeps_the_previous_file(folder, suffix):
    (folder / f"old{suffix}").write_text("the previous output")
    before = snapshot(folder)
    result = sample(folder, RUN, "-n", "1000", "-o", f"old{suffix}", "--force", fsize=10_000)
    assert_clean_error(result, "cannot write", f"old{suffix}")
    assert_untouched(folder, before)


# --- Defensive reads: every damaged or crafted file is one clear error, before anything is built ----------
@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", ["config.json", "not valid JSON"]),
        ("[1, 2]", ["config.json", "not a gaussgan run record", "not an object"]),
        ("missing seed", ["config.json", "has no seed"]),
        ("wrong type", ["config.json", "batch_size is 'sixteen'"]),
    ],
)
def test_a_damaged_config_json_is_refused_on_resume(folder, content, words):
    path = folder / RUN / "config.json"
    if content == "missing seed":
        edit_json(path, lambda config: config.pop("seed"))
    elif content == "wrong type":
        edit_json(path, lambda config: config.update(batch_size="sixteen"))
    else:
        path.write_text(content)
    before = snapshot(folder)
    assert_clean_error(train(folder, "-n", "3", "--resume"), *words)
    assert_untouched(folder, before)


def test_a_damaged_config_json_is_neither_continued_nor_replaced(folder):
    (folder / RUN / "config.json").write_text("{}")
    before = snapshot(folder)
    for mode in ([], ["--force"]):  # no "use --resume" that --resume would then refuse
        result = train(folder, "-n", "1", *mode)
        assert_clean_error(result, "not a gaussgan run", "move it away")
        assert "--resume" not in result.stderr
    assert_untouched(folder, before)


def zero(name):
    def change(saved):
        saved[name] = torch.zeros_like(saved[name])

    return change


CHECKPOINT_CASES = {
    "missing key": (lambda saved: saved.pop("rng"), ["not a checkpoint", "no rng"]),
    "weight shape": (
        lambda saved: saved["generator"].update({"net.0.weight": torch.zeros(13, 5)}),
        ["generator", "net.0.weight has shape (13, 5)"],
    ),
    "optimiser moment": (
        lambda saved: saved["optimizer_d"]["state"][0].update(exp_avg=torch.zeros(2, 2)),
        ["optimizer_d", "exp_avg", "shape (2, 2)"],
    ),
    "NaN weights": (
        lambda saved: saved["discriminator"]["net.0.weight"].fill_(float("nan")),
        ["discriminator weights hold NaN"],
    ),
    "loss history": (lambda saved: saved.update(d_losses=torch.zeros(3)), ["loss history", "d_losses"]),
    "mixture list": (lambda saved: saved.update(snapshots={"epoch": 1}), ["kept for the final mixture", "damaged"]),
    "mixture weights": (
        lambda saved: saved.update(snapshots=[{"epoch": 1, "state_dict": {"net.0.weight": torch.zeros(2, 2)}}]),
        ["mixture's generator of epoch 1"],
    ),
}


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_a_damaged_checkpoint_is_refused_before_it_is_used(folder, case):
    change, words = CHECKPOINT_CASES[case]
    edit_checkpoint(folder / RUN / "checkpoint.pth.tar", change)
    before = snapshot(folder)
    assert_clean_error(train(folder, "-n", "3", "--resume"), *words)
    assert_untouched(folder, before)


@pytest.mark.parametrize(
    "name, command", [("config.json", "train"), ("checkpoint.pth.tar", "train"), ("models/generator.pth.tar", "sample")]
)
def test_a_pipe_in_place_of_a_run_file_is_refused_without_hanging(folder, name, command):
    (folder / RUN / name).unlink()
    os.mkfifo(folder / RUN / name)
    before = snapshot(folder)
    result = (
        train(folder, "-n", "3", "--resume", timeout=60)
        if command == "train"
        else sample(folder, RUN, "-n", "10", "-o", "out.npy", timeout=60)
    )
    assert_clean_error(result, name.split("/")[-1], "not a regular file")
    assert_untouched(folder, before)


def generator_file(**changes) -> dict:
    """A generator file like train.py writes (spec, weights, parent), with ``changes``."""
    spec = {"latent_dim": 4, "data_dim": 3, "hidden": [13, 13, 13], "batch_norm": True}
    from gaussgan.gan.models import Generator

    content = {
        "epoch": 2,
        "version": "0.1.0",
        "run": NAME,
        "latent_sigma": 1.0,
        "spec": spec,
        "state_dict": Generator(**spec).state_dict(),
        "parent": {
            "name": "gauss",
            "dim": 3,
            "mu": 0.0,
            "xlo": -1.5,
            "xhi": 1.5,
            "sigma": torch.eye(3, dtype=torch.float64),
        },
    }
    content.update(changes)
    return content


def huge_from_a_few_bytes() -> dict:
    # The spec claims two hidden layers of a million units (a 4 TB weight between them); each tensor
    # has the claimed shape but zero strides over one stored value: the file is about 3 kB.
    spec = {"latent_dim": 4, "data_dim": 3, "hidden": [10**6, 10**6], "batch_norm": False}
    from gaussgan.gan.models import generator_shapes

    weights = {
        name: torch.zeros(1).expand(*shape) if shape else torch.zeros(())
        for name, shape in generator_shapes(spec).items()
    }
    return generator_file(spec=spec, state_dict=weights)  # saved, about 3 kB


GENERATOR_CASES = {
    "zero-stride giant": (huge_from_a_few_bytes, ["claims 4,000,000 values", "expected real weights"]),
    "shape": (
        lambda: generator_file(spec={"latent_dim": 4, "data_dim": 7, "hidden": [13, 13, 13], "batch_norm": True}),
        ["has shape (3, 13)", "needs (7, 13)"],
    ),
    "spec keys": (lambda: generator_file(spec={"latent_dim": 4}), ["network spec", "expected the keys"]),
    "negative width": (
        lambda: generator_file(spec={"latent_dim": 4, "data_dim": 3, "hidden": [13, -1, 13], "batch_norm": True}),
        ["spec is not valid", "hidden"],
    ),
    "not a tensor": (
        lambda: generator_file(state_dict={**generator_file()["state_dict"], "net.0.bias": [0.0] * 13}),
        ["net.0.bias is a list"],
    ),
    "latent sigma": (lambda: generator_file(latent_sigma="wide"), ["latent_sigma", "positive finite"]),
    "parent": (lambda: generator_file(parent={"name": "gauss"}), ["parent", "missing or damaged"]),
    "mixture": (lambda: generator_file(mixture=[{"epoch": 1}]), ["mixture is damaged"]),
    "mixture epochs": (  # the file is of epoch 2: its members must be epochs ..., 1, 2
        lambda: generator_file(mixture=[{"epoch": e, "state_dict": generator_file()["state_dict"]} for e in (0, 2)]),
        ["mixture is damaged", "consecutive epochs"],
    ),
    "mixture member shape": (
        lambda: generator_file(
            mixture=[{"epoch": 2, "state_dict": {**generator_file()["state_dict"], "net.0.weight": torch.zeros(2, 2)}}]
        ),
        ["net.0.weight has shape (2, 2)"],
    ),
}


@pytest.mark.parametrize("case", GENERATOR_CASES)
def test_a_crafted_generator_file_is_refused_before_building_anything(folder, case):
    make, words = GENERATOR_CASES[case]
    torch.save(make(), folder / RUN / "models/generator.pth.tar")
    before = snapshot(folder)
    result = sample(folder, RUN, "-n", "100000", "-o", "out.npy")
    assert_clean_error(result, *words)
    assert_untouched(folder, before)


# --- Resource guards: an absurd option set is refused with the estimate, before anything is written ----
@pytest.mark.parametrize(
    "options, words",
    [
        (["-d", str(10**9)], ["latent dimension 1000000000", "needs about", "GiB"]),
        (["-c", "1e6"], ["hidden widths [128000000", "needs about"]),
        (["--n-eval", str(10**10)], ["--n-eval 10000000000", "needs about"]),
        (["-c", "1e308"], ["-c/--scale", "infinitely many"]),
    ],
)
def test_an_absurd_option_set_is_refused_before_anything_is_written(folder, options, words):
    before = snapshot(folder)
    result = train(folder, "-n", "1", "-o", "new", *options)
    assert_clean_error(result, *words)
    assert_untouched(folder, before)
    assert not (folder / "new").exists()


@pytest.mark.parametrize("out, words", [("big.h5", ["memory"]), ("big.npy", ["bytes free"])])
def test_sample_refuses_an_output_that_cannot_fit(folder, out, words):
    before = snapshot(folder)
    assert_clean_error(sample(folder, RUN, "-n", str(10**13), "-o", out), *words)
    assert_untouched(folder, before)


def test_sample_streams_csv_and_npy_with_the_bytes_of_a_whole_array_write(base, tmp_path):
    for suffix in (".csv", ".npy", ".h5"):
        result = sample(tmp_path, base / RUN, "-n", "100001", "-o", f"out{suffix}", "--seed", "4")  # two chunks
        assert result.returncode == 0, result.stderr
    values = np.load(tmp_path / "out.npy")
    assert values.shape == (100001, 3) and np.all(np.isfinite(values))
    np.save(tmp_path / "whole.npy", values)
    assert (tmp_path / "whole.npy").read_bytes() == (tmp_path / "out.npy").read_bytes()
    np.savetxt(tmp_path / "whole.csv", values, delimiter=",", fmt="%.9g", header="x0,x1,x2", comments="")
    assert (tmp_path / "whole.csv").read_bytes() == (tmp_path / "out.csv").read_bytes()
    from gaussgan.data.datasets import load_dataset

    np.testing.assert_array_equal(load_dataset(tmp_path / "out.h5")[0], values)


# --- Numerics: a diverging run stops with the last good epoch kept ---------------------------------------
def test_a_diverging_run_stops_naming_the_epoch_and_keeps_the_last_good_one(folder):
    # Inject: the optimisers continue with a learning rate of 1e30 (restored from the checkpoint).
    def explode(saved):
        # Huge first moments that Adam keeps (beta1 0.9 in the saved optimiser state): its next step throws
        # the weights past float32 (the learning rate itself is set by the schedule at every step, so a
        # huge saved lr would not do it).
        for name in ("optimizer_g", "optimizer_d"):
            for group in saved[name]["param_groups"]:
                group["betas"] = (0.9, group["betas"][1])
            for state in saved[name]["state"].values():
                state["exp_avg"].fill_(1e30)

    edit_checkpoint(folder / RUN / "checkpoint.pth.tar", explode)
    kept = {
        name: (folder / RUN / name).read_bytes()
        for name in (
            "checkpoint.pth.tar",
            "training_details.csv",
            "models/generator.pth.tar",
            "models/discriminator.pth.tar",
        )
    }
    result = train(folder, "--inline-figures", "-n", "4", "--resume")
    assert_clean_error(result, "training diverged in epoch 2", "NaN or infinite", "last good checkpoint (epoch 1)")
    assert {name: (folder / RUN / name).read_bytes() for name in kept} == kept
    assert not (folder / RUN / "samples/rhist_epoch00002.png").exists() and not leftovers(folder)


def test_a_run_that_diverges_at_once_says_so(folder):
    result = train(folder, "--inline-figures", "-n", "2", "-o", "new", "--lr", "1e10")
    assert_clean_error(result, "training diverged in epoch 0", "no epoch was saved", "--lr")
    assert not (folder / "new" / NAME / "checkpoint.pth.tar").exists()
    assert not (folder / "new" / NAME / "models/generator.pth.tar").exists()
    assert not leftovers(folder)


def test_a_batch_of_one_with_batch_norm_is_refused_before_anything_is_written(folder):
    before = snapshot(folder)
    assert_clean_error(train(folder, "-n", "1", "-o", "new", "-b", "1"), "batch", "BatchNorm", "--no-batch-norm")
    assert_untouched(folder, before)
    assert not (folder / "new").exists()


def test_a_dataset_of_one_sample_is_refused(folder):
    assert run(folder, "gen-samples.py", "-n", "1", "-b", "1", "-d", "3", "-o", "one", "-q").returncode == 0
    before = snapshot(folder)
    result = run(folder, "train.py", "-f", "one/data_gauss_dim3.h5", *OPTIONS, "-n", "1", "-o", "new")
    assert_clean_error(result, "1 sample", "at least 2")
    assert_untouched(folder, before)
    assert not (folder / "new").exists()


def test_figures_and_diagnostics_take_non_finite_values(tmp_path):
    from gaussgan.figures import plots
    from gaussgan.stats import diagnostics

    rng = np.random.default_rng(0)
    parent = rng.standard_normal((50, 3))
    for bad in (np.nan, np.inf):
        generated = rng.standard_normal((50, 3))
        generated[:10], generated[:, 1] = bad, bad
        comparison = diagnostics.compare(generated, parent, parent)
        assert comparison.rejected_raw >= 1
        plots.component_histograms(generated, parent, 1, tmp_path / "a.png")
        plots.norm_distributions(
            comparison.norms_generated, comparison.norms_parent, comparison.norm_ks_parent, 1, tmp_path / "b.png"
        )
        plots.ks_per_component(
            comparison.ks_statistic, comparison.ks_pvalue, comparison.ks_floor, 1, tmp_path / "c.png"
        )
        plots.correlations(comparison.corr_generated, comparison.corr_parent, 1, tmp_path / "d.png")
        losses = np.r_[np.ones(5), np.full(5, bad)]
        plots.losses(np.arange(10) / 5, losses, np.arange(10) / 5, losses, tmp_path / "e.png")
    assert len(list(tmp_path.glob("*.png"))) == 5


# --- No dead ends: a start-up cut short is resumable or absent; leftovers are cleaned -------------------
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_a_run_stopped_right_after_start_up_is_resumable(folder, signum, status):
    marker = f"gaussgan-test-{os.getpid()}-{time.monotonic_ns()}"
    process = subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), "-f", DATA, *OPTIONS, "-n", "1000", "-o", "new"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1", "GAUSSGAN_TEST_MARKER": marker},
    )
    for line in process.stdout:
        if line.startswith("run directory"):
            process.send_signal(signum)
            break
    err = finish(process, marker)
    assert process.returncode == status and "Traceback" not in err, err
    assert (folder / "new" / NAME / "config.json").exists()
    # Either way: "exists already; use --resume" and then --resume continues it.
    assert_clean_error(train(folder, "-n", "1", "-o", "new"), "exists already", "--resume")
    result = train(folder, "--inline-figures", "-n", "1", "-o", "new", "--resume")
    assert result.returncode == 0, result.stderr
    assert not leftovers(folder) and not empty_folders(folder)


def finish(process: subprocess.Popen, marker: str, timeout: float = 60) -> str:
    """Its stderr once it and every process it started have ended (they share its output pipes).
    If one hangs: its threads' stacks (faulthandler, on SIGABRT) in the failure, and none left running."""
    try:
        return process.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        status = process.poll()
        left = processes_with(marker)
        for pid in left:
            os.kill(pid, signal.SIGABRT)
        time.sleep(2)
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
        err = process.communicate(timeout=30)[1]
        # The stacks, not the list of loaded extension modules that faulthandler prints after them.
        stacks = "\n".join(line for line in err.splitlines() if not line.startswith("Extension modules:"))
        pytest.fail(f"{timeout} s after the signal: exit status {status}, processes left {left}:\n{stacks[-8000:]}")


def test_leftovers_of_interrupted_start_ups_are_taken_over(folder):
    # What an interrupted start-up used to leave: the run's folders, empty, and no config.json;
    # and what a kill -9 during the start-up leaves now: the run half built under a hidden name.
    for name in ("models", "samples"):
        (folder / "new" / NAME / name).mkdir(parents=True)
    stale = folder / "new" / f".{NAME}.99999999.0123abcd.tmprun"
    (stale / "models").mkdir(parents=True)
    (stale / "config.json").write_text("{}")
    result = train(folder, "--inline-figures", "-n", "1", "-o", "new")
    assert result.returncode == 0, result.stderr
    assert (folder / "new" / NAME / "checkpoint.pth.tar").exists()
    assert not stale.exists() and not leftovers(folder)


def test_a_run_replaced_by_force_and_killed_between_the_renames_is_put_back(folder):
    # kill -9 after the old run was moved aside and before the new one took its place.
    moved = folder / "runs" / f".{NAME}.99999999.0123abcd.old"
    (folder / RUN).rename(moved)
    kept = snapshot(moved)
    assert_clean_error(train(folder, "-n", "1"), "exists already", "--resume")
    assert snapshot(folder / RUN) == kept and not moved.exists() and not leftovers(folder)
