"""Where a pinned release's files come from, for any upstream: git or the registry.

* git: the pinned commit, fetched shallowly into a bare mirror in the cache (the tag must
  point where the pin says), and exported from there.
* crates.io: the crates published from the pinned commit; cargo checks the registry checksum
  of each, and each one's `.cargo_vcs_info.json` must name the pinned commit (and not a dirty
  tree), or it is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from patcher import cache, cargo, git
from patcher.errors import ExternalError, SourceError
from patcher.upstreams.pins import Pin

_UNVERIFIED = "the registry copy cannot be shown to come from the pinned commit; use the git source"


def export_pinned(pin: Pin, url: str, dest: Path) -> None:
    """The files of the pinned commit, from a bare mirror of `url` in the cache (fetched
    shallowly, tag checked, when the commit is not there yet)."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    repo_dir = cache.root() / "git" / f"{pin.upstream}-{key}.git"
    with cache.exclusive(repo_dir), cache.tool_writing(repo_dir):
        if not git.has_commit(repo_dir, pin.commit):
            git.fetch_pinned(
                repo_dir,
                url,
                tag=pin.tag,
                commit=pin.commit,
                expected_tag_commit=pin.expected_tag_commit,
            )
        git.export_tree(repo_dir, pin.commit, dest)


def vcs_info(crate_dir: Path) -> dict[str, object]:
    """What a published crate says of where it came from (its `.cargo_vcs_info.json`)."""
    try:
        info = json.loads((crate_dir / ".cargo_vcs_info.json").read_text(encoding="utf-8"))
        git_info = info["git"]
        return {
            "sha1": str(git_info["sha1"]),
            "dirty": bool(git_info.get("dirty", False)),
            "path_in_vcs": str(info.get("path_in_vcs", "")),
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(
            f"published crate {crate_dir.name} carries no readable .cargo_vcs_info.json",
            hint=_UNVERIFIED,
        ) from exc


def published_crates(
    pin: Pin, names: Iterable[str], *, offline: bool = False
) -> dict[str, tuple[Path, str]]:
    """The crates `names` of release `pin` from crates.io, each verified to be published from
    the pinned commit: name -> (its directory in cargo's cache, its path in the repository).

    pyo3 0.23.0's crates were published from two commits (the release, and the docs fix-up
    its tag points at); both are pinned, and either is accepted."""
    dirs = cargo.download_crates({name: pin.version for name in names}, offline=offline)
    found = {}
    for name, directory in dirs.items():
        info = vcs_info(directory)
        if info["sha1"] not in {pin.commit, pin.tag_commit} or info["dirty"]:
            dirty = " (dirty)" if info["dirty"] else ""
            raise SourceError(
                f"published crate {name} {pin.version} was built from {info['sha1']}{dirty}, "
                f"but the pin says {pin.commit}",
                hint="the registry copy does not match the pinned commit; refusing to use it",
            )
        found[name] = (directory, str(info["path_in_vcs"]))
    return found


def published_commit(crate: str, version: str) -> str | None:
    """The commit the crate `crate` `version` was published from; None if it is not
    published (or says nothing)."""
    try:
        directory = cargo.download_crates({crate: version})[crate]
        return str(vcs_info(directory)["sha1"])
    except (SourceError, ExternalError):
        return None
