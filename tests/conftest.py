from __future__ import annotations

import compileall
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BASE_PYTHON, REPO_ROOT, copy_example, run_patcher, strip_crates


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # once, in xdist's controller (or a plain run)
        # The suite runs the CLI some 400 times. Where PYTHONDONTWRITEBYTECODE is set (as on
        # the CI machines), each run compiled every module of patcher from source again: about
        # 0.1 s of CPU a run. Python still reads bytecode written beforehand (git-ignored).
        compileall.compile_dir(REPO_ROOT / "patcher", quiet=1)
    # Cargo's downloads live inside the repository (git-ignored), never in $HOME; a fresh
    # clone starts empty and fills it from crates.io.
    cargo_home = Path(
        os.environ.get("PYO3_PATCHER_TEST_CARGO_HOME", REPO_ROOT / ".cache" / "cargo-home")
    )
    cargo_home.mkdir(parents=True, exist_ok=True)
    os.environ["CARGO_HOME"] = str(cargo_home)
    # The real upstream is unreachable from CI; tests name their own git repositories.
    os.environ["PYO3_PATCHER_PYO3_URL"] = "file:///nonexistent/pyo3.git"
    os.environ.pop("CARGO_TARGET_DIR", None)
    # virtualenv's cache of seed wheels, likewise in the repository rather than $HOME
    os.environ["VIRTUALENV_OVERRIDE_APP_DATA"] = str(REPO_ROOT / ".cache" / "virtualenv")
    # Release builds (maturin's, and maturin itself from source) without optimisation: the
    # suite tests behaviour, not speed, and this halves building maturin (about 120 s cold
    # instead of 270 s on 2 cores). bench/ builds as users do.
    os.environ.setdefault("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
    # As rust-cache sets it in CI: the suite's debug builds (plain `cargo build`) never reuse
    # incremental state across its throwaway target dirs, so writing it is wasted work.
    os.environ.setdefault("CARGO_INCREMENTAL", "0")
    # Debug builds (plain `cargo build`) without debug info: no test reads it, and writing it
    # is a large part of compiling and linking pyo3 in the debug profile.
    os.environ.setdefault("CARGO_PROFILE_DEV_DEBUG", "0")
    for name in ("PYO3_PYTHON", "PYO3_BASE_PYTHON", "VIRTUAL_ENV", "PYO3_CONFIG_FILE"):
        os.environ.pop(name, None)
    # The suite may itself run on a GitHub Actions runner, where `patcher env` is CI mode by
    # default: tests that play a runner set these themselves
    for name in ("GITHUB_ACTIONS", "RUNNER_TEMP", "GITHUB_WORKSPACE", "GITHUB_ENV"):
        os.environ.pop(name, None)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: no error without it
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per core (the cores this process may use, not the machine's).
    Two per core was tried: on an idle 2-core machine from a clean clone the suite took
    10:22 to 10:35 with 4 workers and 8:42 with 2, whose processes spent 920 CPU-seconds
    against about 1,190 (cargo, rustc and pip fighting over two cores spend much of it in
    the kernel). `PYTEST_XDIST_AUTO_NUM_WORKERS` still overrides this."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):  # xdist's own hook would read it
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


# Slow tests by weight (CPU-minutes of cold builds, measured): each worker starts on the
# heaviest it can get, so that none of them is left running alone at the end.
_HEAVY = (
    "test_compiled_maturin.py",
    "test_refresh_upstream.py",
    "test_ci_jobs.py",
    "test_isolated_builds.py",
    "test_hostile_base.py",
    "test_ci_recipe.py",
    "test_sdist_builds.py",
    "test_crash_recovery.py",
)
# The tests that build maturin from source share cargo's target dir for it in the session
# cache: one worker runs them one after the other (the first builds, the next reuses), where
# two would both wait on cargo's lock.
_BUILDS_MATURIN = (
    "test_compiled_maturin.py::",
    "::test_maturin_patches_of_both_kinds_through_three_way_and_conflict",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist worksteal`, each worker first gets a consecutive share of the collected
    tests (and steals from the end of another's once done). Order them so that each share
    starts with its part of the slow tests, heaviest first, then its part of the quick ones.
    Only the order changes: every worker computes the same one, as xdist requires."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers < 2:
        return

    def weight(item: pytest.Item) -> int:
        file = item.nodeid.split("::")[0]
        return 2 if any(file.endswith(h) for h in _HEAVY) else 1

    slow = [i for i in items if i.get_closest_marker("slow") is not None]
    quick = [i for i in items if i.get_closest_marker("slow") is None]
    maturin = [i for i in slow if any(k in i.nodeid for k in _BUILDS_MATURIN)]
    units = [maturin] if maturin else []
    units += [[i] for i in slow if i not in maturin]

    def load(unit: list[pytest.Item]) -> int:  # building maturin: minutes more
        return sum(weight(i) for i in unit) * (3 if unit is maturin else 1)

    units.sort(key=load, reverse=True)
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for unit in units:
        k = loads.index(min(loads))
        shares[k] += unit
        loads[k] += load(unit)
    # the sizes xdist's first distribution gives each worker
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for k in range(workers):
        size = remaining // (workers - k)
        remaining -= size
        take = max(0, size - len(shares[k]))
        ordered += shares[k] + quick[:take]
        quick = quick[take:]
    items[:] = ordered + quick


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One cache for the session, shared by pytest-xdist's workers (the cache takes its own
    locks; sharing it is what users' parallel CI jobs do too)."""
    if worker_id == "master":
        return tmp_path_factory.mktemp("patcher-cache")
    shared = tmp_path_factory.getbasetemp().parent / "patcher-cache"
    shared.mkdir(exist_ok=True)
    return shared


def _shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str) -> Path:
    """A folder of the session that pytest-xdist's workers share (a worker's own basetemp
    lies inside the session's); one of its own without xdist."""
    if worker_id == "master":
        return tmp_path_factory.mktemp(name)
    shared = tmp_path_factory.getbasetemp().parent / name
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def example_deps_target(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A target dir holding pyo3's dependencies from crates.io (syn, libc, proc-macro2, ...)
    compiled as the example's isolated builds compile them (maturin, release, unoptimised),
    and nothing of pyo3 or of the example itself. Built once for the session by whichever
    worker asks first, under a lock the others wait on.

    Every cold build of the example compiles those dependencies the same way, patched or not,
    from whichever venv: about half of a cold build's CPU, which the end-to-end tests paid
    again and again. No test says anything about them; what the tests assert about pyo3's
    crates is untouched: a test that copies this dir in (`copy_target`, mtimes kept) still
    compiles all of pyo3 from nothing in its first build."""
    root = _shared_dir(tmp_path_factory, worker_id, "example-deps-target")
    target = root / "target"
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not target.is_dir():
            work = root / "work"
            shutil.rmtree(work, ignore_errors=True)  # a worker that died while building
            project = copy_example(work)
            uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
            done = subprocess.run(
                [uv, "build", "--wheel", "--out-dir", str(work / "dist"), str(project)],
                env={**os.environ, "UV_PYTHON": BASE_PYTHON, "UV_CACHE_DIR": str(work / "uv")},
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
            strip_crates(project / "target", ("pyo3", "hello-pyo3"))
            (project / "target").rename(target)
            shutil.rmtree(work)
    return target


@pytest.fixture(autouse=True)
def _isolated_cache(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the user's real cache."""
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(shared_cache))


@pytest.fixture(scope="session")
def applied_template(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Path:
    """The example, patched once per session; tests copy it (shutil.copytree, symlinks=True)
    rather than apply again."""
    project = copy_example(tmp_path_factory.mktemp("applied"))
    result = run_patcher(
        "apply", "--project", project, env={"PYO3_PATCHER_CACHE_DIR": str(shared_cache)}
    )
    assert result.returncode == 0, result.stderr
    return project
