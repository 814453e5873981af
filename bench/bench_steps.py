"""Benchmark: what our own CI steps cost a job (docs/ci.md's recipe), cold and warm.

    python bench/bench_steps.py --runs 5 --cold-runs 3 --output bench/RESULTS.md
    python bench/bench_steps.py --before /tmp/base   # also a tree of an older patcher

The steps: `patcher verify`, `patcher env --ci`, `patcher env --ci --end-of-job`, each as
the CLI in a fresh process with `GITHUB_ACTIONS=true`, in a clone of the patched project at
one path (as a runner checks out), with an empty `$RUNNER_TEMP` per job (a runner's is).
Cold: an empty patcher cache (a fresh runner; the registries reachable: crates.io, PyPI).
Warm: the cache the previous job left. cargo's home is the caller's (CARGO_HOME), warm in
both, as rust-cache restores it. Layouts: the bundled example (pyo3 0.28.3, Cargo.lock) and
a project as `maturin new` makes it (pyo3 0.29.3, no Cargo.lock). Medians, wall seconds.

`--before DIR`: a source tree of another patcher (`git archive <commit> | tar -x -C DIR`),
run the same way (PYTHONPATH), for a before/after table. Both trees' bytecode is compiled
first (CI machines set PYTHONDONTWRITEBYTECODE; an installed wheel has it compiled).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))
from common import git, timed_patcher  # noqa: E402
from helpers import maturin_new_project  # noqa: E402
from results import report  # noqa: E402

EXAMPLE = REPO / "examples" / "hello-pyo3"
LAYOUTS = ("0.28", "0.29")
CPU: list[float] = []  # CPU seconds of each _patcher call, in order
STEPS = {
    "verify": ("verify",),
    "env --ci": ("env", "--ci"),
    "end-of-job": ("env", "--ci", "--end-of-job"),
}


def _patcher(src: Path, args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one `python -m patcher ARGS` from the tree `src` (its CPU seconds, with
    the children it waited for, go to CPU); exits on failure."""
    wall, cpu = timed_patcher(["-q", *args], cwd, {**env, "PYTHONPATH": str(src)})
    CPU.append(cpu)
    return wall


def _origin(work: Path, layout: str, src: Path, env: dict[str, str]) -> Path:
    if layout == "0.28":
        project = work / "origin"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target"))
    else:
        project = maturin_new_project(work)
    git("init", "-q", cwd=project)
    _patcher(src, ("apply", "--source", "crates.io"), project, env)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "patched", cwd=project)
    return project


def _job(
    src: Path, checkout: Path, runner_temp: Path, env: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """One job's three steps, wall and CPU seconds each; $RUNNER_TEMP empty at its start, as
    on a runner."""
    shutil.rmtree(runner_temp, ignore_errors=True)
    runner_temp.mkdir()
    return {step: (_patcher(src, args, checkout, env), CPU[-1]) for step, args in STEPS.items()}


def measure(
    src: Path, layout: str, runs: int, cold_runs: int, work: Path
) -> dict[str, dict[str, float]]:
    """Median seconds per step, cold and warm, of the patcher in `src` on `layout`."""
    base = {**os.environ, "GITHUB_ACTIONS": "true", "PYO3_PATCHER_PYO3_URL": "file:///none"}
    base.pop("PYO3_PATCHER_CACHE_DIR", None)
    runner_temp = work / "runner-temp"
    warm_cache = work / "cache"
    env = {**base, "PYO3_PATCHER_CACHE_DIR": str(warm_cache), "RUNNER_TEMP": str(runner_temp)}
    origin = _origin(work, layout, src, env)
    checkout = work / "checkout"  # one path in every job
    git("clone", "-q", origin, checkout, cwd=work)
    cold: dict[str, list[tuple[float, float]]] = {s: [] for s in STEPS}
    for i in range(cold_runs):
        empty = work / f"cold-cache-{i}"
        for step, seconds in _job(
            src, checkout, runner_temp, {**env, "PYO3_PATCHER_CACHE_DIR": str(empty)}
        ).items():
            cold[step].append(seconds)
        shutil.rmtree(empty)
    _job(src, checkout, runner_temp, env)  # the warm cache: what a first job leaves
    warm: dict[str, list[tuple[float, float]]] = {s: [] for s in STEPS}
    for _ in range(runs):
        for step, seconds in _job(src, checkout, runner_temp, env).items():
            warm[step].append(seconds)
    return {
        step: {
            "cold": statistics.median(w for w, _ in cold[step]),
            "warm": statistics.median(w for w, _ in warm[step]),
            "warm CPU": statistics.median(c for _, c in warm[step]),
        }
        for step in STEPS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm jobs per layout")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold jobs per layout")
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--before", type=Path, help="source tree of an older patcher")
    parser.add_argument("--before-label", default="before")
    parser.add_argument("--output", type=Path, help="write the table into this RESULTS.md")
    args = parser.parse_args()
    trees = {"after": REPO}
    if args.before is not None:
        trees = {args.before_label: args.before.resolve(), **trees}
    for src in trees.values():
        compileall.compile_dir(src / "patcher", quiet=1)
    layouts = [layout for layout in args.layouts.split(",") if layout]
    results: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    load = []
    for label, src in trees.items():
        for layout in layouts:
            with tempfile.TemporaryDirectory(prefix="bench-steps-") as tmp:
                load.append(os.getloadavg()[0])
                results[label, layout] = measure(
                    src, layout, args.runs, args.cold_runs, Path(tmp).resolve()
                )
            print(f"{label} {layout}: {results[label, layout]}", file=sys.stderr)
    names = {"0.28": "example, pyo3 0.28.3", "0.29": "`maturin new`, pyo3 0.29.3, no lock"}
    head = "| layout | step |" + "".join(
        f" {label} cold | {label} warm | {label} warm CPU |" for label in trees
    )
    rows = [
        "# Our CI steps, cold and warm patcher cache",
        "",
        f"Produced by `python bench/bench_steps.py --runs {args.runs} --cold-runs "
        f"{args.cold_runs}{' --before DIR' if args.before else ''}` on a {os.cpu_count()}-core "
        f"machine (Python {sys.version.split()[0]}; 1-minute load average "
        f"{min(load):.1f} to {max(load):.1f} at the layouts' starts); medians of "
        f"{args.cold_runs} cold and {args.runs} warm jobs, wall seconds of each step as a "
        "fresh process (warm CPU: user + system seconds of the step and the programs it ran, "
        "which a loaded machine inflates less). Cold: empty patcher cache, crates.io and PyPI "
        "reachable; warm: the cache the job before left; cargo's home warm in both.",
        "",
        head,
        "|---|---|" + "---:|---:|---:|" * len(trees),
    ]
    for layout in layouts:
        for step in STEPS:
            cells = "".join(
                f" {results[label, layout][step]['cold']:.2f} |"
                f" {results[label, layout][step]['warm']:.2f} |"
                f" {results[label, layout][step]['warm CPU']:.2f} |"
                for label in trees
            )
            rows.append(f"| {names.get(layout, layout)} | `{step}` |{cells}")
    report("\n".join(rows) + "\n", args.output, "bench_steps")


if __name__ == "__main__":
    main()
