"""`patcher env --ci` on its own: where it writes, what it refuses, what it keeps, and that
verify accepts the copies only when they are the trees (the jobs themselves:
tests/end_to_end/test_ci_jobs.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import change_vendored_tree, run_patcher, snapshot

from patcher import trees
from patcher.project import ci, record


def _checkout(tmp_path: Path, applied_template: Path) -> Path:
    """A patched project alone in its runner folder, as CI checks it out."""
    project = tmp_path / "runner" / "repo" / "repo"
    shutil.copytree(applied_template, project, symlinks=True)
    return project


def _copies(project: Path) -> list[Path]:
    return sorted(p for p in (project.parent / ci.MIRROR_DIR).iterdir() if p.is_dir())


def test_copies_beside_the_checkout_with_fixed_mtimes(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _checkout(tmp_path, applied_template)
    before = snapshot(project)
    result = run_patcher("env", "--ci", cwd=project)
    assert result.returncode == 0, result.stderr

    assert snapshot(project) == before  # nothing in the project, not an mtime
    rec = record.load(project / record.FILE_NAME)
    assert rec is not None
    copies = _copies(project)
    assert [c.name for c in copies] == sorted(
        f"{crate}-{rec.pyo3_version}-{rec.digests[crate][:16]}" for crate in rec.crates
    )
    for copy in copies:
        crate = copy.name.rsplit("-", 2)[0]
        assert trees.digest_of(copy) == rec.digests[crate]
        stamps = {int(p.stat().st_mtime) for p in copy.rglob("*") if p.is_file()}
        assert stamps == {ci.FIXED_MTIME, ci.FIXED_MTIME + 1}
        assert int((copy / "Cargo.toml").stat().st_mtime) == ci.FIXED_MTIME + 1
    config = (project.parent / ".cargo" / "config.toml").read_text(encoding="utf-8")
    assert config.startswith(ci.CONFIG_HEAD)
    for copy in copies:
        assert str(copy) in config  # absolute: this file is never committed

    # the next job (or a second call) keeps what is right as it is
    stamp = copies[0].stat().st_mtime_ns
    again = run_patcher("env", "--ci", cwd=project)
    assert again.returncode == 0, again.stderr
    assert copies[0].stat().st_mtime_ns == stamp


def test_a_tree_changed_at_the_same_version_gets_a_new_copy(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _checkout(tmp_path, applied_template)
    assert run_patcher("env", "--ci", cwd=project).returncode == 0
    old = {c.name for c in _copies(project)}
    change_vendored_tree(project)
    result = run_patcher("env", "--ci", cwd=project)
    assert result.returncode == 0, result.stderr
    new = {c.name for c in _copies(project)}
    (gone,) = old - new
    (added,) = new - old
    assert gone.startswith("pyo3-ffi-0.28.3-") and added.startswith("pyo3-ffi-0.28.3-")


def test_a_tree_that_is_not_the_record_is_refused(tmp_path: Path, applied_template: Path) -> None:
    project = _checkout(tmp_path, applied_template)
    (project / ".pyo3-patcher" / "pyo3-ffi-0.28.3" / "src" / "lib.rs").write_text(
        "// injected\n", encoding="utf-8"
    )
    result = run_patcher("env", "--ci", cwd=project)
    assert result.returncode == 3
    assert "patcher verify" in result.stderr
    assert not (project.parent / ci.MIRROR_DIR).exists()
    assert not (project.parent / ".cargo").exists()


@pytest.mark.parametrize("whose", ["config", "cargo-home"])
def test_a_config_that_is_not_ours_is_refused(
    tmp_path: Path, applied_template: Path, whose: str
) -> None:
    project = _checkout(tmp_path, applied_template)
    cargo_dir = project.parent / ".cargo"
    cargo_dir.mkdir()
    env = {}
    if whose == "config":
        (cargo_dir / "config.toml").write_text("[build]\njobs = 1\n", encoding="utf-8")
    else:
        env["CARGO_HOME"] = str(cargo_dir)  # the checkout's parent is the cargo home
    before = snapshot(project.parent)
    result = run_patcher("env", "--ci", cwd=project, env=env)
    assert result.returncode == 3, result.stderr
    assert "hint:" in result.stderr
    assert snapshot(project.parent) == before


def test_verify_accepts_a_copy_only_while_it_is_the_tree(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _checkout(tmp_path, applied_template)
    assert run_patcher("env", "--ci", cwd=project).returncode == 0
    ok = run_patcher("verify", cwd=project)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    copy = next(c for c in _copies(project) if c.name.startswith("pyo3-ffi-"))
    lib = copy / "src" / "lib.rs"
    stat = lib.stat()
    lib.write_text(lib.read_text("utf-8") + "// injected\n", encoding="utf-8")
    os.utime(lib, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its old mtime
    tampered = run_patcher("verify", cwd=project)
    assert tampered.returncode == 7
    assert f"pyo3-ffi 0.28.3 from {copy}" in tampered.stdout


def test_env_on_a_project_that_is_not_patched_says_so(tmp_path: Path) -> None:
    from helpers import copy_example

    project = copy_example(tmp_path)
    result = run_patcher("env", "--ci", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "not patched" in result.stderr
    assert not (project.parent / ci.MIRROR_DIR).exists()
