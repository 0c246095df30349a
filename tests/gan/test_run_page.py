"""RUN/index.html, the run on one page: written by every finished verdict (the end of a run, --verdict-only,
--resume of a run that lacks its verdict), self-contained (figures as data URIs), every text escaped, and a
missing or refused figure named as such, never a broken image."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import run_script

from gaussgan.gan.judging import n_star_text
from gaussgan.gan.run_page import write_run_page
from gaussgan.gan.rundir import RunDirectory

DATA = "datasets/data_gauss_dim3.h5"
TRAIN = ["-f", DATA, "-d", "8", "-s", "0.5", "-n", "2", "--n-eval", "200", "--seed", "5", "-q"]
TRAIN += ["--max-n", "200", "--null-repeats", "250"]
RUN = "runs/gauss_dim3_8_0.5_van"
# What a 2-epoch run's page embeds: the whole run's figures, then the last epoch's (epoch 1).
FIGURES = [
    "training_metrics.png",
    "training_model_losses.png",
    "training_pvalues.png",
    *(f"samples/{kind}_epoch00001.png" for kind in ("comp_hist", "rhist", "ks", "corr")),
]
EMBEDDED = re.compile(r'<figure id="([^"]+)"><img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One short finished run (2 epochs, a verdict up to 200 samples); its stdout kept in run.stdout."""
    folder = tmp_path_factory.mktemp("page")
    made = run_script("gen-samples.py", "-n", 75, "-b", 2, "-d", 3, "--seed", 1, "-q", cwd=folder)
    assert made.returncode == 0, made.stderr
    result = run_script("train.py", *TRAIN, cwd=folder)
    assert result.returncode == 0, result.stderr
    (folder / "run.stdout").write_text(result.stdout)
    return folder


@pytest.fixture
def copy(trained, tmp_path) -> Path:
    """The trained folder (dataset and run), copied: a test that changes it leaves the others theirs."""
    shutil.copytree(trained, tmp_path / "work", symlinks=True)
    return tmp_path / "work"


def page_of(folder: Path) -> str:
    return (folder / RUN / "index.html").read_text(encoding="utf-8")


def headline(verdict: dict) -> str:
    return f"n* {n_star_text(verdict['n_star'], max(verdict['tested_n']))}"


def test_a_finished_run_has_its_page_with_the_verdict_the_summary_and_every_figure_embedded(trained):
    run, page = trained / RUN, page_of(trained)
    out = (trained / "run.stdout").read_text().splitlines()
    # Said in the last lines: where the page is, then the usual last line.
    assert out[-2:] == [f"see {RUN}/index.html (the run on one page: open it in a browser)", f"done: {RUN}"], out
    verdict = json.loads((run / "verdict.json").read_text())
    assert f"<b>{html.escape(headline(verdict))}" in page
    assert html.escape(verdict["reading"]) in page
    assert f"The metrics at n = {verdict['n_star'] or max(verdict['tested_n']):,}:" in page
    # The summary, as the command printed it; the options, from config.json.
    summary = next(line for line in out if line.startswith("summary: "))
    assert html.escape(summary.split(" in ")[0]) in page and "final epoch 1: norm KS D" in page
    assert "best epoch" in page and html.escape(json.loads((run / "config.json").read_text())["command"]) in page
    assert "<td>latent_dim</td><td>-d/--latent-dim</td><td>8</td>" in page
    # Every figure, embedded byte for byte, in order; nothing fetched from anywhere.
    embedded = EMBEDDED.findall(page)
    assert [name for name, _ in embedded] == [Path(figure).stem for figure in FIGURES]
    for (_, encoded), figure in zip(embedded, FIGURES, strict=True):
        assert base64.b64decode(encoded) == (run / figure).read_bytes(), figure
    # No address to fetch: no scheme with its colon (the figures' base64 has no colon, while "http" alone
    # turns up in it by chance, about once per megabyte).
    assert (
        page.count("<img ") == len(FIGURES) and not re.search(r"https?:", page, re.I) and 'class="missing"' not in page
    )


