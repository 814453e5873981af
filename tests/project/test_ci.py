"""`patcher env --ci` on its own: where it writes, what it refuses (each checked against a
snapshot of the folders around), what it keeps, and what it hands the builds (the jobs
themselves: tests/end_to_end/test_ci_jobs.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path

import pytest
from helpers import change_vendored_tree, run_patcher, snapshot

from patcher import trees
from patcher.errors import ProjectError
from patcher.project import ci, record


def _checkout(tmp_path: Path, applied_template: Path) -> Path:
    """A patched project alone in its runner folder, as GitHub Actions checks it out, with the
    runner's temporary folder beside (/home/runner/work/<repo>/<repo>, /home/runner/work/_temp)."""
    project = tmp_path / "work" / "repo" / "repo"
    shutil.copytree(applied_template, project, symlinks=True)
    (tmp_path / "work" / "_temp").mkdir()
    return project


def _runner(project: Path) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(project.parent.parent / "_temp")}


def _copies(project: Path) -> list[Path]:
    folder = project.parent.parent / "_temp" / ci.MIRROR_DIR
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name != ci.CACHE_HOME)


def _lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_copies_in_the_runner_temp_with_fixed_mtimes(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _checkout(tmp_path, applied_template)
    before = snapshot(project.parent)
    result = run_patcher("env", "--ci", cwd=project, env=_runner(project))
    assert result.returncode == 0, result.stderr

    # nothing in or beside the checkout, not an mtime: no .cargo/config.toml anywhere
    assert snapshot(project.parent) == before
    assert not list(tmp_path.rglob(".cargo"))
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
    # the builds get the copies through maturin's PEP 517 arguments, as cargo --config values
    args = shlex.split(_lines(result.stdout)[ci.ARGS_VAR])
    assert args[0::2] == ["--config"] * len(copies)
    assert {a.split(".")[2]: a.split("=", 1)[1].strip('"') for a in args[1::2]} == {
        c.name.rsplit("-", 2)[0]: str(c) for c in copies
    }

    # the next call (a second project, a rerun with its own output in the environment) keeps
    # the copies as they are and the user's own arguments, and names each crate once
    stamp = copies[0].stat().st_mtime_ns
    env = {
        **_runner(project),
        ci.ARGS_VAR: "--auditwheel skip " + _lines(result.stdout)[ci.ARGS_VAR],
    }
    again = run_patcher("env", "--ci", cwd=project, env=env)
    assert again.returncode == 0, again.stderr
    assert copies[0].stat().st_mtime_ns == stamp
    assert shlex.split(_lines(again.stdout)[ci.ARGS_VAR]) == ["--auditwheel", "skip", *args]


def test_a_tree_changed_at_the_same_version_gets_a_new_copy(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _checkout(tmp_path, applied_template)
    assert run_patcher("env", "--ci", cwd=project, env=_runner(project)).returncode == 0
    old = {c.name for c in _copies(project)}
    change_vendored_tree(project)
    result = run_patcher("env", "--ci", cwd=project, env=_runner(project))
    assert result.returncode == 0, result.stderr
    (added,) = {c.name for c in _copies(project)} - old
    assert added.startswith("pyo3-ffi-0.28.3-")
    assert added in _lines(result.stdout)[ci.ARGS_VAR]


def test_a_tampered_copy_is_made_again(tmp_path: Path, applied_template: Path) -> None:
    project = _checkout(tmp_path, applied_template)
    assert run_patcher("env", "--ci", cwd=project, env=_runner(project)).returncode == 0
    copy = next(c for c in _copies(project) if c.name.startswith("pyo3-ffi-"))
    lib = copy / "src" / "lib.rs"
    stat = lib.stat()
    lib.write_text(lib.read_text("utf-8") + "// injected\n", encoding="utf-8")
    os.utime(lib, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its old mtime
    tree = project / ".pyo3-patcher" / "pyo3-ffi-0.28.3"
    assert not ci.is_accepted_copy(copy, tree)  # what verify asks of a copy cargo resolved to
    assert run_patcher("env", "--ci", cwd=project, env=_runner(project)).returncode == 0
    assert ci.is_accepted_copy(copy, tree)


def test_a_tree_that_is_not_the_record_is_refused(tmp_path: Path, applied_template: Path) -> None:
    project = _checkout(tmp_path, applied_template)
    (project / ".pyo3-patcher" / "pyo3-ffi-0.28.3" / "src" / "lib.rs").write_text(
        "// injected\n", encoding="utf-8"
    )
    before = snapshot(tmp_path)
    result = run_patcher("env", "--ci", cwd=project, env=_runner(project))
    assert result.returncode == 3
    assert "patcher verify" in result.stderr
    assert snapshot(tmp_path) == before


def _refusal_case(case: str, tmp_path: Path, project: Path) -> tuple[list[str], dict[str, str]]:
    """The arguments and environment of one refused call."""
    runner = _runner(project)
    if case == "not-a-runner":
        return [], {"GITHUB_ACTIONS": "", "RUNNER_TEMP": runner["RUNNER_TEMP"]}
    if case == "no-runner-temp":
        return [], {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": ""}
    if case == "root":
        return ["--ci-dir", "/"], {}
    if case == "home":
        rustup = os.environ.get("RUSTUP_HOME") or str(Path.home() / ".rustup")
        return ["--ci-dir", str(tmp_path / "home")], {
            "HOME": str(tmp_path / "home"),
            "RUSTUP_HOME": rustup,  # rustup finds its toolchains under the real home
        }
    if case == "cargo-home":
        return ["--ci-dir", str(tmp_path / "cargo" / "registry")], {
            "CARGO_HOME": str(tmp_path / "cargo")
        }
    if case == "inside-checkout":
        return ["--ci-dir", str(project / "ci")], {}
    if case == "inside-checkout-no-git":  # the runner names its workspace; no .git to find
        shutil.rmtree(project / ".git", ignore_errors=True)
        return [], {**runner, "RUNNER_TEMP": str(project / "ci"), "GITHUB_WORKSPACE": str(project)}
    if case == "inside-superproject":  # a submodule: the superproject's checkout holds it
        (project.parent / ".git").mkdir()
        return ["--ci-dir", str(project.parent / "ci")], {}
    if case == "link":
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "work" / "link").symlink_to(tmp_path / "elsewhere")
        return ["--ci-dir", str(tmp_path / "work" / "link")], {}
    if case == "link-above":
        (tmp_path / "elsewhere" / "ci").mkdir(parents=True)
        (tmp_path / "work" / "link").symlink_to(tmp_path / "elsewhere")
        return [], {**runner, "RUNNER_TEMP": str(tmp_path / "work" / "link" / "ci")}
    raise AssertionError(case)


REFUSALS = {
    "not-a-runner": "not a CI runner",
    "no-runner-temp": "RUNNER_TEMP is not",
    "root": "the file system's root",
    "home": "the home folder",
    "cargo-home": "in the cargo home",
    "inside-checkout": "inside the checkout",
    "inside-checkout-no-git": "inside the checkout",
    "inside-superproject": "inside the checkout",
    "link": "is a symbolic link",
    "link-above": "is a symbolic link",
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_ci_mode_writes_only_into_a_runner_folder_outside_the_checkout(
    tmp_path: Path, applied_template: Path, case: str
) -> None:
    project = _checkout(tmp_path, applied_template)
    (project / ".git").mkdir(exist_ok=True)  # a checkout, as CI makes it
    for folder in ("home", "cargo/registry", "work/repo/ci", "work/repo/repo/ci"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    args, env = _refusal_case(case, tmp_path, project)
    before = snapshot(tmp_path)
    result = run_patcher("env", "--ci", *args, cwd=project, env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert REFUSALS[case] in result.stderr, result.stderr
    assert "hint: " in result.stderr and "--ci-dir" in result.stderr
    assert result.stdout == ""
    assert snapshot(tmp_path) == before  # nothing written anywhere around


def test_a_named_folder_off_github_is_accepted(tmp_path: Path, applied_template: Path) -> None:
    project = _checkout(tmp_path, applied_template)
    ci_dir = tmp_path / "work" / "_temp"
    result = run_patcher(
        "env", "--ci", "--ci-dir", ci_dir, cwd=project, env={"GITHUB_ACTIONS": "", "CI": ""}
    )
    assert result.returncode == 0, result.stderr
    assert str(ci_dir / ci.MIRROR_DIR) in _lines(result.stdout)[ci.ARGS_VAR]


def test_end_of_job_hands_rust_cache_a_cargo_home_of_its_own(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _checkout(tmp_path, applied_template)
    real = tmp_path / "cargo"
    (real / "registry").mkdir(parents=True)
    (real / "config.toml").write_text("[net]\nretry = 3\n", encoding="utf-8")
    (real / "credentials.toml").write_text("[registry]\ntoken = 'x'\n", encoding="utf-8")
    env = {**_runner(project), "CARGO_HOME": str(real)}
    before = snapshot(real)
    result = run_patcher("env", "--ci", "--end-of-job", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    home = Path(_lines(result.stdout)["CARGO_HOME"])
    assert list(_lines(result.stdout)) == ["CARGO_HOME"]  # nothing a build would read
    assert home.parent == tmp_path / "work" / "_temp" / ci.MIRROR_DIR
    assert os.readlink(home / "registry") == str(real / "registry")
    assert not (home / "credentials.toml").exists()  # rust-cache deletes it before saving
    config = (home / "config.toml").read_text(encoding="utf-8")
    assert "retry = 3" in config
    for copy in _copies(project):
        assert str(copy) in config
    assert snapshot(real) == before


def test_env_says_where_its_steps_gain_nothing(tmp_path: Path, applied_template: Path) -> None:
    """The end-of-job step in a job where no `patcher env --ci` ran (maturin-action's recipe)
    says its builds read the in-repo trees; `env --ci` under sccache names pyo3 >= 0.29 only."""
    project = _checkout(tmp_path, applied_template)
    env = _runner(project)
    end = run_patcher("env", "--ci", "--end-of-job", cwd=project, env=env)
    assert end.returncode == 0, end.stderr
    assert "no `patcher env --ci` ran in this job" in end.stderr
    exported = run_patcher("env", "--ci", cwd=project, env=env)
    assert exported.returncode == 0, exported.stderr
    after = {**env, ci.ARGS_VAR: _lines(exported.stdout)[ci.ARGS_VAR]}
    end = run_patcher("env", "--ci", "--end-of-job", cwd=project, env=after)
    assert end.returncode == 0, end.stderr
    assert "no `patcher env --ci` ran" not in end.stderr
    # the template's pyo3 is 0.28: the copies' fixed path is what makes sccache hit there
    wrapped = run_patcher("env", "--ci", cwd=project, env={**env, "RUSTC_WRAPPER": "sccache"})
    assert wrapped.returncode == 0, wrapped.stderr
    assert "sccache" not in wrapped.stderr


def test_env_on_a_project_that_is_not_patched_says_so(tmp_path: Path) -> None:
    from helpers import copy_example

    project = copy_example(tmp_path)
    result = run_patcher("env", "--ci", cwd=project, env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 0, result.stderr
    assert "not patched" in result.stderr
    assert ci.ARGS_VAR not in result.stdout


def test_what_an_earlier_ci_mode_wrote_beside_the_checkout_is_removed(
    tmp_path: Path, applied_template: Path
) -> None:
    """The `[patch]` table the first design left in `<parent>/.cargo/config.toml` would patch
    every later cargo run below `<parent>` on a runner that keeps its folders."""
    project = _checkout(tmp_path, applied_template)
    cargo_dir = project.parent / ".cargo"
    cargo_dir.mkdir()
    (cargo_dir / "config.toml").write_text(
        "# Written by pyo3-patcher (`patcher env --ci`).\n[patch.crates-io]\n", encoding="utf-8"
    )
    old = project.parent / ".pyo3-patcher-ci"
    old.mkdir()
    (old / ".pyo3-patcher-ci-dir").write_text("", encoding="utf-8")
    result = run_patcher("env", "--ci", cwd=project, env=_runner(project))
    assert result.returncode == 0, result.stderr
    assert not cargo_dir.exists() and not old.exists()
    assert "an earlier patcher's CI mode wrote it" in result.stderr

    cargo_dir.mkdir()  # a config of the user's own stays
    (cargo_dir / "config.toml").write_text("[build]\njobs = 1\n", encoding="utf-8")
    assert run_patcher("env", "--ci", cwd=project, env=_runner(project)).returncode == 0
    assert (cargo_dir / "config.toml").read_text(encoding="utf-8") == "[build]\njobs = 1\n"


def test_one_environment_cannot_name_two_sets_of_copies(tmp_path: Path) -> None:
    first = ci.Mirror(tmp_path / ci.MIRROR_DIR, {"pyo3": tmp_path / ci.MIRROR_DIR / "pyo3-a"})
    second = ci.Mirror(tmp_path / ci.MIRROR_DIR, {"pyo3": tmp_path / ci.MIRROR_DIR / "pyo3-b"})
    exported = ci.environment(first, {})
    assert ci.environment(first, exported) == exported  # the same copies: named once
    with pytest.raises(ProjectError, match="other copies"):
        ci.environment(second, exported)


def test_env_on_a_runner_is_ci_mode_unless_no_ci(tmp_path: Path, applied_template: Path) -> None:
    """In-checkout trees on a runner make job 2 slower than no patch (bench/RESULTS.md,
    env-no-ci): plain `patcher env` there is CI mode; --no-ci builds from the checkout, warned."""
    project = _checkout(tmp_path, applied_template)
    before = snapshot(tmp_path)
    result = run_patcher("env", "--no-ci", cwd=project, env=_runner(project))
    assert result.returncode == 0, result.stderr
    assert "on a CI runner with --no-ci" in result.stderr
    assert ci.ARGS_VAR not in result.stdout
    assert snapshot(tmp_path) == before
    plain = run_patcher("env", cwd=project, env=_runner(project))
    assert plain.returncode == 0, plain.stderr
    assert "CI mode, as with --ci" in plain.stderr
    assert ci.ARGS_VAR in plain.stdout
    end = run_patcher("env", "--end-of-job", cwd=project, env=_runner(project))
    assert end.returncode == 0, end.stderr
    assert "CARGO_HOME=" in end.stdout


def _mtimes(tree: Path) -> set[int]:
    return {int(p.stat().st_mtime) for p in tree.rglob("*") if p.is_file()}


def test_pin_in_repo_reuses_a_stamp_only_for_the_same_content(
    tmp_path: Path, applied_template: Path
) -> None:
    """`verify --pin-mtimes`' step (ci.pin_in_repo): the first job stamps the target dir with
    the time it gives the in-repo trees, in the past; a later job with the same content gives
    them that time again (older than any build made since: fresh); a changed tree gets a time
    after every build before (cargo rebuilds it), the others keep theirs."""
    from patcher.project.discovery import opened

    project = _checkout(tmp_path, applied_template)
    rec = record.load(project / record.FILE_NAME)
    assert rec is not None
    stamps = project / "target" / ci.STAMP_DIR / ".fingerprint"
    with opened(project) as opened_project:
        assert ci.pin_in_repo(opened_project, rec, environ={}) == dict.fromkeys(rec.crates, False)
    first = {
        crate: int((stamps / f"{crate}-{rec.digests[crate][:16]}" / ci.STAMP_FILE).read_text())
        for crate in rec.crates
    }
    ffi = project / rec.tree_rel("pyo3-ffi")
    assert _mtimes(ffi) == {first["pyo3-ffi"], first["pyo3-ffi"] + 1}
    assert first["pyo3-ffi"] <= time.time()  # not after any build that follows

    # a later job: a fresh checkout's mtimes, the same content, the stamp restored with target/
    for path in ffi.rglob("*"):
        os.utime(path)
    time.sleep(1.1)
    with opened(project) as opened_project:
        assert ci.pin_in_repo(opened_project, rec, environ={}) == dict.fromkeys(rec.crates, True)
    assert _mtimes(ffi) == {first["pyo3-ffi"], first["pyo3-ffi"] + 1}

    # pyo3-ffi changes at the same version: it gets a time after the builds before; its old
    # stamp is replaced (pyo3's own stamp, whose name pyo3-ffi's starts with, stays)
    built = time.time()
    time.sleep(1.1)
    change_vendored_tree(project)
    rec = record.load(project / record.FILE_NAME)
    assert rec is not None
    with opened(project) as opened_project:
        reused = ci.pin_in_repo(opened_project, rec, environ={})
    assert reused == {crate: crate != "pyo3-ffi" for crate in rec.crates}
    assert min(_mtimes(ffi)) > built
    assert sorted(p.name for p in stamps.iterdir()) == sorted(
        f"{crate}-{rec.digests[crate][:16]}" for crate in rec.crates
    )
    pyo3 = project / rec.tree_rel("pyo3")
    assert _mtimes(pyo3) == {first["pyo3"], first["pyo3"] + 1}


def test_pin_in_repo_refuses_a_stamp_folder_through_a_link(
    tmp_path: Path, applied_template: Path
) -> None:
    """A restored target/ whose stamp folder is a link elsewhere: refused, nothing written
    there, no mtime changed."""
    from patcher.project.discovery import opened

    project = _checkout(tmp_path, applied_template)
    rec = record.load(project / record.FILE_NAME)
    assert rec is not None
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / "target").mkdir(exist_ok=True)
    (project / "target" / ci.STAMP_DIR).symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(project / ".pyo3-patcher")
    with opened(project) as opened_project, pytest.raises(ProjectError, match="symbolic link"):
        ci.pin_in_repo(opened_project, rec, environ={})
    assert list(elsewhere.iterdir()) == []
    assert snapshot(project / ".pyo3-patcher") == before


@pytest.mark.parametrize(
    ("wrapper", "version", "said"),
    [
        ("/usr/bin/sccache", "0.29.3", True),
        ("sccache", "0.30.0", True),
        ("sccache", "0.28.3", False),
        ("", "0.29.3", False),
        ("/opt/cachepot", "0.29.3", False),
    ],
)
def test_the_sccache_note_names_pyo3_from_0_29(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    wrapper: str,
    version: str,
    said: bool,
) -> None:
    from patcher import ui
    from patcher.commands import env

    monkeypatch.setenv("RUSTC_WRAPPER", wrapper)
    monkeypatch.delenv("CARGO_BUILD_RUSTC_WRAPPER", raising=False)
    ui.set_level(ui.Level.NORMAL)
    env._note_sccache(version)
    err = capsys.readouterr().err
    assert ("leave it out there" in err) == said
