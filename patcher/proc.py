"""The one boundary to external programs other than git (cargo, pip, python).

Every failure becomes a ToolError that keeps the command, the exit code and the output.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from patcher.errors import ToolError

log = logging.getLogger(__name__)

_INSTALL_HINTS = {
    "cargo": "install Rust with rustup (https://rustup.rs) and make sure `cargo` is on PATH",
    "git": "install git (e.g. `apt-get install git`) and make sure it is on PATH",
}


def which(program: str) -> str:
    """The full path of `program`, or a ToolError that says how to get it."""
    found = shutil.which(program)
    if found is None:
        raise ToolError(
            f"`{program}` was not found on PATH",
            hint=_INSTALL_HINTS.get(program, f"install {program} and make sure it is on PATH"),
        )
    return found


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    unset: Sequence[str] = (),
    check: bool = True,
    what: str | None = None,
    hint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output as text.

    `env` is merged over os.environ, less the names in `unset`. With `check`, a non-zero
    exit raises ToolError.
    """
    args = [str(part) for part in cmd]
    args[0] = which(args[0]) if os.sep not in args[0] else args[0]
    full_env = dict(os.environ)
    if env is not None:
        full_env.update(env)
    for name in unset:
        full_env.pop(name, None)
    log.debug("+ %s (cwd=%s)", " ".join(args), cwd)
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        raise ToolError(f"could not run {args[0]}: {exc}", hint=hint, cmd=tuple(args)) from exc
    if check and proc.returncode != 0:
        raise ToolError(
            f"{what or Path(args[0]).name} failed",
            hint=hint,
            cmd=tuple(args),
            returncode=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
        )
    return proc
