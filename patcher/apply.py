"""`patcher apply`: plan the change to a project, then carry it out all or nothing."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from patcher import cache, cargo, manifest, maturin, patches, pins, sources, trees, txn
from patcher.errors import PatchError, ProjectError, VerifyError
from patcher.lockfile import LockedPyo3, State, pyo3_in_lock
from patcher.patched import PatchedSource, patched_pyo3
from patcher.project import Project, discover


@dataclasses.dataclass(frozen=True)
class Options:
    dry_run: bool = False
    offline: bool = False
    force: bool = False
    source: str | None = None  # overrides [tool.pyo3-patcher] source


@dataclasses.dataclass(frozen=True)
class FileEdit:
    path: Path
    old: bytes | None
    new: bytes


@dataclasses.dataclass(frozen=True)
class TreePlacement:
    crate: str
    dest: Path
    source: Path | None  # None: remove a tree we no longer use


@dataclasses.dataclass(frozen=True)
class ApplyPlan:
    project: Project
    state: State
    previous: State | None
    patched: PatchedSource
    edits: tuple[FileEdit, ...]
    placements: tuple[TreePlacement, ...]
    update_lock: bool  # Cargo.lock still resolves a pyo3 crate from crates.io

    @property
    def changed(self) -> bool:
        return bool(self.edits or self.placements or self.update_lock)

    def render(self) -> str:
        root = self.project.workspace_root
        pin = self.patched.pristine.pin
        lines = [
            f"pyo3 {pin.version} ({pin.tag} @ {pin.commit[:12]}), variant {self.state.variant}: "
            f"{self.patched.outcome}; source: {self.patched.pristine.origin}",
        ]
        if not self.changed:
            lines.append("nothing to do: the project is already patched")
            return "\n".join(lines) + "\n"
        for placement in self.placements:
            rel = placement.dest.relative_to(root).as_posix()
            verb = "vendor" if placement.source is not None else "remove"
            lines.append(f"{verb} {rel}/ ({placement.crate})")
        for edit in self.edits:
            rel = edit.path.relative_to(root).as_posix()
            old = (edit.old or b"").decode("utf-8").splitlines(keepends=True)
            new = edit.new.decode("utf-8").splitlines(keepends=True)
            lines.append(
                "".join(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}")).rstrip("\n")
            )
        if self.update_lock or any(e.path.name == "Cargo.toml" for e in self.edits):
            lines.append(
                "update Cargo.lock through cargo (pyo3 crates resolve to the vendored paths)"
            )
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        root = self.project.workspace_root
        return {
            "workspace_root": str(root),
            "pyo3_version": self.state.pyo3_version,
            "commit": self.state.commit,
            "variant": self.state.variant,
            "outcome": self.state.outcome,
            "source": self.state.source,
            "crates": list(self.state.crates),
            "changed": self.changed,
            "vendor": [
                {
                    "crate": p.crate,
                    "path": p.dest.relative_to(root).as_posix(),
                    "action": "vendor" if p.source else "remove",
                }
                for p in self.placements
            ],
            "files": [e.path.relative_to(root).as_posix() for e in self.edits],
            "update_lock": self.update_lock,
        }


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def resolve_locked(project: Project, *, offline: bool) -> tuple[LockedPyo3, bool]:
    """The pyo3 crates the project locks, and whether it keeps no Cargo.lock.

    A project without Cargo.lock is resolved through cargo; the lock cargo writes for that is
    removed again at once (it is not ours to add).
    """
    lock = project.cargo_lock
    absent = not lock.exists()
    if absent:
        data, _ = _metadata_without_lock(project, offline)
        versions: dict[str, str] = {}
        for pkg in data["packages"]:
            if pkg["name"] in sources.PYO3_CRATES:
                versions[pkg["name"]] = pkg["version"]
        if not versions:
            raise _no_pyo3(project)
        if len(set(versions.values())) > 1:
            raise ProjectError(f"the workspace resolves several pyo3 releases: {versions}")
        crates = tuple(sorted(versions))
        return LockedPyo3(next(iter(versions.values())), crates, crates), True
    locked = pyo3_in_lock(lock)
    if locked is None:
        raise _no_pyo3(project)
    return locked, False


def _metadata_without_lock(project: Project, offline: bool) -> tuple[dict[str, Any], str]:
    try:
        return cargo.metadata(project.workspace_manifest, offline=offline)
    finally:
        if project.cargo_lock.exists():
            project.cargo_lock.unlink()


def _no_pyo3(project: Project) -> ProjectError:
    return ProjectError(
        f"the workspace at {project.workspace_root} does not depend on pyo3",
        hint="patcher patches pyo3 for PyO3 extension projects; add pyo3 to your crate first",
    )


def plan(directory: Path, options: Options) -> ApplyPlan:
    project = discover(directory)
    previous = State.load(project.state_file)
    manifest_path = project.workspace_manifest
    old_text = manifest_path.read_bytes()
    text = old_text.decode("utf-8")
    owned = dict(previous.entries) if previous else {}
    foreign = manifest.foreign_entries(text, set(sources.PYO3_CRATES), owned)
    if foreign and not options.force:
        listed = "; ".join(f"{k} = {v}" for k, v in sorted(foreign.items()))
        raise ProjectError(
            f"{manifest_path.name} already has [patch.crates-io] entries for pyo3 crates: {listed}",
            hint="patcher would replace them; remove them, or pass --force to let patcher "
            "replace them",
        )
    locked, lock_absent = resolve_locked(project, offline=options.offline)
    version = locked.version
    pin = pins.get_pin("pyo3", version)
    variant = patches.select_variant("pyo3", version)
    # the maturin release isolated builds will get (patcher env builds it); checked here so a
    # requirement no pinned release satisfies fails before anything is written
    maturin_version = maturin.wanted_version(project)
    source = options.source or project.config.source
    if previous is not None and previous.pyo3_version == version and options.source is None:
        # reproduce the recorded trees: the same source gives the same bytes
        source = previous.source if previous.source in sources.SOURCE_CHOICES else source
    if source not in sources.SOURCE_CHOICES:
        raise ProjectError(
            f"unknown source {source!r}", hint=f"use one of {', '.join(sources.SOURCE_CHOICES)}"
        )
    pristine = sources.pristine_pyo3(
        pin,
        source=source,
        url=sources.upstream_url("pyo3", project.config.pyo3_url),
        offline=options.offline,
    )
    patched = patched_pyo3(pristine, variant)
    if previous is not None and previous.pyo3_version == version and previous.digests:
        stale = [
            c for c in locked.crates if previous.digests.get(c) not in (None, patched.digests[c])
        ]
        if stale:
            _say(
                f"note: recorded trees for {stale} differ from what {source} gives now; "
                "re-vendoring"
            )

    root = project.workspace_root
    vendor_rel = project.config.vendor_dir.strip("/")
    wanted: dict[str, str] = {}
    placements: list[TreePlacement] = []
    for name in locked.crates:
        rel = f"{vendor_rel}/{name}-{version}"
        wanted[name] = rel
        dest = root / rel
        if not (dest.is_dir() and trees.digest_of(dest) == patched.digests[name]):
            placements.append(TreePlacement(name, dest, patched.directories[name]))
    if previous is not None:
        for name in previous.crates:
            old = root / previous.vendor_dir / f"{name}-{previous.pyo3_version}"
            if old not in {root / rel for rel in wanted.values()} and old.exists():
                placements.append(TreePlacement(name, old, None))

    drop = set(owned) - set(wanted)
    new_text, created, separator = manifest.set_patch_entries(text, wanted, drop)
    edits: list[FileEdit] = []
    if new_text.encode("utf-8") != old_text:
        edits.append(FileEdit(manifest_path, old_text, new_text.encode("utf-8")))
    created_table = created or bool(previous and previous.created_patch_table)
    if not created and previous is not None:
        separator = previous.separator

    state = State(
        vendor_dir=vendor_rel,
        pyo3_version=version,
        tag=pin.tag,
        commit=pin.commit,
        variant=variant.name,
        patch_sha256=variant.digest,
        outcome=patched.outcome,
        source=pristine.origin,
        crates=locked.crates,
        digests={c: patched.digests[c] for c in locked.crates},
        entries=wanted,
        created_patch_table=created_table,
        separator=separator,
        maturin=maturin_version,
        lock_was_absent=lock_absent,
    )
    state_bytes = state.render().encode("utf-8")
    old_state = project.state_file.read_bytes() if project.state_file.exists() else None
    if state_bytes != old_state:
        edits.append(FileEdit(project.state_file, old_state, state_bytes))
    update_lock = not lock_absent and bool(locked.from_registry)
    return ApplyPlan(
        project, state, previous, patched, tuple(edits), tuple(placements), update_lock
    )


def project_lock_path(project: Project) -> Path:
    key = hashlib.sha256(str(project.workspace_root).encode()).hexdigest()[:16]
    return cache.root() / "projects" / key


def execute(plan: ApplyPlan, *, offline: bool = False) -> None:
    """Carry out a plan all or nothing."""
    if not plan.changed:
        return
    project = plan.project
    with txn.Transaction(project.workspace_root) as tx:
        tx.protect(project.cargo_lock)
        for placement in plan.placements:
            txn.fault_point(f"vendor:{placement.crate}")
            if placement.source is None:
                tx.remove(placement.dest)
            else:
                tx.place_tree(placement.dest, placement.source)
        if plan.previous is not None:
            tx.remove_empty_dirs(project.workspace_root / plan.previous.vendor_dir)
        for edit in plan.edits:
            if edit.path == project.state_file:
                continue  # written last: it records a finished apply
            txn.fault_point(f"write:{edit.path.name}")
            tx.write_file(edit.path, edit.new)
        txn.fault_point("cargo-lock")
        verify_resolution(project, plan.state, offline=offline)
        if plan.state.lock_was_absent and project.cargo_lock.exists():
            project.cargo_lock.unlink()
        for edit in plan.edits:
            if edit.path == project.state_file:
                txn.fault_point("write:state")
                tx.write_file(edit.path, edit.new)
        txn.fault_point("commit")


def pyo3_outside_vendor(metadata: dict[str, Any], vendor_dir: Path) -> list[str]:
    """The pyo3 crates of a `cargo metadata` graph that do not come from our trees."""
    vendor = vendor_dir.resolve()
    wrong = []
    for pkg in metadata["packages"]:
        if pkg["name"] not in sources.PYO3_CRATES:
            continue
        where = Path(pkg["manifest_path"]).resolve()
        if pkg["source"] is not None or vendor not in where.parents:
            wrong.append(f"{pkg['name']} {pkg['version']} from {pkg['source'] or where}")
    return wrong


def verify_resolution(project: Project, state: State, *, offline: bool = False) -> None:
    """cargo must resolve every pyo3 crate of the graph to our trees (and update Cargo.lock)."""
    data, stderr = cargo.metadata(project.workspace_manifest, offline=offline)
    unused = [
        line.strip()
        for line in stderr.splitlines()
        if cargo.NOT_USED_MARKER in line and any(f"`{name} v" in line for name in state.crates)
    ]
    if unused:
        raise PatchError(
            "cargo did not use a [patch.crates-io] entry of ours",
            hint="cargo said:\n" + "\n".join(unused[:10]),
        )
    wrong = pyo3_outside_vendor(data, project.workspace_root / state.vendor_dir)
    if wrong:
        raise VerifyError(
            "cargo resolves pyo3 crates outside the vendored trees: " + "; ".join(wrong),
            hint="run `patcher apply` (or `patcher refresh` after a pyo3 upgrade)",
        )


def run_apply(directory: Path, options: Options) -> ApplyPlan:
    project = discover(directory)
    timeout = float(os.environ.get("PYO3_PATCHER_PROJECT_LOCK_TIMEOUT", "600"))
    # Two patchers on one project: the second waits for the first (or fails clearly).
    with cache.locked(project_lock_path(project), timeout=timeout):
        the_plan = plan(directory, options)
        if not options.dry_run:
            execute(the_plan, offline=options.offline)
        return the_plan
