"""A maintainer's real loop, end to end on layouts built from published crates: apply, commit
to a real git repository, clone, verify, re-apply, update, remove.

Every project here is committed and cloned by URL, with ignore rules and attributes of its
own, as a user's repository would be."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import git as gitpython
import pytest
from helpers import bytes_of, run_patcher, snapshot

IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
# a user's own rules that reach into the vendored folder
USER_GITIGNORE = "/target\n*.txt\n**/*.orig\n"
USER_GITATTRIBUTES = "* text=auto\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _commit_all(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


def _clone(url: Path, dest: Path, ref: str | None = None) -> Path:
    gitpython.Repo.clone_from(url.as_uri(), dest)
    if ref is not None:
        _git(dest, "checkout", "-q", ref)
    return dest


def _cargo(project: Path, *args: str) -> None:
    subprocess.run(["cargo", *args], cwd=project, capture_output=True, check=True)


def _project(where: Path, requirement: str, *, lock: str | None = None) -> Path:
    """A maturin project on pyo3 `requirement`, its Cargo.lock moved to `lock` if given,
    committed to a new git repository with ignore rules and attributes of its own."""
    project = where / "project"
    (project / "src").mkdir(parents=True)
    (project / "Cargo.toml").write_text(
        '[package]\nname = "loop"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[lib]\ncrate-type = ["cdylib"]\n\n'
        "[dependencies]\n"
        f'pyo3 = {{ version = "{requirement}", features = ["extension-module"] }}\n',
        encoding="utf-8",
    )
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["maturin>=1.9,<2"]\nbuild-backend = "maturin"\n\n'
        '[project]\nname = "loop"\nversion = "0.1.0"\n',
        encoding="utf-8",
    )
    (project / "src" / "lib.rs").write_text("", encoding="utf-8")
    (project / ".gitignore").write_text(USER_GITIGNORE, encoding="utf-8")
    (project / ".gitattributes").write_text(USER_GITATTRIBUTES, encoding="utf-8")
    _cargo(project, "generate-lockfile")
    if lock is not None:
        _cargo(project, "update", "-p", "pyo3", "--precise", lock)
    _git(project, "init", "-q")
    _commit_all(project, "before pyo3-patcher")
    _git(project, "tag", "before")
    return project


def _ok(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = run_patcher(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.slow
@pytest.mark.parametrize(
    "version",
    [
        "0.29.2",  # its crates carry `* text=auto eol=lf` and files with CRLF endings
        "0.26.0",  # its crate carries emscripten/.gitignore naming a file it contains
    ],
)
def test_commit_clone_verify_reapply_remove(tmp_path: Path, version: str) -> None:
    upstream = _project(tmp_path / "origin", f"={version}")  # its commit "before"
    work = _clone(upstream, tmp_path / "work")
    applied = _ok("apply", "--project", work)
    assert "git would" not in applied.stdout
    _commit_all(work, "patch pyo3 with pyo3-patcher")

    clone = _clone(work, tmp_path / "clone")
    verified = _ok("verify", "--project", clone)
    assert "FAIL" not in verified.stdout
    before = snapshot(clone, skip=(".git", "target"))
    again = _ok("apply", "--project", clone)
    assert "nothing to do" in again.stdout
    assert snapshot(clone, skip=(".git", "target")) == before  # not a byte, not an mtime
    cargo_build = subprocess.run(
        ["cargo", "build", "--offline"], cwd=clone, capture_output=True, text=True, check=False
    )
    assert cargo_build.returncode == 0, cargo_build.stderr[-3000:]
    assert f"pyo3-ffi v{version} (" in cargo_build.stderr  # built from the vendored tree

    _ok("remove", "--project", clone)
    pristine = _clone(upstream, tmp_path / "pristine", "before")
    assert bytes_of(snapshot(clone, skip=(".git", "target"))) == bytes_of(
        snapshot(pristine, skip=(".git", "target"))
    )


@pytest.mark.slow
def test_apply_warns_when_the_repository_would_still_drop_or_alter_vendored_files(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path, "=0.29.2")
    with (project / ".gitignore").open("a", encoding="utf-8") as f:
        f.write(".*\n!.gitignore\n!.gitattributes\n")  # hides every dot-folder
    (project / ".git" / "info" / "attributes").write_text("*.rs text eol=crlf\n", "utf-8")
    result = _ok("apply", "--project", project)
    assert "git would leave" in result.stdout and "!/.pyo3-patcher/" in result.stdout
    assert "git would store or check out" in result.stdout
    assert ".git/info/attributes" in result.stdout


@pytest.mark.slow
def test_an_older_patch_release_comes_back_exactly_and_update_moves_it(tmp_path: Path) -> None:
    project = _project(tmp_path, "0.29.0", lock="0.29.0")  # 0.29.3 exists and is pinned
    lock = project / "Cargo.lock"
    original = lock.read_bytes()

    # apply then remove: Cargo.lock back byte for byte, not re-resolved to 0.29.3
    _ok("apply", "--project", project)
    _ok("remove", "--project", project)
    assert lock.read_bytes() == original

    # a change of the user's to Cargo.lock in between stays; only our lines come back
    _ok("apply", "--project", project)
    _add_itoa(project)
    _ok("remove", "--project", project)
    users_change_alone = _clone(project, tmp_path / "users-change", "before")
    _add_itoa(users_change_alone)
    assert 'name = "itoa"' in lock.read_text(encoding="utf-8")
    assert lock.read_bytes() == (users_change_alone / "Cargo.lock").read_bytes()
    _git(project, "checkout", "-q", "--", ".")

    # update: the cargo-like way to move pyo3, which `cargo update --precise` cannot do now
    _ok("apply", "--project", project)
    verified = _ok("verify", "--project", project)
    assert "pyo3 0.29.3 is pinned and your requirements allow it" in verified.stdout
    refused = run_patcher("update", "--project", project, "--precise", "0.30.1")
    assert refused.returncode == 3 and "do not allow pyo3 0.30.1" in refused.stderr
    planned = _ok("update", "--project", project, "--precise", "0.29.1", "--dry-run")
    assert "pyo3: 0.29.0 -> 0.29.1" in planned.stdout and "dry run" in planned.stdout
    assert (project / ".pyo3-patcher" / "pyo3-ffi-0.29.0").is_dir()
    _ok("update", "--project", project, "--precise", "0.29.1")
    assert _ok("verify", "--project", project).stdout.count("FAIL") == 0
    moved = _ok("update", "--project", project)
    assert "pyo3: 0.29.1 -> 0.29.3" in moved.stdout
    assert not (project / ".pyo3-patcher" / "pyo3-ffi-0.29.1").exists()
    assert "nothing to do" in _ok("update", "--project", project).stdout
    assert "refresh" not in _ok("verify", "--project", project).stdout

    # remove now gives the Cargo.lock cargo's own update would have left
    _ok("remove", "--project", project)
    expected = _clone(project, tmp_path / "expected", "before")
    _cargo(expected, "update", "-p", "pyo3", "--precise", "0.29.3")
    assert lock.read_bytes() == (expected / "Cargo.lock").read_bytes()


def _add_itoa(project: Path) -> None:
    """The user adds a dependency; their next cargo command writes it into Cargo.lock."""
    manifest = project / "Cargo.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        text.replace("[dependencies]\n", '[dependencies]\nitoa = "=1.0.11"\n'), encoding="utf-8"
    )
    _cargo(project, "metadata", "--format-version", "1")


@pytest.mark.slow
def test_a_workspace_without_cargo_lock_never_gets_one(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    member = root / "crates" / "ext"
    (member / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["crates/ext"]\nresolver = "2"\n', encoding="utf-8"
    )
    (member / "Cargo.toml").write_text(
        '[package]\nname = "ext"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[dependencies]\npyo3 = "0.28"\n',
        encoding="utf-8",
    )
    (member / "src" / "lib.rs").write_text("", encoding="utf-8")
    (root / ".gitignore").write_text("Cargo.lock\n/target\n", encoding="utf-8")
    _git(root, "init", "-q")
    _commit_all(root, "no lock")
    before = bytes_of(snapshot(root, skip=(".git",)))

    _ok("apply", "--project", member)
    record = (root / "pyo3-patcher.lock").read_bytes()
    for args in (("verify",), ("apply",), ("refresh",), ("update", "--dry-run")):
        _ok(*args, "--project", member)
        assert not (root / "Cargo.lock").exists(), args
        assert (root / "pyo3-patcher.lock").read_bytes() == record, args
    _commit_all(root, "patched")
    clone = _clone(root, tmp_path / "clone")
    _ok("verify", "--project", clone / "crates" / "ext")
    assert not (clone / "Cargo.lock").exists()
    _ok("remove", "--project", member)
    assert bytes_of(snapshot(root, skip=(".git",))) == before


@pytest.mark.slow
def test_a_dry_run_fails_where_the_real_run_fails(tmp_path: Path) -> None:
    project = _project(tmp_path, "0.28.3")
    shutil.rmtree(project / ".git")
    with (project / "Cargo.toml").open("a", encoding="utf-8") as f:
        f.write(f'gone = {{ git = "{(tmp_path / "no-such-repo").as_uri()}" }}\n')
    (project / "Cargo.lock").unlink()
    before = snapshot(project)
    dry = run_patcher("apply", "--project", project, "--dry-run")
    real = run_patcher("apply", "--project", project)
    assert dry.returncode == real.returncode == 6, dry.stderr
    assert "cargo could not resolve" in dry.stderr
    assert snapshot(project) == before
    ok = _project(tmp_path / "fine", "0.28.3")
    planned = _ok("apply", "--project", ok, "--dry-run")
    assert planned.stdout.rstrip().endswith("dry run: nothing written")
    done = _ok("apply", "--project", ok)
    assert "vendored .pyo3-patcher/pyo3-0.28.3/" in done.stdout
    assert "dry run" not in done.stdout
