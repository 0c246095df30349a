"""Runs trained together (train.py --seed 1 2 3): each an ordinary run directory that every command takes;
the same seeds give the same bytes; Ctrl-C then --resume ends where an uninterrupted group does; a run that
diverges stops alone while the others finish."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import REPO, run_module, run_script

SEEDS = ["1", "2", "3"]
TRAIN = ["-f", "datasets/data_gauss_dim3.h5", "-d", "4", "-b", "16", "--n-eval", "100", "-c", "0.25", "-q"]
VERDICT = ["--max-n", "1000", "--null-repeats", "250"]
RUNS = [f"gauss_dim3_4_1_van_seed{seed}" for seed in SEEDS]
TIMING = ["seconds_train", "seconds_metrics", "seconds_total"]


def train(folder: Path, runs_dir: str, epochs: int, *more: str) -> subprocess.CompletedProcess:
    return run_script(
        "train.py", *TRAIN, *VERDICT, "-n", str(epochs), "--seed", *SEEDS, "-o", runs_dir, *more, cwd=folder
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("packed")
    result = run_script("gen-samples.py", "-n", 400, "-b", 2, "-d", 3, "--seed", 2, "-q", cwd=folder)
    assert result.returncode == 0, result.stderr
    result = train(folder, "reference", 3)  # the reference: three runs trained together, never interrupted
    assert result.returncode == 0, result.stderr
    return folder


def weights(run: Path) -> dict:
    return {
        name: torch.load(run / name, map_location="cpu", weights_only=True)["state_dict"]
        for name in ("models/generator.pth.tar", "models/discriminator.pth.tar")
    }


def assert_same_runs(folder: Path, runs_dir: str, runs=RUNS) -> None:
    for name in runs:
        reference, other = folder / "reference" / name, folder / runs_dir / name
        pd.testing.assert_frame_equal(
            pd.read_csv(reference / "training_details.csv").drop(columns=TIMING),
            pd.read_csv(other / "training_details.csv").drop(columns=TIMING),
        )
        a, b = weights(reference), weights(other)
        assert all(torch.equal(a[file][key], b[file][key]) for file in a for key in a[file]), name


def test_a_packed_group_writes_ordinary_runs_that_sample_evaluate_report_and_resume_take(folder, tmp_path):
    for name in RUNS:
        run = folder / "reference" / name
        config = json.loads((run / "config.json").read_text())
        assert config["packed_with"] == RUNS and "--seed 1 2 3" in config["command"]
        assert len(pd.read_csv(run / "training_details.csv")) == 3
        assert "n_star" in json.loads((run / "verdict.json").read_text())
        assert (run / "index.html").is_file() and (run / "samples" / "rhist_epoch00002.png").is_file()
    seeds = {json.loads((folder / "reference" / name / "config.json").read_text())["seed"] for name in RUNS}
    assert seeds == {1, 2, 3}
    # The runs differ: each replica trained on its own random stream.
    first, second = (weights(folder / "reference" / name) for name in RUNS[:2])
    assert not torch.equal(
        first["models/generator.pth.tar"]["net.0.weight"], second["models/generator.pth.tar"]["net.0.weight"]
    )

    sampled = run_module(
        "sample", folder / "reference" / RUNS[1], "-n", "500", "-o", tmp_path / "drawn.npy", cwd=folder
    )
    assert sampled.returncode == 0, sampled.stderr
    judged = run_module(
        "evaluate", tmp_path / "drawn.npy", "--parent", "datasets/data_gauss_dim3.h5", *VERDICT, "-q", cwd=folder
    )
    assert judged.returncode == 0, judged.stderr
    reported = run_module("report", folder / "reference", "-o", tmp_path / "report", cwd=folder)
    assert reported.returncode == 0, reported.stderr
    table = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert len(table) == 3

    result = train(folder, "reference", 3, "--resume")  # nothing left to do: each run says so
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("nothing to do") == 3


def test_the_same_seeds_packed_the_same_way_give_the_same_bytes(folder):
    result = train(folder, "again", 3)
    assert result.returncode == 0, result.stderr
    for name in RUNS:
        for file in ("models/generator.pth.tar", "models/discriminator.pth.tar", "training_model_losses.png"):
            assert (folder / "again" / name / file).read_bytes() == (folder / "reference" / name / file).read_bytes()
        # The checkpoint holds the options too (another runs folder): its every tensor is the same.
        a, b = (
            torch.load(folder / runs / name / "checkpoint.pth.tar", weights_only=True)
            for runs in ("again", "reference")
        )
        for key in ("generator", "ema_generator", "discriminator"):
            assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
        for key in ("optimizer_g", "optimizer_d"):
            assert all(
                torch.equal(a[key]["state"][i][m], b[key]["state"][i][m])
                for i in a[key]["state"]
                for m in ("exp_avg", "exp_avg_sq")
            )
        assert torch.equal(a["rng"], b["rng"]) and torch.equal(a["d_losses"], b["d_losses"])


def test_ctrl_c_mid_group_then_resume_matches_an_uninterrupted_group(folder):
    process = subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), *TRAIN, *VERDICT, "-n", "3", "--seed", *SEEDS, "-o", "interrupted"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    csv = folder / "interrupted" / RUNS[-1] / "training_details.csv"
    deadline = time.monotonic() + 120
    while not csv.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "--seed 1 2 3" in err and "--resume" in err and "Traceback" not in err
    assert all(len(pd.read_csv(folder / "interrupted" / name / "training_details.csv")) < 3 for name in RUNS)
    result = train(folder, "interrupted", 3, "--resume")
    assert result.returncode == 0, result.stderr
    assert_same_runs(folder, "interrupted")


def test_a_run_that_diverges_stops_alone_and_the_others_finish(folder):
    result = train(folder, "diverging", 1)
    assert result.returncode == 0, result.stderr
    checkpoint = folder / "diverging" / RUNS[1] / "checkpoint.pth.tar"
    saved = torch.load(checkpoint, weights_only=True)
    for name in ("optimizer_g", "optimizer_d"):  # huge first moments: Adam's next step throws the weights past float32
        for group in saved[name]["param_groups"]:
            group["betas"] = (0.9, group["betas"][1])
        for state in saved[name]["state"].values():
            state["exp_avg"].fill_(1e30)
    torch.save(saved, checkpoint)
    verdict = checkpoint.parent / "verdict.json"  # the 1-epoch run's
    kept = checkpoint.read_bytes(), verdict.read_bytes()
    result = train(folder, "diverging", 3, "--resume")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: {RUNS[1]}: training diverged in epoch 1" in result.stderr
    assert "1 of 3 runs failed; the others finished" in result.stderr
    assert (checkpoint.read_bytes(), verdict.read_bytes()) == kept  # its last good state, untouched
    for name in (RUNS[0], RUNS[2]):
        assert len(pd.read_csv(folder / "diverging" / name / "training_details.csv")) == 3
        assert (folder / "diverging" / name / "verdict.json").is_file()
    assert_same_runs(folder, "diverging", runs=[RUNS[0], RUNS[2]])


def test_runs_trained_together_need_distinct_seeds(folder):
    result = run_script("train.py", *TRAIN, "-n", "1", "--seed", "1", "1", "-o", "twice", cwd=folder)
    assert result.returncode == 2 and result.stderr.startswith("error:") and "each seed once" in result.stderr
    assert not (folder / "twice").exists()
