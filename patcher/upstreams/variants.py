"""Patch variants: which diff applies to which release, checked with unidiff before any use.

patches/<upstream>/variants.toml lists them, first match wins. An upstream may carry more than
one kind of change (maturin: its PEP 517 backend, and its compiled binary); each variant
names its `kind`, and a release gets one variant of each kind.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path, PurePosixPath

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from patcher import git, resources
from patcher.errors import PatchError, UnsupportedRelease

_PATCH_HINT = (
    "patch files come with pyo3-patcher: restore patches/ from version control or reinstall "
    "pyo3-patcher (PYO3_PATCHER_PATCHES_DIR, if set, points elsewhere)"
)


def _bad_patch(message: str) -> PatchError:
    return PatchError(message, _PATCH_HINT)


@dataclasses.dataclass(frozen=True)
class Variant:
    upstream: str
    name: str
    file: Path
    base: str
    releases: SpecifierSet
    detect: str
    kind: str = ""  # "" for an upstream with one kind of change

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.file.read_bytes()).hexdigest()

    def covers(self, version: str) -> bool:
        return self.releases.contains(Version(version), prereleases=True)


@dataclasses.dataclass(frozen=True)
class CheckedPatch:
    """A patch file that passed our checks, with the files it touches (repository paths)."""

    variant: Variant
    files: tuple[str, ...]


def variants_file(upstream: str) -> Path:
    return resources.patches_dir() / upstream / "variants.toml"


def load_variants(upstream: str) -> list[Variant]:
    path = variants_file(upstream)
    try:
        doc = resources.read_toml(path)
    except resources.DataFileError as exc:
        raise _bad_patch(f"cannot read {path}: {exc}") from exc
    variants = []
    for entry in doc.get("variant", []):
        try:
            variants.append(
                Variant(
                    upstream=upstream,
                    name=str(entry["name"]),
                    file=path.parent / str(entry["file"]),
                    base=str(entry["base"]),
                    releases=SpecifierSet(str(entry["releases"])),
                    detect=str(entry.get("detect", "")),
                    kind=str(entry.get("kind", "")),
                )
            )
        except (KeyError, TypeError, InvalidSpecifier) as exc:
            raise _bad_patch(f"{path}: variant {entry.get('name')!r}: {exc}") from exc
    return variants


def kinds(upstream: str) -> tuple[str, ...]:
    """The kinds of change the upstream's variants carry, in the order they are listed."""
    return tuple(dict.fromkeys(v.kind for v in load_variants(upstream)))


def select_variant(upstream: str, version: str, kind: str = "") -> Variant:
    for variant in load_variants(upstream):
        if variant.kind == kind and variant.covers(version):
            return variant
    raise UnsupportedRelease(
        f"no {upstream} patch variant{f' ({kind})' if kind else ''} claims release {version}",
        hint=f"maintainers carry the patch forward with `patcher refresh --upstream "
        f"{upstream}@{version}`",
    )


def check_patch(variant: Variant) -> CheckedPatch:
    """Parse the patch with unidiff and refuse anything but text edits inside the tree."""
    try:
        raw = variant.file.read_bytes()
    except OSError as exc:
        raise _bad_patch(f"cannot read patch {variant.file}: {exc}") from exc
    import unidiff  # only here: most commands check no patch, and it costs a CI step ~10 ms

    try:
        patch_set = unidiff.PatchSet(raw.decode("utf-8"))
    except (UnicodeDecodeError, unidiff.UnidiffParseError) as exc:
        raise _bad_patch(f"{variant.file} is not a valid unified diff: {exc}") from exc
    if not patch_set:
        raise _bad_patch(f"{variant.file} contains no file changes")
    files = []
    for patched in patch_set:
        where = f"{variant.file.name}: {patched.path}"
        if patched.is_binary_file:
            raise _bad_patch(f"{where}: binary changes are not allowed in a patch")
        if patched.is_rename:
            raise _bad_patch(f"{where}: renames are not allowed in a patch")
        header = str(patched.patch_info)
        if "new mode 120000" in header or "new file mode 120000" in header:
            raise _bad_patch(f"{where}: symlinks are not allowed in a patch")
        for name in (patched.source_file, patched.target_file):
            _check_tree_path(where, name)
        if not patched.is_modified_file:
            raise _bad_patch(f"{where}: a patch may only modify existing files")
        if len(patched) == 0:
            raise _bad_patch(f"{where}: no hunks")
        files.append(patched.path)
    return CheckedPatch(variant=variant, files=tuple(files))


def _check_tree_path(where: str, name: str) -> None:
    if name == "/dev/null":
        return
    stripped = name[2:] if name.startswith(("a/", "b/")) else name
    path = PurePosixPath(stripped)
    if path.is_absolute() or ".." in path.parts or "\\" in stripped or not path.parts:
        raise _bad_patch(f"{where}: path {name!r} points outside the source tree")


def carries_change(checked: CheckedPatch, tree: Path) -> bool:
    """Whether the release in `tree` already has our change (every patched file contains the
    variant's detect string): then nothing is patched."""
    targets = [tree / name for name in checked.files]
    missing = [str(p) for p in targets if not p.is_file()]
    if missing:
        raise PatchError(
            f"patch {checked.variant.name}: files missing in the tree: {missing}",
            hint="the release lacks a file the variant patches; maintainers carry the patch "
            "forward with `patcher refresh --upstream`",
        )
    detect = checked.variant.detect
    return bool(detect) and all(detect in p.read_text(encoding="utf-8") for p in targets)


def apply(checked: CheckedPatch, tree: Path) -> str:
    """Apply a checked patch inside `tree`. Returns "patched" or "upstream" (already has it)."""
    if carries_change(checked, tree):
        return "upstream"
    git.apply_patch(tree, checked.variant.file)
    return "patched"
