"""naive.py and adversarial.py, run as a user runs them: subprocesses in a temporary folder.

Fast tests train for a few epochs only; they check formats, the model file and every bad
input. The statistical claims of the proof of concept are checked by the slow test.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, run_script

TIMEOUT = 120  # seconds; generous, for a loaded CI machine


def run(script: str, *args: str, cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run ``naive`` or ``adversarial`` (``.py`` added) with ``args`` in ``cwd``."""
    return run_script(f"{script}.py", *args, cwd=cwd, timeout=timeout)


def check_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def check_bad_input(result: subprocess.CompletedProcess) -> None:
    """The documented answer to bad input: one ``error:`` message, exit status 2, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def floats(lines: str) -> list[list[float]]:
    return [[float(field) for field in line.split("\t")] for line in lines.splitlines()]


# Options after the sub-command; the naive model also has several inputs and outputs.
TRAIN_ARGS = {
    "naive": ["200", "train", "--epochs", "3", "--seed", "1", "--in-shape", "3", "--out-shape", "2"],
    "adversarial": ["200", "train", "--epochs", "3", "--seed", "1"],
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """One tiny model per script, and what train printed."""
    folder = tmp_path_factory.mktemp("models")
    trained = {}
    for script, args in TRAIN_ARGS.items():
        result = run(script, f"--model-path={script}.pt", *args, cwd=folder)
        check_ok(result)
        trained[script] = (folder / f"{script}.pt", result)
    return trained


@pytest.mark.parametrize("script", ["naive", "adversarial"])
def test_train_saves_a_model_and_prints_a_verdict(models, script):
    path, result = models[script]
    assert path.is_file()
    assert not [name for name in os.listdir(path.parent) if name.startswith(".")], "temporary file left behind"
    assert f"model saved to {path.name}" in result.stdout
    assert "10,000 fresh samples" in result.stdout
    components = 2 if script == "naive" else 1
    assert len(re.findall(r"mean [-+.\d]+\s+std [.\d]+\s+KS D [.\d]+\s+p \S+\s+-> \S", result.stdout)) == components


def test_model_file_holds_plain_values_and_tensors_only(models):
    import torch

    checkpoint = torch.load(models["adversarial"][0], map_location="cpu", weights_only=True)
    assert checkpoint["rule"] == "adversarial"
    assert (checkpoint["in_shape"], checkpoint["out_shape"]) == (1, 1)
    assert all(isinstance(size, int) for size in checkpoint["hidden"])
    assert all(isinstance(tensor, torch.Tensor) for tensor in checkpoint["state_dict"].values())


def test_generate_prints_exactly_the_samples(models, tmp_path):
    result = run(
        "adversarial", f"--model-path={models['adversarial'][0]}", "--seed", "3", "7", "generate", cwd=tmp_path
    )
    check_ok(result)
    rows = floats(result.stdout)
    assert len(rows) == 7 and all(len(row) == 1 for row in rows)
    assert len(set(row[0] for row in rows)) == 7  # the input is random, so are the samples
    assert list(tmp_path.iterdir()) == []


def test_a_model_from_either_script_loads_in_the_other(models, tmp_path):
    result = run("naive", f"--model-path={models['adversarial'][0]}", "5", "generate", cwd=tmp_path)
    check_ok(result)
    assert len(floats(result.stdout)) == 5
    assert re.match(r"seed \d+\n", result.stderr)  # no --seed: the one drawn is shown, on stderr

    # The naive model has two output components: tab-separated on each line.
    result = run("adversarial", f"--model-path={models['naive'][0]}", "4", "generate", cwd=tmp_path)
    check_ok(result)
    assert [len(row) for row in floats(result.stdout)] == [2, 2, 2, 2]
    assert all(line.count("\t") == 1 for line in result.stdout.splitlines())


def test_same_seed_same_model_and_samples(models, tmp_path):
    check_ok(run("naive", "--model-path=again.pt", *TRAIN_ARGS["naive"], cwd=tmp_path))
    assert (tmp_path / "again.pt").read_bytes() == models["naive"][0].read_bytes()
    outputs = {
        (path, seed): run("naive", f"--model-path={path}", "--seed", seed, "50", "generate", cwd=tmp_path).stdout
        for path, seed in (("again.pt", "4"), (models["naive"][0], "4"), (models["naive"][0], "5"))
    }
    samples = list(outputs.values())
    assert len(samples[0].splitlines()) == 50
    assert samples[0] == samples[1]
    assert samples[0] != samples[2]


@pytest.mark.parametrize(
    "args",
    [
        ["--model-path=m.pt", "0", "train"],
        ["--model-path=m.pt", "-5", "generate"],
        ["--model-path=m.pt", "many", "train"],
        ["--model-path=m.pt", "10"],  # no sub-command
        ["--model-path=m.pt", "10", "fit"],
        ["10", "train"],  # no --model-path
        ["--model-path=no/such/folder/m.pt", "10", "train"],
        ["--model-path=m.pt", "10", "generate"],  # no model yet
        ["--model-path=.", "10", "generate"],  # a folder, not a model file
        ["--model-path=m.pt", "10", "train", "--epochs", "0"],
        ["--model-path=m.pt", "10", "train", "--learning-rate", "-1"],
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_input_is_refused_and_writes_nothing(tmp_path, args):
    check_bad_input(run("naive", *args, cwd=tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rate", ["1e300", "2"])
def test_a_learning_rate_above_its_bound_is_refused_before_training(tmp_path, rate):
    """Adam moves each weight by about the rate each step: above 1 a run only diverges (1e300 overflowed in
    Adam's step: a traceback), so --learning-rate says its bound instead."""
    result = run("adversarial", "--model-path=m.pt", "10", "train", "--learning-rate", rate, cwd=tmp_path)
    check_bad_input(result)
    assert "--learning-rate" in result.stderr and "(0, 1]" in result.stderr and rate in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", [["--in-shape", "2"], ["--out-shape", "3"]])
def test_shapes_that_contradict_the_model_are_refused(models, tmp_path, option):
    result = run("adversarial", f"--model-path={models['naive'][0]}", "10", "generate", *option, cwd=tmp_path)
    check_bad_input(result)
    assert option[0] in result.stderr


class Payload:
    """Unpickling this calls os.mkdir(marker): what a crafted model file could do to its reader."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def foreign_files(marker: Path, model: Path) -> dict[str, bytes]:
    """Files that are not models: noise, someone else's checkpoint, a damaged model, and two
    crafted pickles."""
    import io

    import torch

    files = {"noise.pt": os.urandom(2000)}
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    files["foreign.pt"] = buffer.getvalue()
    files["crafted.pkl"] = pickle.dumps(Payload(marker))
    buffer = io.BytesIO()
    torch.save({"format": "gaussgan-poc-generator", "payload": Payload(marker)}, buffer)
    files["crafted.pt"] = buffer.getvalue()
    checkpoint = torch.load(model, map_location="cpu", weights_only=True)
    checkpoint["hidden"] = [10**9, 64]  # must be refused, not allocated
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    files["damaged.pt"] = buffer.getvalue()
    return files


def test_files_that_are_not_models_are_refused_without_running_their_code(models, tmp_path):
    marker = tmp_path / "marker"
    files = foreign_files(marker, models["adversarial"][0])
    pickle.loads(files["crafted.pkl"])  # the payload is real: read unsafely, it runs
    assert marker.is_dir()
    marker.rmdir()
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    for name in files:
        result = run("adversarial", f"--model-path={name}", "3", "generate", cwd=tmp_path)
        check_bad_input(result)
        assert not marker.exists(), f"{name} ran its payload"


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_training_saves_the_model_so_far(tmp_path, signum, status):
    process = subprocess.Popen(
        [sys.executable, str(REPO / "adversarial.py"), "--model-path=m.pt", "100", "train", "--epochs", "100000"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell starts background jobs with SIGINT ignored, and Python keeps it so: undo that,
        # as a user's terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stderr.readline().startswith("seed ")
        assert process.stderr.readline().startswith("training the adversarial generator")  # the epochs start
        time.sleep(0.5)  # a hundred epochs or so (a few milliseconds each) end
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    assert "model so far saved to m.pt" in stderr
    assert sorted(os.listdir(tmp_path)) == ["m.pt"]  # and no temporary file left
    import torch

    checkpoint = torch.load(tmp_path / "m.pt", map_location="cpu", weights_only=True)
    assert 0 < checkpoint["epochs"] < 100000


def test_comparison_figure_is_written_and_closed(tmp_path):
    import matplotlib.pyplot as plt
    import numpy as np

    from gaussgan.figures.plots import poc_comparison

    rng = np.random.default_rng(0)
    open_before = plt.get_fignums()  # other tests in this process may hold figures of their own
    poc_comparison(rng.normal(0, 0.01, 500), rng.normal(0, 1, 500), tmp_path / "poc.png")
    assert (tmp_path / "poc.png").read_bytes().startswith(b"\x89PNG")
    assert os.listdir(tmp_path) == ["poc.png"]
    assert plt.get_fignums() == open_before


VERDICT = re.compile(r"mean (?P<mean>[-+.\d]+)\s+std (?P<std>[.\d]+)\s+KS D (?P<ks>[.\d]+)\s+p (?P<p>\S+)")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_defaults_show_collapse_and_learning(tmp_path, seed):
    """The issue's claim, with the defaults: MSE collapses, the GAN learns N(0, 1)."""
    verdicts = {}
    for script in ("naive", "adversarial"):
        args = (f"--model-path={script}.pt", "--seed", str(seed), "--quiet", "1000", "train")
        result = run(script, *args, cwd=tmp_path, timeout=600)
        check_ok(result)
        verdicts[script] = {key: float(value) for key, value in VERDICT.search(result.stdout).groupdict().items()}
    assert verdicts["naive"]["std"] < 0.2, verdicts
    assert verdicts["adversarial"]["ks"] < 0.03, verdicts
    assert 0.9 <= verdicts["adversarial"]["std"] <= 1.1, verdicts
