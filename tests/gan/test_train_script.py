"""train.py and `python -m gaussgan sample` end to end, as a user runs them."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from builders import write_original_layout
from helpers import assert_clean_error, run_script, snapshot

from gaussgan.data import datasets

RUN = "runs/gauss_dim3_8_0.5_van"
FAST = ["-d", "8", "-s", "0.5", "-n", "2", "-b", "64", "--n-eval", "200", "--seed", "5", "-q"]


def make_dataset(folder) -> str:
    # 150 samples: batches of 64, 64 and a last one of 22.
    result = run_script("gen-samples.py", "-n", 75, "-b", 2, "-d", 3, "--seed", 1, "-q", cwd=folder)
    assert result.returncode == 0, result.stderr
    return "datasets/data_gauss_dim3.h5"


@pytest.fixture
def dataset(workdir):
    return make_dataset(workdir)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short vanilla run shared by the tests that only look at its output."""
    folder = tmp_path_factory.mktemp("trained")
    dataset = make_dataset(folder)
    before = (folder / dataset).read_bytes()
    result = run_script("train.py", "-f", dataset, *FAST, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert (folder / dataset).read_bytes() == before  # training never writes to its dataset
    return folder, result


def test_a_run_writes_every_documented_file(trained):
    folder, result = trained
    run = folder / RUN
    assert f"run directory {RUN}" in result.stdout and "seed 5" in result.stderr
    for name in (
        "config.json",
        "test_corr.png",
        "training_details.csv",
        "training_model_losses.png",
        "training_pvalues.png",
        "training_metrics.png",
        "verdict.json",
        "null_cache.json",
        "models/generator.pth.tar",
        "models/generator_best.pth.tar",
        "models/discriminator.pth.tar",
        "checkpoint.pth.tar",
    ):
        assert (run / name).stat().st_size > 0, name
    for epoch in (0, 1):  # numbered from 0, as the documentation says
        for kind in ("comp_hist", "rhist", "ks"):
            assert (run / f"samples/{kind}_epoch{epoch:05d}.png").exists()
    assert (run / "samples/corr_epoch00000.png").exists()  # every 10 epochs from the first, and the last
    assert (run / "samples/corr_epoch00001.png").exists()
    assert not (run / "samples/corr_epoch00002.png").exists()
    table = pd.read_csv(run / "training_details.csv")
    assert list(table["epoch"]) == [0, 1]
    # The verdict stands next to what the training rows give and to theory: the training set's own Gaussian fit
    # (cached beside the dataset), the generator's covariance eigenvalues and the Marchenko–Pastur range.
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["data_limit"]["n_train"] == 150 and "n_star_fit" in verdict["data_limit"]
    assert (folder / "datasets/.data_gauss_dim3.h5.limit.json").is_file()
    spectrum = verdict["generator_spectrum"]
    assert spectrum["eigenvalue_min"] <= spectrum["eigenvalue_max"] and spectrum["expected_mean_squared_norm"] == 3
    assert spectrum["marchenko_pastur_training"][1] > spectrum["marchenko_pastur_samples"][1] > 1
    assert "data limit: n* " in result.stdout and "the training set's own Gaussian fit" in result.stdout
    assert "spectrum: covariance eigenvalues" in result.stdout
    for column in (
        "d_loss",
        "g_loss",
        "norm_ks_parent_D",
        "norm_ks_parent_p",
        "norm_ks_train_D",
        "norm_ks_train_p",
        "rejected_raw",
        "rejected_bh",
        "comp_ks_mean_D",
        "comp_ks_max_D",
        "offdiag_std_generated",
        "offdiag_std_parent",
        "seconds_train",
    ):
        assert table[column].notna().all(), column
    config = json.loads((run / "config.json").read_text())
    assert config["seed"] == 5 and config["latent_dim"] == 8 and config["parent"]["dist"] == "gauss"
    assert config["lr"] > 0 and config["critic_steps"] == 1
    generator = torch.load(run / "models/generator.pth.tar", map_location="cpu", weights_only=True)
    assert generator["spec"]["data_dim"] == 3 and generator["epoch"] == 1


def test_same_command_refuses_force_replaces_with_identical_metrics(trained):
    folder, _ = trained
    run = folder / RUN
    before = snapshot(folder)
    assert_clean_error(
        run_script("train.py", "-f", "datasets/data_gauss_dim3.h5", *FAST, cwd=folder), "exists", "--force"
    )
    assert snapshot(folder) == before
    first = pd.read_csv(run / "training_details.csv")
    (run / "samples" / "stale.png").write_text("")
    result = run_script("train.py", "-f", "datasets/data_gauss_dim3.h5", *FAST, "--force", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert not (run / "samples" / "stale.png").exists()
    timing = ["seconds_train", "seconds_metrics", "seconds_total"]
    # same seed, same metrics
    pd.testing.assert_frame_equal(
        first.drop(columns=timing), pd.read_csv(run / "training_details.csv").drop(columns=timing)
    )


def test_wgan_gp_with_a_partial_last_batch(workdir, dataset):
    result = run_script("train.py", "-f", dataset, "-w", *FAST, "--critic-steps", "2", cwd=workdir)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(workdir / "runs/gauss_dim3_8_0.5_wass/training_details.csv")
    assert len(table) == 2 and table["g_loss"].notna().all()
    config = json.loads((workdir / "runs/gauss_dim3_8_0.5_wass/config.json").read_text())
    assert config["rule"] == "wgan-gp" and config["critic_steps"] == 2 and config["gp_weight"] == 10


def test_original_gaussgan_layout_trains(workdir):
    write_original_layout(workdir / "old.h5", np.random.default_rng(0).standard_normal((100, 2)))
    result = run_script("train.py", "-f", "old.h5", *FAST, "-n", "1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "runs/gauss_dim2_8_0.5_van/training_details.csv").exists()


@pytest.mark.parametrize("suffix", [".h5", ".csv", ".npy"])
def test_sample_from_a_run(trained, workdir, suffix):
    command = [
        sys.executable,
        "-m",
        "gaussgan",
        "sample",
        str(trained[0] / RUN),
        "-n",
        "250",
        "-o",
        f"gen{suffix}",
        "--seed",
        "3",
    ]
    import subprocess

    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    path = workdir / f"gen{suffix}"
    if suffix == ".h5":
        data, parent, fields = datasets.load_dataset(path)
        assert parent.is_standard_normal and "gauss_dim3_8_0.5_van" in fields["source"]
    elif suffix == ".csv":
        data = np.loadtxt(path, delimiter=",", skiprows=1)  # the header line x0,x1,...
    else:
        data = np.load(path)
    assert data.shape == (250, 3) and np.all(np.isfinite(data))
    if suffix == ".npy":  # same seed, same samples
        subprocess.run(command[:-4] + ["-o", "again.npy", "--seed", "3"], cwd=workdir, check=True, capture_output=True)
        np.testing.assert_array_equal(np.load(workdir / "again.npy"), data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(workdir, dataset):
    before = snapshot(workdir)
    assert_clean_error(run_script("train.py", "-f", dataset, "--device", "cuda", "-n", "1", cwd=workdir), "cuda")
    assert snapshot(workdir) == before


def test_the_final_generator_is_the_mixture_of_the_last_epochs(workdir, dataset):
    from gaussgan.gan.models import GeneratorMixture
    from gaussgan.gan.sampling import load_generator

    options = [*FAST[: FAST.index("-n")], "-n", "4", *FAST[FAST.index("-n") + 2 : -1], "--max-n", "2000"]
    result = run_script("train.py", "-f", dataset, *options, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "samples of the mixture of the averaged generators of epochs 2 to 3" in result.stdout
    saved = torch.load(workdir / RUN / "models/generator.pth.tar", weights_only=True)
    assert [member["epoch"] for member in saved["mixture"]] == [2, 3] and saved["epoch"] == 3
    assert "mixture" not in torch.load(workdir / RUN / "models/generator_best.pth.tar", weights_only=True)
    generator, _ = load_generator(workdir / RUN)
    assert isinstance(generator, GeneratorMixture) and len(generator.members) == 2
    z = torch.randn(10, 8)
    with torch.no_grad():  # samples take turns: even rows from epoch 2's generator, odd rows from epoch 3's
        torch.testing.assert_close(generator(z)[1::2], generator.members[1](z[1::2]))
    alone = run_script("train.py", "-f", dataset, *options, "--mixture", "0", "-p", "alone", cwd=workdir)
    assert alone.returncode == 0, alone.stderr
    assert "samples of epoch 3's averaged generator against the parent" in alone.stdout
    assert "mixture" not in torch.load(workdir / f"{RUN}_alone/models/generator.pth.tar", weights_only=True)
