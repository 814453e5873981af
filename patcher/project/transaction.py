"""All or nothing, even across kill -9: journaled writes to a project.

Every change is staged in a folder of its own at the workspace root,
`.pyo3-patcher-txn-<random>` (one filesystem with the project, so renames are atomic). The
journal that says how to undo each step does NOT live there: it lives in the per-user cache,
`<cache>/projects/<key>.journal`, keyed by the workspace root's real path, where no checkout
can put one. Before each step a line saying how to undo it is appended to the journal and
flushed; the original is then moved aside into the staging folder (keeping its inode, bytes
and mtime) and the new file or tree renamed into place. On success a `commit` line is
appended, the staging folder removed, then the journal. On an error or Ctrl-C the steps are
undone at once; after a crash (kill -9, power loss) the next writing command finds the
journal and `recover` rolls it back, or, if the commit line was written, finishes the
clean-up. A rollback that fails keeps both, names them, and the next command tries again.

Why the journal is outside the checkout: anything in a repository is written by whoever sent
the pull request, and a journal is a list of moves and deletes. A `.pyo3-patcher-txn*` folder
found in a checkout without a journal of ours naming it is therefore never acted on; we warn
and leave it. The cache can be shared between CI jobs, so even our own journal is checked
before it is acted on: it must name this workspace, its staging folder must be the very folder
we made (device and inode, recorded when we made it: a committed or restored copy is another
inode), no path may leave the fence or enter a `.git` folder, a backup must be a slot of that
staging folder, and an undo deletes only what we put there (the sha256 of the file or tree we
placed is in the journal): bytes we did not write are never deleted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from patcher import cache, trees, ui
from patcher.errors import PatcherError, ProjectError
from patcher.project.fence import ContainmentError, Fence

STAGING_NAME = ".pyo3-patcher-txn"  # the prefix of every staging folder
_STAGING = re.compile(r"^\.pyo3-patcher-txn-[0-9a-f]{16}$")
_SLOT = re.compile(r"^\d{3,}-[^/\\]+$")
_BEGIN = {"op": "begin", "tool": "pyo3-patcher"}

FAULT_ENV = "PYO3_PATCHER_FAULT"  # tests name a step here to make it fail
FAULT_KIND_ENV = "PYO3_PATCHER_FAULT_KIND"


class InjectedFault(PatcherError):
    exit_code = 99


class RecoveryError(ProjectError):
    """A rollback could not finish, or a journal is not to be trusted: nothing is touched."""


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


def project_key(root: Path) -> str:
    """The name a workspace root (its real path) goes by in the cache."""
    return hashlib.sha256(str(root).encode()).hexdigest()[:16]


def journal_path(root: Path) -> Path:
    """Where the journal of a change to the workspace at `root` lives: the per-user cache,
    never the checkout."""
    return cache.root() / "projects" / f"{project_key(Path(os.path.realpath(root)))}.journal"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _identity(path: Path) -> dict[str, int]:
    st = os.lstat(path)
    return {"dev": st.st_dev, "ino": st.st_ino}


class Transaction:
    def __init__(self, fence: Fence) -> None:
        self.fence = fence
        self.journal_file = journal_path(fence.root)
        self.staging = fence.root / f"{STAGING_NAME}-{secrets.token_hex(8)}"
        self._counter = 0
        self._journal: Any = None
        self._committed = False

    # --- the protocol -------------------------------------------------------------------

    def __enter__(self) -> Transaction:
        if os.path.lexists(self.journal_file):
            raise RecoveryError(
                f"an earlier patcher run left its journal {self.journal_file}",
                hint="run the command again: patcher rolls it back first",
            )
        begin = {**_BEGIN, "root": str(self.fence.root), "staging": self.staging.name}
        # the journal appears whole, or not at all, from a temp file no link planted in the
        # cache can redirect; then it is appended to, never through a link
        line = json.dumps(begin) + "\n"
        cache.write_new(self.journal_file, line.encode(), durable=True)
        with cache.writing(self.journal_file):
            fd = cache.open_to_append(self.journal_file)
            self._journal = os.fdopen(fd, "a", encoding="utf-8")
        try:
            self.staging.mkdir(mode=0o700)
            self._log({"op": "staging", **_identity(self.staging)})
        except OSError as exc:
            self._close_journal()
            rollback(self.fence)
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
                    rollback(self.fence)
                if isinstance(failed, OSError):
                    raise _write_error(Path(failed.filename or self.fence.root), failed) from failed
                raise
        elif exc_type is not None and not self._committed:
            self._close_journal()
            rollback(self.fence)
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
        try:
            fault_point("clean-up")
            _clean_up(self.staging, self.journal_file)
        except KeyboardInterrupt:
            # The change is complete: Ctrl-C now could only leave backups behind and make the
            # command say "interrupted" about a change that is done. Deleting them is quick.
            _clean_up(self.staging, self.journal_file)
            ui.warn(
                "interrupted after the change was complete: patcher finished deleting its backups"
            )

    # --- steps ------------------------------------------------------------------------

    def write_file(self, path: Path, data: bytes) -> None:
        target = self.fence.check(path, what="file")
        staged = self._slot(target.name)
        (self.staging / staged).write_bytes(data)
        if target.is_file():
            shutil.copymode(target, self.staging / staged)
        self._replace(target, self.staging / staged, {"sha256": _sha256(data)})

    def place_tree(self, dest: Path, source: Path) -> None:
        target = self.fence.check(dest, what="folder")
        staged = self.staging / self._slot(target.name)
        trees.copy_tree(source, staged)
        self._replace(target, staged, {"tree": trees.digest_of(staged)})

    def _replace(self, target: Path, staged: Path, placed: dict[str, str]) -> None:
        backup = self._slot("backup-" + target.name) if os.path.lexists(target) else None
        path = self.fence.relative(target)
        self._log({"op": "replace", "path": path, "backup": backup, **placed})
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


def _clean_up(staging: Path | None, journal: Path) -> None:
    """Remove a finished staging folder, then the journal last, so that a crash in between
    still leaves a journal that says `commit`. Once the commit line is written the change is
    done: a backup that cannot be deleted (a file made immutable, a folder without write
    permission) is a warning, not an error, and the journal goes anyway, so that no later
    command stumbles over a change that is finished."""
    if staging is not None and staging.is_dir() and not staging.is_symlink():
        try:
            for item in staging.iterdir():
                _delete(item)
            staging.rmdir()
        except OSError as exc:
            ui.warn(
                f"the change is complete, but patcher could not delete its backups in {staging} "
                f"({exc.strerror or exc}: {exc.filename}); delete that folder yourself"
            )
    journal.unlink(missing_ok=True)


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


class _Journal:
    """A journal of ours, read and checked: what to undo, and the staging folder it used
    (None when the run died before it made one)."""

    def __init__(self, path: Path, records: list[dict[str, Any]], staging: Path | None):
        self.path = path
        self.records = records
        self.staging = staging

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["op"] in ("replace", "mkdir", "remove")]

    @property
    def committed(self) -> bool:
        return bool(self.records[-1]["op"] == "commit")


def _read_journal(fence: Fence) -> _Journal | None:
    path = journal_path(fence.root)
    if not os.path.lexists(path):
        return None
    try:
        if path.is_symlink() or not path.is_file():
            raise _untrusted(path, "it is not a file")
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _untrusted(path, f"it cannot be read ({exc})") from exc
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines) and number > 1:
                break  # a line cut short by the crash: its step never started
            raise _untrusted(path, f"line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise _untrusted(path, f"line {number} is not a record")
        records.append(record)
    begin = records[0] if records else {}
    name = begin.get("staging")
    if (
        {k: begin.get(k) for k in _BEGIN} != _BEGIN
        or begin.get("root") != str(fence.root)
        or not isinstance(name, str)
        or not _STAGING.match(name)
    ):
        raise _untrusted(path, "it does not start as a journal of this workspace")
    identity = None
    for number, record in enumerate(records[1:], 2):
        op = record.get("op")
        if op == "staging" and number == 2:
            identity = {k: record.get(k) for k in ("dev", "ino")}
            continue
        if op == "commit" and number == len(records):
            continue
        if op not in ("replace", "mkdir", "remove") or identity is None:
            raise _untrusted(path, f"unexpected record {record!r}")
        _check_step(fence, path, record)
    staging = fence.root / name
    if identity is None:
        return _Journal(path, records, None)  # died before its staging folder held anything
    if not os.path.lexists(staging):
        if records[-1].get("op") == "commit":
            return _Journal(path, records, None)  # died between the two halves of the clean-up
        raise _untrusted(path, f"its staging folder {staging} is gone")
    if staging.is_symlink() or not staging.is_dir() or _identity(staging) != identity:
        raise _untrusted(path, f"{staging} is not a folder this patcher run made")
    return _Journal(path, records, staging)


def _check_step(fence: Fence, path: Path, record: dict[str, Any]) -> None:
    rel = record.get("path")
    if not isinstance(rel, str):
        raise _untrusted(path, f"unexpected record {record!r}")
    try:
        fence.check(rel, what="path in the journal")
    except ContainmentError as exc:
        raise _untrusted(path, exc.message) from exc
    if any(part.casefold() == ".git" for part in Path(rel).parts):
        raise _untrusted(path, f"it names {rel}, inside a .git folder")
    backup = record.get("backup")
    if backup is not None and (not isinstance(backup, str) or not _SLOT.match(backup)):
        raise _untrusted(path, f"unexpected backup name {backup!r}")
    placed = [record.get(k) for k in ("sha256", "tree") if k in record]
    if record["op"] == "replace" and (len(placed) != 1 or not isinstance(placed[0], str)):
        raise _untrusted(path, f"a step does not say what it placed: {record!r}")


def _untrusted(journal: Path, problem: str) -> RecoveryError:
    return RecoveryError(
        f"{journal} looks like the journal of an interrupted patcher run, but {problem}",
        hint=f"patcher will not act on it: check your files, then delete {journal} yourself",
    )


def rollback(fence: Fence) -> None:
    """Undo the journaled steps of the pending change of `fence.root`, newest first; then
    remove its staging folder and journal. Each step's undo is safe to repeat, so a rollback
    cut short can simply run again."""
    journal = _read_journal(fence)
    if journal is None:
        return
    try:
        fault_point("rollback")
        if journal.staging is not None:
            for record in reversed(journal.steps):
                _undo(fence, journal.staging, record)
        elif not journal.committed:
            _drop_empty_staging(fence, journal)
    except (OSError, PatcherError) as exc:
        where = journal.staging or fence.root
        raise RecoveryError(
            f"could not roll back the interrupted change: {exc}",
            hint=f"the originals are kept in {where} (the journal {journal.path} says which "
            "file each backup belongs to); patcher retries on its next run",
        ) from exc
    _clean_up(journal.staging, journal.path)


def _drop_empty_staging(fence: Fence, journal: _Journal) -> None:
    """A run that died between writing its journal and recording its staging folder made
    that folder empty at most: remove it only if it is an empty folder."""
    staging = fence.root / journal.records[0]["staging"]
    if staging.is_dir() and not staging.is_symlink() and not any(staging.iterdir()):
        staging.rmdir()


def _placed_by_us(target: Path, record: dict[str, Any]) -> bool:
    """Whether `target` holds exactly what this step put there."""
    if target.is_symlink():
        return False
    if "tree" in record:
        return target.is_dir() and trees.digest_of(target) == record["tree"]
    return target.is_file() and _sha256(target.read_bytes()) == str(record.get("sha256"))


def _undo(fence: Fence, staging: Path, record: dict[str, Any]) -> None:
    target = fence.check(record["path"])
    backup = staging / record["backup"] if record.get("backup") else None
    if record["op"] == "mkdir":
        if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
            target.rmdir()
        return
    there = os.path.lexists(target)
    if backup is not None and os.path.lexists(backup):
        if there:
            if record["op"] == "remove" or not _placed_by_us(target, record):
                raise RecoveryError(
                    f"{target} is not what patcher put there, so its original cannot go back",
                    hint=f"move {target} away, then run patcher again",
                )
            _delete(target)  # what we put there
        os.replace(backup, target)
    elif backup is None and record["op"] == "replace" and there:
        if _placed_by_us(target, record):
            _delete(target)  # nothing was there before us
        else:
            ui.warn(f"left {target} as it is: it is not what the interrupted run wrote there")
    # a backup that was named but never made: the original never moved


def leftovers(root: Path) -> Iterator[Path]:
    """What an interrupted run left for `root`: its journal, and staging folders."""
    journal = journal_path(root)
    if os.path.lexists(journal):
        yield journal
    yield from sorted(p for p in root.glob(STAGING_NAME + "-*") if _STAGING.match(p.name))


def strangers(root: Path) -> list[Path]:
    """`.pyo3-patcher-txn*` entries of the checkout that no journal of ours names: a folder
    a repository brought, or one an older patcher left. Never acted on."""
    named = None
    journal = journal_path(root)
    if os.path.lexists(journal):
        try:
            first = journal.read_text(encoding="utf-8").splitlines()[0]
            named = json.loads(first).get("staging")
        except (OSError, ValueError, IndexError, AttributeError):
            named = None
    return sorted(p for p in root.glob(STAGING_NAME + "*") if p.name != named)


def warn_strangers(root: Path) -> None:
    for path in strangers(root):
        ui.warn(
            f"{path} was not made by a patcher run on this machine (a repository can carry "
            "such a folder): patcher leaves it alone; delete it if it is not yours"
        )


def pending(root: Path) -> Path | None:
    """The journal of an interrupted run on `root`, if there is one (reading nothing else)."""
    journal = journal_path(root)
    return journal if os.path.lexists(journal) else None


def recover(fence: Fence) -> list[str]:
    """Roll back (or finish) what an interrupted run on this machine left; returns what was
    done, to tell. Folders in the checkout that no journal of ours names are left alone."""
    warn_strangers(fence.root)
    journal = _read_journal(fence)
    if journal is None:
        return []
    if journal.committed:
        _clean_up(journal.staging, journal.path)
        return ["finished the clean-up of an interrupted patcher run"]
    rollback(fence)
    return [f"rolled back an interrupted patcher run ({len(journal.steps)} steps)"]
