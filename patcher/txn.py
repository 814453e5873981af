"""All or nothing: stage every write outside the user's files, then swap them in with
atomic renames; on any error (or Ctrl-C) put every original back, byte for byte.

The staging directory sits in the workspace root (so renames stay on one filesystem) and is
removed whatever happens, so no stray files remain.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from patcher import trees
from patcher.errors import PatcherError, ProjectError

FAULT_ENV = "PYO3_PATCHER_FAULT"  # tests name a step here to make it fail


class InjectedFault(PatcherError):
    exit_code = 99


def fault_point(step: str) -> None:
    if os.environ.get(FAULT_ENV) == step:
        if os.environ.get(FAULT_ENV + "_KIND") == "interrupt":
            raise KeyboardInterrupt  # what Ctrl-C raises
        raise InjectedFault(f"injected fault at step {step!r}")


class Transaction:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=".pyo3-patcher-tmp-", dir=root))
        except OSError as exc:
            raise ProjectError(
                f"cannot write in {root}: {exc.strerror}",
                hint="patcher needs write access to the project (is it read-only?)",
            ) from exc
        self._counter = 0
        # (path, backup or None): how to undo each committed step, newest last
        self._undo: list[tuple[Path, Path | None]] = []

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                self.rollback()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)

    def _slot(self, name: str) -> Path:
        self._counter += 1
        return self.staging / f"{self._counter:03d}-{name}"

    def _move_aside(self, path: Path) -> Path | None:
        if not os.path.lexists(path):
            return None
        backup = self._slot("backup-" + path.name)
        os.replace(path, backup)  # keeps the original's inode, bytes and mtime
        return backup

    def write_file(self, path: Path, data: bytes) -> None:
        staged = self._slot(path.name)
        staged.write_bytes(data)
        if path.exists():
            shutil.copymode(path, staged)
        backup = self._move_aside(path)
        self._undo.append((path, backup))
        os.replace(staged, path)

    def place_tree(self, dest: Path, source: Path) -> None:
        staged = self._slot(dest.name)
        trees.copy_tree(source, staged)
        if not dest.parent.exists():
            self._undo.append((dest.parent, None))  # we create it, so undo removes it
            dest.parent.mkdir(parents=True)
        backup = self._move_aside(dest)
        self._undo.append((dest, backup))
        os.replace(staged, dest)

    def remove(self, path: Path) -> None:
        backup = self._move_aside(path)
        if backup is not None:
            self._undo.append((path, backup))

    def protect(self, path: Path) -> None:
        """Keep a copy of `path` because something else (cargo) may rewrite it in place."""
        if path.exists():
            copy = self._slot("copy-" + path.name)
            shutil.copy2(path, copy)
            self._undo.append((path, copy))
        else:
            self._undo.append((path, None))

    def rollback(self) -> None:
        for path, backup in reversed(self._undo):
            if os.path.lexists(path):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            if backup is not None:
                os.replace(backup, path)
        self._undo.clear()

    def remove_empty_dirs(self, directory: Path) -> None:
        """Remove `directory` if empty (it was ours); never anything with content."""
        if directory.is_dir() and not any(directory.iterdir()):
            self.remove(directory)
