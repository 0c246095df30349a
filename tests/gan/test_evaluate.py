"""`python -m gaussgan evaluate` and train.py's verdict, end to end, as a user runs them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import assert_clean_error, run_module, run_script, snapshot

from gaussgan.data import datasets

DATA = "datasets/data_gauss_dim3.h5"
RUN = "runs/gauss_dim3_4_1_van"
REPEATS = ["--null-repeats", "250"]  # the fewest allowed: fast, and every metric can still reject
# The tiny run whose generator the tests judge: one epoch, a narrow network, a small verdict.
TINY_RUN = (
    "train.py",
    "-f",
    DATA,
    "-d",
    4,
    "-n",
    1,
    "-c",
    0.1,
    "--n-eval",
    100,
    "--seed",
    1,
    "-q",
    "--max-n",
    2000,
    *REPEATS,
)


def evaluate(folder, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_module("evaluate", *args, cwd=folder, timeout=timeout)


def one_line_error(result, *words):
    assert_clean_error(result, *words)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A gen-samples dataset (N(0, I) in 3-d, 200 rows), a tiny trained run, and sample files of every kind."""
    folder = tmp_path_factory.mktemp("evaluate")
    assert run_script("gen-samples.py", "-n", 100, "-b", 2, "-d", 3, "--seed", 1, "-q", cwd=folder).returncode == 0
    other = run_script("gen-samples.py", "-n", 150, "-b", 2, "-d", 3, "--seed", 2, "-q", "-o", "other", cwd=folder)
    assert other.returncode == 0
    rng = np.random.default_rng(0)
    honest = rng.standard_normal((300, 3))
    np.save(folder / "honest.npy", honest)
    np.savetxt(folder / "honest.csv", honest, delimiter=",", fmt="%.17g")
    np.savetxt(folder / "header.csv", honest, delimiter=",", fmt="%.17g", header="x0,x1,x2", comments="")
    np.save(folder / "uniform.npy", rng.uniform(-1, 2, (300, 2)))
    np.save(
        folder / "correlated.npy",
        0.5
        + rng.standard_normal((300, 6))
        @ np.linalg.cholesky(np.kron(np.eye(2), [[2, 0.5, 0.5], [0.5, 2, 0.5], [0.5, 0.5, 2]])).T,
    )
    np.save(folder / "copies.npy", datasets.load_dataset(folder / DATA)[0])
    # bad ones
    np.save(folder / "d2.npy", honest[:, :2])
    np.save(folder / "few.npy", honest[:50])
    for name, value in (("nan", np.nan), ("inf", -np.inf)):
        broken = honest.copy()
        broken[7, 1] = value
        np.save(folder / f"{name}.npy", broken)
    np.savetxt(folder / "nan.csv", np.where(np.arange(900).reshape(300, 3) == 40, np.nan, honest), delimiter=",")
    np.save(folder / "rank3.npy", np.zeros((300, 3, 2)))
    np.save(folder / "text.npy", np.array(["a", "b"]))
    np.save(folder / "objects.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    (folder / "garbage.npy").write_bytes(b"\x93NUMPY" + os.urandom(200))
    (folder / "garbage.h5").write_bytes(os.urandom(300))
    (folder / "text.csv").write_text("1,2,3\n4,five,6\n" + "7,8,9\n" * 150)
    (folder / "empty.csv").write_text("")
    (folder / "notes.txt").write_text("not samples")
    (folder / "folder.npy").mkdir()
    os.mkfifo(folder / "fifo.npy")
    (folder / "taken.json").write_text("{}")
    # a tiny run and samples of its generator
    train = run_script(
        *TINY_RUN,
        cwd=folder,
    )
    assert train.returncode == 0, train.stderr
    sample = subprocess.run(
        [sys.executable, "-m", "gaussgan", "sample", RUN, "-n", "300", "-o", "generated.h5", "--seed", "3"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sample.returncode == 0, sample.stderr
    return folder


# --- happy paths ----------------------------------------------------------------------------------------
def test_honest_npy_against_a_dataset_writes_the_verdict(folder):
    result = evaluate(folder, "honest.npy", "--parent", DATA, "-q", *REPEATS, "-o", "honest.json")
    assert result.returncode == 0, result.stderr
    assert "n* > 300" in result.stdout
    reading = (
        "not distinguished from the parent at n = 300 (the largest n tested, limited by the 300 samples given): "
        "no test rejected at the family's 5% error rate."
    )
    assert reading in result.stdout and "wrote honest.json" in result.stdout
    assert "At this n the tests would have seen, with 80% power, a mean shift of" in result.stdout
    verdict = json.loads((folder / "honest.json").read_text())
    assert verdict["n_star"] is None and verdict["reading"].startswith(reading) and verdict["tested_n"] == [300]
    assert {j["name"] for j in verdict["results"]["300"]} == {
        "mean",
        "covariance",
        "components",
        "mahalanobis",
        "projections",
        "mmd",
        "classifier",
    }
    assert not any(j["rejected"] for j in verdict["results"]["300"])
    assert set(verdict["undefined"]) == {"frechet", "tail", "outside", "memorisation"}
    assert (verdict["samples"], verdict["parent_dataset"], verdict["parent"], verdict["dim"]) == (
        "honest.npy",
        DATA,
        "gauss",
        3,
    )
    assert verdict["samples_available"] == 300 and verdict["seed"] == 0 and verdict["alpha"] == 0.05
    assert verdict["parent_description"] == "N(0, 1·I) in 3-d" and "weighted Holm" in verdict["procedure"]


@pytest.mark.parametrize("name", ["honest.csv", "header.csv"])
def test_csv_with_or_without_a_header_gives_the_npys_verdict(folder, name):
    out = name.replace(".csv", "-csv.json")
    assert evaluate(folder, name, "--parent", DATA, "-q", *REPEATS, "-o", out).returncode == 0
    if not (folder / "npy.json").exists():
        assert evaluate(folder, "honest.npy", "--parent", DATA, "-q", *REPEATS, "-o", "npy.json").returncode == 0
    from_csv, from_npy = (json.loads((folder / path).read_text()) for path in (out, "npy.json"))
    assert from_csv["results"] == from_npy["results"]


def test_a_dataset_and_samples_of_a_trained_run_as_samples(folder):
    result = evaluate(folder, "other/data_gauss_dim3.h5", "--parent", DATA, "-q", *REPEATS)
    assert result.returncode == 0, result.stderr
    assert "not distinguished" in result.stdout and "n* > 300" in result.stdout
    # one epoch of training on 200 rows: far from the parent, already at the smallest size
    result = evaluate(folder, "generated.h5", "--parent", DATA, "-q", *REPEATS)
    assert result.returncode == 0, result.stderr
    assert "n* = 100" in result.stdout and "distinguishable at n = 100 by the " in result.stdout
    assert "also at n = 200 by the " in result.stdout and "and every size up to 300" in result.stdout


def test_the_parent_from_gen_samples_options(folder):
    result = evaluate(
        folder, "uniform.npy", "-s", "uniform", "--xlo", "-1", "--xhi", "2", "-q", *REPEATS, "-o", "u.json"
    )
    assert result.returncode == 0, result.stderr
    verdict = json.loads((folder / "u.json").read_text())
    assert verdict["n_star"] is None and verdict["parent_description"] == "U[-1, 2] in 2-d"
    assert "outside" in {j["name"] for j in verdict["results"]["300"]} and verdict["parent_dataset"] is None
    # the right correlated parent, and a wrong one
    right = evaluate(folder, "correlated.npy", "--dist", "gauss", "-m", "0.5", "-c", "2", "0.5", "3", "-q", *REPEATS)
    assert right.returncode == 0 and "n* > 300" in right.stdout, right.stdout + right.stderr
    wrong = evaluate(folder, "correlated.npy", "--dist", "gauss", "-m", "0.5", "-c", "2", "0", "1", "-q", *REPEATS)
    assert wrong.returncode == 0 and "n* = " in wrong.stdout, wrong.stdout + wrong.stderr


def test_train_checks_memorisation_of_the_datasets_rows(folder):
    result = evaluate(folder, "copies.npy", "--parent", DATA, "--train", "-q", *REPEATS, "-o", "copies.json")
    assert result.returncode == 0, result.stderr
    verdict = json.loads((folder / "copies.json").read_text())
    memorisation = next(j for j in verdict["results"]["200"] if j["name"] == "memorisation")
    assert memorisation["rejected"] and memorisation["value"] == 1.0 and "200 copies" in memorisation["detail"]
    assert verdict["n_star"] in (100, 200) and "memorisation" in verdict["reading"]
    assert "memorisation" not in verdict["undefined"]


def test_a_metric_without_a_value_is_null_in_strict_json(folder):
    """The covariance test needs more samples than dimensions: 120 samples in 120-d have none, and the JSON
    says null, the metric left out of the family."""
    np.save(folder / "wide.npy", np.random.default_rng(8).standard_normal((120, 120)))
    result = evaluate(folder, "wide.npy", "-s", "gauss", "-q", *REPEATS, "-o", "wide.json")
    assert result.returncode == 0, result.stderr
    text = (folder / "wide.json").read_text()
    judged = json.loads(text, parse_constant=pytest.fail)["results"]["120"]
    covariance = next(j for j in judged if j["name"] == "covariance")
    assert covariance["value"] is None and covariance["p"] is None and covariance["level"] is None
    assert "left out: needs more samples than dimensions" in covariance["detail"]


def test_force_replaces_an_existing_output_and_the_cache_is_reused(folder):
    before = snapshot(folder)
    one_line_error(evaluate(folder, "honest.npy", "--parent", DATA, *REPEATS, "-o", "taken.json"), "exists", "--force")
    assert snapshot(folder) == before
    first = evaluate(
        folder, "honest.npy", "--parent", DATA, "-q", *REPEATS, "-o", "taken.json", "--force", "--cache-dir", "cache"
    )
    assert first.returncode == 0, first.stderr
    assert json.loads((folder / "taken.json").read_text())["samples"] == "honest.npy"
    cached = json.loads((folder / "cache/null_cache.json").read_text())
    assert len(cached["nulls"]) == 2  # projections and MMD at n = 300 (the others' nulls are exact)
    again = evaluate(folder, "honest.npy", "--parent", DATA, "-q", *REPEATS, "--cache-dir", "cache")
    assert again.stdout == first.stdout.replace("wrote taken.json\n", "")
    assert json.loads((folder / "cache/null_cache.json").read_text()) == cached


def test_draws_judge_disjoint_blocks_and_give_the_median_and_range(folder):
    result = evaluate(folder, "honest.npy", "--parent", DATA, "-q", *REPEATS, "--draws", "3", "-o", "draws.json")
    assert result.returncode == 0, result.stderr
    assert "over 3 draws: n* median > 100 (each: > 100, > 100, > 100); the median draw is shown" in result.stdout
    verdict = json.loads((folder / "draws.json").read_text())
    assert verdict["draws"] == 3 and verdict["n_star_draws"] == [None, None, None]
    assert (verdict["n_star_median"], verdict["n_star_min"], verdict["n_star_max"]) == (None, None, None)
    assert verdict["tested_n"] == [100] and verdict["samples_available"] == 100
    # The blocks are disjoint: the first block alone gives the first draw's numbers.
    np.save(folder / "first.npy", np.load(folder / "honest.npy")[:100])
    first = evaluate(folder, "first.npy", "--parent", DATA, "-q", *REPEATS, "-o", "first.json")
    assert first.returncode == 0, first.stderr
    assert json.loads((folder / "first.json").read_text())["results"]["100"] == verdict["results"]["100"]


# --- bad inputs -----------------------------------------------------------------------------------------
PARENT = ("--parent", DATA, *REPEATS)
BAD = [
    (("d2.npy", *PARENT), ["dimension 2", "dimension 3"]),
    (("nan.npy", *PARENT), ["NaN or infinite", "row 7"]),
    (("inf.npy", *PARENT), ["NaN or infinite"]),
    (("nan.csv", *PARENT), ["NaN or infinite", "row 13"]),
    (("few.npy", *PARENT), ["50 samples", "at least 100"]),
    (("empty.csv", *PARENT), ["0 samples"]),
    (("missing.npy", *PARENT), ["does not exist"]),
    (("garbage.npy", *PARENT), ["cannot read", ".npy"]),
    (("garbage.h5", *PARENT), ["HDF5"]),
    (("text.csv", *PARENT), ["not a table of numbers", "five"]),
    (("text.npy", *PARENT), ["expected real numbers"]),
    (("objects.npy", *PARENT), ["Python objects"]),
    (("rank3.npy", *PARENT), ["shape (300, 3, 2)"]),
    (("folder.npy", *PARENT), ["folder"]),
    (("fifo.npy", *PARENT), ["not a regular file"]),
    (("notes.txt", *PARENT), [".h5, .npy or .csv"]),
    (("honest.npy", *PARENT, "-o", "taken.json"), ["exists", "--force"]),
    (("honest.npy", *PARENT, "-o", "missing/v.json"), ["does not exist"]),
    (("honest.npy", *PARENT, "-o", "notes.txt/v.json"), ["not a folder"]),
    (("honest.npy", *PARENT, "-o", "v.txt"), [".json"]),
    (("honest.npy", *PARENT, "-o", "folder.npy/../datasets"), [".json"]),
    (("honest.npy", "--parent", DATA, "-s", "gauss"), ["name the parent once"]),
    (("honest.npy",), ["name the parent once"]),
    (("honest.npy", "--parent", DATA, "--null-repeats", "abc"), ["--null-repeats", "'abc'"]),
    (("honest.npy", "--parent", DATA, "--null-repeats", "0"), ["--null-repeats", "positive"]),
    (("honest.npy", "--parent", DATA, "--null-repeats", "100"), ["--null-repeats", "at least 250"]),
    (("honest.npy", "-s", "gauss", "--train"), ["--train needs --parent"]),
    (("honest.npy", "--parent", "missing.h5"), ["does not exist"]),
    (("honest.npy", "--parent", "notes.txt"), ["HDF5"]),
    (("honest.npy", "-s", "poisson"), ["unknown parent", "poisson"]),
    (("honest.npy", "-s", "gauss", "-c", "1", "x", "1"), ["--sigma"]),
    (("honest.npy", "-s", "gauss", "-c", "1", "0.5", "2"), ["does not divide"]),
    (("honest.npy", "-s", "uniform", "--xlo", "2", "--xhi", "1"), ["xlo < xhi"]),
    (("honest.npy", "-s", "gauss", "-m", "nan"), ["--mu", "finite"]),
    (("honest.npy", "-s", "uniform", "--xlo", "low"), ["--xlo", "'low'"]),
    (("honest.npy", "-s", "uniform", "--xhi", "inf"), ["--xhi", "finite"]),
    (("honest.npy", *PARENT, "--max-n", "0"), ["--max-n", "at least 100"]),
    (("honest.npy", *PARENT, "--max-n", "99"), ["--max-n", "at least 100"]),
    (("honest.npy", *PARENT, "--draws", "0"), ["--draws", "positive"]),
    (("honest.npy", *PARENT, "--draws", "4"), ["--draws 4", "75 per draw", "at least 100 per draw", "at most 3"]),
    (("honest.npy", *PARENT, "--seed", "-1"), ["--seed"]),
    (("honest.npy", *PARENT, "--cache-dir", "notes.txt"), ["--cache-dir", "not a folder"]),
]


@pytest.mark.parametrize("args, words", BAD, ids=[" ".join(args[:1] + args[-2:]) for args, _ in BAD])
def test_bad_input_is_one_error_line_and_nothing_written(folder, args, words):
    before = snapshot(folder)
    one_line_error(evaluate(folder, *args), *words)
    assert snapshot(folder) == before
    assert not list(folder.glob(".*.tmp*")) and not (folder / "missing").exists()


def test_a_csv_is_sized_from_its_lines_before_it_is_read(tmp_path, monkeypatch):
    """150 lines of 1,000 numbers against 1 MiB of memory: refused from the count, loadtxt never called."""
    from gaussgan.errors import UserError
    from gaussgan.gan import judging
    from gaussgan.system import resources

    path = tmp_path / "wide.csv"
    path.write_text(("0," * 999 + "0\n") * 150)
    monkeypatch.setattr(resources, "available_memory", lambda: 1 << 20)
    monkeypatch.setattr(np, "loadtxt", lambda *args, **kwargs: pytest.fail("read before it was sized"))
    with pytest.raises(UserError, match=r"reading '.*wide.csv' \(150,000 numbers\) needs about 3 MiB of memory"):
        judging.read_csv_samples(path)


# --- train.py's verdict ---------------------------------------------------------------------------------
def test_a_run_ends_with_a_verdict_that_verdict_only_recomputes(folder):
    run = folder / RUN
    first = (run / "verdict.json").read_bytes()
    verdict = json.loads(first)
    assert verdict["run"] == "gauss_dim3_4_1_van" and verdict["epoch"] == 0 and verdict["seed"] == 1  # 0-based
    assert verdict["tested_n"] == [100, 200, 500, 1000, 2000] and verdict["n_star"] == 100
    assert verdict["reading"].startswith("distinguishable at n = 100 by the ")
    assert verdict["reading"].endswith("and every size up to 2,000, the smallest n tested.")
    assert {j["name"] for j in verdict["results"]["1000"]} >= {"components", "mmd", "classifier", "memorisation"}
    # --verdict-only: the same numbers, from the cached nulls and again from nothing
    command = TINY_RUN
    for remove_cache in (False, True):
        if remove_cache:
            (run / "null_cache.json").unlink()
        again = run_script(*command, "--verdict-only", cwd=folder)
        assert again.returncode == 0, again.stderr
        recomputed = json.loads((run / "verdict.json").read_text())
        assert {**recomputed, "seconds": None} == {**verdict, "seconds": None}  # all but the time it took
        assert verdict["reading"] in again.stdout
    # --draws 2: two fresh draws of the generator, the first the one judged above
    drawn = run_script(*command, "--verdict-only", "--draws", "2", cwd=folder)
    assert drawn.returncode == 0, drawn.stderr
    twice = json.loads((run / "verdict.json").read_text())
    assert twice["draws"] == 2 and len(twice["n_star_draws"]) == 2 and twice["n_star_draws"][0] == verdict["n_star"]
    assert "over 2 draws: n* median " in drawn.stdout
    assert run_script(*command, "--verdict-only", cwd=folder).returncode == 0  # as it was, for the tests after
    # a run that is not there
    before = snapshot(folder)
    one_line_error(run_script(*command, "--verdict-only", "-p", "elsewhere", cwd=folder), "--verdict-only", "no run")
    assert snapshot(folder) == before


def test_a_runs_table_has_the_metric_columns(folder):
    import pandas as pd

    table = pd.read_csv(folder / RUN / "training_details.csv")
    for name in ("mean", "covariance", "components", "mahalanobis", "projections"):
        assert table[[f"m_{name}", f"m_{name}_floor", f"m_{name}_p"]].notna().all().all(), name
    # the costly ones every 5 epochs, from the first (epoch 0)
    assert list(table["epoch"]) == [0]
    assert table[["m_mmd", "m_classifier"]].notna().all().all()
    assert "m_memorisation" not in table and "m_tail" not in table and "m_frechet" not in table


def test_every_checked_evaluate_option_has_a_bad_input_case():
    """A new option with a type or choices must come with a case in BAD: this test fails until it does."""
    from gaussgan import cli
    from gaussgan.gan.commands import add_evaluate_arguments

    parser = cli.make_parser("evaluate", "")
    add_evaluate_arguments(parser)
    tried = {word for args, _ in BAD for word in args}
    checked = [
        action.option_strings
        for action in parser._actions
        if action.option_strings and (action.type is not None or action.choices) and action.nargs != 0
    ]
    missing = [strings for strings in checked if not set(strings) & tried]
    assert checked and not missing, f"evaluate: no bad-input case for {missing}"
