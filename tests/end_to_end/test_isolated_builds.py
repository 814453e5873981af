"""The whole fix end to end: real isolated PEP 517 builds with the patched maturin.

pip's isolated build environment is an overlay on the interpreter that runs pip, not a venv:
maturin sees that interpreter, so consecutive `pip wheel .` runs from one venv never change
PYO3_PYTHON. What changes it is a new venv per job (CI, tox, nox): we build from two venvs.
uv makes a fresh venv for every build by itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BASE_PYTHON, copy_example, make_venv, run_patcher

PYO3_CRATES = {"pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend"}


def _rebuilt(log: str) -> set[str]:
    return set(re.findall(r"Compiling (\S+) v", log)) & PYO3_CRATES


def _project(tmp_path: Path, patched: bool) -> tuple[Path, dict[str, str]]:
    project = copy_example(tmp_path, "hello")
    env: dict[str, str] = {}
    if patched:
        result = run_patcher("apply", "--project", project)
        assert result.returncode == 0, result.stderr
        result = run_patcher("env", "--project", project)
        assert result.returncode == 0, result.stderr
        env.update(dict(line.split("=", 1) for line in result.stdout.splitlines()))
    return project, env


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        cmd, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("patched", [True, False], ids=["patched", "unpatched"])
def test_pip_wheel_isolated_from_two_venvs(tmp_path: Path, patched: bool) -> None:
    project, env = _project(tmp_path, patched)
    logs = []
    for name in ("job-1", "job-2"):
        python = make_venv(tmp_path / name, with_pip=True)
        logs.append(
            _run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "-v",
                    "-w",
                    str(tmp_path / "dist"),
                    str(project),
                ],
                env,
                tmp_path,
            )
        )
    assert _rebuilt(logs[0]) == PYO3_CRATES
    if patched:
        assert _rebuilt(logs[1]) == set()
        # proof that the patched maturin ran: its backend says what it exported
        assert f"pyo3-patcher: PYO3_BASE_PYTHON={BASE_PYTHON}" in logs[1]
    else:
        assert {"pyo3-build-config", "pyo3-ffi", "pyo3"} <= _rebuilt(logs[1])
        assert "PYO3_BASE_PYTHON" not in logs[1]


@pytest.mark.slow
@pytest.mark.parametrize("patched", [True, False], ids=["patched", "unpatched"])
def test_uv_build_twice(tmp_path: Path, patched: bool) -> None:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    project, env = _project(tmp_path, patched)
    env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")
    env["UV_PYTHON"] = BASE_PYTHON
    logs = [
        _run(
            [uv, "build", "--wheel", "-v", "--out-dir", str(tmp_path / "dist"), str(project)],
            env,
            tmp_path,
        )
        for _ in range(2)
    ]
    assert _rebuilt(logs[0]) == PYO3_CRATES
    if patched:
        assert _rebuilt(logs[1]) == set()
        assert f"pyo3-patcher: PYO3_BASE_PYTHON={BASE_PYTHON}" in logs[1]
    else:
        assert {"pyo3-build-config", "pyo3-ffi", "pyo3"} <= _rebuilt(logs[1])
