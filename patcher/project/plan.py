"""A plan of changes to a project, and carrying one out in a transaction.

apply, update, refresh and remove each build a `Plan` (nothing written, no network), then
`stage` it (cargo resolves in a shadow, which fills in the new Cargo.lock), then either print
it (`--dry-run`) or `commit` it. One plan type, one renderer, one committer serve them all.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

from patcher.project.discovery import Project
from patcher.project.transaction import Transaction, fault_point


@dataclasses.dataclass(frozen=True)
class TreeChange:
    crate: str
    rel: str  # where, relative to the workspace root
    source: Path | None  # the tree to place there; None: remove what is there


@dataclasses.dataclass(frozen=True)
class FileChange:
    rel: str
    old: bytes | None  # None: the file does not exist yet
    new: bytes | None  # None: delete it

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


@dataclasses.dataclass(frozen=True)
class Plan:
    project: Project
    summary: str  # first line of the report: what release, variant, source
    mkdirs: tuple[str, ...] = ()  # folders to create first
    trees: tuple[TreeChange, ...] = ()
    files: tuple[FileChange, ...] = ()  # Cargo.toml, Cargo.lock
    record: FileChange | None = None  # written last: it records a finished change
    rmdirs: tuple[str, ...] = ()  # folders to remove at the end when empty
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.mkdirs or self.trees or self.files or self.record or self.rmdirs)

    def with_file(self, change: FileChange | None) -> Plan:
        """The plan with one more file to write (no change: the same plan)."""
        if change is None or change.old == change.new:
            return self
        return dataclasses.replace(self, files=(*self.files, change))

    def _all_files(self) -> tuple[FileChange, ...]:
        return (*self.files, self.record) if self.record is not None else self.files

    def render(self, *, done: bool) -> str:
        lines = [self.summary]
        if not self.changed:
            lines.append("nothing to do")
            lines.extend(f"note: {n}" for n in self.notes)
            return "\n".join(lines) + "\n"
        for tree in self.trees:
            if tree.source is None:
                lines.append(f"{'removed' if done else 'remove'} {tree.rel}/ ({tree.crate})")
            else:
                lines.append(f"{'vendored' if done else 'vendor'} {tree.rel}/ ({tree.crate})")
        for change in self._all_files():
            lines.append(_describe(change, done=done))
            if not done and change.name in ("Cargo.toml", "pyproject.toml"):
                lines.append(_diff(change))
        lines.extend(f"note: {n}" for n in self.notes)
        if not done:
            lines.append("dry run: nothing written")
        return "\n".join(line for line in lines if line) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "workspace_root": str(self.project.workspace_root),
            "changed": self.changed,
            "vendor": [
                {"crate": t.crate, "path": t.rel, "action": "vendor" if t.source else "remove"}
                for t in self.trees
            ],
            "files": [
                {
                    "path": f.rel,
                    "action": "delete" if f.new is None else "create" if f.old is None else "edit",
                }
                for f in self._all_files()
            ],
            "notes": list(self.notes),
        }


def _describe(change: FileChange, *, done: bool) -> str:
    if change.new is None:
        verb = "removed" if done else "remove"
    elif change.old is None:
        verb = "wrote" if done else "write"
    else:
        verb = "updated" if done else "update"
    what = {
        "Cargo.lock": ": the pyo3 crates resolve to the vendored trees",
    }.get(change.name, "")
    if change.name == "Cargo.lock" and change.new is not None and change.old is not None:
        old = change.old.decode("utf-8", "replace").splitlines()
        new = change.new.decode("utf-8", "replace").splitlines()
        moved = sum(1 for line in difflib.ndiff(old, new) if line[:2] in ("- ", "+ "))
        what = f" ({moved} lines)"
    return f"{verb} {change.rel}{what}"


def _diff(change: FileChange) -> str:
    old = (change.old or b"").decode("utf-8", "replace").splitlines(keepends=True)
    new = (change.new or b"").decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"a/{change.rel}", f"b/{change.rel}")).rstrip(
        "\n"
    )


def commit(plan: Plan) -> None:
    """Carry out a plan all or nothing (see transaction.py)."""
    if not plan.changed:
        return
    root = plan.project.workspace_root
    with Transaction(plan.project.fence) as tx:
        for rel in plan.mkdirs:
            tx.mkdir(root / rel)
        for tree in plan.trees:
            fault_point(f"vendor:{tree.crate}" if tree.source else f"remove:{tree.rel}")
            if tree.source is None:
                tx.remove(root / tree.rel)
            else:
                tx.place_tree(root / tree.rel, tree.source)
        for change in plan.files:
            _write(tx, root, change, step=f"write:{change.name}")
        for rel in plan.rmdirs:
            directory = root / rel
            if directory.is_dir() and not directory.is_symlink() and not any(directory.iterdir()):
                tx.remove(directory)
        if plan.record is not None:
            _write(tx, root, plan.record, step="write:state")


def _write(tx: Transaction, root: Path, change: FileChange, *, step: str) -> None:
    fault_point(step)
    if change.new is None:
        tx.remove(root / change.rel)
    else:
        tx.write_file(root / change.rel, change.new)
