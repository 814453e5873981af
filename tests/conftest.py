from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import REPO_ROOT, copy_example, run_patcher


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
