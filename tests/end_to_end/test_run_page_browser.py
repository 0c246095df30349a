"""A finished run's page, RUN/index.html, as a browser shows it: headless Chromium draws it, and every figure on
it is decoded (the report's check in tests/study/test_report.py, on one run's page)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from helpers import run_script

TRAIN = ["-f", "datasets/data_gauss_dim3.h5", "-d", "8", "-s", "0.5", "-n", "2", "--n-eval", "200", "--seed", "5"]
TRAIN += ["-q", "--max-n", "200", "--null-repeats", "250"]
RUN = "runs/gauss_dim3_8_0.5_van"
# The figures a 2-epoch run's page shows (each <figure>'s id): the whole run's, then the last epoch's.
FIGURES = ["training_metrics", "training_model_losses", "training_pvalues"]
FIGURES += [f"{kind}_epoch00001" for kind in ("comp_hist", "rhist", "ks", "corr")]


def test_a_runs_page_renders_in_headless_chromium_with_every_figure(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium where apt-get can)")
    made = run_script("gen-samples.py", "-n", 75, "-b", 2, "-d", 3, "--seed", 1, "-q", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    trained = run_script("train.py", *TRAIN, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    page = (tmp_path / RUN / "index.html").resolve()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    shot = tmp_path / "screenshot.png"
    taken = subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000, taken.stderr[-2000:]
    # A page next to the run's loads it in a frame and lists each image: loaded (a decoded size) or broken.
    harness = tmp_path / "harness.html"
    harness.write_text(
        f'<html><body><iframe id="page" src="{page.as_uri()}"></iframe><pre id="result">pending</pre><script>\n'
        "document.getElementById('page').addEventListener('load', function () {\n"
        "  var images = this.contentDocument.images, seen = [];\n"
        "  for (var i = 0; i < images.length; i++) {\n"
        "    var image = images[i], box = image.parentNode.id;\n"
        "    seen.push(box + '=' + (image.complete && image.naturalWidth > 0 ? image.naturalWidth : 'broken'));\n"
        "  }\n"
        "  document.getElementById('result').textContent = 'images ' + seen.join(' ');\n"
        "});\n</script></body></html>\n"
    )
    dumped = subprocess.run(
        [*flags, "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", harness.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="result">images ([^<]*)</pre>', dumped.stdout)
    assert found, dumped.stdout[-2000:] + dumped.stderr[-2000:]
    loaded = [entry.split("=") for entry in found.group(1).split()]
    assert [name for name, _ in loaded] == FIGURES, loaded
    assert all(width.isdigit() and int(width) > 300 for _, width in loaded), loaded
