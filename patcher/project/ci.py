"""CI mode (`patcher env --ci`): the vendored trees where a CI cache keeps their build.

In a CI job the vendored trees of a fresh checkout defeat a restored target/ twice over:
- cargo judges a path package by its files' mtimes, and a fresh checkout gives every file the
  current time, so each vendored crate looks newer than its cached build;
- Swatinem/rust-cache keeps, before saving, only the artifacts of packages whose manifest lies
  outside the workspace root, and a `[patch]` path crate inside the project is not.

So CI mode copies each vendored tree, after checking it against pyo3-patcher.lock, to a folder
beside the checkout (`<parent>/.pyo3-patcher-ci/<crate>-<version>-<digest>`), gives every file
one fixed mtime, and points cargo at the copies with a `[patch.crates-io]` table in
`<parent>/.cargo/config.toml`. cargo reads config files of every folder above its working
directory and prefers a config `[patch]` entry to the manifest's for the same crate; rust-cache's
own `cargo metadata` reads the same file and sees the copies outside the workspace root. The
copies' folder names carry their content digest: a tree whose content changes at the same
version (a new patch variant, an edit) is a new path, so a new package to cargo, never a stale
build. Nothing committed names these folders: Cargo.toml keeps its `[patch]` on the in-repo
trees (plain cargo and rust-analyzer use those), and every absolute path lives only in the file
written here, outside the checkout.

These are writes outside the project, made only on request (`--ci`), only into the two places
named above, and only over files that carry our marker.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from patcher import git, trees, ui
from patcher.errors import ProjectError
from patcher.project import vendor
from patcher.project.discovery import Project
from patcher.project.record import Record

MIRROR_DIR = ".pyo3-patcher-ci"
MIRROR_MARKER = ".pyo3-patcher-ci-dir"
CONFIG_HEAD = "# Written by pyo3-patcher (`patcher env --ci`)."
# Any fixed time older than every build will do; the same in every job is what matters. One
# file per crate (its Cargo.toml) is a second newer, so that "the newest file of the package",
# which cargo records for a build script without rerun-if-changed lines, is one file whatever
# order the file system lists them in.
FIXED_MTIME = 946_684_800  # 2000-01-01T00:00:00Z
_NEWEST = "Cargo.toml"


@dataclasses.dataclass(frozen=True)
class Mirror:
    """Where CI mode puts things for one checkout."""

    checkout: Path  # the top of the checkout
    trees: dict[str, Path]  # crate -> its copy

    @property
    def base(self) -> Path:
        """The folder that holds the checkout."""
        return self.checkout.parent

    @property
    def config(self) -> Path:
        return self.base / ".cargo" / "config.toml"

    @property
    def folder(self) -> Path:
        return self.base / MIRROR_DIR


def checkout_top(project: Project) -> Path:
    """The top of what CI checks out: the git work tree, else the workspace root."""
    return git.work_tree_of(project.workspace_root) or project.workspace_root


def plan(project: Project, rec: Record) -> Mirror:
    top = checkout_top(project)
    base = top.parent
    if base == top:  # a checkout at the file system's root has no folder beside it
        raise ProjectError(
            f"CI mode needs a folder beside the checkout, and {top} is the root",
            hint="check the repository out into a folder of its own (GitHub Actions does)",
        )
    folder = base / MIRROR_DIR
    copies = {
        crate: folder / f"{crate}-{rec.pyo3_version}-{rec.digests[crate][:16]}"
        for crate in rec.crates
    }
    return Mirror(top, copies)


def config_text(mirror: Mirror) -> str:
    lines = [
        CONFIG_HEAD,
        f"# cargo builds the copies of {mirror.checkout.name}'s vendored pyo3 trees named below:",
        "# they lie outside the checkout, so that CI caches keep their build. The next",
        "# `patcher env --ci` rewrites this file; deleting it and the copies is safe.",
        "[patch.crates-io]",
    ]
    lines += [
        f"{crate} = {{ path = {_toml_string(str(path))} }}"
        for crate, path in sorted(mirror.trees.items())
    ]
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_ours(config: Path) -> bool:
    try:
        return config.read_bytes().startswith(CONFIG_HEAD.encode())
    except OSError:
        return False


def _cargo_home() -> Path:
    return Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")


def _refuse_foreign(mirror: Mirror) -> None:
    """Refuse, before writing anything, every place that is not ours to write."""
    cargo_dir = mirror.config.parent
    hint_move = (
        "CI mode writes beside the checkout (GitHub Actions: /home/runner/work/<repo>/); "
        "check out the repository into a folder of its own, or build without --ci"
    )
    if os.path.realpath(cargo_dir) == os.path.realpath(_cargo_home()):
        raise ProjectError(
            f"CI mode would write {mirror.config}, the config of your cargo home",
            hint=hint_move,
        )
    for path in (cargo_dir, mirror.config, mirror.folder):
        if path.is_symlink():
            raise ProjectError(f"{path} is a symbolic link: not ours to write", hint=hint_move)
    if mirror.config.exists() and not is_ours(mirror.config):
        raise ProjectError(
            f"{mirror.config} exists and patcher did not write it",
            hint=f"{hint_move}; or move that file's settings elsewhere",
        )
    if mirror.folder.exists() and not (mirror.folder / MIRROR_MARKER).is_file():
        raise ProjectError(
            f"{mirror.folder} exists and patcher did not make it", hint=f"move it away; {hint_move}"
        )


def materialize(project: Project, rec: Record) -> Mirror:
    """Copy the vendored trees beside the checkout with fixed mtimes and point cargo at them;
    a copy already there with the right content is kept as it is."""
    mirror = plan(project, rec)
    checked = {}
    for crate in rec.crates:
        tree = project.fence.check(rec.tree_rel(crate), what="vendored folder")
        if not tree.is_dir() or trees.digest_of(tree) != rec.digests[crate]:
            raise ProjectError(
                f"{rec.tree_rel(crate)} is not the tree pyo3-patcher.lock records",
                hint="run `patcher verify` to see what differs, then `patcher apply`",
            )
        # links (to folders too) and files the digest leaves out: never copied out
        files = {k: v for k, v in trees.file_digests(tree).items() if not v.startswith("symlink:")}
        strays = trees.strays(tree, files)
        if strays:
            raise ProjectError(
                f"{rec.tree_rel(crate)} holds more than regular files: {', '.join(strays)}",
                hint="run `patcher verify` to see what differs, then `patcher apply`",
            )
        checked[crate] = tree
    _refuse_foreign(mirror)
    mirror.folder.mkdir(parents=True, exist_ok=True)
    (mirror.folder / MIRROR_MARKER).write_text(
        "pyo3-patcher: copies of vendored trees made by `patcher env --ci`\n", encoding="utf-8"
    )
    for crate, copy in mirror.trees.items():
        if copy.is_dir() and not copy.is_symlink() and _fixed(copy, rec.digests[crate]):
            continue
        tmp = mirror.folder / f".tmp-{copy.name}-{os.getpid()}"
        _remove_ours(tmp)
        _remove_ours(copy)
        trees.copy_tree(checked[crate], tmp)
        pin_mtimes(tmp)
        os.replace(tmp, copy)
    _prune(mirror)
    mirror.config.parent.mkdir(exist_ok=True)
    text = config_text(mirror)
    if not mirror.config.is_file() or mirror.config.read_text(encoding="utf-8") != text:
        tmp_config = mirror.config.with_name(f".config.toml.{os.getpid()}")
        tmp_config.write_text(text, encoding="utf-8")
        os.replace(tmp_config, mirror.config)
    ui.say(
        f"CI mode: cargo builds {len(mirror.trees)} copies of the vendored trees in "
        f"{mirror.folder} ({mirror.config})"
    )
    return mirror


def _pinned_files(root: Path) -> Iterator[tuple[Path, int]]:
    """Every file below `root` (links aside) with the mtime CI mode gives it: FIXED_MTIME, and
    the crate's manifest a second later."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                yield path, FIXED_MTIME + (1 if name == _NEWEST and Path(dirpath) == root else 0)


