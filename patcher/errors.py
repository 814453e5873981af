"""The errors `patcher` knows how to explain. Each carries a hint and its own exit code.

Exit codes (documented in docs/errors.md):
  1 generic, 2 usage, 3 the user's project (a file we cannot read or would not touch),
  4 an upstream source (unreachable, moved tag, digest mismatch), 5 a patch,
  6 an external tool (git, cargo, pip) missing or failing, 7 verification failed,
  8 a release outside the supported range, 9 busy (another patcher holds the lock),
  10 the cache (not writable, full, or not a directory), 70 a bug in patcher, 130 interrupted.
"""

from __future__ import annotations


class PatcherError(Exception):
    """An error we expected: printed as `error: ...` and `hint: ...`, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
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


class ToolError(PatcherError):
    """An external program failed; keeps what it said so the user can see why."""

    exit_code = 6

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        cmd: tuple[str, ...] = (),
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __str__(self) -> str:
        parts = [self.message]
        if self.cmd:
            parts.append(f"command: {' '.join(self.cmd)}")
        if self.returncode is not None:
            parts.append(f"exit code: {self.returncode}")
        for name, output in (("stdout", self.stdout), ("stderr", self.stderr)):
            text = output.strip()
            if text:
                tail = "\n".join(text.splitlines()[-30:])
                parts.append(f"{name}:\n{tail}")
        return "\n".join(parts)


class VerifyError(PatcherError):
    exit_code = 7


class UnsupportedRelease(PatcherError):
    exit_code = 8


class BusyError(PatcherError):
    exit_code = 9


class CacheError(PatcherError):
    exit_code = 10
