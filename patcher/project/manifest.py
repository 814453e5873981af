"""Surgical edits of the workspace manifest's [patch.crates-io] table: only entries we own.

The texts here are LF text without a byte-order mark (see textfile.py). An edit is made with
tomlkit, or, where no [patch.crates-io] table exists yet, by appending one as text so that the
user's bytes stay a prefix. Then it is checked by construction before anything is written:
the new text must parse, must mean exactly the old document plus our entries, and taking our
entries out again must give back the old text byte for byte. A layout that fails (an inline
`patch = {...}` table, dotted `crates-io.x = ...` keys) is refused with a hint, never
half-edited.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Null, Table, Whitespace

from patcher.errors import ProjectError

_LAYOUT_HINT = (
    "patcher edits [patch.crates-io] only when it is a table of its own; rewrite it in "
    "Cargo.toml as\n    [patch.crates-io]\n    name = { ... }\nand run patcher again"
)


@dataclasses.dataclass(frozen=True)
class Ours:
    """What we own in the manifest, and how we changed it: what `remove` needs to take it
    back exactly (kept in our record)."""

    entries: Mapping[str, str] = dataclasses.field(default_factory=dict)  # crate -> path
    created_table: bool = False
    separator: str = ""
    replaced: Mapping[str, str] = dataclasses.field(default_factory=dict)  # user's values


@dataclasses.dataclass(frozen=True)
class PatchEdit:
    """A planned edit: the new text, and what we own in it."""

    text: str
    ours: Ours


def _crates_io(doc: tomlkit.TOMLDocument) -> Any:
    patch = doc.get("patch")
    if patch is None:
        return None
    if not isinstance(patch, Table):
        raise ProjectError("[patch] in Cargo.toml is an inline table", hint=_LAYOUT_HINT)
    table = patch.get("crates-io")
    if table is not None and (not isinstance(table, Table) or table.is_super_table()):
        raise ProjectError(
            "[patch.crates-io] in Cargo.toml is written with dotted keys or inline",
            hint=_LAYOUT_HINT,
        )
    return table


def _parse(text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except (TOMLKitError, ValueError) as exc:
        raise ProjectError(
            f"Cargo.toml is not valid TOML: {exc}", hint="fix the syntax error in Cargo.toml"
        ) from exc


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def patch_entries(text: str) -> dict[str, Any]:
    """The [patch.crates-io] entries as plain values (any layout: this only reads)."""
    doc = _parse(text).unwrap()
    patch = doc.get("patch")
    table = patch.get("crates-io") if isinstance(patch, dict) else None
    return dict(table) if isinstance(table, dict) else {}


def _is_ours(value: Any, path: str | None) -> bool:
    return path is not None and _plain(value) == {"path": path}


def foreign_entries(text: str, crates: set[str], owned: Mapping[str, str]) -> dict[str, Any]:
    """Entries for pyo3 crates that are not ours (a user's own patch we would replace)."""
    return {
        name: value
        for name, value in patch_entries(text).items()
        if name in crates and not _is_ours(value, owned.get(name))
    }


def refuse_foreign(text: str, owned: Mapping[str, str], crates: set[str], *, force: bool) -> None:
    """Refuse (without --force) a manifest that patches a pyo3 crate itself."""
    if force:
        return
    foreign = foreign_entries(text, crates, owned)
    if foreign:
        listed = "; ".join(f"{k} = {v}" for k, v in sorted(foreign.items()))
        raise ProjectError(
            f"Cargo.toml already has [patch.crates-io] entries for pyo3 crates: {listed}",
            hint="patcher would replace them; remove them, or pass --force to let patcher "
            "replace them (`patcher remove` puts them back)",
        )


def _path_entry(path: str) -> Any:
    # Parsed rather than built, to get cargo's usual `{ path = "..." }` spacing.
    return tomlkit.parse(f"x = {{ path = {tomlkit.string(path).as_string()} }}\n")["x"]


def _separator(text: str) -> str:
    """What goes between the user's last byte and a table we append: one blank line."""
    if not text or text.endswith("\n\n"):
        return ""
    return "\n" if text.endswith("\n") else "\n\n"


def _render_table(wanted: Mapping[str, str]) -> str:
    lines = ["[patch.crates-io]"]
    for name, path in sorted(wanted.items()):
        lines.append(f"{name} = {{ path = {tomlkit.string(path).as_string()} }}")
    return "\n".join(lines) + "\n"


def plan_entries(text: str, wanted: Mapping[str, str], before: Ours, *, force: bool) -> PatchEdit:
    """Set our entries to `wanted` (crate -> relative path) in the manifest `text`, which may
    already hold what an earlier apply owns (`before`). Raises ProjectError for a layout we
    cannot edit reversibly."""
    doc = _parse(text)
    table = _crates_io(doc)
    owned, replaced = before.entries, dict(before.replaced)
    if table is None:
        if not wanted:
            return PatchEdit(text, Ours())
        if doc.get("patch") is None or isinstance(doc.get("patch"), Table):
            # Appended as text, not through tomlkit: the user's bytes stay a prefix.
            sep = _separator(text)
            edit = PatchEdit(text + sep + _render_table(wanted), Ours(wanted, True, sep, {}))
            _check(text, before, edit)
            return edit
    assert table is not None
    dropped = sorted(set(owned) - set(wanted))
    _take_out(table, dropped, owned, replaced)
    for name in dropped:
        replaced.pop(name, None)  # given back: no longer ours to restore
    for name, path in sorted(wanted.items()):
        current = table.get(name)
        if current is not None and _is_ours(current, path):
            continue  # unchanged: keep its exact bytes
        if current is not None and not _is_ours(current, owned.get(name)):
            refuse_foreign(text, owned, {name}, force=force)
            replaced[name] = current.as_string()
        table[name] = _path_entry(path)
    new_text = tomlkit.dumps(doc)
    separator = before.separator
    # tomlkit ends a line it adds to a last table that had no final newline; note it as
    # the "separator" so that remove takes it back
    if not before.created_table and separator != "EOF\n":
        separator = "EOF\n" if not text.endswith("\n") and new_text.endswith("\n") else ""
    edit = PatchEdit(new_text, Ours(wanted, before.created_table, separator, replaced))
    _check(text, before, edit)
    return edit


def _check(old: str, before: Ours, edit: PatchEdit) -> None:
    """The edit means what we intend, and taking it out again gives back the user's text."""
    wanted, owned, old_replaced = edit.ours.entries, before.entries, before.replaced
    after = _parse(edit.text).unwrap()
    expected = copy.deepcopy(_parse(old).unwrap())
    table = expected.setdefault("patch", {}).setdefault("crates-io", {})
    for name in set(owned) - set(wanted):
        if name in old_replaced:
            table[name] = _parse(f"x = {old_replaced[name]}\n").unwrap()["x"]
        else:
            table.pop(name, None)
    for name, path in wanted.items():
        table[name] = {"path": path}
    if not table:
        del expected["patch"]["crates-io"]
        if not expected["patch"]:
            del expected["patch"]
    if after != expected:
        raise ProjectError("patcher could not edit [patch.crates-io] cleanly", hint=_LAYOUT_HINT)
    pristine_old = remove_entries(old, before)
    pristine_new = remove_entries(edit.text, edit.ours)
    if pristine_old != pristine_new:
        raise ProjectError(
            "patcher could not edit [patch.crates-io] in a way `patcher remove` can take back "
            "exactly",
            hint=_LAYOUT_HINT,
        )


def _take_out(
    table: Any, names: list[str], owned: Mapping[str, str], replaced: Mapping[str, str]
) -> None:
    """Take our entries `names` out of the table (only where they still say what we wrote),
    giving back the user's value where apply --force replaced one."""
    for name in names:
        current = table.get(name)
        if current is None or not _is_ours(current, owned[name]):
            continue
        if name in replaced:
            table[name] = tomlkit.parse(f"x = {replaced[name]}\n")["x"]
        else:
            del table[name]


def _is_empty(table: Any) -> bool:
    """No keys and no comments: only whitespace is left."""
    body = table.value.body if isinstance(table, Table) else []
    return len(table) == 0 and all(
        key is None and isinstance(item, (Whitespace, Null)) for key, item in body
    )


def remove_entries(text: str, ours: Ours) -> str:
    """Drop the entries we own (only where they still say what we wrote), put back the user's
    entries we replaced, and drop the table if we created it and nothing else is left in it.
    Lines the user changed or added stay."""
    owned, created_table, separator, replaced = (
        ours.entries,
        ours.created_table,
        ours.separator,
        ours.replaced,
    )
    if not owned:
        return text
    doc = _parse(text)
    table = _crates_io(doc)
    if table is None:
        return text
    _take_out(table, list(owned), owned, replaced)
    result = tomlkit.dumps(doc)
    if separator == "EOF\n":
        return result[:-1] if result.endswith("\n") else result
    if created_table and _is_empty(table):
        appended = separator + "[patch.crates-io]\n"
        if result.endswith(appended):
            return result[: -len(appended)]  # exactly what we appended
        patch = doc["patch"]
        del patch["crates-io"]
        if len(patch) == 0:
            del doc["patch"]
        return tomlkit.dumps(doc)
    return result