def pin_mtimes(root: Path) -> None:
    """Every file and folder below `root` to its pinned mtime."""
    for path, stamp in _pinned_files(root):
        os.utime(path, (stamp, stamp))
    for dirpath, _dirnames, _filenames in os.walk(root):
        os.utime(dirpath, (FIXED_MTIME, FIXED_MTIME))


def _fixed(copy: Path, digest: str) -> bool:
    """The copy has the recorded content and pinned mtimes (checked on every file)."""
    if any(int(path.stat().st_mtime) != stamp for path, stamp in _pinned_files(copy)):
        return False
    return trees.digest_of(copy) == digest


def _remove_ours(path: Path) -> None:
    """Delete a tree copy we made (it carries the vendored-tree marker); anything else stays,
    and is an error."""
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir() or not (path / vendor.MARKER).is_file():
        raise ProjectError(
            f"{path} is in the way and patcher did not make it",
            hint=f"move it out of {path.parent}, then run `patcher env --ci` again",
        )
    shutil.rmtree(path)


def _prune(mirror: Mirror) -> None:
    """Copies of other releases or contents: not named by the config any more."""
    keep = {p.name for p in mirror.trees.values()} | {MIRROR_MARKER}
    for entry in mirror.folder.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink() and (entry / vendor.MARKER).is_file():
            shutil.rmtree(entry)
