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


def _separator(text: str) -> str:
    """What goes between the user's last byte and a table we append: one blank line."""
    if not text or text.endswith("\n\n"):
        return ""
    return "\n" if text.endswith("\n") else "\n\n"


def set_patch_entries(text: str, wanted: dict[str, str], drop: set[str]) -> tuple[str, bool, str]:
    """Return new manifest text with `wanted` entries set (name -> relative path) and `drop`
    entries removed, whether we created the [patch.crates-io] table, and the separator we put
    before a table we appended (so that `remove` can take back exactly what we added)."""
    doc = tomlkit.parse(text)
    table = _existing(doc)
    if table is None:
        if not wanted:
            return text, False, ""
        if doc.get("patch") is None:
            # Appended as text, not through tomlkit: the user's bytes stay a prefix.
            separator = _separator(text)
            new_text = text + separator + _render_table(wanted)
            tomlkit.parse(new_text)
            return new_text, True, separator
        table = tomlkit.table()
        doc["patch"].append("crates-io", table)
        created = True
    else:
        created = False
    if not isinstance(table, (Table, InlineTable)):
        raise ProjectError("[patch.crates-io] in the workspace Cargo.toml is not a table")
    for name in sorted(drop):
        if name in table and name not in wanted:
            del table[name]
    for name, path in sorted(wanted.items()):
        current = table.get(name)
        if (
            current is not None
            and hasattr(current, "unwrap")
            and current.unwrap() == {"path": path}
        ):
            continue  # unchanged: keep its exact bytes
        table[name] = _path_entry(path)
    new_text = tomlkit.dumps(doc)
    # tomlkit ends a line it adds to a last table that had no final newline; note it as
    # the "separator" so that remove takes it back
    added_newline = not text.endswith("\n") and new_text.endswith("\n")
    return new_text, created, "EOF\n" if added_newline else ""


def _render_table(wanted: dict[str, str]) -> str:
    lines = ["[patch.crates-io]"]
    for name, path in sorted(wanted.items()):
        lines.append(f"{name} = {{ path = {tomlkit.string(path).as_string()} }}")
    return "\n".join(lines) + "\n"


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
    text: str, owned: dict[str, str], created_table: bool, separator: str
) -> str:
    """Drop the entries we own (only where they still say what we wrote), and the table if we
    created it and nothing else is left in it. Lines the user changed or added stay."""
    doc = tomlkit.parse(text)
    table = _existing(doc)
    if table is None:
        return text
    for name, path in owned.items():
        current = table.get(name)
        if (
            current is not None
            and hasattr(current, "unwrap")
            and current.unwrap() == {"path": path}
        ):
            del table[name]
    result = tomlkit.dumps(doc)
    if separator == "EOF\n":
        return result[:-1] if result.endswith("\n") else result
    if created_table and _is_empty(table):
        ours = separator + "[patch.crates-io]\n"
        if result.endswith(ours):
            return result[: -len(ours)]  # exactly what we appended
        patch = doc["patch"]
        del patch["crates-io"]
        if len(patch) == 0:
            del doc["patch"]
        return tomlkit.dumps(doc)
    return result
