"""Content digests of directory trees, and copying them without touching what is unchanged."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from patcher.errors import ProjectError, SourceError

_UNSAFE = "refusing to unpack it; the source is not what a release should be: report it"
# Files cargo writes into its registry extraction, not part of a crate's content.
IGNORED_NAMES = frozenset({".cargo-ok"})


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every regular file below `root`, by forward-slash relative path (a link to
    a file: `symlink:<target>`; a device or pipe: `special`, never read; a link to a folder
    is not entered, as os.walk does not). One scandir entry per file rather than a Path and
    its stat calls: every command hashes the ~450 vendored files at least once."""
    digests: dict[str, str] = {}

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        folders = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    folders.append(entry)
                continue
            if entry.name in IGNORED_NAMES:
                continue
            rel = _printable(prefix + entry.name)
            # the kind from the listing (no lstat per file; scandir makes one where the file
            # system does not say)
            if entry.is_symlink():
                digests[rel] = "symlink:" + _printable(os.readlink(entry.path))
            elif not entry.is_file(follow_symlinks=False):
                digests[rel] = "special"  # a device or a pipe: never read (a pipe would block)
            else:
                with open(entry.path, "rb") as stream:  # noqa: PTH123 (a Path per file costs)
                    digests[rel] = hashlib.sha256(stream.read()).hexdigest()
        for entry in folders:
            walk(entry.path, f"{prefix}{entry.name}/")

    walk(os.fspath(root), "")
    return digests


def strays(root: Path, expected: Mapping[str, str]) -> list[str]:
    """What a tree holds besides the regular files and folders of `expected` (file_digests of
    the tree it should be): links (to folders too, which file_digests does not enter) that the
    release does not have, devices, pipes, and extra files, even those file_digests leaves out
    (`.cargo-ok`). Named by relative path, with what each is."""
    found: list[str] = []

    # as os.walk lists it (a folder it cannot list is passed over), one scandir entry per name
    # rather than a Path and its lstat: CI mode checks the ~450 vendored files in every step
    def walk(folder: str, prefix: str) -> None:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            return
        folders = []
        for entry in entries:
            rel = _printable(prefix + entry.name)
            if entry.is_symlink():
                if not expected.get(rel, "").startswith("symlink:"):
                    found.append(f"{rel} (a link)")
            elif entry.is_dir(follow_symlinks=False):
                folders.append(entry)
            elif not entry.is_file(follow_symlinks=False):
                found.append(f"{rel} (a device or pipe)")
            elif rel not in expected:
                found.append(f"{rel} (not in the release)")
        for entry in folders:
            walk(entry.path, f"{prefix}{entry.name}/")

    walk(os.fspath(root), "")
    return found


def _printable(name: str) -> str:
    """A file name as text that can be hashed, printed and written as JSON: a name that is
    not UTF-8 (no release has one; a hand-made tree may) keeps its bytes as `\\xNN` escapes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return name


def tree_digest(digests: dict[str, str]) -> str:
    h = hashlib.sha256()
    for rel in sorted(digests):
        h.update(f"{rel}\0{digests[rel]}\n".encode())
    return h.hexdigest()


def digest_of(root: Path) -> str:
    return tree_digest(file_digests(root))


def diff_digests(expected: dict[str, str], actual: dict[str, str]) -> dict[str, list[str]]:
    """Name what differs: files changed, added and deleted relative to `expected`."""
    return {
        "changed": sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k]),
        "added": sorted(actual.keys() - expected.keys()),
        "deleted": sorted(expected.keys() - actual.keys()),
    }


def copy_tree(src: Path, dest: Path, *, link: bool = False) -> None:
    """Copy a tree (links kept as links). `link`: for a scratch tree of ours made from another,
    each file a hard link where the file system allows, a copy where not; only for trees
    whose files are never written in place afterwards (removing one unlinks it from this tree
    only). Saves writing every file again."""
    try:
        shutil.copytree(
            src,
            dest,
            symlinks=True,
            ignore=shutil.ignore_patterns(*IGNORED_NAMES),
            copy_function=_link_or_copy if link else shutil.copy2,
        )
    except shutil.Error as exc:
        raise copy_failure(exc) from None


def _link_or_copy(src: str, dest: str) -> None:
    try:
        os.link(src, dest, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dest, follow_symlinks=False)


def copy_failure(exc: shutil.Error) -> OSError | ProjectError:
    """One short error for a failed copytree, whose own error lists every file that failed
    (a full disk or too-long paths: thousands of lines): the first failure and the count."""
    failures = [f for f in exc.args[0] if isinstance(f, tuple) and len(f) == 3] if exc.args else []
    if not failures:
        return OSError(errno.EIO, str(exc)[:200])
    _src, dest, why = failures[0]
    found = re.match(r"\[Errno (\d+)\] ([^:]*)", str(why))
    number = int(found.group(1)) if found else errno.EIO
    reason = found.group(2) if found else str(why)[:200]
    more = f" (and {len(failures) - 1} more files)" if len(failures) > 1 else ""
    if number == errno.ENAMETOOLONG:
        return ProjectError(
            f"cannot copy {dest}: {reason}{more}",
            hint=f"the path is {len(str(dest))} characters long: move the project (or "
            "PYO3_PATCHER_CACHE_DIR) to a shorter path, then run the command again",
        )
    return OSError(number, f"{reason}{more}", str(dest))


def safe_extract(archive: Path, dest: Path, *, allow_links: bool = True) -> None:
    """Extract a tar archive, refusing members that would land outside `dest`."""
    import tarfile  # here: every command imports this module, few unpack a crate

    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (root / member.name).resolve()
            if not (target == root or root in target.parents) or member.isdev():
                raise SourceError(
                    f"archive {archive.name} has an unsafe member {member.name!r}", hint=_UNSAFE
                )
            if (member.issym() or member.islnk()) and not allow_links:
                raise SourceError(
                    f"archive {archive.name} has a link {member.name!r}", hint=_UNSAFE
                )
            if member.issym() or member.islnk():
                base = target.parent if member.issym() else root
                link = (base / member.linkname).resolve()
                if not (link == root or root in link.parents):
                    raise SourceError(
                        f"archive {archive.name}: link {member.name!r} points outside the tree",
                        hint=_UNSAFE,
                    )
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python < 3.9.17 / 3.10.12: members were checked above
            tar.extractall(dest)
