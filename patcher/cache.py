"""The user cache: git mirrors, pristine crates, patched trees and maturin wheels.

Protocol (as pre-commit and cibuildwheel do it): an env-var override over a platformdirs
default, a CACHEDIR.TAG, a file lock per entry, a re-check inside the lock, work in a temp
dir beside the entry, and `os.replace` into place, so a crash never leaves half an entry.

The cache is untrusted too (a half-copied cache, a hand edit, another tool): an entry whose
metadata does not parse, lacks a key, or does not match its digest is discarded and built
again (`discard`); a cache that cannot be written is a clear error with a hint.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import filelock
import platformdirs

from patcher import ui
from patcher.errors import BusyError, CacheError, ExternalError, UsageError

T = TypeVar("T")
ENV_VAR = "PYO3_PATCHER_CACHE_DIR"
LOCK_TIMEOUT_S = 30 * 60  # a cold maturin build under the lock may take this long

_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pyo3-patcher.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
_TAG_SIGNATURE = _CACHEDIR_TAG.split("\n", 1)[0].encode()


def _cache_error(path: Path, exc: OSError) -> CacheError:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return CacheError(
        f"cannot write the cache at {path}: {exc.strerror or exc}",
        hint=(
            "free some disk space, or point PYO3_PATCHER_CACHE_DIR at a disk with room"
            if full
            else "point PYO3_PATCHER_CACHE_DIR at a writable directory (or fix the permissions)"
        ),
    )


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing the cache into a CacheError with a hint."""
    try:
        yield
    except OSError as exc:
        raise _cache_error(path, exc) from exc


_DISK_TROUBLE = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
}


@contextlib.contextmanager
def tool_writing(path: Path) -> Iterator[None]:
    """A program (git, cargo) that fails to write the cache because the disk is full or
    read-only is a cache problem, not the program's: say so, with a hint."""
    try:
        yield
    except ExternalError as exc:
        said = exc.stdout + exc.stderr
        for text, number in _DISK_TROUBLE.items():
            if text in said:
                raise _cache_error(path, OSError(number, text)) from exc
        raise


def root() -> Path:
    override = os.environ.get(ENV_VAR)
    if override and ("\n" in override or "\r" in override):
        # every path we print starts with it: a line break would end a line of `patcher env`
        # early and let the rest of the value become a variable of its own in $GITHUB_ENV
        raise UsageError(
            f"{ENV_VAR} holds a line break ({override!r})",
            hint=f"set {ENV_VAR} to a path on one line",
        )
    # relative: to the directory patcher runs in (the CLI makes it absolute at start-up), never
    # to the folder a git or cargo subprocess happens to run in
    path = (
        Path(override).absolute() if override else Path(platformdirs.user_cache_dir("pyo3-patcher"))
    )
    with writing(path):
        if path.exists() and not path.is_dir():
            raise CacheError(
                f"the cache path {path} is not a directory",
                hint="remove that file, or point PYO3_PATCHER_CACHE_DIR at a directory",
            )
        path.mkdir(parents=True, exist_ok=True)
        tag = path / "CACHEDIR.TAG"
        if os.path.lexists(tag):
            # another tool's tag is as good as ours; anything else there is not ours to
            # replace (the directory may be one the user named for something else)
            if tag.is_symlink() or not tag.is_file() or not _is_a_tag(tag):
                raise CacheError(
                    f"{tag} is not a cache directory tag, so {path} does not look like a "
                    "cache patcher may fill",
                    hint="point PYO3_PATCHER_CACHE_DIR at a directory of its own (patcher "
                    "creates it), or move that CACHEDIR.TAG away",
                )
        else:
            _write_whole(tag, _CACHEDIR_TAG.encode())
    return path


def _is_a_tag(tag: Path) -> bool:
    with tag.open("rb") as f:
        return f.read(len(_TAG_SIGNATURE)) == _TAG_SIGNATURE


def _no_links(path: Path) -> None:
    """Refuse a path of the cache reached through a symbolic link below the cache root: a
    link (to anywhere) would carry our writes, and the deletion of a stale entry, outside."""
    base = root()
    try:
        rel = path.relative_to(base)
    except ValueError:
        return  # not below the cache root: not a path the cache hands out
    current = base
    for part in rel.parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise CacheError(
                f"the cache folder {current} is a symbolic link; patcher does not follow links "
                "in its cache",
                hint=f"delete the link {current} (patcher makes the folder again), or point "
                "PYO3_PATCHER_CACHE_DIR at another directory",
            )


