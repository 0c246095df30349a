"""`python -m gaussgan report`: tables, figures and one self-contained page over the runs of a study, folders of
runs or single runs; checked in headless Chromium. Bad inputs are one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_clean_error, in_a_browser, run_module, snapshot

# Where train.py ends each run with a calibrated verdict, the smallest one keeps these runs short.
VERDICT = "max_n = 1000\nnull_repeats = 250\n"  # a small verdict: the tests judge tiny runs
STUDY = (
    """\
description = "report test, 6 epochs each"
seeds = [1, 2]
runs_dir = "runs/small"
[datasets]
dir = "datasets/small"
[[datasets.generate]]
dist = "gauss"
dims = [3, 5]
n_samples = 50
n_batches = 2
seed = 1
[grid]
latent_dim = 2
rule = ["vanilla", "wgan-gp"]
scale = 0.1
epochs = 2
n_eval = 50
"""
    + VERDICT
)
FIGURES = ["calibration.png", "curves.png", "heatmaps.png", "n_star_heatmaps.png", "n_star_versus_dimension.png"]
FIGURES += ["scatter.png", "spectra.png", "versus_dimension.png"]
REPORT_FILES = sorted([".gaussgan-report", "index.html", "summary.csv", "summary_by_config.csv", *FIGURES])


gaussgan = run_module  # python -m gaussgan ARGS in cwd


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """8 tiny runs (2 data dims x 2 rules x 2 seeds), swept once (one worker: test_sweep.py runs two), then
    reported once."""
    folder = tmp_path_factory.mktemp("study")
    (folder / "small.toml").write_text(STUDY)
    swept = gaussgan("sweep", "small.toml", "--workers", "1", cwd=folder)
    assert swept.returncode == 0, swept.stderr
    reported = gaussgan("report", "small.toml", "-o", "report", cwd=folder)
    assert reported.returncode == 0, reported.stderr
    (folder / "report.stdout").write_text(reported.stdout)
    return folder


def test_report_of_a_study_writes_the_tables_the_figures_and_one_page(study):
    report = study / "report"
    assert sorted(path.name for path in report.iterdir()) == REPORT_FILES
    summary = pd.read_csv(report / "summary.csv")
    assert len(summary) == 8 and summary["finished"].all() and (summary["epochs_done"] == 2).all()
    expected = ["dist", "dim", "latent_dim", "rule", "seed", "n_samples", "final_norm_ks_ratio", "best_epoch"]
    expected += ["final_sigma_rho_ratio", "best_norm_ks_ratio", "best_sigma_rho_ratio", "seconds_total"]
    assert not [column for column in expected if column not in summary]
    row = summary.iloc[0]
    assert row["final_norm_ks_ratio"] == pytest.approx(row["final_norm_ks_D"] / row["final_ks_floor_95"], rel=1e-4)
    assert row["final_sigma_rho_ratio"] == pytest.approx(
        row["final_offdiag_std_generated"] / row["final_offdiag_std_parent"], rel=1e-4
    )
    details = pd.read_csv(Path(row["path"]) / "training_details.csv")
    assert row["seconds_total"] == pytest.approx(details["seconds_total"].sum(), rel=1e-4)
    grouped = pd.read_csv(report / "summary_by_config.csv")
    assert len(grouped) == 4 and (grouped["runs"] == 2).all() and (grouped["seeds"] == "1 2").all()
    assert (grouped["final_norm_ks_ratio_min"] <= grouped["final_norm_ks_ratio_median"]).all()
    assert (grouped["final_norm_ks_ratio_median"] <= grouped["final_norm_ks_ratio_max"]).all()
    page = (report / "index.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert sorted(base64.b64decode(image) for image in embedded) == sorted(
        (report / name).read_bytes() for name in FIGURES
    )
    # Nothing fetched from anywhere: no scheme with its colon (the figures' base64 has no colon, while "http"
    # alone turns up in it by chance, about once per megabyte).
    assert "Best configuration" in page and 'href="summary.csv"' in page and not re.search(r"https?:", page, re.I)
    assert "best configuration: " in (study / "report.stdout").read_text()
    # The title's facts come from the runs (2 epochs), the study's own words are shown as its words.
    assert "8 runs · gauss in 3 and 5 dimensions · 100 training samples · 2 epochs each · vanilla and wgan-gp" in page
    assert "describes itself as: <i>study small: report test, 6 epochs each</i>" in page
    # n* is each table's first number, with the training set's own fit beside it.
    for table in re.findall(r"<table.*?</table>", page, flags=re.S):
        headers = re.findall(r"<th>([^<]*)</th>", table)
        numeric = [h for h in headers if h not in ("run", "dim", "rule", "latent_dim", "dist")]
        assert numeric[:3] in (["n* (median)", "n* range", "own fit n*"], ["n*", "n* range", "own fit n*"]), headers
    assert summary["data_limit_fit"].notna().all() and summary["eigenvalue_max"].notna().all()


def test_the_answer_comes_first_and_says_when_every_run_is_told_apart_at_the_smallest_size(study):
    page = (study / "report" / "index.html").read_text()
    summary = pd.read_csv(study / "report" / "summary.csv")
    answer = re.search(r'<p class="answer" id="answer">([^<]*)</p>', page).group(1)
    assert page.index('id="answer"') < page.index('id="n_star_heatmaps"') < page.index("Best configuration")
    if (summary["n_star"] == 100).all():  # these tiny runs: told apart at once
        assert answer.startswith("No configuration is indistinguishable from the parent even at 100 samples"), answer
        assert "training sets&#x27; own Gaussian fits reach n* = " in answer, answer
    else:
        assert answer.startswith("Best configuration ("), answer


def test_report_renders_in_headless_chromium_with_every_figure(study, tmp_path):
    images, placed = in_a_browser(study / "report" / "index.html", tmp_path, ("answer", "n_star_heatmaps"))
    loaded = dict(images)
    assert sorted(loaded) == sorted(name.removesuffix(".png") for name in FIGURES)
    assert all(width.isdigit() and int(width) > 300 for width in loaded.values()), loaded
    # The answer, then the n* heatmap whole, within the first 1,000 pixels of a 1,200-pixel-wide window.
    assert placed["answer"] < placed["n_star_heatmaps"] <= 1000, placed


def test_calibrated_metrics_verdicts_zero_based_epochs_and_damaged_runs(study, tmp_path):
    """Columns m_<name>, m_<name>_floor, m_<name>_p (NaN where not computed) become ratios to their floor, a
    verdict.json gives n_star, epochs numbered from 0 change nothing but the epoch shown, and a damaged run is
    skipped with a note."""
    runs = sorted((study / "runs" / "small").glob("gauss_dim5_*"))[:3]
    for run in runs:
        shutil.copytree(run, tmp_path / "runs" / run.name)
    first = tmp_path / "runs" / runs[0].name
    table = pd.read_csv(first / "training_details.csv")
    table["epoch"] = range(len(table))  # numbered from 0, as train.py writes it
    table["m_fake"] = [float("nan"), 0.03]  # a name no real metric has
    table["m_fake_floor"] = [0.01, 0.02]
    table["m_fake_p"] = [float("nan"), 0.2]
    table.to_csv(first / "training_details.csv", index=False)
    rejections = [
        {"name": "frechet", "rejected": True},
        {"name": "mmd", "rejected": False},
        {"name": "components", "rejected": True},
    ]
    verdict = {"n_star": 500, "max_n": 10000, "reading": "distinguishable", "results": {"500": rejections}}
    # Three draws (--draws 3): n* is the median draw's, its range beside it.
    verdict |= {"draws": 3, "n_star_draws": [1000, 500, 200], "n_star_min": 200, "n_star_max": 1000}
    (first / "verdict.json").write_text(json.dumps(verdict))
    damaged = tmp_path / "runs" / runs[2].name
    (damaged / "config.json").write_text("{not json")
    result = gaussgan("report", tmp_path / "runs", "-o", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith(f"warning: skipped {damaged}: ")]
    assert len(warned) == 1 and f"{damaged}/config.json" in warned[0], result.stderr
    assert f"skipped {runs[2].name}" in (tmp_path / "out" / "index.html").read_text()
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("run")
    assert sorted(summary.index) == sorted(run.name for run in runs[:2])
    row = summary.loc[runs[0].name]
    assert row["final_m_fake_ratio"] == pytest.approx(1.5) and row["best_m_fake_ratio"] == pytest.approx(1.5)
    assert row["final_m_fake_p"] == pytest.approx(0.2)
    assert row["n_star"] == 500 and row["reading"] == "distinguishable" and row["finished"]
    assert (row["n_star_min"], row["n_star_max"], row["draws"]) == (200, 1000, 3)
    assert row["distinguished_by"] == "frechet, components"  # the metrics that reject at n*, in the verdict's order
    assert row["final_epoch"] == 1 and row["best_epoch"] in (0, 1)
    other = summary.loc[runs[1].name]
    assert pd.isna(other["final_m_fake_ratio"]) and other["final_epoch"] == 1  # numbered from 0
    verdict = runs[1] / "verdict.json"  # written by every run where train.py gives verdicts
    expected = json.loads(verdict.read_text())["n_star"] if verdict.exists() else None
    assert other["n_star"] == expected if expected is not None else pd.isna(other["n_star"])
    assert other["draws"] == 1 and (
        other["n_star_min"] == expected if expected is not None else pd.isna(other["n_star_min"])
    )


def test_report_over_folders_and_runs_counts_each_once_and_is_replaced_only_with_force(study, tmp_path):
    runs = study / "runs" / "small"
    one = sorted(runs.iterdir())[-1]
    first = gaussgan("report", one, runs, study / "runs", "-o", tmp_path / "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert len(summary) == 8 and summary["run"].is_unique
    before = snapshot(tmp_path)
    again = gaussgan("report", runs, "-o", tmp_path / "out", cwd=tmp_path)
    assert_clean_error(again, "exists already", "--force")
    assert snapshot(tmp_path) == before
    forced = gaussgan("report", one, "-o", tmp_path / "out", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]  # no staging folder or old copy left
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == REPORT_FILES
    assert len(pd.read_csv(tmp_path / "out" / "summary.csv")) == 1  # the new report, whole


def bad_output_folder(tmp_path: Path) -> Path:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    return tmp_path / "notes"


def output_file(tmp_path: Path) -> Path:
    (tmp_path / "out.txt").write_text("a file")
    return tmp_path / "out.txt"


def empty_folder(tmp_path: Path) -> Path:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    return tmp_path / "empty"


def unrun_study(tmp_path: Path) -> Path:
    (tmp_path / "later.toml").write_text(STUDY.replace("runs/small", "runs/later"))
    return tmp_path / "later.toml"


@pytest.mark.parametrize(
    "inputs, out, extra, words",
    [
        (lambda tmp: [empty_folder(tmp)], None, [], ["no runs found", "empty"]),
        (lambda tmp: [tmp / "nowhere"], None, [], ["nowhere", "does not exist"]),
        (lambda tmp: [tmp / "missing.toml"], None, [], ["study file", "does not exist"]),
        (lambda tmp: [unrun_study(tmp)], None, [], ["no runs of study", "sweep"]),
        (None, bad_output_folder, ["--force"], ["is not a report", "mine.txt"]),
        (None, output_file, [], ["is a file"]),
    ],
    ids=[
        "a folder with no runs",
        "a missing input",
        "a missing study file",
        "a study not swept yet",
        "an output folder that is not a report",
        "an output that is a file",
    ],
)
def test_bad_report_inputs_are_one_error_line_and_nothing_is_written(study, tmp_path, inputs, out, extra, words):
    paths = inputs(tmp_path) if inputs else [study / "runs" / "small"]
    target = out(tmp_path) if out else tmp_path / "report"
    before = snapshot(tmp_path)
    entries = sorted(path.name for path in tmp_path.iterdir())
    result = gaussgan("report", *paths, "-o", target, *extra, cwd=tmp_path)
    assert_clean_error(result, *words)
    assert snapshot(tmp_path) == before and sorted(path.name for path in tmp_path.iterdir()) == entries


def test_report_figures_draw_text_as_given_never_as_mathtext(tmp_path):
    """A rule or an option's value comes from a run's files: a '$' in it is a dollar sign. matplotlib's
    mathtext would parse "$...$" (and raise on a bad one): the figures turn it off."""
    from gaussgan.figures import report_figures

    rule = r"$\frac{$"  # not a formula mathtext can parse
    table = pd.DataFrame({"epoch": [0, 1], "norm_ks_ratio": [2.0, 1.5]})
    report_figures.epoch_curves([({"rule": rule, "dim": 3}, table)], ["norm_ks_ratio"], tmp_path / "curves.png")
    summary = pd.DataFrame(
        {"rule": [rule], "dim": [3], "latent_dim": [2], "scale": [0.1], "final_norm_ks_ratio": [1.5]}
    )
    report_figures.versus_dimension(summary, [], tmp_path / "versus_dimension.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000 and (tmp_path / "versus_dimension.png").is_file()
