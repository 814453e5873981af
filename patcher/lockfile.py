"""Reading Cargo.lock, and our own lock file (pyo3-patcher.lock)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tomlkit

from patcher.errors import ProjectError
from patcher.project import read_toml
from patcher.sources import PYO3_CRATES


@dataclasses.dataclass(frozen=True)
class LockedPyo3:
    version: str
    crates: tuple[str, ...]  # the pyo3 crates in the graph, sorted
    from_registry: tuple[str, ...]  # those still resolved from crates.io


def pyo3_in_lock(lock: Path) -> LockedPyo3 | None:
    doc = read_toml(lock).unwrap()
    found: dict[str, set[tuple[str, str]]] = {}
    for package in doc.get("package", []):
        name = package.get("name")
        if name in PYO3_CRATES:
            found.setdefault(name, set()).add((package["version"], package.get("source", "")))
    if not found:
        return None
    versions = {v for entries in found.values() for v, _ in entries}
    if len(versions) > 1:
        raise ProjectError(
            f"{lock} locks several pyo3 releases: {', '.join(sorted(versions))}",
            hint="patcher patches one pyo3 release per workspace; align the pyo3 requirements "
            "of your crates and their dependencies (see `cargo tree -i pyo3`)",
        )
    registry = tuple(
        sorted(
            n for n, entries in found.items() if any(s.startswith("registry+") for _, s in entries)
        )
    )
    return LockedPyo3(versions.pop(), tuple(sorted(found)), registry)


@dataclasses.dataclass(frozen=True)
class State:
    """What `patcher apply` recorded; enough to reproduce, verify and undo it."""

    vendor_dir: str
    pyo3_version: str
    tag: str
    commit: str
    variant: str
    patch_sha256: str
    outcome: str
    source: str
    crates: tuple[str, ...]
    digests: dict[str, str]  # crate -> tree digest
    entries: dict[str, str]  # [patch.crates-io] entries we own: crate -> path
    created_patch_table: bool
    lock_was_absent: bool
    separator: str = ""  # what apply put before a [patch.crates-io] table it appended
    maturin: str = ""  # the patched maturin isolated builds should use (`patcher env`)

    def render(self) -> str:
        doc = tomlkit.document()
        doc.add(tomlkit.comment("Written by pyo3-patcher (`patcher apply`). Commit it: a later"))
        doc.add(tomlkit.comment("`patcher apply` reproduces exactly these trees, `patcher verify`"))
        doc.add(tomlkit.comment("checks them and `patcher remove` undoes the change."))
        doc.add("format", 1)
        doc.add("vendor-dir", self.vendor_dir)
        doc.add("created-patch-table", self.created_patch_table)
        doc.add("separator", self.separator)
        doc.add("cargo-lock-was-absent", self.lock_was_absent)
        pyo3 = tomlkit.table()
        pyo3.add("version", self.pyo3_version)
        pyo3.add("tag", self.tag)
        pyo3.add("commit", self.commit)
        pyo3.add("variant", self.variant)
        pyo3.add("patch-sha256", self.patch_sha256)
        pyo3.add("outcome", self.outcome)
        pyo3.add("source", self.source)
        pyo3.add("crates", sorted(self.crates))
        digests = tomlkit.table()
        for name in sorted(self.digests):
            digests.add(name, self.digests[name])
        pyo3.add("digests", digests)
        doc.add("pyo3", pyo3)
        if self.maturin:
            doc.add("maturin", {"version": self.maturin})
        entries = tomlkit.table()
        for name in sorted(self.entries):
            entries.add(name, self.entries[name])
        doc.add("patch-entries", entries)
        return tomlkit.dumps(doc)

    @classmethod
    def load(cls, path: Path) -> State | None:
        if not path.is_file():
            return None
        doc = read_toml(path).unwrap()
        try:
            pyo3 = doc["pyo3"]
            return cls(
                vendor_dir=doc["vendor-dir"],
                pyo3_version=pyo3["version"],
                tag=pyo3["tag"],
                commit=pyo3["commit"],
                variant=pyo3["variant"],
                patch_sha256=pyo3["patch-sha256"],
                outcome=pyo3["outcome"],
                source=pyo3["source"],
                crates=tuple(pyo3["crates"]),
                digests=dict(pyo3["digests"]),
                entries=dict(doc.get("patch-entries", {})),
                created_patch_table=bool(doc.get("created-patch-table", False)),
                separator=str(doc.get("separator", "")),
                maturin=str(doc.get("maturin", {}).get("version", "")),
                lock_was_absent=bool(doc.get("cargo-lock-was-absent", False)),
            )
        except (KeyError, TypeError) as exc:
            raise ProjectError(
                f"{path} is not a pyo3-patcher lock file we understand (missing {exc})",
                hint="restore it from version control, or delete it and the vendored trees and "
                "run `patcher apply` again",
            ) from exc
