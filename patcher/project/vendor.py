"""The vendored folder in a project: its trees, how we know a folder there is ours, and how
it survives being committed to git and cloned.

Each vendored crate folder carries a marker file naming the crate and release; patcher
replaces or deletes a folder only when the marker says it made it (or, for a folder vendored
by the first release, which wrote no marker, when its content is exactly what the record
says). Anything else in the vendor folder belongs to the user and is refused with a hint.

Git: a published crate may carry its own `.gitattributes` (pyo3 0.29: `* text=auto eol=lf`,
beside files with CRLF endings) and `.gitignore` files (pyo3 0.26: `emscripten/.gitignore`
naming a file the crate contains), and the user's repository has rules of its own (`*.txt`,
`**/Cargo.lock`, `* text=auto`). Committed as they are, such trees come back from a clone
with files converted or missing. So the vendored form of a tree leaves the crates' own
`.gitattributes` and `.gitignore` out (they only steer git), and the vendor folder carries
ours: `* -text ...` (store every byte as it is, no filters) and `!*` (ignore nothing). A
deeper rule file wins over a shallower one, so ours override the repository's; only
`.git/info/attributes`, or an ignore rule on the vendor folder itself, can still interfere,
and `git_problems` finds those so that apply can warn.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from patcher import git, trees
from patcher.errors import ProjectError
from patcher.project.record import Record

if TYPE_CHECKING:
    from patcher.upstreams.pyo3 import PatchedRelease

# Bumped whenever the vendored form of a tree changes (the marker file, the crates' own git
# rule files left out).
VENDORED_FORM = "v3"
MARKER = ".pyo3-patcher-tree"
GIT_FILES = (".gitattributes", ".gitignore")  # what a vendored tree leaves out
ROOT_FILES = {
    # `-` unsets an attribute; `!` makes it unspecified. gitoxide (cargo's git, so `cargo
    # package --list` and maturin's sdist) refuses a boolean working-tree-encoding, so that one
    # is `!`: no re-encoding either way. linguist-*: GitHub folds these files in pull-request
    # diffs and leaves them out of language statistics.
    ".gitattributes": (
        "# pyo3-patcher: store the vendored sources byte for byte (no line-ending conversion,\n"
        "# no filters, no re-encoding), whatever the rest of the repository says.\n"
        "* -text -eol -crlf -ident -filter !working-tree-encoding\n"
        "# GitHub: vendored, generated code (folded in diffs, no language statistics).\n"
        "* linguist-vendored linguist-generated\n"
    ),
    ".gitignore": (
        "# pyo3-patcher: commit every vendored file, whatever ignore rules apply elsewhere.\n!*\n"
    ),
    # editors and editorconfig-checker: no whitespace or line-ending rules of the repository
    # apply to the vendored bytes (`root = true` stops the search for rules above)
    ".editorconfig": (
        "# pyo3-patcher: vendored sources, kept byte for byte; no editor rules apply here.\n"
        "root = true\n"
    ),
    # `ruff check .` / `ruff format .` from the repository take the nearest configuration of
    # each file: this one excludes every vendored file (pyo3 ships .py files)
    "ruff.toml": (
        "# pyo3-patcher: vendored sources, kept byte for byte; ruff leaves them alone.\n"
        'exclude = ["*"]\n'
    ),
}
# Our files as earlier releases of patcher wrote them: still ours (apply replaces them, remove
# deletes them), though verify asks for the current ones.
EARLIER_ROOT_FILES = {
    ".gitattributes": (
        "# pyo3-patcher: store the vendored sources byte for byte (no line-ending conversion,\n"
        "# no filters), whatever the rest of the repository says.\n"
        "* -text -eol -crlf -ident -filter -working-tree-encoding\n",
    ),
}
# attributes that would make git store or check out a vendored file with other bytes
_ALTERING = ("text", "eol", "crlf", "ident", "filter", "working-tree-encoding")


def marker_text(crate: str, version: str) -> str:
    return (
        "# pyo3-patcher vendored this folder; `patcher remove` deletes it. Do not edit.\n"
        f'crate = "{crate}"\nversion = "{version}"\n'
    )


def finish_tree(tree: Path, crate: str, version: str) -> None:
    """Turn a patched crate tree into its vendored form: without the crate's own git rule
    files, with our marker."""
    for dirpath, _dirnames, filenames in os.walk(tree):
        for name in filenames:
            if name in GIT_FILES:
                (Path(dirpath) / name).unlink()
    (tree / MARKER).unlink(missing_ok=True)  # a link to a file of another tree: not written through
    (tree / MARKER).write_text(marker_text(crate, version), encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class VendoredRelease:
    """A patched pyo3 release in the form it is vendored: one tree per crate (in this
    process's scratch folder)."""

    patched: PatchedRelease
    directories: dict[str, Path]  # crate -> its vendored form
    files: dict[str, dict[str, str]]  # crate -> its files' sha256 by relative path (read once)

    @property
    def version(self) -> str:
        return self.patched.version

    @functools.cached_property
    def digests(self) -> dict[str, str]:
        """Crate -> tree digest."""
        return {crate: trees.tree_digest(files) for crate, files in self.files.items()}


_VENDORED: dict[tuple[Path, str], VendoredRelease] = {}


def vendored(patched: PatchedRelease) -> VendoredRelease:
    """The vendored form of a patched release, derived in this process from its trees (which
    are derived from an anchored source: upstreams/sources.py); never read from the cache,
    whose entries anyone who shares it could have changed along with their digests."""
    pin = patched.pristine.pin
    key = (patched.pristine.crates[0].directory.parent, patched.variant.digest)
    if key not in _VENDORED:
        # here, not at the top: CI mode needs this module's marker and checks only, and
        # upstreams.sources imports the fetching code of every upstream
        from patcher.upstreams import sources

        dest = sources.scratch(f"pyo3-{pin.version}-vendored-{VENDORED_FORM}")
        dest.mkdir()
        for crate, source in patched.directories.items():
            # linked: finish_tree only unlinks files and adds its marker
            trees.copy_tree(source, dest / crate, link=True)
            finish_tree(dest / crate, crate, pin.version)
        names = sorted(patched.directories)
        _VENDORED[key] = VendoredRelease(
            patched,
            {name: dest / name for name in names},
            {name: trees.file_digests(dest / name) for name in names},
        )
    return _VENDORED[key]


def root_files(vendor_dir: str) -> dict[str, bytes]:
    """Our files in the vendor folder itself, by path relative to the workspace root."""
    return {f"{vendor_dir}/{name}": text.encode("utf-8") for name, text in ROOT_FILES.items()}


def is_our_root_file(path: Path) -> bool:
    """Whether `path` (one of ROOT_FILES' names) holds what this or an earlier patcher wrote."""
    if path.is_symlink() or not path.is_file():
        return False
    data = path.read_bytes()
    texts = (ROOT_FILES[path.name], *EARLIER_ROOT_FILES.get(path.name, ()))
    return any(data == text.encode("utf-8") for text in texts)


def refuse_foreign_root_files(root: Path, vendor_dir: str) -> None:
    """A vendor folder's own files (`.gitignore`, `.gitattributes`, ...) are ours only while
    they hold our bytes: anything else there (the user's own rules, a folder, a link) is
    theirs, and patcher neither overwrites it nor deletes it."""
    for rel in root_files(vendor_dir):
        path = root / rel
        if not os.path.lexists(path):
            continue
        if not is_our_root_file(path):
            raise ProjectError(
                f"{path} is not the file patcher writes there, so it is yours: patcher will "
                "not overwrite it",
                hint=f"patcher needs its own {path.name} in {vendor_dir}/: move yours out of "
                "the way (or set [tool.pyo3-patcher] vendor-dir to a folder of its own), then "
                "run the command again",
            )


def git_problems(work_tree: Path, paths: list[str]) -> tuple[list[str], list[str]]:
    """Of `paths` (relative to the git work tree), those git would leave out of a commit,
    and those it would store or check out with other bytes."""
    ignored = git.check_ignored(work_tree, paths)
    altered = []
    for path, attributes in git.check_attributes(work_tree, paths, _ALTERING).items():
        if any(value not in ("unset", "unspecified") for value in attributes.values()):
            shown = ", ".join(f"{k}={v}" for k, v in attributes.items() if v != "unspecified")
            altered.append(f"{path} ({shown})")
    return ignored, altered


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
