"""`patcher refresh`: a project across a pyo3 upgrade, and our patch across upstream history."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import git as gitpython
import pytest
from helpers import EXAMPLE, REPO_ROOT, make_pyo3_repo, run_patcher, snapshot

IMPL = "pyo3-build-config/src/impl_.rs"


@pytest.mark.slow
def test_project_refresh_after_a_real_cargo_update_to_a_later_minor(tmp_path: Path) -> None:
    project = tmp_path / "example"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", ".pyo3-patcher"))
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


def _synthetic_release(repo: gitpython.Repo, version: str, edit: tuple[str, str] | None) -> None:
    root = Path(repo.working_tree_dir or "")
    for manifest in [root / "Cargo.toml", *root.glob("pyo3-*/Cargo.toml")]:
        text = manifest.read_text("utf-8")
        manifest.write_text(
            text.replace(repo.git.describe("--tags").lstrip("v").split("-")[0], version),
            encoding="utf-8",
        )
    if edit is not None:
        impl = root / IMPL
        text = impl.read_text("utf-8")
        assert text.count(edit[0]) == 1
        impl.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    repo.git.add("-A")
    actor = gitpython.Actor("t", "t@example.invalid")
    repo.index.commit(f"release {version}", author=actor, committer=actor)
    repo.create_tag(f"v{version}")


@pytest.mark.slow
def test_patch_refresh_through_exact_three_way_and_conflict(tmp_path: Path) -> None:
    url, pins_dir = make_pyo3_repo(tmp_path / "upstream", ["0.29.2"])
    repo = gitpython.Repo(url.removeprefix("file://"))
    # 0.90.0: the code around the patch is unchanged (applies as is)
    _synthetic_release(repo, "0.90.0", None)
    # 0.91.0: a context line of the hunk changed: only a three-way merge works
    _synthetic_release(
        repo,
        "0.91.0",
        ("        Ok(env_interpreter)\n", "        Ok(env_interpreter) // from the venv\n"),
    )
    # 0.92.0: the very line the patch replaces changed: nothing works
    _synthetic_release(
        repo,
        "0.92.0",
        (
            '    if let Some(exe) = env_var("PYO3_PYTHON") {\n',
            '    if let Some(exe) = env_var("PYO3_PYTHON").filter(|e| !e.is_empty()) {\n',
        ),
    )
    patches = tmp_path / "patches"
    shutil.copytree(REPO_ROOT / "patches", patches)
    env = {
        "PYO3_PATCHER_PATCHES_DIR": str(patches),
        "PYO3_PATCHER_PINS_DIR": str(pins_dir),
        "PYO3_PATCHER_PYO3_URL": url,
        "PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cache"),
    }

    result = run_patcher("refresh", "--upstream", "pyo3@0.90.0", env=env)
    assert result.returncode == 0, result.stderr
    assert "exact; variant base-python-v1 extended" in result.stdout
    assert "<=0.90.0" in (patches / "pyo3" / "variants.toml").read_text("utf-8")
    assert '[release."0.90.0"]' in (pins_dir / "pyo3.toml").read_text("utf-8")

    result = run_patcher("refresh", "--upstream", "pyo3@0.91.0", env=env)
    assert result.returncode == 0, result.stderr
    assert "three-way; variant base-python-v2 added" in result.stdout
    v2 = (patches / "pyo3" / "base-python-v2.patch").read_text("utf-8")
    assert "Ok(env_interpreter) // from the venv" in v2  # fresh context from the new release
    assert "PYO3_BASE_PYTHON" in v2

    before = {p.name: p.read_bytes() for p in (patches / "pyo3").iterdir()}
    pins_before = (pins_dir / "pyo3.toml").read_bytes()
    result = run_patcher("refresh", "--upstream", "pyo3@0.92.0", env=env)
    assert result.returncode == 5
    assert "conflicts in pyo3-build-config/src/impl_.rs" in result.stderr
    assert "--continue pyo3@0.92.0" in result.stderr
    assert {p.name: p.read_bytes() for p in (patches / "pyo3").iterdir()} == before
    assert (pins_dir / "pyo3.toml").read_bytes() == pins_before
    work = tmp_path / "cache" / "refresh" / "pyo3-0.92.0"
    assert "filter(|e| !e.is_empty())" in (work / "UPSTREAM-CHANGE.diff").read_text("utf-8")

    # a person resolves the conflict: keep both intents
    impl = work / "tree" / IMPL
    text = impl.read_text("utf-8")
    start, end = text.index("<<<<<<<"), text.index(">>>>>>>")
    end = text.index("\n", end) + 1
    resolved = (
        '    if let Some(exe) = env_var("PYO3_BASE_PYTHON").filter(|exe| !exe.is_empty()) {\n'
        "        Ok(exe.into())\n"
        '    } else if let Some(exe) = env_var("PYO3_PYTHON").filter(|e| !e.is_empty()) {\n'
    )
    impl.write_text(text[:start] + resolved + text[end:], encoding="utf-8")
    result = run_patcher("refresh", "--continue", "pyo3@0.92.0", env=env)
    assert result.returncode == 0, result.stderr
    assert "continued; variant base-python-v3 added" in result.stdout
    assert '[release."0.92.0"]' in (pins_dir / "pyo3.toml").read_text("utf-8")
