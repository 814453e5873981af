"""Patched crate trees, cached per (release, commit, variant, patch digest)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from patcher import cache, maturin, patches, sources, trees
from patcher.errors import PatchError
from patcher.patches import Variant
from patcher.pins import Pin
from patcher.project import vendor
from patcher.sources import Crate, PristineSource

# Bumped whenever the vendored form of a tree changes (the marker file, the crates' own git
# rule files left out), so that older cache entries are not mistaken for the current form.
VENDORED_FORM = "v3"


@dataclasses.dataclass(frozen=True)
class PatchedSource:
    pristine: PristineSource
    variant: Variant
    outcome: str  # "patched", or "upstream" when the release already carries the change
    directories: dict[str, Path]  # crate name -> patched tree in the cache
    digests: dict[str, str]  # crate name -> tree digest

    @property
    def version(self) -> str:
        return self.pristine.pin.version


def patched_pyo3(pristine: PristineSource, variant: Variant) -> PatchedSource:
    pin = pristine.pin
    entry = (
        cache.root()
        / "patched"
        / f"{pin.upstream}-{pin.version}-{pin.commit[:12]}-{pristine.origin.replace('.', '')}"
        f"-{variant.name}-{variant.digest[:12]}-{VENDORED_FORM}"
    )
    with cache.locked(entry):
        found = _load(pristine, variant, entry)
        if found is not None:
            return found
        checked = patches.check_patch(variant)
        with cache.building(entry) as tmp:
            outcome = _patch_into(pristine, checked, tmp)
            for crate in pristine.crates:
                vendor.finish_tree(tmp / crate.name, crate.name, pin.version)
            digests = {c.name: trees.digest_of(tmp / c.name) for c in pristine.crates}
            (tmp / "patched.json").write_text(
                json.dumps({"outcome": outcome, "digests": digests}, indent=2) + "\n",
                encoding="utf-8",
            )
        found = _load(pristine, variant, entry)
        assert found is not None
        return found


def _load(pristine: PristineSource, variant: Variant, entry: Path) -> PatchedSource | None:
    """The cached patched trees, if whole and matching their digests; else discarded."""
    names = sorted(c.name for c in pristine.crates)

    def parse(meta: Any) -> tuple[str, dict[str, str]]:
        digests = {str(k): str(v) for k, v in meta["digests"].items()}
        if meta["outcome"] not in ("patched", "upstream") or sorted(digests) != names:
            raise ValueError("unexpected outcome or crates")
        return str(meta["outcome"]), digests

    found = cache.read_entry(entry, "patched.json", parse)
    if found is None:
        return None
    outcome, digests = found
    dirs = {name: entry / name for name in digests}
    for name, directory in dirs.items():
        if not directory.is_dir() or trees.digest_of(directory) != digests[name]:
            cache.discard(entry, f"has a {name} tree that does not match its digest")
            return None
    return PatchedSource(pristine, variant, outcome, dirs, digests)


def _owner(crates: tuple[Crate, ...], repo_path: str) -> Crate:
    """The crate a repository path belongs to: the longest matching path_in_vcs."""
    best: Crate | None = None
    for crate in crates:
        prefix = crate.path_in_vcs
        if (prefix == "" or repo_path.startswith(prefix + "/")) and (
            best is None or len(prefix) > len(best.path_in_vcs)
        ):
            best = crate
    if best is None:
        raise PatchError(f"the patch touches {repo_path}, which belongs to no vendored crate")
    return best


def stage_touched(
    crates: tuple[Crate, ...], files: tuple[str, ...], stage: Path
) -> dict[str, Crate]:
    """Lay the crates that `files` (repository paths) belong to out as they sit in the
    repository, so the paths in a patch resolve: the root crate at the top, members in their
    subdirectories. Returns the touched crates by name."""
    touched = {crate.name: crate for crate in (_owner(crates, f) for f in files)}
    for crate in sorted(touched.values(), key=lambda c: c.path_in_vcs):
        trees.copy_tree(crate.directory, stage / crate.path_in_vcs)
    return touched


def stage_release_files(
    pin: Pin, files: tuple[str, ...], stage: Path, *, url: str | None = None, source: str = "auto"
) -> str:
    """Lay the files a patch touches (repository paths) out as they sit in the release's
    repository, for either upstream; returns where the source came from. `source` chooses
    pyo3's source (maturin's is always git, then the published crate)."""
    if pin.upstream == "pyo3":
        pristine = sources.pristine_pyo3(pin, source=source, url=url)
        stage_touched(pristine.crates, files, stage)
        return pristine.origin
    tree, origin = maturin.pristine_maturin(pin, url=url)
    for name in files:
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree / name, stage / name)
    return origin


def _patch_into(pristine: PristineSource, checked: patches.CheckedPatch, dest: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="patcher-stage-") as tmp:
        stage = Path(tmp) / "repo"
        touched = stage_touched(pristine.crates, checked.files, stage)
        outcome = patches.apply(checked, stage)
        for crate in pristine.crates:
            if crate.name not in touched:
                trees.copy_tree(crate.directory, dest / crate.name)
            elif crate.path_in_vcs:
                shutil.move(str(stage / crate.path_in_vcs), str(dest / crate.name))
        for crate in touched.values():
            if not crate.path_in_vcs:  # what is left of the stage is the root crate
                shutil.move(str(stage), str(dest / crate.name))
    return outcome
