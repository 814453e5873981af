"""Parallel CI jobs share one cache; two patchers on one project never interleave."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import copy_example, run_patcher

from patcher.upstreams.pyo3 import CRATES as PYO3_CRATES


def _spawn(project: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patcher",
            "apply",
            "--project",
            str(project),
            "--source",
            "crates.io",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_processes_four_projects_one_cold_cache(tmp_path: Path) -> None:
    env = {"PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cold-cache")}
    projects = []
    for i in range(4):
        project = copy_example(tmp_path, f"p{i}")
        projects.append(project)
    procs = [_spawn(p, env) for p in projects]
    for proc in procs:
        _out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    for project in projects:
        assert run_patcher("verify", "--project", project, env=env).returncode == 0
    cache = tmp_path / "cold-cache"
    # one download per crate, shared (trees are derived from them afresh in every run)
    crates = sorted(p.name for p in cache.glob("crates/*/*.crate"))
    assert crates == sorted(f"{name}-0.28.3.crate" for name in PYO3_CRATES)
    leftovers = [p for p in cache.rglob("*.tmp") if p.is_dir()]
    assert leftovers == []


def test_two_processes_on_one_project_do_not_interleave(tmp_path: Path) -> None:
    env = {"PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cache")}
    project = copy_example(tmp_path, "p")
    first, second = _spawn(project, env), _spawn(project, env)
    results = [(*p.communicate(timeout=600), p.returncode) for p in (first, second)]
    assert all(code == 0 for _, _, code in results), results
    # one of them did the work, the other waited and found nothing to do
    assert sum("nothing to do" in out for out, _, _ in results) == 1
    assert run_patcher("verify", "--project", project, env=env).returncode == 0


def test_a_busy_project_fails_clearly_when_waiting_is_not_allowed(tmp_path: Path) -> None:
    import filelock

    from patcher.project import discovery

    env = {
        "PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cache"),
        "PYO3_PATCHER_PROJECT_LOCK_TIMEOUT": "1",
    }
    project = copy_example(tmp_path, "p")
    os.environ["PYO3_PATCHER_CACHE_DIR"] = env["PYO3_PATCHER_CACHE_DIR"]
    lock_path = discovery.project_mutex(discovery.discover(project))
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(lock_path) + ".lock"):
        result = run_patcher("apply", "--project", project, "--source", "crates.io", env=env)
    assert result.returncode == 9
    assert "another patcher process" in result.stderr
