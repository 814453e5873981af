"""Coverage matrix: for every pinned release, which variant claims it, whether it applies
(exactly or with line offsets; never fuzz) and whether it compiles and behaves."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import unidiff
from packaging.version import Version

from patcher import checks, patches, pins
from patcher.errors import PatcherError
from patcher.patched import stage_release_files


@dataclasses.dataclass(frozen=True)
class Row:
    version: str
    variant: str
    applies: str  # "exact", "offset +N", "upstream", or "NO: ..."
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
                raise PatcherError(f"hunk {hunk.source_start} of {patched.path} not found")
            offsets.append(found - hunk.source_start)
    return offsets


def _applies(checked: patches.CheckedPatch, stage: Path) -> str:
    """Apply in `stage` and say how: exact, with line offsets, already upstream, or not."""
    try:
        # before the offsets: a release that has the change need not match our hunks
        if patches.carries_change(checked, stage):
            return "upstream"
        offsets = hunk_offsets(checked.variant.file, stage)
        patches.apply(checked, stage)
    except PatcherError as exc:
        return f"NO: {exc.message}"
    if not any(offsets):
        return "exact"
    return "offset " + ", ".join(f"{o:+d}" for o in offsets)


def _to_check(upstream: str, versions: list[str], check: str) -> set[str]:
    """Which releases to compile-check: all, none, or the ends: the first and last release
    each variant claims, and the newest release."""
    if check == "all":
        return set(versions)
    if check != "ends":
        return set()
    chosen = {versions[-1]}
    by_variant: dict[str, list[str]] = {}
    for version in versions:
        by_variant.setdefault(patches.select_variant(upstream, version).name, []).append(version)
    for claimed in by_variant.values():
        chosen.update({claimed[0], claimed[-1]})
    return chosen


def coverage(upstream: str, check: str = "ends", source: str = "crates.io") -> list[Row]:
    """One row per pinned release of `upstream`; `source` chooses pyo3's source."""
    versions = sorted(pins.load_pins(upstream), key=Version)
    to_check = _to_check(upstream, versions, check)
    rows = []
    for version in versions:
        pin = pins.get_pin(upstream, version)
        variant = patches.select_variant(upstream, version)
        checked = patches.check_patch(variant)
        with tempfile.TemporaryDirectory(prefix="patcher-matrix-") as tmp:
            try:
                origin = stage_release_files(pin, checked.files, Path(tmp), source=source)
            except PatcherError as exc:
                # e.g. a crate published from another commit than the pin
                rows.append(Row(version, variant.name, f"NO SOURCE: {exc.message}", "-", "refused"))
                continue
            applies = _applies(checked, Path(tmp))
        result = "-"
        if version in to_check and not applies.startswith("NO"):
            try:
                result = "yes: " + checks.check_release(pin, variant, source=source)
            except PatcherError as exc:
                result = f"NO: {exc.message}"
        rows.append(Row(version, variant.name, applies, result, origin))
    return rows


_PREAMBLE = {
    "pyo3": [
        "*applies*: `git apply` of the variant to the release's pyo3-build-config (zero fuzz;",
        "`offset` gives how far each hunk moved). *checked*: a probe crate built on the patched",
        "pyo3-ffi with `PYO3_PYTHON` in a venv and `PYO3_BASE_PYTHON` set: it compiles,",
        "registers no rerun on `PYO3_PYTHON`, and resolves the base interpreter (`-`: not",
        "checked; by default the first and last release of each variant's range and the newest",
        "release are checked).",
    ],
    "maturin": [
        "*applies*: `git apply` of the variant to the release's source (zero fuzz; `offset` gives",
        "how far the hunk moved). *checked*: the patched tree builds as its wheel does (`cargo",
        "build --release --no-default-features --locked`), and that binary's `maturin build -i",
        "<venv python>` of a probe project hands cargo `PYO3_BASE_PYTHON` = the base interpreter",
        "and `PYO3_PYTHON` = the venv's (`-`: not checked; by default the first and last release",
        "each variant claims and the newest release). *source*: git (the pinned commit) or the",
        "crate on crates.io whose `.cargo_vcs_info.json` names that commit. That pyo3 then stays",
        "fresh across isolated builds is shown end to end by tests/test_isolated_builds.py.",
    ],
}


def render(upstream: str, rows: list[Row], command: str) -> str:
    lines = [
        f"# {upstream} coverage matrix",
        "",
        f"Produced by `{command}`.",
        *_PREAMBLE[upstream],
        "",
        "| release | variant | applies | checked | source |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.version} | {r.variant} | {r.applies} | {r.checked} | {r.source} |")
    return "\n".join(lines) + "\n"
