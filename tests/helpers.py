"""Test helpers: run the real scripts as a user would, and watch the folder they run in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(argv: list, *, cwd: Path, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """The one way the tests run a command: as a user would, in ``cwd``, its output captured as text."""
    return subprocess.run(
        [str(word) for word in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONHASHSEED": "0", **(env or {})},
    )


def run_script(
    script: str, *args: str, cwd: Path, timeout: float = 240, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``python <repo>/<script> args...`` in ``cwd`` and return the finished process."""
    return run([sys.executable, REPO / script, *args], cwd=cwd, timeout=timeout, env=env)


def run_module(*args, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m gaussgan args...`` in ``cwd`` and return the finished process."""
    return run([sys.executable, "-m", "gaussgan", *args], cwd=cwd, timeout=timeout, env=env)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time, to see what a command changed."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def assert_clean_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, one ``error: ...`` message naming the problem, and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: "), result.stderr
    for word in words:
        assert word.lower() in message.lower(), (word, message)


def in_a_browser(page: Path, tmp_path: Path, placed: tuple[str, ...] = ()) -> tuple[list[tuple[str, str]], dict]:
    """``page`` as headless Chromium shows it in a 1,200 x 1,600 window (skipped where chromium is missing):
    each image's box id with its decoded width (or 'broken'), and the bottom edge in pixels of each element
    whose id is in ``placed``. A screenshot is taken first (the page draws at all)."""
    import re
    import shutil

    import pytest

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium where apt-get can)")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    shot = tmp_path / "screenshot.png"
    taken = subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,1600", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000, taken.stderr[-2000:]
    # A page beside it loads it in a frame of the window's size and lists each image: loaded or broken.
    harness = tmp_path / "harness.html"
    harness.write_text(
        f'<html><body style="margin:0"><iframe id="page" width="1200" height="1600" style="border:0" '
        f'src="{page.resolve().as_uri()}"></iframe><pre id="result">pending</pre><script>\n'
        "document.getElementById('page').addEventListener('load', function () {\n"
        "  var page = this.contentDocument, images = page.images, seen = [];\n"
        "  for (var i = 0; i < images.length; i++) {\n"
        "    var image = images[i], box = image.parentNode.id;\n"
        "    seen.push(box + '=' + (image.complete && image.naturalWidth > 0 ? image.naturalWidth : 'broken'));\n"
        "  }\n"
        f"  var placed = {list(placed)!r}, where = [];\n"
        "  for (var j = 0; j < placed.length; j++) {\n"
        "    where.push(placed[j] + '=' + page.getElementById(placed[j]).getBoundingClientRect().bottom);\n"
        "  }\n"
        "  document.getElementById('result').textContent = 'images ' + seen.join(' ') + ' | ' + where.join(' ');\n"
        "});\n</script></body></html>\n"
    )
    dumped = subprocess.run(
        [*flags, "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", harness.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="result">images ([^<|]*)\|([^<]*)</pre>', dumped.stdout)
    assert found, dumped.stdout[-2000:] + dumped.stderr[-2000:]
    images = [tuple(entry.split("=")) for entry in found.group(1).split()]
    positions = {name: float(value) for name, value in (entry.split("=") for entry in found.group(2).split())}
    return images, positions  # type: ignore[return-value]
