"""A PYO3_BASE_PYTHON for another Python in the environment (left over in a shell, set by
hand) must never make a wheel for the wrong Python: the wheel is built for, and imports in,
the Python it is tagged for. Two guards: the patched backend replaces a base that is not the
build's own Python; the patched pyo3 ignores one that does not match what maturin builds for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    BASE_PYTHON,
    copy_example,
    copy_target,
    env_lines,
    make_venv,
    pythons,
    run_patcher,
    url_path,
)

MINE = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _other_python() -> tuple[str, str]:
    others = {v: p for v, p in pythons().items() if v != MINE}
    if not others:
        pytest.skip("only one Python on this machine")
    version = sorted(others)[-1]
    return version, others[version]


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        cmd, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout + done.stderr


def _imports(python: str, wheel: Path, where: Path) -> None:
    venv = make_venv(where, with_pip=True) if python == BASE_PYTHON else _venv_of(python, where)
    _run([str(venv), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], {}, where.parent)
    said = _run(
        [str(venv), "-c", "import hello_pyo3; print(hello_pyo3.answer())"], {}, where.parent
    )
    assert said.strip() == "42"


def _venv_of(python: str, where: Path) -> Path:
    subprocess.run([python, "-m", "venv", str(where)], check=True, capture_output=True)
    return where / "bin" / "python"


@pytest.mark.slow
def test_a_base_of_another_python_in_the_environment_builds_no_wrong_wheel(
    tmp_path: Path, example_deps_target: Path
) -> None:
    other_version, other = _other_python()
    project = copy_example(tmp_path)
    copy_target(example_deps_target, project)  # pyo3's dependencies compiled; pyo3 cold
    assert run_patcher("apply", "--project", project).returncode == 0
    env = env_lines(run_patcher("env", "--project", project).stdout)
    hostile = {**env, "PYO3_BASE_PYTHON": other}

    # a frontend building for our Python: the backend replaces the inherited base
    uv = str(Path(sys.executable).parent / "uv")
    log = _run(
        [uv, "build", "--wheel", "-v", "--out-dir", str(tmp_path / "dist"), str(project)],
        {**hostile, "UV_PYTHON": BASE_PYTHON, "UV_CACHE_DIR": str(tmp_path / "uv-cache")},
        tmp_path,
    )
    assert f"pyo3-patcher: PYO3_BASE_PYTHON={BASE_PYTHON}" in log
    tag = "cp" + MINE.replace(".", "")
    (wheel,) = (tmp_path / "dist").glob(f"hello_pyo3-*-{tag}-{tag}-*.whl")
    _imports(BASE_PYTHON, wheel, tmp_path / "mine")

    # maturin run by hand for the other Python, with our base inherited: no backend runs, so
    # the patched pyo3 itself must ignore a base that is not what maturin builds for
    tools = make_venv(tmp_path / "tools", with_pip=True)
    (ours,) = url_path(env["UV_FIND_LINKS"]).glob("maturin-*.whl")
    _run([str(tools), "-m", "pip", "install", "-q", "--no-deps", str(ours)], {}, tmp_path)
    maturin = tools.parent / "maturin"
    log = _run(
        [str(maturin), "build", "-i", other, "--out", str(tmp_path / "dist-other")],
        {"PYO3_BASE_PYTHON": BASE_PYTHON},
        project,
    )
    assert "it is ignored" in log and "PYO3_BASE_PYTHON" in log
    other_tag = "cp" + other_version.replace(".", "")
    (wheel,) = (tmp_path / "dist-other").glob(f"hello_pyo3-*-{other_tag}-{other_tag}-*.whl")
    _imports(other, wheel, tmp_path / "other")
