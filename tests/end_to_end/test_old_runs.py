"""A dataset and a run directory written by gaussgan before the package was laid out in stages (the last
commit of the flat layout, taken from this repository's history) still resume, sample, evaluate and report
with the code of today: the layout changed the code, not the files."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import REPO, run, run_module, run_script

# The last commit of the flat package (gaussgan/*.py side by side).
FLAT_LAYOUT = "1474f4d7287ab327892e820307be0bff181eed2e"
TINY = ["-n", "2", "-d", "2", "-c", "0.1", "--n-eval", "100", "--max-n", "1000", "--null-repeats", "250"]


def flat_layout_code(destination: Path) -> Path:
    """The repository's files at FLAT_LAYOUT, unpacked into ``destination``; skips without that history."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", FLAT_LAYOUT],
            capture_output=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"the flat layout's commit is not in this checkout's history ({type(error).__name__})")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    return destination


def run_old(code: Path, script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    # The script's folder comes first on sys.path, so `import gaussgan` finds the old package beside it.
    return run([sys.executable, code / script, *args], cwd=cwd, timeout=300)


def test_a_dataset_and_a_run_of_the_flat_layout_resume_sample_evaluate_and_report(tmp_path):
    code = flat_layout_code(tmp_path / "old")
    work = tmp_path / "work"
    work.mkdir()
    made = run_old(code, "gen-samples.py", "-n", "100", "-b", "2", "-d", "3", "--seed", "1", cwd=work)
    assert made.returncode == 0, made.stderr
    trained = run_old(code, "train.py", "-f", "datasets/data_gauss_dim3.h5", *TINY, "--seed", "1", "-q", cwd=work)
    assert trained.returncode == 0, trained.stderr
    run = work / "runs" / "gauss_dim3_2_1_van"
    assert (run / "verdict.json").is_file()

    extended = run_script(
        "train.py", "-f", "datasets/data_gauss_dim3.h5", *TINY[2:], "-n", "3", "--resume", "-q", cwd=work
    )
    assert extended.returncode == 0, extended.stderr
    assert "resuming after epoch 1" in extended.stdout
    sampled = run_module("sample", run, "-n", "1000", "-o", "drawn.npy", "--seed", "2", cwd=work)
    assert sampled.returncode == 0, sampled.stderr
    judged = run_module(
        "evaluate", "drawn.npy", "--parent", "datasets/data_gauss_dim3.h5", "--max-n", "1000", "-q", cwd=work
    )
    assert judged.returncode == 0, judged.stderr
    reported = run_module("report", "runs", "-o", "report", cwd=work)
    assert reported.returncode == 0, reported.stderr
    assert (work / "report" / "index.html").is_file()
