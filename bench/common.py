"""What the benchmarks share: git with a bench identity, and a timed `python -m patcher`."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path


def git(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """`git ARGS` in `cwd`, committing as the bench; its output; exits on failure."""
    done = subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = " ".join(map(str, args))
        raise SystemExit(f"git {said} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout + done.stderr


def timed_patcher(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, with the children it waited for) of one
    `python -m patcher ARGS`; exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "patcher", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        said = " ".join(args)
        raise SystemExit(f"patcher {said} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
