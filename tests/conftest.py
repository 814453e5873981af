from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BASE_PYTHON, REPO_ROOT, copy_example, run_patcher, strip_crates


def pytest_configure(config: pytest.Config) -> None:
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
    # Release builds (maturin's, and maturin itself from source) without optimisation: the
    # suite tests behaviour, not speed, and this halves building maturin (about 120 s cold
    # instead of 270 s on 2 cores). bench/ builds as users do.
    os.environ.setdefault("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
    for name in ("PYO3_PYTHON", "PYO3_BASE_PYTHON", "VIRTUAL_ENV", "PYO3_CONFIG_FILE"):
        os.environ.pop(name, None)


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
