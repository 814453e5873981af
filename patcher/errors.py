"""The errors `patcher` knows how to explain. Each carries a hint and its own exit code.

Exit codes (docs/usage.md, "Exit codes"):
  1 generic, 2 usage, 3 the user's project (a file we cannot read or would not touch),
  4 an upstream source (unreachable, moved tag, digest mismatch), 5 a patch,
  6 an external program (git, cargo, pip) missing or failing, 7 verification failed,
  8 a release outside the supported range, 9 busy (another patcher holds the lock),
  10 the cache (not writable, full, or not a directory), 70 a bug in patcher, 130 interrupted.

Every error says what to do next: `hint` is required.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class PatcherError(Exception):
    """An error we expected: printed as `error: ...` and `hint: ...`, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(PatcherError):
    exit_code = 2


class ProjectError(PatcherError):
    exit_code = 3


class SourceError(PatcherError):
    exit_code = 4


class PatchError(PatcherError):
    exit_code = 5


class ExternalError(PatcherError):
    """An external program failed (or is missing): keeps the command, shell-quoted, its exit
    code and what it said, so the user sees why without running it again."""

    exit_code = 6

    def __init__(
        self,
        message: str,
        hint: str,
        *,
        command: Sequence[str] = (),
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.command = tuple(command)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self) -> str:
        return "\n".join(part.strip() for part in (self.stdout, self.stderr) if part.strip())

    def __str__(self) -> str:
        parts = [self.message]
        if self.command:
            parts.append(f"command: {shlex.join(self.command)}")
        if self.returncode is not None:
            parts.append(f"exit code: {self.returncode}")
        if self.output:
            tail = "\n".join("  " + line for line in self.output.splitlines()[-30:])
            parts.append(f"output (last lines):\n{tail}")
        return "\n".join(parts)


class VerifyError(PatcherError):
    exit_code = 7


class UnsupportedRelease(PatcherError):
    exit_code = 8


class BusyError(PatcherError):
    exit_code = 9


class CacheError(PatcherError):
    exit_code = 10
