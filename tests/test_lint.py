"""The house rules in pyproject.toml hold: ruff, ruff format and mypy --strict."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO_ROOT


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", "patcher", "tests", "bench"],
        ["ruff", "format", "--check", "patcher", "tests", "bench"],
        ["mypy"],
    ],
    ids=["ruff", "ruff-format", "mypy"],
)
def test_lint(cmd: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *cmd], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
