"""Fault injection for `python -m gaussgan report`, through the real command.

Damaged and hostile runs: a config.json, parent, training table or verdict.json holding what train.py
never writes. A damaged run is skipped with one warning line naming the file and the field, and counted
on the page; a damaged verdict only loses its run the verdict; a parent too large to calibrate is left
out of the calibration figure; the report of the rest is written, never a traceback.

Hostile output folders: --force replaces only the files the report wrote and listed in its mark
(.gaussgan-report) and leaves everything else, hidden names included, as it was; a folder it does not
recognise, a damaged mark, a sub-folder or link under a report's name, and a folder inside a run are
refused with one error line, and nothing changes.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_clean_error, run_module, run_script, snapshot

TINY = ["-n", "2", "-d", "2", "-c", "0.1", "--n-eval", "100", "--max-n", "1000", "--null-repeats", "250", "-q"]
RUN = "gauss_dim3_2_1_van"
MARKER = ".gaussgan-report"
WRITTEN = ["calibration.png", "curves.png", "heatmaps.png", "index.html", "n_star_heatmaps.png"]
WRITTEN += ["n_star_versus_dimension.png", "scatter.png", "spectra.png", "summary.csv", "summary_by_config.csv"]
WRITTEN += ["versus_dimension.png"]
HUGE = 10**7  # a dimension whose parent no machine holds: 3.2 * 8 * 10**14 bytes


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One tiny run of a 3-d dataset, trained once; the tests copy it."""
    folder = tmp_path_factory.mktemp("runs")
    made = run_script("gen-samples.py", "-n", "100", "-b", "2", "-d", "3", "--seed", "1", cwd=folder)
    assert made.returncode == 0, made.stderr
    trained = run_script("train.py", "-f", "datasets/data_gauss_dim3.h5", *TINY, "--seed", "1", cwd=folder)
    assert trained.returncode == 0, trained.stderr
    return folder / "runs"


# --- Damaged runs ----------------------------------------------------------------------------------------
def edit_config(run: Path, change) -> None:
    path = run / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def parent_field(key: str, value=None):
    """A damage: the parent's ``key`` set to ``value`` (removed when None)."""

    def change(config):
        if value is None:
            del config["parent"][key]
        else:
            config["parent"][key] = value

    return lambda run: edit_config(run, change)


def option(key: str, value):
    return lambda run: edit_config(run, lambda config: config.__setitem__(key, value))


def cell(column: str, epoch: int, value):
    """A damage: one cell of training_details.csv (rows are epochs 0 and 1)."""

    def change(run: Path):
        path = run / "training_details.csv"
        table = pd.read_csv(path)
        table[column] = table[column].astype(object)
        table.loc[table["epoch"] == epoch, column] = value
        table.to_csv(path, index=False)

    return change


# case -> (damage to a copy of the run, the file the warning names, words it holds)
DAMAGED = {
    "a parent without dim": (parent_field("dim"), "config.json", ["parent has no 'dim'"]),
    "a dim of 100,000 where the data's is 3": (
        parent_field("dim", 100_000),
        "config.json",
        ["parent.dim is 100000", "data.dim is 3"],
    ),
    "a dim of 'three'": (parent_field("dim", "three"), "config.json", ["parent.dim is 'three'", "integer"]),
    "a dim of 0": (parent_field("dim", 0), "config.json", ["parent.dim is 0", "at least 1"]),
    "an unknown parent": (parent_field("dist", "poisson"), "config.json", ["parent.dist is 'poisson'", "gauss"]),
    "a rule mathtext cannot parse": (option("rule", r"$\frac{$"), "config.json", ["rule is", "vanilla or wgan-gp"]),
    "a negative width": (option("scale", -1.0), "config.json", ["scale is -1.0", "positive number"]),
    "text for a number": (
        cell("norm_ks_parent_D", 1, "abc"),
        "training_details.csv",
        ["norm_ks_parent_D is 'abc' at epoch 1", "expected numbers"],
    ),
    "a negative floor": (cell("ks_floor_95", 1, -0.19), "training_details.csv", ["ks_floor_95 is -0.19 at epoch 1"]),
    "a zero floor": (cell("ks_floor_95", 0, 0.0), "training_details.csv", ["ks_floor_95 is 0 at epoch 0", "positive"]),
    "no floor for a measured value": (
        cell("m_components_floor", 0, math.nan),
        "training_details.csv",
        ["m_components_floor is missing at epoch 0", "m_components is measured"],
    ),
    "an infinite floor": (
        cell("offdiag_std_parent", 1, math.inf),
        "training_details.csv",
        ["offdiag_std_parent is inf"],
    ),
    "an infinite value": (cell("m_covariance", 0, math.inf), "training_details.csv", ["m_covariance is inf", "finite"]),
}
CASES = list(DAMAGED)