def test_the_training_sets_limit_and_the_spectrum_show_when_the_verdict_holds_them(copy):
    run = copy / RUN
    verdict = json.loads((run / "verdict.json").read_text())
    bare = {key: value for key, value in verdict.items() if key not in ("data_limit", "generator_spectrum")}
    (run / "verdict.json").write_text(json.dumps(bare))
    write_run_page(RunDirectory(run))
    page = page_of(copy)
    assert f"<b>{html.escape(headline(verdict))}</b>" in page  # n* alone
    assert "own fit" not in page and "Marchenko" not in page and "mean squared norm" not in page

    limit = {"n_train": 150, "n_star_fit": None, "n_star_fresh": 500, "largest": 20000}
    spectrum = {
        "eigenvalue_min": 0.0632,
        "eigenvalue_max": 1.25,
        "mean_squared_norm": 2.5,
        "marchenko_pastur": [0.5, 1.9],
    }
    (run / "verdict.json").write_text(json.dumps({**bare, "data_limit": limit, "generator_spectrum": spectrum}))
    write_run_page(RunDirectory(run))
    page = page_of(copy)
    assert f"<b>{html.escape(headline(verdict))}; the training set&#x27;s own fit &gt; 20,000</b>" in page
    assert "fitted to the training set of 150 rows" in page and "same size, n* 500." in page
    assert "eigenvalues 0.0632 to 1.25 (Marchenko–Pastur ranges, expected: 0.5 to 1.9)" in page
    assert "mean squared norm 2.5 (parent: 3)." in page


def test_a_missing_damaged_or_linked_figure_is_named_and_every_text_is_escaped(copy):
    run = copy / RUN
    (run / "samples/ks_epoch00001.png").unlink()
    (run / "training_model_losses.png").write_text("not an image")
    (copy / "elsewhere.png").write_bytes((run / "training_metrics.png").read_bytes())
    (run / "training_metrics.png").unlink()
    (run / "training_metrics.png").symlink_to(copy / "elsewhere.png")  # never read through
    verdict = json.loads((run / "verdict.json").read_text())
    (run / "verdict.json").write_text(json.dumps({**verdict, "reading": "<script>alert('x')</script> & more"}))
    write_run_page(RunDirectory(run))
    page = page_of(copy)
    assert "samples/ks_epoch00001.png: missing" in page
    assert "training_model_losses.png: not a PNG image" in page
    assert re.search(r"training_metrics\.png&#x27; is a symbolic link", page)
    assert [name for name, _ in EMBEDDED.findall(page)] == [
        "training_pvalues",
        "comp_hist_epoch00001",
        "rhist_epoch00001",
        "corr_epoch00001",
    ]
    assert page.count("<img ") == 4 and page.count('class="missing"') == 3
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page


def test_verdict_only_and_a_resume_that_finishes_the_verdict_write_the_page_again(copy):
    run = copy / RUN
    (run / "index.html").write_text("stale")
    again = run_script("train.py", *TRAIN, "--verdict-only", cwd=copy)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == f"see {RUN}/index.html (the run on one page: open it in a browser)"
    verdict = json.loads((run / "verdict.json").read_text())
    assert "stale" not in page_of(copy) and html.escape(headline(verdict)) in page_of(copy)
    assert len(EMBEDDED.findall(page_of(copy))) == len(FIGURES)

    # A finished run without its verdict: --resume gives the verdict, and the page with it.
    (run / "verdict.json").unlink()
    (run / "index.html").unlink()
    resumed = run_script("train.py", *TRAIN, "--resume", cwd=copy)
    assert resumed.returncode == 0, resumed.stderr
    assert f"see {RUN}/index.html" in resumed.stdout
    assert html.escape(headline(json.loads((run / "verdict.json").read_text()))) in page_of(copy)
