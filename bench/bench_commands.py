"""Benchmark: what `patcher apply`, `verify` and `remove` cost on the bundled example with a
warm cache, in wall time and CPU (user + system, the command and the children it waited
for, cargo included).

    python bench/bench_commands.py --runs 10 --output bench/RESULTS.md

Each run is apply, verify, remove on one copy of the example, `--offline`, as the CLI, the
way CI runs them. The cache is warmed once before the runs (the published crates
downloaded); apply derives the trees from it again in each process, verify compares them with
the digests the pins ship (since issue 24, item 7; bench/RESULTS.md's bench_commands table
predates that).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from common import timed_patcher  # noqa: E402
from results import report  # noqa: E402

EXAMPLE = REPO / "examples" / "hello-pyo3"
COMMANDS = ("apply", "verify", "remove")


def run(command: str, project: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m patcher <command>`; exits on failure."""
    return timed_patcher([command, "--project", str(project), "-q", *args], REPO, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--output", type=Path, help="write the table into this RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYO3_PATCHER_CACHE_DIR": str(work / "cache")}
        project = work / "example"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target"))
        run("apply", project, env)  # warms the cache: the published crates
        run("remove", project, env, "--offline")
        seconds: dict[str, list[tuple[float, float]]] = {c: [] for c in COMMANDS}
        for i in range(args.runs):
            for command in COMMANDS:
                seconds[command].append(run(command, project, env, "--offline"))
            print(f"run {i + 1}/{args.runs}", file=sys.stderr)
    rows = [
        "# patcher apply, verify and remove on examples/hello-pyo3 (pyo3 0.28.3), warm cache",
        "",
        f"`python bench/bench_commands.py --runs {args.runs}`: medians, `--offline`, the CLI as "
        "a subprocess; CPU is user + system of the command and the children it waited for.",
        "",
        "| command | wall (s) | CPU (s) |",
        "|---|---:|---:|",
    ]
    for command in COMMANDS:
        wall = statistics.median(w for w, _ in seconds[command])
        cpu = statistics.median(c for _, c in seconds[command])
        rows.append(f"| {command} | {wall:.2f} | {cpu:.2f} |")
    text = "\n".join(rows) + "\n"
    report(text, args.output, "bench_commands")


if __name__ == "__main__":
    main()
