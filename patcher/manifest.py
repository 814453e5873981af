"""Surgical edits of the [patch.crates-io] table: only the entries we own change."""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit.items import InlineTable, Null, Table, Whitespace

from patcher.errors import ProjectError

PATCH_SECTION = ("patch", "crates-io")


def _existing(doc: tomlkit.TOMLDocument) -> Any:
    patch = doc.get("patch")
    if patch is None:
        return None
    return patch.get("crates-io")


def patch_entries(text: str) -> dict[str, dict[str, Any]]:
    """The [patch.crates-io] entries as plain dicts."""
    table = _existing(tomlkit.parse(text))
    if table is None:
        return {}
    return {str(k): (v.unwrap() if hasattr(v, "unwrap") else v) for k, v in table.items()}


def foreign_entries(text: str, crates: set[str], owned: dict[str, str]) -> dict[str, Any]:
    """Entries for pyo3 crates that are not ours (a user's own patch we would replace)."""
    found = {}
    for name, value in patch_entries(text).items():
        if name not in crates:
            continue
        ours = owned.get(name)
        if ours is None or not (isinstance(value, dict) and value.get("path") == ours):
            found[name] = value
    return found


def _path_entry(path: str) -> Any:
    # Parsed rather than built, to get cargo's usual `{ path = "..." }` spacing.
    return tomlkit.parse(f"x = {{ path = {tomlkit.string(path).as_string()} }}\n")["x"]


def set_patch_entries(
    text: str, wanted: dict[str, str], drop: set[str]
) -> tuple[str, bool, bool]:
    """Return new manifest text with `wanted` entries set (name -> relative path) and `drop`
    entries removed, whether we created the [patch.crates-io] table, and whether we put a
    blank line before it."""
    doc = tomlkit.parse(text)
    created = spacer = False
    table = _existing(doc)
    if table is None and wanted:
        created = True
        patch = doc.get("patch")
        if patch is None:
            patch = tomlkit.table(is_super_table=True)
            if text.endswith("\n") and not text.endswith("\n\n"):
                doc.add(tomlkit.nl())  # a blank line before our new table, for readability
                spacer = True
            doc.append("patch", patch)
        crates_io = tomlkit.table()
        patch.append("crates-io", crates_io)
        table = crates_io
    if table is None:
        return text, False, False
    if not isinstance(table, (Table, InlineTable)):
        raise ProjectError("[patch.crates-io] in the workspace Cargo.toml is not a table")
    for name in sorted(drop):
        if name in table and name not in wanted:
            del table[name]
    for name, path in sorted(wanted.items()):
        current = table.get(name)
        if current is not None and hasattr(current, "unwrap") and current.unwrap() == {"path": path}:
            continue  # unchanged: keep its exact bytes
        table[name] = _path_entry(path)
    return tomlkit.dumps(doc), created, spacer


def remove_patch_table_if_empty(text: str) -> str:
    doc = tomlkit.parse(text)
    patch = doc.get("patch")
    if patch is None:
        return text
    crates_io = patch.get("crates-io")
    if crates_io is not None and len(crates_io) == 0:
        del patch["crates-io"]
    if len(patch) == 0:
        del doc["patch"]
    return tomlkit.dumps(doc)


def _is_empty(table: Any) -> bool:
    """No keys and no comments: only whitespace is left."""
    body = table.value.body if isinstance(table, Table) else []
    return len(table) == 0 and all(
        key is None and isinstance(item, (Whitespace, Null)) for key, item in body
    )


def remove_owned_entries(
    text: str, owned: dict[str, str], created_table: bool, spacer: bool
) -> str:
    """Drop the entries we own (only where they still say what we wrote), and the table if we
    created it and nothing else is left in it. Lines the user changed or added stay."""
    doc = tomlkit.parse(text)
    table = _existing(doc)
    if table is None:
        return text
    for name, path in owned.items():
        current = table.get(name)
        if current is not None and hasattr(current, "unwrap") and current.unwrap() == {"path": path}:
            del table[name]
    if created_table and _is_empty(table):
        patch = doc["patch"]
        del patch["crates-io"]
        if len(patch) == 0:
            del doc["patch"]
            result = tomlkit.dumps(doc)
            if spacer and result.endswith("\n\n"):
                result = result[:-1]  # the blank line set_patch_entries put before the table
            return result
    return tomlkit.dumps(doc)
