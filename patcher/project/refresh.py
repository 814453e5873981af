"""`patcher refresh`: after the user moved pyo3 (or maturin) themselves, carry the patch to
the release the project now locks; and build the patched maturin it now needs, at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from patcher.project import apply, builds, record
from patcher.project.apply import Options, Result
from patcher.project.discovery import discover, opened
from patcher.upstreams.maturin import MaturinBuild


@dataclasses.dataclass(frozen=True)
class Refreshed:
    result: Result
    moved: tuple[str, ...]  # "crate: old -> new", one line each
    maturin: MaturinBuild | None  # built now, because the build requirement moved


def run_refresh(directory: Path, *, dry_run: bool = False, offline: bool = False) -> Refreshed:
    with opened(directory) as project:
        if record.load(project.record_file) is None:
            raise apply.no_record(project)
    result = apply.run_apply(directory, Options(dry_run=dry_run, offline=offline))
    previous, new = result.previous, result.record
    assert previous is not None
    old_crates = {c: previous.pyo3_version for c in previous.crates}
    new_crates = {c: new.pyo3_version for c in new.crates}
    revendored = {t.crate for t in result.plan.trees if t.source is not None}
    moved = []
    for crate in sorted(old_crates.keys() | new_crates.keys()):
        before, after = old_crates.get(crate, "-"), new_crates.get(crate, "-")
        if before != after:
            moved.append(f"{crate}: {before} -> {after}")
        elif crate in revendored:
            moved.append(f"{crate}: {after} (re-vendored)")
    if previous.maturin != new.maturin:
        moved.append(f"maturin: {previous.maturin or '-'} -> {new.maturin or '-'}")
    build = None
    if not dry_run and new.maturin and previous.maturin != new.maturin:
        # isolated builds need the new patched maturin: made now (cached), so that `patcher
        # env` is instant and a failure shows here rather than in the user's CI
        build = builds.patched_maturin(discover(directory), offline=offline)
    return Refreshed(result, tuple(moved), build)
