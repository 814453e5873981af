"""`patcher apply` on real project layouts, through the real CLI and real cargo."""

from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path

import pytest
from helpers import copy_example, run_patcher, snapshot, write_crate

PYO3 = "0.22.6"


def _lock(directory: Path) -> None:
    subprocess.run(
        ["cargo", "generate-lockfile", "--manifest-path", str(directory / "Cargo.toml")],
        check=True,
        capture_output=True,
    )


def _local_git_crate(directory: Path, name: str, version: str) -> str:
    import git as gitpython

    (directory / "src").mkdir(parents=True)
    (directory / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n', encoding="utf-8"
    )
    (directory / "src" / "lib.rs").write_text("", encoding="utf-8")
    repo = gitpython.Repo.init(directory)
    repo.git.add("-A")
    repo.git.commit(
        "-m",
        "fork",
        "--author",
        "t <t@example.invalid>",
        env={"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"},
    )
    return directory.as_uri()


def _apply(project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = run_patcher("apply", "--project", project, "--source", "crates.io", *extra)
    assert result.returncode == 0, result.stderr
    return result


def _removed_lines(before: str, after: str) -> list[str]:
    """Lines of `before` that are not in `after` unchanged (ours may only be added)."""
    diff = difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True))
    return [line for line in diff if line.startswith("- ")]


