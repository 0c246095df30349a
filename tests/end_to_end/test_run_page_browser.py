"""A finished run's page, RUN/index.html, as a browser shows it: headless Chromium draws it, and every figure on
it is decoded (the report's check in tests/study/test_report.py, on one run's page)."""

from __future__ import annotations

from helpers import in_a_browser, run_script

TRAIN = ["-f", "datasets/data_gauss_dim3.h5", "-d", "8", "-s", "0.5", "-n", "2", "--n-eval", "200", "--seed", "5"]
TRAIN += ["-q", "--max-n", "200", "--null-repeats", "250"]
RUN = "runs/gauss_dim3_8_0.5_van"
# The figures a 2-epoch run's page shows (each <figure>'s id): the whole run's, then the last epoch's.
FIGURES = ["training_metrics", "training_model_losses", "training_pvalues"]
FIGURES += [f"{kind}_epoch00001" for kind in ("comp_hist", "rhist", "ks", "corr")]


def test_a_runs_page_renders_in_headless_chromium_with_every_figure(tmp_path):
    made = run_script("gen-samples.py", "-n", 75, "-b", 2, "-d", 3, "--seed", 1, "-q", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    trained = run_script("train.py", *TRAIN, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    images, _ = in_a_browser(tmp_path / RUN / "index.html", tmp_path)
    assert [name for name, _ in images] == FIGURES, images
    assert all(width.isdigit() and int(width) > 300 for _, width in images), images
