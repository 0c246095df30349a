"""One overwrite rule for every command that writes: an existing output is kept, and the command
says so (exit 2, nothing written) unless ``--force``; with ``--force`` it is replaced.

Each command is run twice as a user would run it, through the real scripts. train.py has the same
rule for its run directory (tests/end_to_end/test_faults_runs.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, assert_clean_error, run_module, run_script, snapshot

GEN = ("gen-samples.py", "-n", "50", "-b", "2", "-q")
RUN = "runs/gauss_dim3_4_1_van"


def module(*args, cwd: Path) -> subprocess.CompletedProcess:
    return run_module(*args, cwd=cwd, timeout=120)


def poc(script: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / f"{script}.py"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    return result


# --- gen-samples.py -----------------------------------------------------------------------------


def test_gen_samples_keeps_an_existing_dataset_and_writes_nothing(workdir):
    ok(run_script(*GEN, "-d", 2, "--seed", 1, cwd=workdir))
    before = snapshot(workdir)
    # Another seed: the same names would get other bytes. Dimension 1 is new, and still not written:
    # every output is checked before the first is written.
    result = run_script(*GEN, "-d", 1, 2, "--seed", 2, cwd=workdir)
    assert_clean_error(result, "'datasets/data_gauss_dim2.h5'", "'datasets/hist_gauss_dim2.png'", "exist", "--force")
    assert snapshot(workdir) == before
    assert sorted(os.listdir(workdir / "datasets")) == ["data_gauss_dim2.h5", "hist_gauss_dim2.png"]


def test_gen_samples_refuses_when_only_the_histogram_exists(workdir):
    (workdir / "datasets").mkdir()
    (workdir / "datasets/hist_gauss_dim2.png").write_bytes(b"someone's figure")
    result = run_script(*GEN, "-d", 2, "--seed", 1, cwd=workdir)
    assert_clean_error(result, "'datasets/hist_gauss_dim2.png' exists", "--force to replace it")
    assert os.listdir(workdir / "datasets") == ["hist_gauss_dim2.png"]
    assert (workdir / "datasets/hist_gauss_dim2.png").read_bytes() == b"someone's figure"


def test_gen_samples_run_again_keeps_its_own_identical_outputs(workdir):
    """The same command (same seed and options) finds what it would write: kept, exit 0, a word said."""
    ok(run_script(*GEN, "-d", 2, "--seed", 1, cwd=workdir))
    before = snapshot(workdir)
    again = ok(run_script(*GEN, "-d", 2, 3, "--seed", 1, cwd=workdir))
    assert "dim 2: datasets/data_gauss_dim2.h5 kept: it holds these samples already" in again.stdout
    assert "dim 3: datasets/data_gauss_dim3.h5  norm mean" in again.stdout  # the new dimension is written
    after = snapshot(workdir)
    assert {name: after[name] for name in before} == before  # not rewritten: same sizes and times
    # Another size is another output: refused.
    assert_clean_error(run_script(*GEN, "-d", 2, "-n", 60, "--seed", 1, cwd=workdir), "exist", "--force")


def test_gen_samples_force_replaces(workdir):
    ok(run_script(*GEN, "-d", 2, "--seed", 1, cwd=workdir))
    first = (workdir / "datasets/data_gauss_dim2.h5").read_bytes()
    ok(run_script(*GEN, "-d", 2, "--seed", 2, "--force", cwd=workdir))
    assert (workdir / "datasets/data_gauss_dim2.h5").read_bytes() != first
    assert sorted(os.listdir(workdir / "datasets")) == ["data_gauss_dim2.h5", "hist_gauss_dim2.png"]


# --- python -m gaussgan sample ------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished one-epoch run on a tiny dataset."""
    folder = tmp_path_factory.mktemp("run")
    ok(run_script(*GEN, "-d", 3, "--seed", 1, cwd=folder))
    train = ("train.py", "-f", "datasets/data_gauss_dim3.h5", "-d", "4", "-n", "1", "-c", "0.1", "--n-eval", "50")
    ok(run_script(*train, "--seed", "1", "-q", "--inline-figures", cwd=folder))
    return folder / RUN


@pytest.mark.parametrize("suffix", [".h5", ".csv", ".npy"])
def test_sample_keeps_an_existing_output(trained, workdir, suffix):
    out = workdir / f"generated{suffix}"
    out.write_text("the previous output")
    result = module("sample", trained, "-n", 20, "-o", out.name, "--seed", 1, cwd=workdir)
    assert_clean_error(result, f"'generated{suffix}' exists", "--force to replace it")
    assert out.read_text() == "the previous output" and os.listdir(workdir) == [out.name]


