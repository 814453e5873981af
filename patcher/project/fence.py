"""Containment: the one check every path we write, move or delete in a project goes through.

A path is inside the fence when it lies below the workspace root after `..` is collapsed, and
no component between the root and it is a symbolic link: a link (to anywhere) inside the
project could carry a write outside, so we refuse to write through one at all.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from patcher.errors import ProjectError


class ContainmentError(ProjectError):
    """A path we were asked to touch lies outside the project, or behind a symbolic link."""


class Fence:
    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))

    def __repr__(self) -> str:
        return f"Fence({str(self.root)!r})"

    def check(self, path: Path | str, *, what: str = "path") -> Path:
        """The absolute form of `path` (absolute, or relative to the root), once it is known
        to be inside the fence; else ContainmentError."""
        absolute = Path(os.path.normpath(self.root / path))
        try:
            rel = absolute.relative_to(self.root)
        except ValueError:
            raise ContainmentError(
                f"refusing to touch {absolute}: the {what} lies outside the workspace at "
                f"{self.root}",
                hint="patcher only writes inside the workspace root; check the settings or the "
                "files that named this path",
            ) from None
        if not rel.parts:
            raise ContainmentError(
                f"refusing to replace the workspace root {self.root} itself",
                hint="check the settings or the files that named this path",
            )
        current = self.root
        for part in rel.parts:
            current = current / part
            if current.is_symlink():
                raise ContainmentError(
                    f"refusing to write through {current}: it is a symbolic link "
                    f"(the {what} is {rel.as_posix()})",
                    hint="replace the link with a real file or folder, or move it out of the "
                    "way, then run patcher again",
                )
            if not os.path.lexists(current):
                break
        return absolute

    def relative(self, path: Path) -> str:
        """`path` as a forward-slash path relative to the root (it must be inside)."""
        return self.check(path).relative_to(self.root).as_posix()


def check_relative(value: str, *, what: str) -> str:
    """A path from a file of the project (our record, a setting) that must name something
    inside the workspace: relative, forward slashes, no `.` or `..` parts. Returns it."""
    problem = None
    if not value:
        problem = "is empty"
    elif "\\" in value or "\0" in value or ":" in value:
        problem = "contains a backslash, a colon or a NUL"
    else:
        path = PurePosixPath(value)
        if path.is_absolute():
            problem = "is absolute"
        elif any(part in (".", "..") for part in value.split("/")) or "" in value.split("/"):
            problem = "is not a normalized relative path (no `.`, `..` or empty parts)"
        elif any(part.casefold() == ".git" for part in value.split("/")):
            # git's own folder: hooks and config there run commands; never ours to write
            problem = "lies in a .git folder"
    if problem is not None:
        raise ProjectError(
            f"{what} {value!r} {problem}",
            hint="use a relative path inside the workspace, such as `.pyo3-patcher`",
        )
    return value
