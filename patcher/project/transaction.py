"""All or nothing, even across kill -9: journaled writes to a project.

Every change is staged in `.pyo3-patcher-txn/` at the workspace root (one filesystem, so
renames are atomic). Before each step, a line saying how to undo it is appended to the
journal there and flushed; the original is then moved aside (keeping its inode, bytes and
mtime) and the new file or tree renamed into place. On success a `commit` line is appended
and the staging area removed. On an error or Ctrl-C the steps are undone at once; after a
crash (kill -9, power loss) the next patcher command finds the staging area and `recover`
rolls it back, or, if the commit line was written, finishes the clean-up. A rollback that
fails keeps the staging area, names it, and the next command tries again.

The staging area lies in the user's project, so recovery treats it as untrusted: every path
in the journal must pass the fence, and every backup must be a file of the staging area.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from patcher import trees
from patcher.errors import PatcherError, ProjectError
from patcher.project.fence import ContainmentError, Fence

STAGING_NAME = ".pyo3-patcher-txn"
JOURNAL = "journal.jsonl"
_PENDING_PREFIX = STAGING_NAME + ".new-"
_SLOT = re.compile(r"^\d{3,}-[^/\\]+$")

FAULT_ENV = "PYO3_PATCHER_FAULT"  # tests name a step here to make it fail
FAULT_KIND_ENV = "PYO3_PATCHER_FAULT_KIND"


class InjectedFault(PatcherError):
    exit_code = 99


class RecoveryError(ProjectError):
    """A rollback could not finish: the staging area and its backups are kept."""


def fault_point(step: str) -> None:
    """Tests make named steps fail (a comma-separated list): an error, Ctrl-C, a full disk,
    or kill -9."""
    if step not in os.environ.get(FAULT_ENV, "").split(","):
        return
    kind = os.environ.get(FAULT_KIND_ENV, "error")
    if kind == "interrupt":
        raise KeyboardInterrupt
    if kind == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), step)
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"injected fault at step {step!r}", hint="unset PYO3_PATCHER_FAULT")


def _write_error(path: Path, exc: OSError) -> ProjectError:
    return ProjectError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="free some disk space or fix the permissions, then run the command again; "
        "the project was left as it was",
    )


class Transaction:
    def __init__(self, fence: Fence) -> None:
        self.fence = fence
        self.staging = fence.root / STAGING_NAME
        self._counter = 0
        self._journal: Any = None
        self._committed = False

    # --- the protocol -------------------------------------------------------------------

    def __enter__(self) -> Transaction:
        if os.path.lexists(self.staging):
            raise RecoveryError(
                f"an earlier patcher run left {self.staging}",
                hint="run the command again: patcher rolls it back first",
            )
        try:
            pending = Path(tempfile.mkdtemp(prefix=_PENDING_PREFIX, dir=self.fence.root))
            with (pending / JOURNAL).open("w", encoding="utf-8") as journal:
                journal.write(json.dumps({"op": "begin", "tool": "pyo3-patcher"}) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
            pending.rename(self.staging)  # the staging area appears with its journal
            self._journal = (self.staging / JOURNAL).open("a", encoding="utf-8")
        except OSError as exc:
            raise ProjectError(
                f"cannot write in {self.fence.root}: {exc.strerror}",
                hint="patcher needs write access to the project (is it read-only or full?)",
            ) from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self._committed:
            try:
                self.commit()
            except BaseException as failed:
                self._close_journal()
                if not self._committed:
                    rollback(self.fence, self.staging)
                if isinstance(failed, OSError):
                    raise _write_error(Path(failed.filename or self.fence.root), failed) from failed
                raise
        elif exc_type is not None and not self._committed:
            self._close_journal()
            rollback(self.fence, self.staging)
        if isinstance(exc, OSError):
            raise _write_error(Path(exc.filename or self.fence.root), exc) from exc

    def _log(self, record: dict[str, Any]) -> None:
        self._journal.write(json.dumps(record) + "\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def _slot(self, name: str) -> str:
        self._counter += 1
        return f"{self._counter:03d}-{name}"

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def commit(self) -> None:
        fault_point("commit")
        self._log({"op": "commit"})
        self._committed = True
        self._close_journal()
        _clean_up(self.staging)

    # --- steps ------------------------------------------------------------------------

    def write_file(self, path: Path, data: bytes) -> None:
        target = self.fence.check(path, what="file")
        staged = self._slot(target.name)
        (self.staging / staged).write_bytes(data)
        if target.is_file():
            shutil.copymode(target, self.staging / staged)
        self._replace(target, self.staging / staged)

    def place_tree(self, dest: Path, source: Path) -> None:
        target = self.fence.check(dest, what="folder")
        staged = self._slot(target.name)
        trees.copy_tree(source, self.staging / staged)
        self._replace(target, self.staging / staged)

    def _replace(self, target: Path, staged: Path) -> None:
        backup = self._slot("backup-" + target.name) if os.path.lexists(target) else None
        self._log({"op": "replace", "path": self.fence.relative(target), "backup": backup})
        if backup is not None:
            os.replace(target, self.staging / backup)  # keeps the original's inode and mtime
        os.replace(staged, target)

    def mkdir(self, path: Path) -> None:
        target = self.fence.check(path, what="folder")
        if target.is_dir():
            return
        self._log({"op": "mkdir", "path": self.fence.relative(target)})
        target.mkdir()

    def remove(self, path: Path) -> None:
        target = self.fence.check(path)
        if not os.path.lexists(target):
            return
        backup = self._slot("backup-" + target.name)
        self._log({"op": "remove", "path": self.fence.relative(target), "backup": backup})
        os.replace(target, self.staging / backup)


# --- recovery --------------------------------------------------------------------------


def _clean_up(staging: Path) -> None:
    """Remove a finished staging area: everything but the journal first, the journal last,
    so that a crash in between still leaves a journal that says `commit`."""
    for item in staging.iterdir():
        if item.name != JOURNAL:
            _delete(item)
    (staging / JOURNAL).unlink(missing_ok=True)
    staging.rmdir()


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _read_journal(fence: Fence, staging: Path) -> list[dict[str, Any]]:
    try:
        lines = (staging / JOURNAL).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _untrusted(staging, f"its journal cannot be read ({exc})") from exc
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):
                break  # a line cut short by the crash: its step never started
            raise _untrusted(staging, f"journal line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise _untrusted(staging, f"journal line {number} is not a record")
        records.append(record)
    if not records or records[0] != {"op": "begin", "tool": "pyo3-patcher"}:
        raise _untrusted(staging, "its journal does not start as ours")
    for record in records[1:]:
        op = record.get("op")
        if op == "commit":
            continue
        if op not in ("replace", "mkdir", "remove") or not isinstance(record.get("path"), str):
            raise _untrusted(staging, f"unexpected journal record {record!r}")
        fence.check(record["path"], what="path in the journal")
        backup = record.get("backup")
        if backup is not None and (not isinstance(backup, str) or not _SLOT.match(backup)):
            raise _untrusted(staging, f"unexpected backup name {backup!r}")
    return records


def _untrusted(staging: Path, problem: str) -> RecoveryError:
    return RecoveryError(
        f"{staging} looks like an interrupted patcher run, but {problem}",
        hint=f"patcher will not act on it: check your files, then delete {staging} yourself",
    )


def rollback(fence: Fence, staging: Path) -> None:
    """Undo the journaled steps of `staging`, newest first; then remove it. Each step's undo
    is safe to repeat, so a rollback cut short can simply run again."""
    records = _read_journal(fence, staging)
    try:
        fault_point("rollback")
        for record in reversed(records[1:]):
            if record["op"] != "commit":
                _undo(fence, staging, record)
    except (OSError, PatcherError) as exc:
        raise RecoveryError(
            f"could not roll back the interrupted change: {exc}",
            hint=f"the originals are kept in {staging} (the journal {staging / JOURNAL} says "
            "which file each backup belongs to); patcher retries on its next run",
        ) from exc
    _clean_up(staging)


def _undo(fence: Fence, staging: Path, record: dict[str, Any]) -> None:
    target = fence.check(record["path"])
    backup = staging / record["backup"] if record.get("backup") else None
    if record["op"] == "mkdir":
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        return
    if backup is not None and os.path.lexists(backup):
        if os.path.lexists(target):
            _delete(target)  # what we put there
        os.replace(backup, target)
    elif backup is None and record["op"] == "replace" and os.path.lexists(target):
        _delete(target)  # nothing was there before us
    # a backup that was named but never made: the original never moved


def leftovers(root: Path) -> Iterator[Path]:
    """Staging areas (finished or not) that earlier runs left in `root`."""
    staging = root / STAGING_NAME
    if os.path.lexists(staging):
        yield staging
    yield from sorted(root.glob(_PENDING_PREFIX + "*"))


def recover(fence: Fence) -> list[str]:
    """Roll back (or finish) what interrupted runs left; returns what was done, to tell."""
    done = []
    for staging in leftovers(fence.root):
        if staging.name.startswith(_PENDING_PREFIX):
            # cut short before it held anything but the opening journal line
            contents = {p.name for p in staging.iterdir()} if staging.is_dir() else {"?"}
            if staging.is_symlink() or not contents <= {JOURNAL}:
                raise _untrusted(staging, "it holds files patcher did not put there")
            _delete(staging)
            continue
        if staging.is_symlink() or not staging.is_dir():
            raise _untrusted(staging, "it is not a folder")
        try:
            records = _read_journal(fence, staging)
        except ContainmentError as exc:
            raise _untrusted(staging, exc.message) from exc
        if records[-1].get("op") == "commit":
            _clean_up(staging)
            done.append("finished the clean-up of an interrupted patcher run")
        else:
            rollback(fence, staging)
            done.append(f"rolled back an interrupted patcher run ({len(records) - 1} steps)")
    return done