def test_sample_force_replaces_and_csv_has_a_header(trained, workdir):
    out = workdir / "generated.csv"
    out.write_text("the previous output")
    ok(module("sample", trained, "-n", 20, "-o", out.name, "--seed", 1, "--force", cwd=workdir))
    lines = out.read_text().splitlines()
    assert lines[0] == "x0,x1,x2" and len(lines) == 21
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    assert data.shape == (20, 3) and np.all(np.isfinite(data))
    import pandas

    assert list(pandas.read_csv(out).columns) == ["x0", "x1", "x2"]


def test_sample_epoch_best_without_a_best_generator_names_the_file(trained, workdir):
    run = workdir / "run"  # a run of an older gaussgan, which kept no best generator
    shutil.copytree(trained, run)
    (run / "models/generator_best.pth.tar").unlink()
    result = module("sample", run, "-n", 20, "-o", "best.npy", "--epoch", "best", cwd=workdir)
    assert_clean_error(result, "models/generator_best.pth.tar", "does not exist", "--epoch last")
    assert os.listdir(workdir) == ["run"]


def test_sample_epoch_picks_the_generator_file(trained, workdir):
    """``--epoch best`` reads models/generator_best.pth.tar (same format), ``last`` models/generator.pth.tar."""
    import torch

    run = workdir / "run"
    shutil.copytree(trained, run)
    saved = torch.load(run / "models/generator.pth.tar", map_location="cpu", weights_only=True)
    saved["state_dict"] = {name: tensor * 0.5 for name, tensor in saved["state_dict"].items()}  # another generator
    torch.save(saved, run / "models/generator_best.pth.tar")
    for epoch in ("last", "best"):
        ok(module("sample", run, "-n", 20, "-o", f"{epoch}.npy", "--seed", 1, "--epoch", epoch, cwd=workdir))
    default = ok(module("sample", run, "-n", 20, "-o", "default.npy", "--seed", 1, cwd=workdir))
    assert "wrote 20 samples" in default.stdout
    last, best = np.load(workdir / "last.npy"), np.load(workdir / "best.npy")
    np.testing.assert_array_equal(np.load(workdir / "default.npy"), last)
    assert best.shape == last.shape and not np.array_equal(best, last)


# --- naive.py / adversarial.py train ------------------------------------------------------------

TINY = ("50", "train", "--epochs", "2", "--seed", "1", "--quiet")


@pytest.mark.parametrize("script", ["naive", "adversarial"])
def test_poc_train_keeps_an_existing_model(workdir, script):
    (workdir / "m.pt").write_bytes(b"a model trained for a week")
    result = poc(script, "--model-path=m.pt", *TINY, cwd=workdir)
    assert_clean_error(result, "'m.pt' exists", "--force to replace it")
    assert "seed" not in result.stderr  # refused before any work began
    assert os.listdir(workdir) == ["m.pt"] and (workdir / "m.pt").read_bytes() == b"a model trained for a week"


def test_poc_train_force_replaces(workdir):
    (workdir / "m.pt").write_bytes(b"an old model")
    ok(poc("naive", "--model-path=m.pt", *TINY, "--force", cwd=workdir))
    ok(poc("naive", "--model-path=fresh.pt", *TINY, cwd=workdir))
    assert (workdir / "m.pt").read_bytes() == (workdir / "fresh.pt").read_bytes()  # same seed, same bytes


def test_poc_generate_needs_no_force(workdir):
    """generate writes to stdout only: nothing to keep, so an existing model is simply read."""
    ok(poc("naive", "--model-path=m.pt", *TINY, cwd=workdir))
    result = ok(poc("naive", "--model-path=m.pt", "3", "generate", cwd=workdir))
    assert len(result.stdout.splitlines()) == 3


def test_poc_figure_keeps_an_existing_figure(workdir):
    (workdir / "naive.txt").write_text("0.001\n" * 50)
    (workdir / "adversarial.txt").write_text("".join(f"{v / 10:.1f}\n" for v in range(-20, 20)))
    (workdir / "poc.png").write_bytes(b"previous figure")
    result = module("poc-figure", "naive.txt", "adversarial.txt", "poc.png", cwd=workdir)
    assert_clean_error(result, "'poc.png' exists", "--force to replace it")
    assert (workdir / "poc.png").read_bytes() == b"previous figure"
    ok(module("poc-figure", "--force", "naive.txt", "adversarial.txt", "poc.png", cwd=workdir))
    assert (workdir / "poc.png").read_bytes().startswith(b"\x89PNG")
