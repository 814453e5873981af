"""All or nothing: a failure at any write step leaves the project byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import bytes_of, copy_example, run_patcher, snapshot

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


def test_ctrl_c_after_the_change_was_complete_says_it_is_done(tmp_path: Path) -> None:
    """Ctrl-C while apply or remove deletes its backups, after the commit: the change is
    done, so the command says so and exits 0 (not "interrupted"), and leaves no backups."""
    project = copy_example(tmp_path)
    before = snapshot(project)
    ctrl_c = {"PYO3_PATCHER_FAULT": "clean-up", "PYO3_PATCHER_FAULT_KIND": "interrupt"}
    for command in ("apply", "remove"):
        source = ("--source", "crates.io") if command == "apply" else ()
        result = run_patcher(command, "--project", project, *source, env=ctrl_c)
        assert result.returncode == 0, result.stderr
        assert "interrupted after the change was complete" in result.stderr
        assert "error: interrupted" not in result.stderr
        assert not list(project.glob(".pyo3-patcher-txn*"))
        assert run_patcher("verify", "--project", project).returncode == (
            0 if command == "apply" else 7  # removed: not applied
        )
    assert bytes_of(snapshot(project)) == bytes_of(before)
