"""What patcher tells the user, and how much: one `say` for every message on stderr.

Results go to stdout (what a script reads); everything said along the way goes to stderr
through `say`. `-q` silences notes and progress (warnings and errors still show); `-v` also
shows the commands patcher runs.
"""

from __future__ import annotations

import enum
import sys


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