def damaged_name(case: str) -> str:
    return f"damaged_{CASES.index(case):02d}"


@pytest.fixture(scope="module")
def damaged(runs, tmp_path_factory):
    """One report over two good copies of the run, a damaged copy per case, a copy whose parent claims a
    dimension too large to calibrate and a copy with a damaged verdict.json."""
    folder = tmp_path_factory.mktemp("damaged")
    for name in (RUN, "copy"):
        shutil.copytree(runs / RUN, folder / "runs" / name)
    for case, (damage, _, _) in DAMAGED.items():
        shutil.copytree(runs / RUN, folder / "runs" / damaged_name(case))
        damage(folder / "runs" / damaged_name(case))
    shutil.copytree(runs / RUN, folder / "runs" / "huge")
    edit_config(
        folder / "runs" / "huge", lambda config: (config["parent"].update(dim=HUGE), config["data"].update(dim=HUGE))
    )
    shutil.copytree(runs / RUN, folder / "runs" / "bad_verdict")
    (folder / "runs" / "bad_verdict" / "verdict.json").write_text(json.dumps({"n_star": 1000, "results": {"1000": 5}}))
    result = run_module("report", "runs", "-o", "site", cwd=folder)
    return folder, result


@pytest.mark.parametrize("case", CASES)
def test_a_damaged_run_is_skipped_with_one_warning_naming_the_file_and_the_field(damaged, case):
    folder, result = damaged
    _, file, words = DAMAGED[case]
    name = damaged_name(case)
    lines = [line for line in result.stderr.splitlines() if f"/{name}:" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("warning: skipped ") and f"{name}/{file}: " in lines[0], lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert name not in set(pd.read_csv(folder / "site" / "summary.csv")["run"])
    assert f"skipped {name}: " in (folder / "site" / "index.html").read_text()


def test_the_report_of_the_other_runs_is_written_and_counts_the_skipped(damaged):
    folder, result = damaged
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert sorted(path.name for path in (folder / "site").iterdir()) == sorted([MARKER, *WRITTEN])
    assert sorted(pd.read_csv(folder / "site" / "summary.csv")["run"]) == ["bad_verdict", "copy", RUN, "huge"]
    assert f"{len(DAMAGED)} runs skipped" in (folder / "site" / "index.html").read_text()
    assert all(line.startswith("warning: ") for line in result.stderr.splitlines()), result.stderr


def test_a_parent_too_large_to_calibrate_is_left_out_of_that_figure_with_a_note(damaged):
    folder, result = damaged
    lines = [line for line in result.stderr.splitlines() if "calibration figure" in line]
    assert len(lines) == 1 and "the parent of huge: its noise floor (dimension 10,000,000)" in lines[0], lines
    assert "memory" in lines[0]
    summary = pd.read_csv(folder / "site" / "summary.csv").set_index("run")
    assert summary.loc["huge", "dim"] == HUGE  # its numbers are reported all the same
    assert "calibration figure: left out" in (folder / "site" / "index.html").read_text()


def test_a_damaged_verdict_loses_the_run_its_verdict_only(damaged):
    folder, result = damaged
    lines = [line for line in result.stderr.splitlines() if "left out the verdict" in line]
    assert len(lines) == 1 and "bad_verdict/verdict.json: results" in lines[0], result.stderr
    summary = pd.read_csv(folder / "site" / "summary.csv").set_index("run")
    assert pd.isna(summary.loc["bad_verdict", "n_star"]) and summary.loc["bad_verdict", "epochs_done"] == 2


# --- Hostile output folders ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(runs, tmp_path_factory) -> Path:
    """A report of the run, written once; the tests copy it."""
    folder = tmp_path_factory.mktemp("site")
    made = run_module("report", runs / RUN, "-o", "site", cwd=folder)
    assert made.returncode == 0, made.stderr
    return folder / "site"


def users_files(site: Path, notes: bool = False) -> None:
    """What a user keeps in a published report's folder besides the report: hidden names (the reviewer's
    case: these were lost) and, with ``notes``, a file of their own."""
    (site / ".git" / "objects").mkdir(parents=True)
    (site / ".git" / "config").write_text("[core]\n")
    (site / ".git" / "objects" / "ab").write_text("an object")
    (site / ".htpasswd").write_text("user:$apr1$hash\n")
    if notes:
        (site / "notes.txt").write_text("mine")


def entries(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_force_replaces_the_files_the_report_wrote_and_keeps_everything_else(runs, site, tmp_path):
    """Also: a staging folder left by a killed report goes, a name of the user's close to it stays."""
    shutil.copytree(site, tmp_path / "site")
    users_files(tmp_path / "site", notes=True)
    kept = {name: value for name, value in snapshot(tmp_path / "site").items() if Path(name).name not in WRITTEN}
    kept.pop(MARKER)
    left = tmp_path / ".site.4194999.0123abcd.tmpreport"
    (left / "half").mkdir(parents=True)
    (left / "half" / "summary.csv").write_text("run\n")
    (tmp_path / ".site.backup").mkdir()
    shutil.copytree(runs / RUN, tmp_path / "runs" / "second")
    result = run_module("report", "runs", "-o", "site", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = snapshot(tmp_path / "site")
    assert {name: after.get(name) for name in kept} == kept
    assert sorted(path.name for path in (tmp_path / "site").iterdir()) == sorted(
        [MARKER, ".git", ".htpasswd", "notes.txt", *WRITTEN]
    )
    assert list(pd.read_csv(tmp_path / "site" / "summary.csv")["run"]) == ["second"]  # the new report, whole
    assert json.loads((tmp_path / "site" / MARKER).read_text())["files"] == WRITTEN
    assert sorted(path.name for path in tmp_path.iterdir()) == [".site.backup", "runs", "site"]  # no staging, lock


def without_its_mark(site: Path) -> list[str]:
    (site / MARKER).unlink()
    users_files(site)
    return ["is not a report", f"no {MARKER}"]


def a_folder_named_like_a_figure(site: Path) -> list[str]:
    (site / "scatter.png").unlink()
    (site / "scatter.png").mkdir()
    (site / "scatter.png" / "draft.svg").write_text("<svg/>")
    return ["'scatter.png'", "as a folder"]


def a_link_named_like_the_page(site: Path) -> list[str]:
    (site.parent / "elsewhere.html").write_text("someone else's page")
    (site / "index.html").unlink()
    (site / "index.html").symlink_to(site.parent / "elsewhere.html")
    return ["'index.html'", "as a link"]


def a_mark_listing_a_name_it_does_not_write(site: Path) -> list[str]:
    users_files(site)
    (site / MARKER).write_text(json.dumps({"format": 1, "files": [*WRITTEN, ".htpasswd"]}))
    return [f"damaged {MARKER}", "'.htpasswd'"]


def a_damaged_mark(site: Path) -> list[str]:
    users_files(site)
    (site / MARKER).write_text("{not json")
    return [f"damaged {MARKER}"]


def a_users_file_under_a_reports_name(site: Path) -> list[str]:
    mark = json.loads((site / MARKER).read_text())
    (site / MARKER).write_text(json.dumps({**mark, "files": [name for name in mark["files"] if name != "curves.png"]}))
    (site / "curves.png").write_bytes(b"the user's own figure")
    return ["'curves.png'", "did not write"]


@pytest.mark.parametrize(
    "hostile",
    [
        without_its_mark,
        a_folder_named_like_a_figure,
        a_link_named_like_the_page,
        a_mark_listing_a_name_it_does_not_write,
        a_damaged_mark,
        a_users_file_under_a_reports_name,
    ],
    ids=lambda hostile: hostile.__name__.replace("_", " "),
)
def test_force_refuses_a_folder_it_cannot_recognise_as_its_own_and_changes_nothing(runs, site, tmp_path, hostile):
    shutil.copytree(site, tmp_path / "site")
    words = hostile(tmp_path / "site")
    before, listed = snapshot(tmp_path), entries(tmp_path)
    result = run_module("report", runs, "-o", "site", "--force", cwd=tmp_path)
    assert_clean_error(result, *words)
    assert snapshot(tmp_path) == before and entries(tmp_path) == listed


def test_an_output_inside_a_run_is_refused(runs, tmp_path):
    shutil.copytree(runs / RUN, tmp_path / RUN)
    before, listed = snapshot(tmp_path), entries(tmp_path)
    result = run_module("report", RUN, "-o", f"{RUN}/report", cwd=tmp_path)
    assert_clean_error(result, "inside the run", RUN)
    assert snapshot(tmp_path) == before and entries(tmp_path) == listed
