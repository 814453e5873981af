"""What a repository (a pull request) can commit must not steer patcher: a committed journal
is never replayed, files patcher did not make are never overwritten or deleted, and inputs at
the edges get a clear error, never exit 70. Each case checks the project and a decoy folder
beside it against a snapshot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import git as gitpython
import pytest
from helpers import copy_example, run_patcher, snapshot

from patcher import cache
from patcher.errors import CacheError

HOOK = ".git/hooks/pre-commit"


def _decoy(tmp_path: Path) -> Path:
    decoy = tmp_path / "decoy"
    (decoy / "keep").mkdir(parents=True)
    (decoy / "keep" / "file.txt").write_text("not patcher's\n", encoding="utf-8")
    return decoy


def _applied(tmp_path: Path, applied_template: Path) -> Path:
    project = tmp_path / "example"
    shutil.copytree(applied_template, project, symlinks=True)
    return project


def _refused(tmp_path: Path, project: Path, *command: str, said: tuple[str, ...]) -> None:
    """`patcher <command>` refuses (exit 3), says each of `said`, and leaves the project and a
    decoy folder beside it as they were."""
    decoy = _decoy(tmp_path)
    before, around = snapshot(project), snapshot(decoy)
    result = run_patcher(*command, "--project", project, "--offline")
    assert result.returncode == 3, result.stderr
    assert all(words in result.stderr for words in said), result.stderr
    assert snapshot(project) == before and snapshot(decoy) == around


def _commit_journal(project: Path, folder: str) -> None:
    """A journal in the checkout, shaped like patcher's own (old and new staging names),
    whose steps would delete src/, plant a git hook and delete .git."""
    staging = project / folder
    staging.mkdir()
    hook = staging / "001-backup-pre-commit"
    hook.write_text('#!/bin/sh\ntouch "$HOME/pwned"\n', encoding="utf-8")
    hook.chmod(0o755)
    steps = [
        {"op": "begin", "tool": "pyo3-patcher", "root": str(project), "staging": folder},
        {"op": "replace", "path": "src", "backup": None, "tree": "0" * 64},
        {"op": "remove", "path": HOOK, "backup": "001-backup-pre-commit"},
        {"op": "replace", "path": ".git", "backup": None, "sha256": "0" * 64},
    ]
    text = "".join(json.dumps(step) + "\n" for step in steps)
    (staging / "journal.jsonl").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("command", ["verify", "remove"])
def test_a_committed_journal_is_never_replayed(
    tmp_path: Path, applied_template: Path, command: str
) -> None:
    project = _applied(tmp_path, applied_template)
    gitpython.Repo.init(project)
    _commit_journal(project, ".pyo3-patcher-txn")
    _commit_journal(project, ".pyo3-patcher-txn-0123456789abcdef")
    decoy = _decoy(tmp_path)
    before, around = snapshot(project), snapshot(decoy)
    result = run_patcher(command, "--project", project, "--offline")
    assert result.returncode == 0, result.stderr
    assert "leaves it alone" in result.stderr
    assert not (project / HOOK).exists()
    assert (project / ".git" / "HEAD").is_file()
    assert snapshot(project / "src") == {
        k.removeprefix("src/"): v for k, v in before.items() if k.startswith("src/")
    }
    assert snapshot(decoy) == around
    if command == "verify":
        assert snapshot(project) == before  # verify writes nothing at all
    else:
        for folder in (".pyo3-patcher-txn", ".pyo3-patcher-txn-0123456789abcdef"):
            assert snapshot(project / folder) == {
                k.split("/", 1)[1]: v for k, v in before.items() if k.startswith(folder + "/")
            }


def test_verify_fails_closed_on_a_pending_run_and_writes_nothing(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    env = {"PYO3_PATCHER_FAULT": "write:Cargo.toml", "PYO3_PATCHER_FAULT_KIND": "kill"}
    assert run_patcher("apply", "--project", project, env=env).returncode == -9
    _refused(tmp_path, project, "verify", said=("interrupted", "patcher apply"))


def test_a_users_git_rule_files_in_the_vendor_folder_are_not_overwritten(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write('\n[tool.pyo3-patcher]\nvendor-dir = "vendor"\n')
    (project / "vendor").mkdir()
    (project / "vendor" / ".gitignore").write_text("*.bak\n", encoding="utf-8")
    _refused(tmp_path, project, "apply", said=("will not overwrite it", "hint:"))


def test_remove_keeps_git_rule_files_that_are_not_ours(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _applied(tmp_path, applied_template)
    ours = project / ".pyo3-patcher" / ".gitattributes"
    ours.write_text("*.rs diff=rust\n", encoding="utf-8")
    result = run_patcher("remove", "--project", project, "--offline")
    assert result.returncode == 0, result.stderr
    assert ours.read_text(encoding="utf-8") == "*.rs diff=rust\n"
    assert not (project / ".pyo3-patcher" / ".gitignore").exists()


@pytest.mark.parametrize("vendor_dir", [".git/hooks", "sub/.GIT", ".git"])
def test_a_vendor_dir_in_a_git_folder_is_refused(tmp_path: Path, vendor_dir: str) -> None:
    project = copy_example(tmp_path)
    gitpython.Repo.init(project)
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(f'\n[tool.pyo3-patcher]\nvendor-dir = "{vendor_dir}"\n')
    before = snapshot(project)
    result = run_patcher("apply", "--project", project, "--offline")
    assert result.returncode == 3, result.stderr
    assert "lies in a .git folder" in result.stderr
    assert snapshot(project) == before


def test_a_cache_folder_that_is_a_link_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = _decoy(tmp_path)
    (decoy / "pyo3-0.28.3").mkdir()  # a folder with an entry's name
    (decoy / "pyo3-0.28.3" / "mine.txt").write_text("mine\n", encoding="utf-8")
    home = tmp_path / "cache"
    home.mkdir()
    (home / "crates").symlink_to(decoy)
    monkeypatch.setenv(cache.ENV_VAR, str(home))
    around = snapshot(decoy)
    entry = home / "crates" / "pyo3-0.28.3"
    for use in (cache.exclusive, cache.building, cache.remove):
        with pytest.raises(CacheError, match="symbolic link"):
            made = use(entry)
            if hasattr(made, "__enter__"):
                with made:
                    pass
    with pytest.raises(CacheError, match="symbolic link"):
        cache.discard(entry, "is stale")
    assert snapshot(decoy) == around


def test_a_folder_named_cachedir_tag_is_not_deleted(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    home = tmp_path / "somewhere"
    (home / "CACHEDIR.TAG").mkdir(parents=True)
    (home / "CACHEDIR.TAG" / "mine.txt").write_text("mine\n", encoding="utf-8")
    before = snapshot(home)
    result = run_patcher("verify", "--project", project, env={cache.ENV_VAR: str(home)})
    assert result.returncode == 10, result.stderr
    assert "not a cache directory tag" in result.stderr
    assert snapshot(home) == before


def test_a_file_name_that_is_not_utf8_is_named_not_a_crash(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _applied(tmp_path, applied_template)
    src = project / ".pyo3-patcher" / "pyo3-0.28.3" / "src"
    (src / os.fsdecode(b"evil-\xff.rs")).write_bytes(b"// injected\n")
    before = snapshot(project)
    verify = run_patcher("verify", "--project", project, "--offline")
    assert verify.returncode == 7, verify.stderr
    assert "evil-\\xff.rs" in verify.stdout + verify.stderr
    assert snapshot(project) == before
    apply = run_patcher("apply", "--project", project, "--offline")
    assert apply.returncode != 70 and "Traceback" not in apply.stderr, apply.stderr


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "inf"])
def test_a_lock_timeout_that_is_not_a_number_of_seconds(tmp_path: Path, value: str) -> None:
    project = copy_example(tmp_path)
    before = snapshot(project)
    env = {"PYO3_PATCHER_PROJECT_LOCK_TIMEOUT": value}
    result = run_patcher("verify", "--project", project, env=env)
    assert result.returncode == 2, result.stderr
    assert "PYO3_PATCHER_PROJECT_LOCK_TIMEOUT" in result.stderr and "hint:" in result.stderr
    assert snapshot(project) == before


def _chattr(flag: str, path: Path) -> bool:
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    return done.returncode == 0


def test_a_vendored_file_that_cannot_be_deleted(tmp_path: Path, applied_template: Path) -> None:
    project = _applied(tmp_path, applied_template)
    stuck = project / ".pyo3-patcher" / "pyo3-0.28.3" / "Cargo.toml"
    if os.geteuid() == 0:
        if not _chattr("+i", stuck):
            pytest.skip("chattr +i does not work here")
    else:
        stuck.parent.chmod(0o555)  # its entries cannot be deleted
    try:
        removed = run_patcher("remove", "--project", project, "--offline")
        assert removed.returncode == 0, removed.stderr
        assert "delete that folder yourself" in removed.stderr
        assert "left as it was" not in removed.stderr
        assert not (project / "pyo3-patcher.lock").exists()
        for command in ("verify", "remove", "apply"):
            result = run_patcher(command, "--project", project, "--offline")
            assert result.returncode != 70 and "Traceback" not in result.stderr, result.stderr
    finally:
        for leftover in project.rglob("Cargo.toml"):
            if os.geteuid() == 0:
                _chattr("-i", leftover)
            else:
                leftover.parent.chmod(0o755)


def test_a_record_naming_another_release_than_the_trees(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _applied(tmp_path, applied_template)
    record = project / "pyo3-patcher.lock"
    record.write_text(
        record.read_text(encoding="utf-8").replace("0.28.3", "0.27.0"), encoding="utf-8"
    )
    _refused(tmp_path, project, "remove", said=("does not match the trees", "hint:"))


def test_a_file_size_limit_is_said_not_a_crash(tmp_path: Path) -> None:
    """`ulimit -f` below what a download needs: the write fails with EFBIG (Python ignores
    SIGXFSZ), which is the machine's limit, not our bug."""
    import resource
    import sys

    project = copy_example(tmp_path)
    before = snapshot(project)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = subprocess.run(
        [sys.executable, "-m", "patcher", "apply", "--project", str(project)],
        env={**os.environ, "PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cold-cache")},
        capture_output=True,
        text=True,
        preexec_fn=limit,
        check=False,
    )
    assert result.returncode not in (0, 70), result.stderr
    assert "error:" in result.stderr and "hint:" in result.stderr
    assert "bug" not in result.stderr
    assert snapshot(project) == before
