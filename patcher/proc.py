"""The one boundary to external programs other than git: cargo, pip, python, maturin.

Every program runs through `run`, which echoes it (`-v`), captures its output, and turns a
failure into an ExternalError that keeps the command (shell-quoted), its exit code and what
it said, with a hint. Making virtual environments lives here too, since it is running Python.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from patcher import ui
from patcher.errors import ExternalError

_INSTALL_HINTS = {
    "cargo": "install Rust with rustup (https://rustup.rs) and make sure `cargo` is on PATH",
    "git": "install git (e.g. `apt-get install git`) and make sure it is on PATH",
}
_FAILED_HINTS = {
    "cargo": "read cargo's output above; with --offline, the crates.io index and the crates "
    "must already be in cargo's cache",
    "pip": "read pip's output above; check that PyPI (or your index) is reachable",
}


def which(program: str) -> str:
    """The full path of `program`, or an ExternalError that says how to get it."""
    found = shutil.which(program)
    if found is None:
        raise ExternalError(
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

    `env` is merged over os.environ (for the child only), less the names in `unset`. With
    `check`, a non-zero exit raises ExternalError.
    """
    args = [str(part) for part in cmd]
    program = Path(args[0]).name
    shown = shlex.join(args)
    args[0] = which(args[0]) if os.sep not in args[0] else args[0]
    full_env = dict(os.environ)
    if env is not None:
        full_env.update(env)
    for name in unset:
        full_env.pop(name, None)
    ui.say(f"+ {shown}" + (f"  (in {cwd})" if cwd else ""), at=ui.Level.VERBOSE)
    default_hint = _FAILED_HINTS.get(program, f"read what {program} said above")
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
        raise ExternalError(
            f"could not run {args[0]}: {exc.strerror}", hint=hint or default_hint, command=args
        ) from exc
    if check and proc.returncode != 0:
        raise ExternalError(
            what or f"{program} failed",
            hint=hint or default_hint,
            command=args,
            returncode=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
        )
    return proc


def base_python() -> str:
    """The real path of the base interpreter of the running Python (outside any venv)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_venv(where: Path, *, python: str | None = None, with_pip: bool = False) -> Path:
    """A fresh virtual environment of `python` (default: our base interpreter); returns its
    interpreter.

    With pip, virtualenv makes it: it seeds pip from its cached wheel in about a tenth of the
    CPU of the standard library's ensurepip (0.3 s instead of 3 s; doctor and demo make a venv
    per build). The venv is the same kind to maturin and pyo3: a new path per venv, the same
    base interpreter."""
    interpreter = python or base_python()
    if with_pip:
        cmd = [sys.executable, "-m", "virtualenv", "--quiet", "--no-setuptools"]
        cmd += ["--no-periodic-update", "--python", interpreter]
    else:
        cmd = [interpreter, "-m", "venv", "--without-pip"]
    run([*cmd, where], what=f"could not create a virtual environment at {where}")
    return venv_python(where)
