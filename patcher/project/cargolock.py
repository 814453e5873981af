"""Cargo.lock: which pyo3 release and crates a project locks, and putting back what apply took.

With `[patch.crates-io]` pointing at our trees, cargo drops the `source` and `checksum`
lines of the pyo3 crates' `[[package]]` entries and changes nothing else. `remove` puts
exactly those lines back (from our record), so cargo keeps the locked release instead of
resolving afresh to the newest compatible one, and Cargo.lock comes back byte for byte; any
other change the user made to the file since stays.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

from patcher.errors import ProjectError
from patcher.project import textfile
from patcher.project.record import RegistryEntry
from patcher.upstreams.names import PYO3_CRATES

FILE_NAME = "Cargo.lock"


@dataclasses.dataclass(frozen=True)
class LockedPyo3:
    version: str
    crates: tuple[str, ...]  # the pyo3 crates in the graph, sorted
    registry: Mapping[str, RegistryEntry]  # those still resolved from a registry


def pyo3_in(text: str, path: Path) -> LockedPyo3 | None:
    """The pyo3 crates a Cargo.lock text locks (None: none), after checking its shape."""
    doc = textfile.parse_toml(text, path).unwrap()
    packages = doc.get("package", [])
    if not isinstance(packages, list):
        raise _malformed(path, "`package` is not an array of tables")
    found: dict[str, list[tuple[str, str, str]]] = {}
    for package in packages:
        if not isinstance(package, dict):
            raise _malformed(path, "a [[package]] entry is not a table")
        name, version = package.get("name"), package.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise _malformed(path, "a [[package]] entry lacks a string name or version")
        if name not in PYO3_CRATES:
            continue
        source, checksum = package.get("source", ""), package.get("checksum", "")
        if not isinstance(source, str) or not isinstance(checksum, str):
            raise _malformed(path, f"the {name} entry has a malformed source or checksum")
        found.setdefault(name, []).append((version, source, checksum))
    if not found:
        return None
    versions = {v for entries in found.values() for v, _, _ in entries}
    if len(versions) > 1:
        raise ProjectError(
            f"{path} locks several pyo3 releases: {', '.join(sorted(versions))}",
            hint="patcher patches one pyo3 release per workspace; align the pyo3 requirements "
            "of your crates and their dependencies (see `cargo tree -i pyo3`)",
        )
    registry = {
        name: RegistryEntry(source, checksum)
        for name, entries in found.items()
        for _, source, checksum in entries
        if source.startswith("registry+") and re.fullmatch(r"[0-9a-f]{64}", checksum)
    }
    return LockedPyo3(versions.pop(), tuple(sorted(found)), registry)


def _malformed(path: Path, problem: str) -> ProjectError:
    return ProjectError(
        f"{path} is not a Cargo.lock cargo wrote: {problem}",
        hint="restore it from version control, or delete it and let cargo write a new one",
    )


def restore_registry(text: str, version: str, registry: Mapping[str, RegistryEntry]) -> str:
    """Put the `source` and `checksum` lines back into the entries of the pyo3 crates of
    `version` that lack them (they point at our trees); touch nothing else."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        out.extend(_restored(block, version, registry))
        block.clear()

    for line in lines:
        if line.startswith("[") and block:
            flush()
        block.append(line)
    flush()
    return "".join(out)


def _restored(block: list[str], version: str, registry: Mapping[str, RegistryEntry]) -> list[str]:
    if not block or block[0].strip() != "[[package]]":
        return list(block)
    fields: dict[str, str] = {}
    version_at = None
    for index, line in enumerate(block):
        match = re.match(r'^(name|version|source|checksum) = "([^"\\]*)"\s*$', line)
        if match:
            fields[match.group(1)] = match.group(2)
            if match.group(1) == "version":
                version_at = index
    name = fields.get("name", "")
    if (
        name not in registry
        or fields.get("version") != version
        or "source" in fields
        or version_at is None
    ):
        return list(block)
    entry = registry[name]
    added = [f'source = "{entry.source}"\n']
    if entry.checksum:
        added.append(f'checksum = "{entry.checksum}"\n')
    return [*block[: version_at + 1], *added, *block[version_at + 1 :]]
