"""The vendored trees in a project, and how we know a folder there is ours.

Each vendored crate folder carries a marker file naming the crate and release; patcher
replaces or deletes a folder only when the marker says it made it (or, for a folder vendored
by the first release, which wrote no marker, when its content is exactly what the record
says). Anything else in the vendor folder belongs to the user and is refused with a hint.
"""

from __future__ import annotations

from pathlib import Path

from patcher import trees
from patcher.errors import ProjectError
from patcher.project.record import Record

MARKER = ".pyo3-patcher-tree"


def marker_text(crate: str, version: str) -> str:
    return (
        "# pyo3-patcher vendored this folder; `patcher remove` deletes it. Do not edit.\n"
        f'crate = "{crate}"\nversion = "{version}"\n'
    )


def add_marker(tree: Path, crate: str, version: str) -> None:
    (tree / MARKER).write_text(marker_text(crate, version), encoding="utf-8")


def is_ours(tree: Path, crate: str, version: str, record: Record | None = None) -> bool:
    """Whether the folder `tree` is a vendored tree patcher made for `crate` `version`."""
    if tree.is_symlink() or not tree.is_dir():
        return False
    marker = tree / MARKER
    if marker.is_file() and not marker.is_symlink():
        try:
            return marker.read_text(encoding="utf-8") == marker_text(crate, version)
        except (OSError, UnicodeDecodeError):
            return False
    # vendored by the first release (record format 1), which wrote no marker
    return (
        record is not None
        and record.format == 1
        and record.pyo3_version == version
        and trees.digest_of(tree) == record.digests.get(crate)
    )


def not_ours(tree: Path, root: Path) -> ProjectError:
    rel = tree.relative_to(root).as_posix()
    return ProjectError(
        f"{rel} exists, but patcher did not make it (it carries no {MARKER} marker of ours)",
        hint=f"move {rel} out of the way (or set [tool.pyo3-patcher] vendor-dir to another "
        "folder), then run patcher again",
    )
