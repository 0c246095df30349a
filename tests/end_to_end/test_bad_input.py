"""The bad-input matrix: every way a user can get a command wrong, through the real scripts.

Each case expects exit status 2, one ``error: ...`` line naming the problem, no traceback,
and no new or changed file in the folder the command ran in.
"""

import importlib.util
import pickle

import h5py
import numpy as np
import pytest
import torch
from builders import make_bad
from helpers import REPO, assert_clean_error, run_script, snapshot

DATA = "datasets/data_gauss_dim3.h5"


class RunsCode:
    """Unpickling this would create a file: a stand-in for an attacker's payload."""

    def __reduce__(self):
        return (open, ("PWNED", "w"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    assert run_script("gen-samples.py", "-n", 50, "-b", 2, "-d", 3, "--seed", 1, "-q", cwd=folder).returncode == 0
    (folder / "notes.txt").write_text("a text file")
    (folder / "bad").mkdir()
    for kind in (
        "directory",
        "empty",
        "not_hdf5",
        "truncated",
        "no_data",
        "rank",
        "width",
        "nan",
        "inf",
        "no_metadata",
    ):
        make_bad(folder / "bad", kind)
    with h5py.File(folder / "bad/not_pd.h5", "w") as handle:  # metadata whose covariance is not positive definite
        handle["data"] = np.zeros((10, 2))
        handle["metadata/dist"], handle["metadata/dim"] = [b"gauss"], [2]
        handle["metadata/sigma"] = np.array([[[1.0, 2.0], [2.0, 1.0]]])
    # A finished run whose generator file is a pickle that runs code, and a run whose checkpoint does.
    assert (
        run_script(
            "train.py", "-f", DATA, "-d", "4", "-n", "1", "-c", "0.1", "--n-eval", "50", "--seed", "1", "-q", cwd=folder
        ).returncode
        == 0
    )
    run = folder / "runs/gauss_dim3_4_1_van"
    (folder / "evil_run").mkdir()
    (folder / "evil_run/models").mkdir()
    (folder / "evil_run/models/generator.pth.tar").write_bytes(pickle.dumps({"spec": RunsCode()}))
    (folder / "evil_run/config.json").write_text("{}")
    torch.save(
        {"spec": {"latent_dim": 4, "data_dim": 7, "hidden": [3], "batch_norm": False}, "state_dict": {}},
        folder / "wrong_shapes.pt",
    )
    (run / "checkpoint.pth.tar").write_bytes(pickle.dumps({"epoch": RunsCode()}))
    (run / "models/generator_best.pth.tar").unlink()  # as in a run of an older gaussgan
    return folder


TRAIN = ("train.py", "-d", "4", "-c", "0.1", "--n-eval", "50", "--seed", "1", "-q")
SAMPLE = ("-m", "gaussgan", "sample")

CASES = [
    # gen-samples.py
    (("gen-samples.py", "-n", "0"), ["-n", "positive"]),
    (("gen-samples.py", "-b", "-3"), ["-b", "positive"]),
    (("gen-samples.py", "-d", "2", "0"), ["-d", "positive"]),
    (("gen-samples.py", "-n", "ten"), ["-n", "'ten'"]),
    (("gen-samples.py", "-s", "poisson"), ["unknown parent", "poisson"]),
    (("gen-samples.py", "-d", "10", "-c", "1", "0.5", "3"), ["does not divide", "10"]),
    (("gen-samples.py", "-d", "4", "-c", "1", "1.5", "2"), ["not positive definite"]),
    (("gen-samples.py", "-d", "4", "-c", "0", "0", "1"), ["DIAG"]),
    (("gen-samples.py", "-s", "uniform", "--xlo", "2", "--xhi", "1"), ["xlo < xhi"]),
    (("gen-samples.py", "-s", "trunc_gauss", "--xlo", "1", "--xhi", "1"), ["xlo < xhi"]),
    (("gen-samples.py", "-s", "cauchy", "-c", "1", "0.2", "1"), ["OFFDIAG"]),
    (("gen-samples.py", "-c", "1", "x", "1"), ["--sigma"]),
    (("gen-samples.py", "-m", "nan"), ["--mu", "finite"]),
    (("gen-samples.py", "-o", "notes.txt"), ["notes.txt", "is a file"]),
    (("gen-samples.py", "-o", "notes.txt/sub"), ["cannot create"]),
    (("gen-samples.py", "--seed", "-1"), ["--seed"]),
    # train.py: the dataset
    ((*TRAIN, "-f", "missing.h5"), ["does not exist"]),
    ((*TRAIN, "-f", "bad/directory.h5"), ["folder"]),
    ((*TRAIN, "-f", "bad/empty.h5"), ["not a readable HDF5"]),
    ((*TRAIN, "-f", "notes.txt"), ["not a readable HDF5"]),
    ((*TRAIN, "-f", "bad/truncated.h5"), ["HDF5"]),
    ((*TRAIN, "-f", "bad/no_data.h5"), ["no /data"]),
    ((*TRAIN, "-f", "bad/rank.h5"), ["rank 3"]),
    ((*TRAIN, "-f", "bad/width.h5"), ["3 columns", "dim = 5"]),
    ((*TRAIN, "-f", "bad/nan.h5"), ["NaN"]),
    ((*TRAIN, "-f", "bad/inf.h5"), ["infinite"]),
    ((*TRAIN, "-f", "bad/no_metadata.h5"), ["metadata"]),
    ((*TRAIN, "-f", "bad/not_pd.h5"), ["not positive definite"]),
    # train.py: the options
    ((*TRAIN, "-f", DATA, "-d", "0"), ["--latent-dim", "positive"]),
    ((*TRAIN, "-f", DATA, "-n", "0"), ["--epochs", "positive"]),
    ((*TRAIN, "-f", DATA, "-b", "-1"), ["--batch-size", "positive"]),
    ((*TRAIN, "-f", DATA, "-s", "0"), ["--latent-sigma", "positive"]),
    ((*TRAIN, "-f", DATA, "-s", "-0.1"), ["--latent-sigma"]),
    ((*TRAIN, "-f", DATA, "-c", "0"), ["--scale", "positive"]),
    ((*TRAIN, "-f", DATA, "--lr", "0"), ["--lr", "positive"]),
    ((*TRAIN, "-f", DATA, "--critic-steps", "0"), ["--critic-steps"]),
    ((*TRAIN, "-f", DATA, "--gp-weight", "-1"), ["--gp-weight"]),
    ((*TRAIN, "-f", DATA, "--n-eval", "0"), ["--n-eval"]),
    ((*TRAIN, "-f", DATA, "--ema-decay", "1"), ["--ema-decay"]),
    ((*TRAIN, "-f", DATA, "--mixture", "1.5"), ["--mixture", "[0, 1]"]),
    ((*TRAIN, "-f", DATA, "--device", "tpu"), ["--device"]),
    ((*TRAIN, "-f", DATA, "--beta1", "1"), ["--beta1", "[0, 1)"]),
    ((*TRAIN, "-f", DATA, "--beta2", "-0.1"), ["--beta2", "[0, 1)"]),
    ((*TRAIN, "-f", DATA, "--threads", "0"), ["--threads", "positive"]),
    ((*TRAIN, "-f", DATA, "--corr-every", "two"), ["--corr-every", "'two'"]),
    ((*TRAIN, "-f", DATA, "--eval-every", "0"), ["--eval-every", "positive"]),
    ((*TRAIN, "-f", DATA, "--lr-schedule", "step"), ["--lr-schedule", "step"]),
    ((*TRAIN, "-f", DATA, "--lr-floor", "1.5"), ["--lr-floor", "[0, 1)"]),
    ((*TRAIN, "-f", DATA, "--warmup", "-1"), ["--warmup", "[0, 1)"]),
    ((*TRAIN, "-f", DATA, "--d-lr-ratio", "0"), ["--d-lr-ratio", "positive"]),
    ((*TRAIN, "-f", DATA, "--r1", "-1"), ["--r1", ">= 0"]),
    ((*TRAIN, "-f", DATA, "--r1", "inf"), ["--r1", "finite"]),
    ((*TRAIN, "-f", DATA, "--max-n", "1e9x"), ["--max-n"]),
    ((*TRAIN, "-f", DATA, "--null-repeats", "20"), ["--null-repeats", "at least 250"]),
    ((*TRAIN, "-f", DATA, "--max-n", "99"), ["--max-n", "at least 100"]),
    ((*TRAIN, "-f", DATA, "--draws", "0"), ["--draws", "positive"]),
    ((*TRAIN, "-f", DATA, "--verdict-only", "--force"), ["--verdict-only", "neither"]),
    ((*TRAIN, "-f", DATA, "--verdict-only", "-p", "other"), ["--verdict-only", "no run"]),
    ((*TRAIN, "-f", DATA, "-o", "notes.txt"), ["runs directory", "is a file"]),
    ((*TRAIN, "-f", DATA, "--resume", "-p", "other"), ["no run to resume"]),
    ((*TRAIN, "-f", DATA, "--force", "--resume"), ["contradict"]),
    ((*TRAIN, "-f", DATA), ["exists", "--force"]),
    ((*TRAIN, "-f", DATA, "--resume"), ["not a safe checkpoint"]),
    # python -m gaussgan sample
    ((*SAMPLE, "nowhere"), ["does not exist"]),
    ((*SAMPLE, "evil_run", "-o", "x.h5"), ["not a safe generator file"]),
    ((*SAMPLE, "runs/gauss_dim3_4_1_van", "-o", "x.txt"), [".h5, .csv or .npy"]),
    ((*SAMPLE, "runs/gauss_dim3_4_1_van", "-o", "missing/x.h5"), ["does not exist"]),
    ((*SAMPLE, "runs/gauss_dim3_4_1_van", "-n", "0"), ["-n", "positive"]),
    ((*SAMPLE, "runs/gauss_dim3_4_1_van", "--epoch", "first"), ["--epoch", "'first'"]),
    ((*SAMPLE, "runs/gauss_dim3_4_1_van", "--epoch", "best", "-o", "x.h5"), ["generator_best.pth.tar", "--epoch last"]),
]


@pytest.mark.parametrize("command, words", CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES])
def test_bad_input(folder, command, words):
    before = snapshot(folder)
    result = run_script(*command, cwd=folder) if command[0] != "-m" else run_module(command, folder)
    assert_clean_error(result, *words)
    assert snapshot(folder) == before
    assert not (folder / "PWNED").exists()


def run_module(command, folder):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, *command], cwd=folder, capture_output=True, text=True, timeout=120, env={**os.environ}
    )


def script_parser(script: str):
    """The argument parser of one of the repository's scripts, built as the script builds it."""
    spec = importlib.util.spec_from_file_location(script.replace("-", "_").removesuffix(".py"), REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_parser()


# Options whose values are not checked by a type or a list of choices, and why no case is needed.
UNCHECKED = {"-f", "-o", "-p"}  # paths and names: checked when used, with their own cases in test_faults_*.py


@pytest.mark.parametrize("script", ["gen-samples.py", "train.py"])
def test_every_checked_option_has_a_bad_input_case(script):
    """A new option with a type or choices must come with a case here: this test fails until it does."""
    parser = script_parser(script)
    tried = {word for command, _ in CASES if command[0] == script for word in command}
    checked = [
        action.option_strings
        for action in parser._actions
        if action.option_strings and (action.type is not None or action.choices) and action.nargs != 0
    ]
    missing = [strings for strings in checked if not set(strings) & (tried | UNCHECKED)]
    assert checked and not missing, f"{script}: no bad-input case for {missing}"
