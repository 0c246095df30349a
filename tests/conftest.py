"""pytest fixtures shared by the test files; the helpers they use are in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
