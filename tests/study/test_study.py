"""Study files: TOML -> checked options -> one ordinary run per (dataset, grid point, seed), named as train.py
names runs. Bad study files and options are one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders import tiny_study_text
from helpers import REPO, assert_clean_error, run_module, snapshot

from gaussgan.errors import UserError
from gaussgan.study.plan import load_study, plan
from gaussgan.study.values import MAX_RUNS

STUDY = tiny_study_text(epochs="2", verdict=False)


def gaussgan(*args, cwd: Path) -> subprocess.CompletedProcess:
    return run_module(*args, cwd=cwd, timeout=120)


def planned(tmp_path: Path, text: str, overrides: dict | None = None):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return plan(load_study(path, overrides))


@pytest.mark.parametrize("name", sorted(path.name for path in (REPO / "studies").glob("*.toml")))
def test_every_shipped_study_plans_distinct_runs(name):
    study = load_study(REPO / "studies" / name)
    runs = plan(study)
    assert len({run.name for run in runs}) == len(runs) > 0
    assert all(run.run_dir.parent == study.runs_dir.resolve() for run in runs)
    expected = {
        "quick.toml": 32,
        "broad.toml": 72,
        "dimension.toml": 50,
        "width.toml": 40,
        "defaults.toml": 18,
        "original.toml": 6,
        "atlas.toml": 96,
        "packing.toml": 10,
    }
    assert len(runs) == expected[name]


def test_the_atlas_slices_train_what_grid_does_not_once_each():
    runs = plan(load_study(REPO / "studies" / "atlas.toml"))
    main = [run for run in runs if not run.dataset.postfix and "latent" not in run.name]
    assert sorted({run.dataset.dim for run in main}) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    assert len(main) == 60 and {run.config.latent_dim for run in main} == {100}
    latent = {(run.dataset.dim, run.config.latent_dim) for run in runs if "latent" in run.name}
    assert latent == {(10, 5), (10, 10), (100, 50), (100, 200)}  # k = 100 is [grid]'s, trained once
    size = [run for run in runs if run.dataset.postfix == "_N100k"]
    assert len(size) == 12 and {run.dataset.n_samples for run in size} == {100_000}
    assert all("_N100k_size_" in run.name for run in size)
    # The datasets without a postfix keep their plain run names beside those with one.
    assert {"gauss_dim10_100_1_van_seed1", "gauss_dim100_50_1_wass_latent100_seed3"} <= {run.name for run in runs}


def test_a_slice_takes_its_dimensions_and_datasets_and_refuses_what_is_unclear(tmp_path):
    text = STUDY + '\n[[slices]]\nname = "wide"\ngrid = { scale = [0.1, 0.2] }\n'
    runs = planned(tmp_path, text)
    widths = sorted(run.config.scale for run in runs)
    assert widths.count(0.1) == widths.count(0.2) > 0  # 0.1 is [grid]'s: trained once, under its own name
    for bad, words in (
        (text.replace('name = "wide"', 'name = "a/b"'), "not a plain name"),
        (text + '\n[[slices]]\nname = "wide"\n', "no other slice"),
        (text.replace('name = "wide"', 'name = "wide"\nepochs = 3'), "epochs"),
        (text.replace("grid = { scale", "grid = { colour = 1, scale"), "colour"),
    ):
        with pytest.raises(UserError, match=words):
            planned(tmp_path, bad)


def test_quick_study_has_at_least_twelve_runs_and_varies_what_the_figures_need():
    runs = plan(load_study(REPO / "studies" / "quick.toml"))
    assert len(runs) >= 12
    for option in ("latent_dim", "scale", "rule", "seed"):
        assert len({run.options[option] for run in runs}) > 1, option
    assert len({run.dataset.dim for run in runs}) > 1


def test_lists_are_crossed_and_the_name_shows_what_varies(tmp_path):
    text = STUDY.replace("scale = 0.1", "scale = [0.1, 0.5]\nlr = [1e-4, 3e-4]\nrule = ['vanilla', 'wgan-gp']")
    runs = planned(tmp_path, text)
    assert len(runs) == 2 * 2 * 2 * 2 * 2  # latent_dim x scale x lr x rule x seeds
    names = {run.name for run in runs}
    assert "gauss_dim3_2_1_van_c0.1_lr0.0001_seed1" in names
    assert "gauss_dim3_4_1_wass_c0.5_lr0.0003_seed2" in names
    run = next(run for run in runs if run.name == "gauss_dim3_4_1_wass_c0.5_lr0.0003_seed2")
    config = run.config
    assert (config.latent_dim, config.scale, config.lr, config.rule, config.seed) == (4, 0.5, 3e-4, "wgan-gp", 2)
    assert config.critic_steps == 5 and config.threads == 1 and config.quiet and not config.background_figures
    # Paths relative to the current folder, made absolute: Dask workers may run elsewhere.
    assert config.dataset == str(Path("datasets/study/data_gauss_dim3.h5").resolve())
    assert config.runs_dir == str(Path("runs/study").resolve()) and run.run_dir == Path(config.runs_dir) / run.name
    assert "-w" in config.command and "--seed 2" in config.command and "-p c0.5_lr0.0003_seed2" in config.command


def test_one_seed_adds_no_postfix_and_the_study_postfix_comes_first(tmp_path):
    runs = planned(tmp_path, 'postfix = "try1"\n' + STUDY.replace("seeds = [1, 2]", "seeds = [7]"))
    assert sorted(run.name for run in runs) == ["gauss_dim3_2_1_van_try1", "gauss_dim3_4_1_van_try1"]
    assert {run.config.seed for run in runs} == {7}


def test_spaced_values_and_overrides(tmp_path):
    text = STUDY.replace("latent_dim = [2, 4]", "latent_dim = { log = [1, 1000, 28] }")
    runs = planned(tmp_path, text, {"seeds": [5], "grid": {"latent_sigma": [0.01, 1.0]}})
    latent = sorted({run.config.latent_dim for run in runs})
    assert latent[0] == 1 and latent[-1] == 1000 and len(latent) == 28  # 28 distinct integers, log-spaced
    assert {run.config.latent_sigma for run in runs} == {0.01, 1.0} and {run.seed for run in runs} == {5}


def test_datasets_of_the_same_parent_get_their_postfix_in_the_run_name(tmp_path):
    text = STUDY.replace(
        "seed = 1\n",
        'seed = 1\npostfix = "_small"\n[[datasets.generate]]\ndist = "gauss"\ndims = [3]\n'
        'n_samples = 100\nn_batches = 2\nseed = 1\npostfix = "_large"\n',
        1,
    )
    names = {run.name for run in planned(tmp_path, text)}
    assert "gauss_dim3_2_1_van_small_seed1" in names and "gauss_dim3_2_1_van_large_seed1" in names


def test_runs_that_would_share_a_directory_are_refused(tmp_path):
    text = STUDY.replace("scale = 0.1", "scale = 0.1\nlatent_sigma = [0.1, 0.1000001]")
    with pytest.raises(UserError, match="would share the run directory gauss_dim3_2_0.1_van_seed1"):
        planned(tmp_path, text)


def test_a_study_of_the_largest_run_count_is_read_and_one_beyond_it_is_refused_with_its_count(tmp_path):
    """Counted by multiplying (datasets x grid points x seeds), before any run is planned."""
    text = STUDY.replace("latent_dim = [2, 4]", "latent_dim = { log = [1, 100000, 50000] }")
    path = tmp_path / "study.toml"
    path.write_text(text)
    assert len(load_study(path).grid["latent_dim"]) * 2 == MAX_RUNS  # two seeds
    path.write_text(text.replace("seeds = [1, 2]", "seeds = [1, 2, 3]"))
    with pytest.raises(UserError, match=r"makes 150,000 runs \(1 datasets x 50,000 grid points x 3 seeds\)"):
        load_study(path)


def test_values_nested_deeper_than_a_study_needs_are_refused_naming_the_key(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY.replace("latent_dim = [2, 4]", "latent_dim = [[[[[[2]]]]]]"))
    with pytest.raises(UserError, match=r"\[grid\] latent_dim nests lists or tables more than 5 deep"):
        load_study(path)
    # The deepest a study needs, sigma in [[datasets.generate]], is read.
    path.write_text(STUDY.replace("seed = 1\n", "seed = 1\nsigma = [1.0, 0.0, 1]\n", 1))
    assert load_study(path).generate[0]["sigma"] == [1.0, 0.0, 1]


# Bad study files: (file content or None for no file, extra arguments, words of the one-line error).
BAD = {
    "missing study file": (None, [], ["study file", "does not exist"]),
    "not TOML": ("seeds = [1,\n", [], ["not valid TOML"]),
    "unknown option in [grid]": (STUDY.replace("scale = 0.1", "scael = 0.1"), [], ["unknown option 'scael'", "scale"]),
    "unknown top-level key": ("runs = 'x'\n" + STUDY, [], ["unknown option 'runs'", "runs_dir"]),
    "a train option a study does not vary": (STUDY + "threads = 2\n", [], ["unknown option 'threads'"]),
    "wrong type": (STUDY.replace("latent_dim = [2, 4]", 'latent_dim = "ten"'), [], ["latent_dim", "positive integer"]),
    "a float for an integer": (STUDY.replace("epochs = 2", "epochs = 2.5"), [], ["epochs", "positive integer", "2.5"]),
    "a boolean for a number": (STUDY.replace("scale = 0.1", "scale = true"), [], ["scale", "positive number"]),
    "an unknown rule": (STUDY + "rule = 'wgan'\n", [], ["rule", "vanilla or wgan-gp", "wgan"]),
    "an empty grid list": (STUDY.replace("latent_dim = [2, 4]", "latent_dim = []"), [], ["latent_dim", "empty list"]),
    "no seeds": (STUDY.replace("seeds = [1, 2]", "seeds = []"), [], ["seeds", "empty list"]),
    "a repeated value": (STUDY.replace("[2, 4]", "[2, 2]"), [], ["latent_dim", "repeats"]),
    "no datasets": (STUDY.split("[[datasets.generate]]")[0] + "[grid]\nepochs = 2\n", [], ["no datasets"]),
    "a gen-samples option misspelt": (STUDY.replace("n_batches", "batches"), [], ["unknown option 'batches'"]),
    "an impossible parent": (
        STUDY.replace('dist = "gauss"', 'dist = "cauchy"\nsigma = [1, 0.5, 1]'),
        [],
        ["cauchy", "OFFDIAG"],
    ),
    "a dataset file that does not exist": (
        STUDY.replace("[datasets]", '[datasets]\nfiles = ["nowhere.h5"]'),
        [],
        ["nowhere.h5", "does not exist"],
    ),
    "a postfix with a slash": ('postfix = "a/b"\n' + STUDY, [], ["postfix", "not a plain name"]),
    "BatchNorm with batches of one": (STUDY + "batch_size = 1\n", [], ["batch_size 1", "BatchNorm"]),
    "--set with an unknown option": (STUDY, ["--set", "latnet_dim=3"], ["--set", "latnet_dim", "latent_dim"]),
    "--set without a value": (STUDY, ["--set", "latent_dim"], ["--set", "OPTION=VALUE"]),
    "--set with a wrong type": (STUDY, ["--set", "latent_dim=big"], ["latent_dim", "positive integer", "big"]),
    "--epochs zero": (STUDY, ["--epochs", "0"], ["--epochs", "positive integer"]),
    "--seeds negative": (STUDY, ["--seeds", "-1"], ["--seeds"]),
    "--workers zero": (STUDY, ["--workers", "0"], ["--workers", "positive integer"]),
    "--workers beyond the cores": (STUDY, ["--workers", "4096"], ["--workers 4096", "cores"]),
    "--workers with --scheduler": (
        STUDY,
        ["--workers", "1", "--scheduler", "tcp://127.0.0.1:1"],
        ["--workers", "--scheduler"],
    ),
    "a scheduler address without a port": (STUDY, ["--scheduler", "tcp://localhost"], ["--scheduler", "HOST:PORT"]),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_study_or_option_is_one_error_line_and_nothing_is_written(tmp_path, case):
    content, extra, words = BAD[case]
    if content is not None:
        (tmp_path / "study.toml").write_text(content)
    before = snapshot(tmp_path)
    result = gaussgan("sweep", "study.toml", *extra, cwd=tmp_path)
    assert_clean_error(result, *words)
    assert snapshot(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ([] if content is None else ["study.toml"])


def test_sweep_and_report_help_answer_at_once_without_heavy_imports(tmp_path):
    for command in ("sweep", "report"):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "gaussgan", command, "--help"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
        assert not imported & {"torch", "dask", "distributed", "matplotlib", "pandas", "numpy"}, command
