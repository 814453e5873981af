"""What patcher tells the user, and how much: one `say` for every message on stderr.

Results go to stdout (what a script reads); everything said along the way goes to stderr
through `say`, `warn` and `progress`. `-q` silences notes and progress (warnings and errors
still show); `-v` also shows the commands patcher runs, and progress where stderr is not a
terminal.
"""

from __future__ import annotations

import contextlib
import enum
import sys
import threading
import time
from collections.abc import Iterator


class Level(enum.IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


_level = Level.NORMAL


def set_level(level: Level) -> None:
    global _level  # noqa: PLW0603 (one setting for the process, made by the CLI)
    _level = level


def level() -> Level:
    return _level


def say(message: str, *, at: Level = Level.NORMAL) -> None:
    """A note on what patcher is doing; shown unless `-q` (or only with `-v`)."""
    if _level >= at:
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """Something the user should know even with `-q`."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress(label: str) -> Iterator[None]:
    """Say what a long step is doing and keep time until it ends: on a terminal a line that
    counts the seconds; elsewhere only with -v (a start and an end line); never with -q."""
    tty = sys.stderr.isatty()
    if _level < Level.NORMAL or (not tty and _level < Level.VERBOSE):
        yield
        return
    start = time.monotonic()
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            sys.stderr.write(f"\r{label}... {time.monotonic() - start:.0f} s")
            sys.stderr.flush()

    ticker = threading.Thread(target=tick, daemon=True) if tty else None
    sys.stderr.write(f"{label}..." + ("" if tty else "\n"))
    sys.stderr.flush()
    if ticker is not None:
        ticker.start()
    outcome = "failed after"
    try:
        yield
        outcome = "done in"
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        end = "\r" if tty else ""
        sys.stderr.write(f"{end}{label}: {outcome} {time.monotonic() - start:.1f} s\n")
        sys.stderr.flush()
