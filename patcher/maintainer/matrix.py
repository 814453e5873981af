"""Coverage matrix, for any upstream: for every pinned release and every kind of change, which
variant claims it, whether it applies (exactly or with line offsets; never fuzz) and whether
the patched release compiles and behaves (the same check as `refresh --upstream`)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import unidiff
from packaging.version import Version

from patcher.errors import PatcherError, PatchError
from patcher.upstreams import pins, variants
from patcher.upstreams.base import Upstream
from patcher.upstreams.variants import CheckedPatch


@dataclasses.dataclass(frozen=True)
class Row:
    version: str
    kind: str
    variant: str
    applies: str  # "exact", "offset +N", "upstream", "NO: ...", or "NO SOURCE: ..."
    checked: str  # "yes: ...", "-" (not checked), or "NO: ..."
    source: str


def hunk_offsets(patch_file: Path, tree: Path) -> list[int]:
    """Where each hunk's old lines sit in `tree`, relative to where the diff says."""
    offsets = []
    for patched in unidiff.PatchSet(patch_file.read_text(encoding="utf-8")):
        lines = (tree / patched.path).read_text(encoding="utf-8").splitlines()
        for hunk in patched:
            old = [line.value.rstrip("\n") for line in hunk if not line.is_added]
            found = next(
                (i + 1 for i in range(len(lines) - len(old) + 1) if lines[i : i + len(old)] == old),
                None,
            )
            if found is None:
                raise PatchError(
                    f"hunk {hunk.source_start} of {patched.path} not found",
                    hint="the variant does not fit this release",
                )
            offsets.append(found - hunk.source_start)
    return offsets


def _applies(checked: CheckedPatch, stage: Path) -> str:
    """Apply in `stage` and say how: exact, with line offsets, already upstream, or not."""
    try:
        # before the offsets: a release that has the change need not match our hunks
        if variants.carries_change(checked, stage):
            return "upstream"
        offsets = hunk_offsets(checked.variant.file, stage)
        variants.apply(checked, stage)
    except PatcherError as exc:
        return f"NO: {exc.message}"
    if not any(offsets):
        return "exact"
    return "offset " + ", ".join(f"{o:+d}" for o in offsets)


def _to_check(upstream: str, kind: str, versions: list[str], check: str) -> set[str]:
    """Which releases to compile-check: all, none, or the ends: the first and last release
    each variant claims, and the newest release."""
    if check == "all":
        return set(versions)
    if check != "ends":
        return set()
    chosen = {versions[-1]}
    by_variant: dict[str, list[str]] = {}
    for version in versions:
        name = variants.select_variant(upstream, version, kind).name
        by_variant.setdefault(name, []).append(version)
    for claimed in by_variant.values():
        chosen.update({claimed[0], claimed[-1]})
    return chosen


def coverage(upstream: Upstream, check: str = "", source: str = "crates.io") -> list[Row]:
    """One row per pinned release and kind of change; `source` chooses where pyo3's come
    from (the registry by default: the matrix is about the releases, not our mirror)."""
    versions = sorted(pins.load_pins(upstream.name), key=Version)
    url = upstream.url()
    rows = []
    for kind in variants.kinds(upstream.name):
        to_check = _to_check(upstream.name, kind, versions, check or upstream.default_check(kind))
        for version in versions:
            rows.append(
                _row(upstream, kind, version, url, check=version in to_check, source=source)
            )
    return rows


def _row(upstream: Upstream, kind: str, version: str, url: str, *, check: bool, source: str) -> Row:
    pin = pins.get_pin(upstream.name, version)
    variant = variants.select_variant(upstream.name, version, kind)
    checked = variants.check_patch(variant)
    with tempfile.TemporaryDirectory(prefix="patcher-matrix-") as tmp:
        try:
            origin = upstream.stage_files(pin, checked.files, Path(tmp), url=url, source=source)
        except PatcherError as exc:  # e.g. a crate published from another commit than the pin
            return Row(version, kind, variant.name, f"NO SOURCE: {exc.message}", "-", "refused")
        applies = _applies(checked, Path(tmp))
    result = "-"
    if check and not applies.startswith("NO"):
        try:
            result = "yes: " + upstream.check(pin, variant, url=url, source=source)
        except PatcherError as exc:
            result = f"NO: {exc.message}"
    return Row(version, kind, variant.name, applies, result, origin)


def render(upstream: Upstream, rows: list[Row], command: str) -> str:
    with_kind = any(r.kind for r in rows)
    columns = ["release", *(["kind"] if with_kind else []), "variant", "applies", "checked"]
    head = "| " + " | ".join([*columns, "source"]) + " |"
    lines = [
        f"# {upstream.name} coverage matrix",
        "",
        f"Produced by `{command}`.",
        *upstream.matrix_preamble,
        "",
        head,
        "|" + "---|" * (len(columns) + 1),
    ]
    for r in rows:
        cells = [r.version, *([r.kind] if with_kind else []), r.variant, r.applies, r.checked]
        lines.append("| " + " | ".join([*cells, r.source]) + " |")
    return "\n".join(lines) + "\n"
