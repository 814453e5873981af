"""Two CI jobs, as a runner does them: a fresh `git clone` at the same path in each, target/
saved at the end of job 1 and restored in job 2, with a plain tar cache (actions/cache) and
with Swatinem/rust-cache's cleaning (patcher/cicache.py, from its source at v2.9.2). Patched
projects run `patcher env --ci` as docs/ci.md does; the unpatched control builds as it is.
Both pyo3 layouts: 0.28 (pyo3-build-config's build script runs discovery; the example, with
its Cargo.lock) and 0.29+ (pyo3-ffi's does; a project as `maturin new` makes it, no
Cargo.lock)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import change_vendored_tree, copy_example, git, run_patcher

from patcher import cicache

PYO3_CRATES = {"pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend"}
# what an isolated build recompiles without the patch, per layout
UNPATCHED_REBUILDS = {
    "0.28": {"pyo3-build-config", "pyo3-ffi", "pyo3", "pyo3-macros-backend", "pyo3-macros"},
    "0.29": {"pyo3-ffi", "pyo3"},
}
MATURIN_NEW_LIB = """use pyo3::prelude::*;

#[pymodule]
mod mnew {
    use pyo3::prelude::*;

    #[pyfunction]
    fn sum_as_string(a: usize, b: usize) -> PyResult<String> {
        Ok((a + b).to_string())
    }
}
"""


def maturin_new_project(where: Path) -> Path:
    """What `maturin new --bindings pyo3` makes, with pyo3 0.29 (no Cargo.lock)."""
    project = where / "mnew"
    (project / "src").mkdir(parents=True)
    (project / "Cargo.toml").write_text(
        '[package]\nname = "mnew"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[lib]\nname = "mnew"\ncrate-type = ["cdylib"]\n\n[dependencies]\npyo3 = "=0.29.3"\n',
        encoding="utf-8",
    )
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["maturin>=1.9,<2.0"]\nbuild-backend = "maturin"\n\n'
        '[project]\nname = "mnew"\nrequires-python = ">=3.8"\ndynamic = ["version"]\n',
        encoding="utf-8",
    )
    (project / "src" / "lib.rs").write_text(MATURIN_NEW_LIB, encoding="utf-8")
    (project / ".gitignore").write_text("/target\n", encoding="utf-8")
    return project


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


def env_lines(text: str) -> dict[str, str]:
    """A $GITHUB_ENV file's KEY=VALUE lines."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def runner_env(jobs: cicache.Jobs) -> dict[str, str]:
    """What a GitHub Actions runner sets that CI mode reads."""
    return {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(jobs.runner_temp)}


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
        result = run_patcher("env", "--ci", cwd=checkout, env=runner_env(jobs))
        assert result.returncode == 0, result.stderr
        env.update(env_lines(result.stdout))
    build = subprocess.run(
        ["uv", "build", "--wheel", "-v", "--out-dir", jobs.work / "dist", "."],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    post_env = {}
    if patched:
        end = run_patcher("env", "--ci", "--end-of-job", cwd=checkout, env=runner_env(jobs))
        assert end.returncode == 0, end.stderr
        post_env = env_lines(end.stdout)
    return set(re.findall(r"Compiling (\S+) v\d", build.stderr)), post_env


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
