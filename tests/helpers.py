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
