"""Progress on long work: on a terminal a line that keeps time; nothing when stderr is not a
terminal, unless -v; nothing at all with -q. Shown here with the longest wait there is: one
patcher waiting for another on the same project."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time
from pathlib import Path

import filelock
import pytest
from helpers import copy_example

from patcher.project import discovery


def _run_while_busy(project: Path, *args: str, tty: bool) -> str:
    """Run `patcher ARGS verify` while the project's lock is held for a second and a half;
    what it wrote to stderr (a terminal, or a pipe)."""
    lock_path = discovery.project_mutex(discovery.discover(project))
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "patcher", *args, "verify", "--project", str(project)]
    with filelock.FileLock(str(lock_path) + ".lock"):
        if tty:
            leader, follower = pty.openpty()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=follower)
            os.close(follower)
        else:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        time.sleep(1.5)
    if not tty:
        _out, err = proc.communicate(timeout=60)
        return str(err)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(leader, chunks))
    reader.start()
    proc.wait(timeout=60)
    reader.join(timeout=10)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other end closed
            return
        if not chunk:
            return
        into.append(chunk)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example(tmp_path)


def test_a_terminal_sees_the_wait_and_its_length(project: Path) -> None:
    said = _run_while_busy(project, tty=True)
    assert "waiting for another patcher process to finish" in said
    assert "\r" in said and " s" in said and ": done in " in said


def test_a_pipe_sees_no_progress_unless_verbose(project: Path) -> None:
    assert "waiting" not in _run_while_busy(project, tty=False)
    verbose = _run_while_busy(project, "-v", tty=False)
    assert "waiting for another patcher process to finish" in verbose
    assert ": done in " in verbose and "\r" not in verbose


def test_quiet_silences_progress_even_on_a_terminal(project: Path) -> None:
    assert "waiting" not in _run_while_busy(project, "-q", tty=True)
