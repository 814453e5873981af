"""The user cache: git mirrors, pristine crates, patched trees and maturin wheels.

Protocol (as pre-commit and cibuildwheel do it): an env-var override over a platformdirs
default, a CACHEDIR.TAG, a file lock per entry, a re-check inside the lock, work in a temp
dir beside the entry, and `os.replace` into place, so a crash never leaves half an entry.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import filelock
import platformdirs

from patcher.errors import BusyError

ENV_VAR = "PYO3_PATCHER_CACHE_DIR"
LOCK_TIMEOUT_S = 30 * 60  # a cold maturin build under the lock may take this long

_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pyo3-patcher.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


def root() -> Path:
    override = os.environ.get(ENV_VAR)
    path = Path(override) if override else Path(platformdirs.user_cache_dir("pyo3-patcher"))
    path.mkdir(parents=True, exist_ok=True)
    tag = path / "CACHEDIR.TAG"
    if not tag.exists():
        tmp = path / f".CACHEDIR.TAG.{os.getpid()}"
        tmp.write_text(_CACHEDIR_TAG, encoding="utf-8")
        os.replace(tmp, tag)
    return path


@contextlib.contextmanager
def locked(path: Path, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock that guards `path` (a sibling `<name>.lock` file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path.with_name(path.name + ".lock")))
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout as exc:
        raise BusyError(
            f"timed out waiting for the lock on {path}",
            hint="another patcher process is working on it; wait and retry",
        ) from exc
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def building(final: Path) -> Iterator[Path]:
    """Yield a temp dir beside `final`; on success move it into place atomically.

    Call under `locked(final)` after re-checking that `final` is still missing.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():  # an older, incomplete layout; we hold the lock
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
