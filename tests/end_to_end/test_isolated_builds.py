"""The whole fix end to end: real isolated PEP 517 builds with the patched maturin.

pip's isolated build environment is an overlay on the interpreter that runs pip, not a venv:
maturin sees that interpreter, so consecutive `pip wheel .` runs from one venv never change
PYO3_PYTHON. What changes it is a new venv per job (CI, tox, nox): we build from two venvs.
uv makes a fresh venv for every build by itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    BASE_PYTHON,
    compiled_pyo3,
    copy_example,
    copy_target,
    make_venv,
    patched_example,
)

PYO3_CRATES = {"pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend"}
_rebuilt = compiled_pyo3


def _project(tmp_path: Path, patched: bool) -> tuple[Path, dict[str, str]]:
    if not patched:
        return copy_example(tmp_path, "hello"), {}
    # a cache path with a space, as the default one on Windows (under the user's name):
    # pip and uv split PIP_FIND_LINKS, PIP_CONSTRAINT and UV_FIND_LINKS on whitespace
    project, env = patched_example(
        tmp_path, env={"PYO3_PATCHER_CACHE_DIR": str(tmp_path / "patcher cache")}
    )
    assert "patcher%20cache" in env["UV_FIND_LINKS"]
    return project, env


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        cmd, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("patched", [True, False], ids=["patched", "unpatched"])
def test_pip_uv_and_build_one_after_another(
    tmp_path: Path, patched: bool, example_deps_target: Path
) -> None:
    """One target dir, four isolated builds as a maintainer and CI make them: pip from two
    venvs, then uv, then (patched) `python -m build`. Each after the first must recompile no
    pyo3 crate when patched (from a cache whose path has a space), and recompiles pyo3's
    crates when not."""
    project, env = _project(tmp_path, patched)
    # pyo3's dependencies from crates.io already compiled (as a CI cache would hold them),
    # nothing of pyo3: the first build still compiles every pyo3 crate from nothing
    copy_target(example_deps_target, project)
    dist = str(tmp_path / "dist")
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    builds: list[tuple[str, list[str], dict[str, str]]] = []
    for job in ("pip-job-1", "pip-job-2"):
        python = str(make_venv(tmp_path / job, with_pip=True))
        builds.append((job, [python, "-m", "pip", "wheel", "--no-deps", "-v", "-w", dist], {}))
    uv_env = {"UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_PYTHON": BASE_PYTHON}
    builds.append(("uv", [uv, "build", "--wheel", "-v", "--out-dir", dist], uv_env))
    if patched:  # unpatched, pip and uv have shown the rebuilds: spare a third
        build = [sys.executable, "-m", "build", "--wheel", "--outdir", dist]  # makes a venv
        builds.append(("build", build, {}))
    logs = {
        name: _run([*cmd, str(project)], {**env, **extra}, tmp_path) for name, cmd, extra in builds
    }

    assert _rebuilt(logs["pip-job-1"]) == PYO3_CRATES
    if patched:
        # proof that the patched maturin ran: its backend says what it exported, once per
        # build, though every hook process exports it (pip runs three hooks, uv and build
        # two; pip shows their output with -v, uv and build always)
        said = {
            n: log.count(f"pyo3-patcher: PYO3_BASE_PYTHON={BASE_PYTHON}\n")
            for n, log in logs.items()
        }
        assert said == dict.fromkeys(logs, 1), said
    for name in list(logs)[1:]:
        if patched:
            assert _rebuilt(logs[name]) == set(), name
        else:
            assert {"pyo3-build-config", "pyo3-ffi", "pyo3"} <= _rebuilt(logs[name]), name
            assert "PYO3_BASE_PYTHON" not in logs[name], name