def _assert_pyo3_vendored(workspace: Path, crates: set[str]) -> None:
    result = subprocess.run(
        [
            "cargo",
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--manifest-path",
            str(workspace / "Cargo.toml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "was not used" not in result.stderr
    found = {
        p["name"]: p for p in json.loads(result.stdout)["packages"] if p["name"].startswith("pyo3")
    }
    assert set(found) == crates
    for pkg in found.values():
        assert pkg["source"] is None
        assert "/.pyo3-patcher/" in pkg["manifest_path"]


def test_workspace_root_two_levels_above_with_workspace_dependency_and_comments(
    tmp_path: Path,
) -> None:
    ws = tmp_path / "ws"
    member = ws / "crates" / "ext"
    write_crate(member, "ext", "pyo3 = { workspace = true }")
    (member / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["maturin>=1.4,<2"]\nbuild-backend = "maturin"\n\n'
        '[project]\nname = "ext"\nversion = "0.1.0"\n\n[tool.maturin]\nlocked = true\n'
        # below the workspace root no sdist can carry the trees (tests/project/test_sdist.py)
        "\n[tool.pyo3-patcher]\nsdist = false\n",
        encoding="utf-8",
    )
    theirs = _local_git_crate(tmp_path / "unindent-fork", "unindent", "0.2.4")
    root_text = (
        '# the workspace root\n[workspace]\nmembers = ["crates/ext"]   # aligned comment\n'
        'resolver = "2"\n\n[workspace.dependencies]\n'
        f'pyo3 = {{ version = "{PYO3}", features = ["extension-module"] }}\n\n'
        "[patch.crates-io]\n# keep this comment\n"
        f'unindent = {{ git = "{theirs}" }}  # a git patch of theirs\n\n'
        "[profile.release]\nlto = true\n"
    )
    (ws / "Cargo.toml").write_text(root_text, encoding="utf-8")
    _lock(ws)
    member_before = (member / "Cargo.toml").read_bytes()

    _apply(member)

    after = (ws / "Cargo.toml").read_text(encoding="utf-8")
    assert _removed_lines(root_text, after) == []
    assert "# keep this comment\n" in after and "lto = true\n" in after
    assert 'pyo3-build-config = { path = ".pyo3-patcher/pyo3-build-config-0.22.6" }' in after
    assert (member / "Cargo.toml").read_bytes() == member_before  # [patch] there would be ignored
    assert (ws / "pyo3-patcher.lock").is_file()
    _assert_pyo3_vendored(
        ws, {"pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend"}
    )


def test_only_the_pyo3_crates_in_the_lock_are_patched(tmp_path: Path) -> None:
    project = tmp_path / "ffi-only"
    (project / "src").mkdir(parents=True)
    (project / "Cargo.toml").write_text(
        '[package]\nname = "ffi-only"\nversion = "0.1.0"\nedition = "2021"\n\n'
        f'[dependencies]\npyo3-ffi = "={PYO3}"\n',
        encoding="utf-8",
    )
    (project / "src" / "lib.rs").write_text("", encoding="utf-8")
    _lock(project)
    _apply(project)
    text = (project / "Cargo.toml").read_text(encoding="utf-8")
    assert "pyo3-ffi = { path" in text and "pyo3-build-config = { path" in text
    assert "pyo3-macros" not in text and "pyo3 = { path" not in text
    _assert_pyo3_vendored(project, {"pyo3-ffi", "pyo3-build-config"})


def test_project_without_cargo_lock_is_resolved_through_cargo(tmp_path: Path) -> None:
    project = tmp_path / "nolock"
    write_crate(project, "nolock", f'pyo3 = "={PYO3}"')
    _apply(project)
    assert not (project / "Cargo.lock").exists()  # not ours to add
    assert "pyo3-ffi = { path" in (project / "Cargo.toml").read_text(encoding="utf-8")


def test_dry_run_prints_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    before = snapshot(project)
    result = _apply(project, "--dry-run")
    assert "+[patch.crates-io]" in result.stdout
    assert "vendor .pyo3-patcher/pyo3-ffi-0.28.3/" in result.stdout
    assert snapshot(project) == before


def test_second_apply_writes_nothing(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    _apply(project)
    before = snapshot(project)
    result = _apply(project, "--json")
    assert json.loads(result.stdout)["changed"] is False
    assert snapshot(project) == before  # bytes and mtimes: cargo would rebuild on a new mtime


def test_a_users_own_patch_of_pyo3_is_refused_without_force(tmp_path: Path) -> None:
    project = tmp_path / "theirs"
    write_crate(
        project,
        "theirs",
        f'pyo3 = "={PYO3}"',
        extra='\n[patch.crates-io]\npyo3 = { git = "https://example.invalid/pyo3.git" }\n',
    )
    before = snapshot(project)
    result = run_patcher("apply", "--project", project, "--source", "crates.io")
    assert result.returncode == 3
    assert "error:" in result.stderr and "hint:" in result.stderr and "--force" in result.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("content", "code", "needle"),
    [
        ("[package\nname = 1\n", 3, "not valid TOML"),
        (
            '[package]\nname = "x"\nversion = "0.1.0"\n\n[dependencies]\npyo3 = "=0.19.2"\n',
            8,
            "not pinned",
        ),
    ],
)
def test_bad_input_gets_an_error_a_hint_and_leaves_the_project(
    tmp_path: Path, content: str, code: int, needle: str
) -> None:
    project = tmp_path / "bad"
    (project / "src").mkdir(parents=True)
    (project / "src" / "lib.rs").write_text("", encoding="utf-8")
    (project / "Cargo.toml").write_text(content, encoding="utf-8")
    before = snapshot(project)
    result = run_patcher("apply", "--project", project, "--source", "crates.io")
    assert result.returncode == code, result.stderr
    assert needle in result.stderr and "hint:" in result.stderr
    assert snapshot(project) == before


def test_offline_uses_only_the_cache_and_says_what_is_missing(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    before = snapshot(project)
    cold = {
        "PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cold-cache"),
        "CARGO_HOME": str(tmp_path / "cold-cargo-home"),  # cargo's crates would do as well
    }
    result = run_patcher("apply", "--project", project, "--offline", env=cold)
    assert result.returncode == 4
    assert "not in the cache" in result.stderr and "without --offline" in result.stderr
    assert snapshot(project) == before
    # warm the cache, then offline works
    assert (
        run_patcher(
            "apply", "--project", project, "--dry-run", "--source", "crates.io", env=cold
        ).returncode
        == 0
    )
    result = run_patcher("apply", "--project", project, "--offline", env=cold)
    assert result.returncode == 0, result.stderr
