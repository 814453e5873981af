"""`patcher refresh` in a project: across a pyo3 upgrade the user made, and when the build
requirement moves to another maturin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import copy_example, env_lines, run_patcher, snapshot, url_path


@pytest.mark.slow
def test_project_refresh_after_a_real_cargo_update_to_a_later_minor(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    assert run_patcher("apply", "--project", project, "--source", "crates.io").returncode == 0
    manifest = project / "Cargo.toml"
    manifest.write_text(
        manifest.read_text("utf-8").replace('pyo3 = "0.28.3"', 'pyo3 = "=0.29.2"'), encoding="utf-8"
    )
    user_lines = manifest.read_text("utf-8").splitlines()
    subprocess.run(["cargo", "update", "-p", "pyo3"], cwd=project, check=True, capture_output=True)
    assert run_patcher("verify", "--project", project).returncode == 7  # forgot to refresh

    result = run_patcher("refresh", "--project", project)
    assert result.returncode == 0, result.stderr
    assert "pyo3-ffi: 0.28.3 -> 0.29.2" in result.stdout
    assert not (project / ".pyo3-patcher" / "pyo3-ffi-0.28.3").exists()
    assert (project / ".pyo3-patcher" / "pyo3-ffi-0.29.2").is_dir()
    after = manifest.read_text("utf-8").splitlines()
    assert all(line in after for line in user_lines if "0.28.3" not in line)
    assert run_patcher("verify", "--project", project).returncode == 0
    build = subprocess.run(
        ["cargo", "build", "--features", "pyo3/extension-module"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    assert "pyo3-ffi v0.29.2 (" in build.stderr  # built from our path, not the registry
    before = snapshot(project)
    again = run_patcher("refresh", "--project", project)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert snapshot(project) == before


@pytest.mark.slow
def test_project_refresh_rebuilds_maturin_when_build_system_wants_another(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    assert run_patcher("apply", "--project", project, "--source", "crates.io").returncode == 0
    assert "1.16.0+pyo3patcher" in (project / "pyo3-patcher.lock").read_text("utf-8")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text("utf-8").replace('"maturin>=1.9,<2"', '"maturin>=1.9,<1.16"'),
        encoding="utf-8",
    )
    forgot = run_patcher("verify", "--project", project)
    assert forgot.returncode == 7
    assert "now gets maturin 1.15.0+pyo3patcher.backend.v2" in forgot.stdout

    result = run_patcher("refresh", "--project", project)
    assert result.returncode == 0, result.stderr
    assert (
        "maturin: 1.16.0+pyo3patcher.backend.v2 -> 1.15.0+pyo3patcher.backend.v2" in result.stdout
    )
    assert "pyo3-ffi" not in result.stdout  # pyo3 did not move: its trees stay as they are
    wheel = result.stdout.split("patched maturin 1.15.0+pyo3patcher.backend.v2: ")[1].strip()
    assert Path(wheel).is_file() and Path(wheel).name.startswith("maturin-1.15.0+pyo3patcher")
    assert run_patcher("verify", "--project", project).returncode == 0
    env = run_patcher("env", "--project", project)  # the wheel is cached: no second build
    assert env.returncode == 0, env.stderr
    (handed,) = url_path(env_lines(env.stdout)["UV_FIND_LINKS"]).glob("*.whl")
    assert handed.name == Path(wheel).name

    # a record an earlier patcher wrote names a retired variant (backend-v1, which logged the
    # base once per hook process): verify fails as for any other maturin the build does not
    # get, and refresh moves the record to the current variant
    lock = project / "pyo3-patcher.lock"
    lock.write_text(lock.read_text("utf-8").replace(".backend.v2", ".backend.v1"), "utf-8")
    retired = run_patcher("verify", "--project", project)
    assert retired.returncode == 7
    assert (
        "now gets maturin 1.15.0+pyo3patcher.backend.v2, the record has "
        "1.15.0+pyo3patcher.backend.v1: run `patcher refresh`" in retired.stdout
    )
    result = run_patcher("refresh", "--project", project)
    assert result.returncode == 0, result.stderr
    assert (
        "maturin: 1.15.0+pyo3patcher.backend.v1 -> 1.15.0+pyo3patcher.backend.v2" in result.stdout
    )
    assert run_patcher("verify", "--project", project).returncode == 0
