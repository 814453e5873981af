"""All or nothing: a failure at any write step leaves the project byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_example, run_patcher, snapshot

APPLY_STEPS = [
    "vendor:pyo3",
    "vendor:pyo3-ffi",
    "vendor:pyo3-macros-backend",
    "write:.gitattributes",
    "write:Cargo.toml",
    "write:Cargo.lock",
    "write:state",
    "commit",
]
CRATES = ("pyo3", "pyo3-build-config", "pyo3-ffi", "pyo3-macros", "pyo3-macros-backend")
REMOVE_STEPS = [
    *(f"remove:.pyo3-patcher/{crate}-0.28.3" for crate in CRATES),
    "write:.gitattributes",
    "write:Cargo.toml",
    "write:Cargo.lock",
    "write:state",
    "commit",
]


@pytest.mark.parametrize("step", APPLY_STEPS)
def test_a_fault_during_apply_leaves_the_project_as_it_was(tmp_path: Path, step: str) -> None:
    project = copy_example(tmp_path)
    before = snapshot(project)
    result = run_patcher(
        "apply", "--project", project, "--source", "crates.io", env={"PYO3_PATCHER_FAULT": step}
    )
    assert result.returncode == 99, result.stderr
    assert f"injected fault at step '{step}'" in result.stderr
    assert snapshot(project) == before  # bytes, mtimes, and no stray files


@pytest.mark.parametrize("step", REMOVE_STEPS)
def test_a_fault_during_remove_leaves_the_project_as_it_was(tmp_path: Path, step: str) -> None:
    project = copy_example(tmp_path)
    assert run_patcher("apply", "--project", project, "--source", "crates.io").returncode == 0
    before = snapshot(project)
    result = run_patcher("remove", "--project", project, env={"PYO3_PATCHER_FAULT": step})
    assert result.returncode == 99, result.stderr
    assert snapshot(project) == before


def test_a_fault_during_reapply_after_an_upgrade_leaves_the_project(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    assert run_patcher("apply", "--project", project, "--source", "crates.io").returncode == 0
    manifest = project / "Cargo.toml"
    manifest.write_text(
        manifest.read_text("utf-8").replace('pyo3 = "0.28.3"', 'pyo3 = "0.28.2"'), encoding="utf-8"
    )
    lock = project / "Cargo.lock"
    lock.write_text(
        lock.read_text("utf-8").replace('version = "0.28.3"', 'version = "0.28.2"'),
        encoding="utf-8",
    )
    before = snapshot(project)
    for step in ("vendor:pyo3-ffi", "remove:.pyo3-patcher/pyo3-ffi-0.28.3", "write:Cargo.toml"):
        result = run_patcher(
            "apply", "--project", project, "--source", "crates.io", env={"PYO3_PATCHER_FAULT": step}
        )
        assert result.returncode == 99, (step, result.stderr)
        assert snapshot(project) == before, step


@pytest.mark.parametrize("step", ["vendor:pyo3-ffi", "write:Cargo.lock", "write:state"])
def test_ctrl_c_during_apply_leaves_the_project_as_it_was(tmp_path: Path, step: str) -> None:
    project = copy_example(tmp_path)
    before = snapshot(project)
    result = run_patcher(
        "apply",
        "--project",
        project,
        "--source",
        "crates.io",
        env={"PYO3_PATCHER_FAULT": step, "PYO3_PATCHER_FAULT_KIND": "interrupt"},
    )
    assert result.returncode == 130, result.stderr
    assert snapshot(project) == before
