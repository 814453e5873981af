"""`patcher remove`: undo `apply` completely, all or nothing, and byte for byte.

Only what the record and the markers say is ours goes: our [patch.crates-io] entries (where
they still say what we wrote; a user's entry that `apply --force` replaced comes back), our
vendored folders, our record; Cargo.lock gets back the lines apply took from it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from patcher import ui
from patcher.errors import ExternalError, ProjectError
from patcher.project import cargolock, manifest, plan, resolve, sdist, textfile, vendor
from patcher.project.discovery import Project, opened
from patcher.project.plan import FileChange, Plan, TreeChange
from patcher.project.record import Record
from patcher.project.resolve import Inputs


@dataclasses.dataclass(frozen=True)
class Result:
    plan: Plan
    record: Record | None


def run_remove(directory: Path, *, dry_run: bool = False, offline: bool = False) -> Result:
    with opened(directory) as project:
        inputs = resolve.read_inputs(project)
        if inputs.record is None:
            ui.say("nothing to undo: patcher has not been applied here")
            return Result(Plan(project, "not applied"), None)
        planned, text = plan_remove(project, inputs, inputs.record)
        the_plan = stage(planned, inputs, text, offline=offline)
        if not dry_run:
            plan.commit(the_plan)
        return Result(the_plan, inputs.record)


def plan_remove(project: Project, inputs: Inputs, record: Record) -> tuple[Plan, str]:
    """What removing changes, and the planned root manifest text (for cargo)."""
    root = project.workspace_root
    changes = []
    for crate in record.crates:
        rel = record.tree_rel(crate)
        tree = project.fence.check(rel, what="vendored folder")
        if not tree.exists() and not tree.is_symlink():
            continue
        if not vendor.is_ours(tree, crate, record.pyo3_version, record):
            raise vendor.not_ours(tree, root)
        changes.append(TreeChange(crate, rel, None))
    _refuse_other_trees(project, record, {c.rel for c in changes})
    text = manifest.remove_entries(inputs.manifest.text, record.ours)
    files = []
    for rel in vendor.root_files(record.vendor_dir):
        path = project.fence.check(rel)
        if vendor.is_our_root_file(path):  # changed by the user: theirs now
            files.append(FileChange(rel, path.read_bytes(), None))
    new_manifest = inputs.manifest.encode(text)
    if new_manifest != inputs.manifest.raw:
        files.append(
            FileChange(
                project.fence.relative(project.workspace_manifest),
                inputs.manifest.raw,
                new_manifest,
            )
        )
    files += _sdist_include(project, record)
    record_rel = project.fence.relative(project.record_file)
    return Plan(
        project,
        f"pyo3 {record.pyo3_version} ({record.variant}), vendored in {record.vendor_dir}/",
        trees=tuple(changes),
        files=tuple(files),
        record=FileChange(record_rel, project.record_file.read_bytes(), None),
        rmdirs=(record.vendor_dir, *reversed(record.created_dirs)),
    ), text


def _sdist_include(project: Project, record: Record) -> list[FileChange]:
    """pyproject.toml without the include element apply added (project/sdist.py)."""
    glob = sdist.pattern(project, record.vendor_dir)
    if not record.sdist_include or project.pyproject is None or glob is None:
        return []
    text = textfile.read(project.pyproject)
    new = text.encode(
        sdist.remove_include(text.text, glob, record.sdist_include, project.pyproject)
    )
    if new == text.raw:
        return []
    return [FileChange(project.fence.relative(project.pyproject), text.raw, new)]


def _refuse_other_trees(project: Project, record: Record, removing: set[str]) -> None:
    """A vendored tree of ours that the record does not name (a record edited by hand, or
    brought back from another commit, naming another release): removing by the record would
    leave the project patched and forget it. Refuse, and say how to bring them in line."""
    folder = project.workspace_root / record.vendor_dir
    if folder.is_symlink() or not folder.is_dir():
        return
    for tree in sorted(folder.iterdir()):
        rel = f"{record.vendor_dir}/{tree.name}"
        if rel in removing or tree.is_symlink() or not (tree / vendor.MARKER).is_file():
            continue
        raise ProjectError(
            f"{rel} is a tree patcher vendored, but {project.record_file.name} names pyo3 "
            f"{record.pyo3_version}, another release: the record does not match the trees",
            hint=f"bring back the {project.record_file.name} that was written with the trees "
            f"(e.g. `git checkout -- {project.record_file.name}`), then run `patcher remove` "
            "again",
        )


def stage(the_plan: Plan, inputs: Inputs, manifest_text: str, *, offline: bool) -> Plan:
    """Give Cargo.lock back the registry lines apply took, and check with cargo (in a shadow)
    that the result is consistent; where it is not (a record of the first release, which kept
    no such lines), take the Cargo.lock cargo resolves, and say so."""
    record = inputs.record
    if inputs.lock is None or record is None:
        return the_plan
    restored = inputs.lock.encode(
        cargolock.restore_registry(inputs.lock.text, record.pyo3_version, record.registry)
    )
    lock = dataclasses.replace(inputs.lock, raw=restored)
    project = the_plan.project
    try:
        resolve.resolve(project, manifest_text, lock, {}, offline=offline, locked=True)
        new_lock: bytes | None = restored
    except ExternalError:
        new_lock = resolve.resolve(project, manifest_text, lock, {}, offline=offline).lock
        the_plan = dataclasses.replace(
            the_plan,
            notes=(
                *the_plan.notes,
                "cargo re-resolved Cargo.lock: the record kept no registry lines to put back",
            ),
        )
    return the_plan.with_file(
        FileChange(project.fence.relative(inputs.lock.path), inputs.lock.raw, new_lock)
    )
