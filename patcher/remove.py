"""`patcher remove`: undo `apply` completely, all or nothing."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from patcher import cache, cargo, manifest, txn
from patcher.apply import project_lock_path
from patcher.lockfile import State
from patcher.project import Project, discover


@dataclasses.dataclass(frozen=True)
class RemovePlan:
    project: Project
    state: State | None
    manifest_text: bytes | None  # new Cargo.toml bytes, None if unchanged
    trees: tuple[Path, ...]

    @property
    def changed(self) -> bool:
        return self.state is not None


def plan(directory: Path) -> RemovePlan:
    project = discover(directory)
    state = State.load(project.state_file)
    if state is None:
        return RemovePlan(project, None, None, ())
    old = project.workspace_manifest.read_bytes()
    new = manifest.remove_owned_entries(
        old.decode("utf-8"), state.entries, state.created_patch_table, state.separator
    ).encode("utf-8")
    root = project.workspace_root
    trees = tuple(
        root / state.vendor_dir / f"{name}-{state.pyo3_version}"
        for name in state.crates
        if (root / state.vendor_dir / f"{name}-{state.pyo3_version}").exists()
    )
    return RemovePlan(project, state, new if new != old else None, trees)


def execute(the_plan: RemovePlan, *, offline: bool = False) -> None:
    if the_plan.state is None:
        return
    project = the_plan.project
    with txn.Transaction(project.workspace_root) as tx:
        tx.protect(project.cargo_lock)
        for tree in the_plan.trees:
            txn.fault_point(f"remove:{tree.name}")
            tx.remove(tree)
        tx.remove_empty_dirs(project.workspace_root / the_plan.state.vendor_dir)
        if the_plan.manifest_text is not None:
            txn.fault_point("write:Cargo.toml")
            tx.write_file(project.workspace_manifest, the_plan.manifest_text)
        txn.fault_point("cargo-lock")
        if project.cargo_lock.exists():
            # cargo takes the pyo3 crates back from crates.io, at the versions locked before
            cargo.metadata(project.workspace_manifest, offline=offline)
        txn.fault_point("write:state")
        tx.remove(project.state_file)
        txn.fault_point("commit")


def run_remove(directory: Path, *, dry_run: bool = False, offline: bool = False) -> RemovePlan:
    project = discover(directory)
    with cache.locked(project_lock_path(project)):
        the_plan = plan(directory)
        if not dry_run:
            execute(the_plan, offline=offline)
        if the_plan.state is None:
            print("nothing to undo: patcher has not been applied here", file=sys.stderr)
        return the_plan