def folder(path: Path) -> Path:
    """`path`, a folder below the cache root, made where missing; every part of it must be a
    real folder (a link, or a file, where one of our folders belongs is refused: anyone who
    could write the cache may have put it there)."""
    _no_links(path / "x")
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
        _no_links(path / "x")  # also when the folders were just made by someone else
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise CacheError(
                f"{path} is not a folder patcher made (a link or a file is in its place)",
                hint=f"delete {path} (patcher makes the folder again), or point "
                "PYO3_PATCHER_CACHE_DIR at another directory",
            )
    return path


def write_new(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `path`, in a real folder of the cache, whole (see `_write_whole`); `durable`:
    on the disk before it takes the name (a journal must survive a power cut)."""
    folder(path.parent)
    _write_whole(path, data, durable=durable)


def _write_whole(path: Path, data: bytes, *, durable: bool = False) -> None:
    """A temp file of a fresh name beside `path` (created exclusively, never through a link:
    mkstemp opens with O_EXCL and O_NOFOLLOW), renamed over `path` (a rename replaces a link
    there, it never writes through one)."""
    with writing(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                if hasattr(os, "fchmod"):  # not on Windows before Python 3.13
                    os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600: another user's build reads it
                f.write(data)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_to_append(path: Path) -> int:
    """A descriptor that appends to the file `path` of the cache, refusing to open it through
    a link (ELOOP: a CacheError by `writing`)."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | _NOFOLLOW)


def _lock_file_of_ours(lock_file: Path) -> None:
    """Make sure `lock_file` is a plain file before the lock opens it. filelock before 3.20.1
    opened it with O_TRUNC through a link (the link's target was emptied); one found there is
    taken away (the link, never its target), and the file is made without following one."""
    if lock_file.is_symlink() or (os.path.lexists(lock_file) and not lock_file.is_file()):
        ui.warn(f"cache entry {lock_file.name} is not a lock file; making it again")
        remove(lock_file)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
    os.close(fd)


@contextlib.contextmanager
def exclusive(path: Path, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the file lock that guards `path` (a sibling `<name>.lock` file); tell the user
    when another process holds it and we wait."""
    lock_file = path.with_name(path.name + ".lock")
    folder(path.parent)
    with writing(lock_file):
        _lock_file_of_ours(lock_file)
    lock = filelock.FileLock(str(lock_file))
    try:
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            with ui.progress(f"waiting for another patcher process to finish with {path.name}"):
                lock.acquire(timeout=timeout)
    except filelock.Timeout as exc:  # a TimeoutError, so before OSError
        raise BusyError(
            f"timed out waiting for the lock on {path}",
            hint="another patcher process is working on it; wait and retry",
        ) from exc
    except OSError as exc:
        raise _cache_error(lock_file, exc) from exc
    try:
        yield
    finally:
        lock.release()


def discard(entry: Path, why: str) -> None:
    """Throw away a cache entry that cannot be used (call under its lock)."""
    ui.warn(f"cache entry {entry.name} {why}; fetching it again")
    with writing(entry):
        remove(entry)


def read_entry(entry: Path, meta_name: str, parse: Callable[[Any], T]) -> T | None:
    """The parsed metadata file of a cache entry, or None: when there is no entry, and (after
    discarding it) when it is not a folder, lacks its metadata, or `parse` fails on it."""
    if not os.path.lexists(entry):
        return None
    if entry.is_symlink() or not entry.is_dir():
        discard(entry, "is not a folder")
        return None
    meta_path = entry / meta_name
    if not meta_path.is_file():
        discard(entry, "is incomplete")
        return None
    try:
        return parse(json.loads(meta_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        discard(entry, "has damaged metadata")
        return None


def trees_match(entry: Path, digests: dict[str, str]) -> bool:
    """Whether every tree `entry/<name>` has its recorded digest; else the entry is
    discarded (a cached tree that does not match what we recorded is never used)."""
    from patcher import trees

    for name, digest in digests.items():
        if not (entry / name).is_dir() or trees.digest_of(entry / name) != digest:
            discard(entry, f"has a {name} tree that does not match its digest")
            return False
    return True


def made(found: T | None, entry: Path) -> T:
    """An entry just built must read back; if it does not, the disk is at fault."""
    if found is None:
        raise CacheError(
            f"cache entry {entry} is incomplete right after it was made",
            hint="check the disk (space, errors); then run the command again",
        )
    return found


def remove(path: Path) -> None:
    """Delete a file, link or folder of the cache, never following a link out of it."""
    _no_links(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):  # a file, a link (never followed), a pipe...
        path.unlink()


@contextlib.contextmanager
def building(final: Path) -> Iterator[Path]:
    """Yield a temp dir beside `final`; on success move it into place atomically.

    Call under `exclusive(final)` after re-checking that `final` is still missing.
    """
    folder(final.parent)
    with writing(final.parent):
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        with writing(final):
            yield tmp
            if os.path.lexists(final):  # a broken or older entry; we hold the lock
                remove(final)
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
