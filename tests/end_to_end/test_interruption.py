"""Nothing lost: Ctrl-C / SIGTERM mid-run, then --resume, ends exactly where an uninterrupted run does."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import REPO, assert_clean_error, run_script, snapshot

from gaussgan.data import datasets

TRAIN = [
    "-f",
    "datasets/data_gauss_dim3.h5",
    "-d",
    "4",
    "-n",
    "5",
    "-b",
    "16",
    "--n-eval",
    "100",
    "--seed",
    "11",
    "-c",
    "0.25",
    "-q",
]
RUN = "gauss_dim3_4_1_van"
TIMING = ["seconds_train", "seconds_metrics", "seconds_total"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    result = run_script("gen-samples.py", "-n", 400, "-b", 2, "-d", 3, "--seed", 2, "-q", cwd=folder)
    assert result.returncode == 0, result.stderr
    # The reference: the same run, never interrupted.
    result = run_script("train.py", *TRAIN, "-o", "reference", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def start(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def rows(path: Path) -> int:
    try:
        return len(pd.read_csv(path))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def assert_same_run(folder: Path, runs_dir: str) -> None:
    reference, resumed = folder / "reference" / RUN, folder / runs_dir / RUN
    pd.testing.assert_frame_equal(
        pd.read_csv(reference / "training_details.csv").drop(columns=TIMING),
        pd.read_csv(resumed / "training_details.csv").drop(columns=TIMING),
    )
    for name in ("models/generator.pth.tar", "models/discriminator.pth.tar"):
        a = torch.load(reference / name, map_location="cpu", weights_only=True)["state_dict"]
        b = torch.load(resumed / name, map_location="cpu", weights_only=True)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    a, b = (
        torch.load(run / "models/generator.pth.tar", weights_only=True).get("mixture", [])
        for run in (reference, resumed)
    )
    assert [m["epoch"] for m in a] == [m["epoch"] for m in b]
    assert all(
        torch.equal(x["state_dict"][k], y["state_dict"][k]) for x, y in zip(a, b, strict=True) for k in x["state_dict"]
    )


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_mid_run_then_resume_matches_an_uninterrupted_run(folder, signum, status):
    runs_dir = f"interrupted_{signum.name}"
    process = start(folder, *TRAIN, "-o", runs_dir)
    wait_for(lambda: rows(folder / runs_dir / RUN / "training_details.csv") >= 2, process)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == status, err
    assert "--resume" in err and "Traceback" not in err
    done = rows(folder / runs_dir / RUN / "training_details.csv")
    assert 2 <= done < 5
    result = run_script("train.py", *TRAIN, "-o", runs_dir, "--resume", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "resuming in epoch" in result.stdout or "resuming after epoch" in result.stdout
    assert_same_run(folder, runs_dir)
    figures = sorted(p.name for p in (folder / runs_dir / RUN / "samples").glob("rhist_*.png"))
    assert figures == [f"rhist_epoch{e:05d}.png" for e in range(5)]


def test_resume_extends_a_finished_run_and_refuses_changed_options(folder, tmp_path):
    runs_dir = "extended"
    short = [*TRAIN[: TRAIN.index("-n")], "-n", "3", *TRAIN[TRAIN.index("-n") + 2 :]]
    assert run_script("train.py", *short, "-o", runs_dir, cwd=folder).returncode == 0
    before = snapshot(folder / runs_dir)
    changed = run_script("train.py", *TRAIN, "-o", runs_dir, "--resume", "--lr", "0.01", "-b", "8", cwd=folder)
    assert_clean_error(changed, "lr", "batch_size")
    assert snapshot(folder / runs_dir) == before
    result = run_script("train.py", *TRAIN, "-o", runs_dir, "--resume", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert_same_run(folder, runs_dir)


def test_second_ctrl_c_stops_at_once_and_keeps_what_was_saved(folder):
    runs_dir = "twice"
    process = start(folder, *TRAIN, "-n", "50", "-o", runs_dir)
    wait_for(lambda: rows(folder / runs_dir / RUN / "training_details.csv") >= 1, process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err
    run = folder / runs_dir / RUN
    assert rows(run / "training_details.csv") >= 1
    checkpoint = torch.load(run / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] >= 1
    assert not list(run.rglob(".*.tmp*"))


def test_gen_samples_interrupted_keeps_completed_dimensions_and_no_partial_file(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "gen-samples.py"),
            "-n",
            "10000",
            "-b",
            "200",
            "-d",
            "2",
            "100",
            "--seed",
            "1",
            "-q",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out_dir = tmp_path / "datasets"
    wait_for(
        lambda: (
            out_dir.exists()
            and any(p.name.startswith(".data_gauss_dim100.h5.") and ".tmp" in p.name for p in out_dir.iterdir())
        ),
        process,
    )
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["data_gauss_dim2.h5", "hist_gauss_dim2.png"]
    assert datasets.load_dataset(out_dir / "data_gauss_dim2.h5")[0].shape == (2_000_000, 2)
