"""Benchmark: job 2 of two CI jobs on the bundled example, patched (docs/ci.md's recipe),
unpatched, and the floor.

    python bench/bench_ci.py --runs 3 --output bench/RESULTS.md

Each run commits the example (patched with `patcher apply`, or not) to a scratch repository,
then runs two jobs as patcher/cicache.py simulates them: a fresh `git clone` at the same path,
target/ saved at the end of job 1 after Swatinem/rust-cache's cleaning (v2.9.2, defaults) and
restored in job 2, then `uv build --wheel` with cargo's job-queue log on. Patched jobs run
`patcher env --ci` first and build with its environment. The floor is the unpatched project
built with `MATURIN_PEP517_USE_BASE_PYTHON=1` (a stable PYO3_PYTHON: nothing but the
project's own crate to compile, the best job 2 can do). Wall: the build step; cargo: the time
cargo's log gives the units it compiled. Medians.
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
from results import report  # noqa: E402

EXAMPLE = REPO / "examples" / "hello-pyo3"
KINDS = ("unpatched", "patched", "floor")


def _git(*args: str | Path, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", *map(str, args)],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _patcher(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "patcher", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"patcher {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def origin(work: Path, patched: bool) -> Path:
    project = work / "origin"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(project)], check=True)  # the example's files only
    for leftover in ("target", ".pyo3-patcher"):
        subprocess.run(["rm", "-rf", str(project / leftover)], check=True)
    _git("init", "-q", cwd=project)
    if patched:
        _patcher("apply", "--project", str(project), cwd=project)
    _git("add", "-A", cwd=project)
    _git("commit", "-qm", "project", cwd=project)
    return project


def job(jobs: cicache.Jobs, source: Path, archive: Path | None, kind: str) -> dict[str, float]:
    checkout = jobs.fresh(lambda d: _git("clone", "-q", source, d, cwd=jobs.base), archive)
    env = {**os.environ, **cargolog.LOG_ENV, "UV_CACHE_DIR": str(jobs.work / "uv-cache")}
    if kind == "patched":
        for line in _patcher("env", "--ci", cwd=checkout).splitlines():
            key, _, value = line.partition("=")
            env[key] = value
    if kind == "floor":
        env["MATURIN_PEP517_USE_BASE_PYTHON"] = "1"
    start = time.monotonic()
    result = subprocess.run(
        ["uv", "build", "--wheel", "-v", "--out-dir", str(jobs.work / "dist"), "."],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"build failed ({kind}):\n{result.stderr[-3000:]}")
    log = cargolog.parse(result.stdout + result.stderr)
    return {
        "wall": wall,
        "cargo": sum(log.seconds.values()),
        "pyo3": len({name for name, _ in log.recompiled} & set(PYO3_CRATES)),
    }


def one_run(kind: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="patcher-bench-ci-") as tmp:
        work = Path(tmp)
        source = origin(work, patched=kind == "patched")
        jobs = cicache.Jobs(work, "project")
        archive = work / "target.tar"
        job(jobs, source, None, kind)
        jobs.save("rust-cache", archive)
        return job(jobs, source, archive, kind)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    results = {}
    for kind in KINDS:
        runs = [one_run(kind) for _ in range(args.runs)]
        results[kind] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    rows = []
    for kind in KINDS:
        r = results[kind]
        rows.append(
            f"| {kind} | {r['wall']:.1f} | {r['cargo']:.1f} | {int(r['pyo3'])} | "
            f"{r['wall'] / results['unpatched']['wall']:.2f} | "
            f"{r['wall'] / results['floor']['wall']:.2f} |"
        )
    command = f"python bench/bench_ci.py --runs {args.runs}" + (
        f" --output {args.output.as_posix()}" if args.output else ""
    )
    text = "\n".join(
        [
            "# CI job 2 of examples/hello-pyo3 (pyo3 0.28.3): fresh clone, target/ from rust-cache",
            "",
            f"Produced by `{command}` on a 2-core, 24 GiB machine (Python "
            f"{sys.version.split()[0]}, {os.cpu_count()} CPUs seen); medians of {args.runs} "
            "runs, seconds. Job 1 is cold and not shown; rust-cache's cleaning emulated from "
            f"{cicache.RUST_CACHE_VERSION}, defaults.",
            "",
            "| job 2 | wall (uv build) | cargo (compiled units) | pyo3 crates recompiled "
            "| wall / unpatched | wall / floor |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    report(text, args.output, "bench_ci")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
