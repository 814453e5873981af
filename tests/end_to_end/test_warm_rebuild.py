"""The pyo3 half end to end: two cargo builds from two venvs of one base interpreter."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import BASE_PYTHON, copy_example, make_venv, run_patcher

PYO3_CRATES = {"pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend"}


def _cargo_build(
    project: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run(
        ["cargo", "build", "-v", "--features", "pyo3/extension-module", *extra],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )


def _rebuilt(stderr: str) -> set[str]:
    return set(re.findall(r"^\s+Compiling (\S+) v", stderr, re.M)) & PYO3_CRATES


def _fresh(stderr: str) -> set[str]:
    return set(re.findall(r"^\s+Fresh (\S+) v", stderr, re.M)) & PYO3_CRATES


@pytest.mark.slow
@pytest.mark.parametrize("patched", [True, False], ids=["patched", "unpatched"])
def test_second_build_from_another_venv(tmp_path: Path, patched: bool) -> None:
    project = copy_example(tmp_path, "hello")
    if patched:
        result = run_patcher("apply", "--project", project, "--source", "crates.io")
        assert result.returncode == 0, result.stderr
    venv_a, venv_b = make_venv(tmp_path / "venv-a"), make_venv(tmp_path / "venv-b")

    first = _cargo_build(project, {"PYO3_PYTHON": str(venv_a), "PYO3_BASE_PYTHON": BASE_PYTHON})
    assert first.returncode == 0, first.stderr[-3000:]
    second = _cargo_build(project, {"PYO3_PYTHON": str(venv_b), "PYO3_BASE_PYTHON": BASE_PYTHON})
    assert second.returncode == 0, second.stderr[-3000:]

    if patched:
        assert _rebuilt(second.stderr) == set()
        assert _fresh(second.stderr) == PYO3_CRATES
        outputs = list((project / "target" / "debug" / "build").glob("pyo3*/output"))
        assert outputs
        rerun_lines = "".join(p.read_text(encoding="utf-8") for p in outputs)
        assert "rerun-if-env-changed=PYO3_BASE_PYTHON" in rerun_lines
        assert "rerun-if-env-changed=PYO3_PYTHON" not in rerun_lines
    else:
        assert {"pyo3-build-config", "pyo3-ffi", "pyo3"} <= _rebuilt(second.stderr)


@pytest.mark.slow
def test_resolved_config_names_the_base_interpreter(tmp_path: Path) -> None:
    project = copy_example(tmp_path, "hello")
    result = run_patcher("apply", "--project", project, "--source", "crates.io")
    assert result.returncode == 0, result.stderr
    venv = make_venv(tmp_path / "venv")
    # PYO3_PRINT_CONFIG makes the build script print the config and fail on purpose; its own
    # target dir keeps it from dirtying anything else.
    printed = _cargo_build(
        project,
        {"PYO3_PYTHON": str(venv), "PYO3_BASE_PYTHON": BASE_PYTHON, "PYO3_PRINT_CONFIG": "1"},
        "--target-dir",
        str(tmp_path / "print-config"),
    )
    assert printed.returncode != 0
    executables = re.findall(r"executable=(\S+)", printed.stderr + printed.stdout)
    assert executables and set(executables) == {BASE_PYTHON}
