"""kill -9 and Ctrl-C at random moments of apply and remove, through the real CLI: the next
run rolls back on its own and works, and remove then gives back every byte."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import bytes_of, copy_example, run_patcher, snapshot

# Each iteration is four runs of apply or remove (about 5 s): 8 per suite run, a new seed
# each run, and the kill points of every step are test_kill_9_at_each_step's
ITERATIONS = 8


def _timed(*args: str | Path) -> float:
    start = time.monotonic()
    result = run_patcher(*args)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - start


def _interrupt(project: Path, command: str, sig: signal.Signals, delay: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "patcher", command, "--project", str(project), "--offline"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the signal reaches cargo too
    )
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):  # it may have finished
        os.killpg(proc.pid, sig)
    proc.wait()


@pytest.mark.slow
def test_kill_9_and_ctrl_c_at_random_moments(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    pristine = bytes_of(snapshot(project))
    seconds = {"apply": _timed("apply", "--project", project)}  # also warms the cache
    seconds["remove"] = _timed("remove", "--project", project)
    assert bytes_of(snapshot(project)) == pristine
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for i in range(ITERATIONS):
        command = "apply" if i % 2 == 0 else "remove"
        if command == "remove":
            assert run_patcher("apply", "--project", project, "--offline").returncode == 0
        sig = signal.SIGINT if i % 4 == 3 else signal.SIGKILL
        # (the exit code says little: a signal during Python's own start-up ends it before
        # patcher runs; what matters is what the next run finds)
        _interrupt(project, command, sig, rng.uniform(0, seconds[command] * 1.2))
        # the next run notices what was left, rolls it back (or finishes it) and works
        after = run_patcher("apply", "--project", project, "--offline")
        assert after.returncode == 0, (seed, i, after.stderr)
        assert "Traceback" not in after.stderr
        assert not list(project.glob(".pyo3-patcher-txn*")), (seed, i)
        removed = run_patcher("remove", "--project", project, "--offline")
        assert removed.returncode == 0, (seed, i, removed.stderr)
        assert bytes_of(snapshot(project)) == pristine, (seed, i)


@pytest.mark.parametrize(
    "step",
    ["vendor:pyo3", "vendor:pyo3-macros-backend", "write:Cargo.toml", "write:state", "commit"],
)
def test_kill_9_at_each_step_of_apply_then_the_next_run_recovers(tmp_path: Path, step: str) -> None:
    project = copy_example(tmp_path)
    before = snapshot(project)
    killed = run_patcher(
        "apply",
        "--project",
        project,
        env={"PYO3_PATCHER_FAULT": step, "PYO3_PATCHER_FAULT_KIND": "kill"},
    )
    assert killed.returncode == -9
    assert list(project.glob(".pyo3-patcher-txn-*"))
    killed_state = snapshot(project)
    # verify writes nothing: it says an interrupted run is pending and leaves it
    verify = run_patcher("verify", "--project", project)
    assert verify.returncode == 3 and "patcher apply" in verify.stderr, verify.stderr
    assert snapshot(project) == killed_state
    remove = run_patcher("remove", "--project", project)  # a writing command recovers first
    assert "rolled back an interrupted patcher run" in remove.stderr
    assert remove.returncode == 0  # not applied: the kill came before the commit
    assert snapshot(project) == before  # bytes and mtimes
