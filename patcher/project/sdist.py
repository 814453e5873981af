"""The sdist of a patched project: it must carry the vendored trees its `[patch]` names.

maturin builds an sdist from `cargo package --list` of the extension crate and of its path
dependencies, plus the files `[tool.maturin] include` names. A `[patch]` target is neither a
path dependency nor part of the crate's package (a folder holding a Cargo.toml is a package
of its own), so without an include the sdist keeps the `[patch]` table and loses the trees it
names, and a wheel built from the sdist fails ("failed to load source for dependency pyo3").

So apply adds one element to `[tool.maturin] include`:

    {path = "<vendor folder>/**/*", format = "sdist"}

maturin resolves the glob relative to pyproject.toml's folder and places each match at the
same relative path in the sdist, which is where the sdist's Cargo.toml looks for it whenever
the workspace root lies at or below pyproject.toml (a crate at the root, a workspace with
`manifest-path` to a member, a crate in a subfolder). Where pyproject.toml lies below the
workspace root, maturin moves pyproject.toml to the sdist's top and no include can reach the
vendor folder: apply refuses unless the project says it publishes no sdist
(`[tool.pyo3-patcher] sdist = false`).

The element is ours; the record says how apply added it (`element` to the user's array, the
`key` to their `[tool.maturin]` table, or the whole `table`), and `remove` takes exactly that
out. Like manifest.py, an edit is checked by construction: the new text must mean the old
document plus our element, and removing it must give back the old text byte for byte.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from patcher.errors import ProjectError
from patcher.project import pep517, textfile
from patcher.project.discovery import Project
from patcher.project.record import SDIST_INCLUDES

FORMAT = "sdist"
# what apply added to pyproject.toml: an element to the user's include array, the include key
# to their [tool.maturin], or the table at the end ("table-eof": after a last line that had no
# newline, which apply ended)
HOW = SDIST_INCLUDES
_GLOB_SPECIAL = "*?[]"


@dataclasses.dataclass(frozen=True)
class IncludeEdit:
    text: str  # the new pyproject.toml (LF text)
    how: str  # one of HOW


def is_maturin_project(project: Project) -> bool:
    """A PEP 517 maturin project: the only kind whose sdist we know how to fill."""
    if project.pyproject is None:
        return False
    backend = textfile.read_toml(project.pyproject).unwrap().get("build-system", {})
    return isinstance(backend, dict) and backend.get("build-backend") == pep517.BACKEND


def pattern(project: Project, vendor_dir: str) -> str | None:
    """The include glob for the vendor folder, relative to pyproject.toml's folder; None where
    the vendor folder does not lie below it (pyproject.toml below the workspace root)."""
    vendor = project.workspace_root / vendor_dir
    try:
        rel = vendor.relative_to(project.directory).as_posix()
    except ValueError:
        return None
    if any(c in rel for c in _GLOB_SPECIAL):
        return None  # a glob would not name it (escaping differs between maturin releases)
    return f"{rel}/**/*"


def element(glob: str) -> dict[str, str]:
    return {"path": glob, "format": FORMAT}


def line(glob: str) -> str:
    """The element as a user would write it into `[tool.maturin] include`."""
    return f'{{ path = "{glob}", format = "{FORMAT}" }}'


def _maturin_table(doc: Any, glob: str) -> Any:
    tool = doc.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise _layout("[tool] is not a table", glob)
    maturin = tool.get("maturin")
    if maturin is not None and not isinstance(maturin, Table):
        raise _layout("[tool.maturin] is not a table of its own", glob)
    return maturin


def _layout(problem: str, glob: str) -> ProjectError:
    return ProjectError(
        f"pyproject.toml: {problem}, so patcher cannot add the vendored trees to the sdist",
        hint=f"add `include = [{line(glob)}]` to [tool.maturin] yourself and run patcher again, "
        "or set `sdist = false` in [tool.pyo3-patcher] if this project publishes no sdist",
    )


def _parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    return textfile.parse_toml(text, path)


def _has(include: Any, glob: str) -> bool:
    return isinstance(include, list) and any(_plain(v) == element(glob) for v in include)


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def plan_include(text: str, glob: str, path: Path) -> IncludeEdit | None:
    """pyproject.toml with our include element; None when an equal element is there already
    (the user's or ours: either carries the trees)."""
    doc = _parse(text, path)
    maturin = _maturin_table(doc, glob)
    if maturin is not None and _has(maturin.get("include"), glob):
        return None
    new_element = tomlkit.inline_table()
    new_element.update(element(glob))
    if maturin is None:
        how = "table" if not text or text.endswith("\n") else "table-eof"
        new = text + _separator(how, text) + _block(glob)
    elif "include" not in maturin:
        how = "key"
        array = tomlkit.array()
        array.append(new_element)
        maturin.add("include", array)
        new = tomlkit.dumps(doc)
    elif isinstance(maturin["include"], list):
        how = "element"
        maturin["include"].append(new_element)
        new = tomlkit.dumps(doc)
    else:
        raise _layout("[tool.maturin] include is not an array", glob)
    edit = IncludeEdit(new, how)
    _check(text, glob, edit, path)
    return edit


def _block(glob: str) -> str:
    return f"[tool.maturin]\ninclude = [{line(glob)}]\n"


def _separator(how: str, text: str) -> str:
    if not text:
        return ""
    return "\n\n" if how == "table-eof" else "\n"


def _check(old: str, glob: str, edit: IncludeEdit, path: Path) -> None:
    """The edit means the old document plus our element, and undoes to the old bytes."""
    try:
        new_doc = tomlkit.parse(edit.text).unwrap()
    except (TOMLKitError, ValueError) as exc:
        raise _layout(f"adding the include makes invalid TOML ({exc})", glob) from exc
    expected = copy.deepcopy(_parse(old, path).unwrap())
    maturin = expected.setdefault("tool", {}).setdefault("maturin", {})
    maturin.setdefault("include", []).append(element(glob))
    if new_doc != expected or remove_include(edit.text, glob, edit.how, path) != old:
        raise _layout("its layout does not allow an edit patcher can undo exactly", glob)


def remove_include(text: str, glob: str, how: str, path: Path) -> str:
    """pyproject.toml without the element apply added `how`; unchanged where it is gone."""
    doc = _parse(text, path)
    maturin = _maturin_table(doc, glob)
    if maturin is None or not _has(maturin.get("include"), glob):
        return text
    include = maturin["include"]
    if how == "element" or len(include) > 1:
        index = max(i for i, v in enumerate(include) if _plain(v) == element(glob))
        del include[index]
        return tomlkit.dumps(doc)
    if how.startswith("table") and len(maturin) == 1:
        start = text.rfind(_block(glob))
        before, after = text[:start], text[start + len(_block(glob)) :]
        separator = _separator(how, before)
        if start >= 0 and not after and before.endswith(separator):
            return before[: len(before) - len(separator)]
    del maturin["include"]
    return tomlkit.dumps(doc)


def problems(project: Project, vendor_dir: str, files: Iterable[str]) -> list[str]:
    """What would leave a vendored file out of the project's sdist (a static check of
    pyproject.toml; `files` relative to the workspace root). Empty where all is well."""
    if not is_maturin_project(project) or not project.config.sdist:
        return []
    assert project.pyproject is not None
    glob = pattern(project, vendor_dir)
    if glob is None:
        return [
            f"pyproject.toml lies below the workspace root {project.workspace_root}, where "
            f"no [tool.maturin] include can reach {vendor_dir}/: the sdist would leave the "
            "vendored trees out; set `sdist = false` in [tool.pyo3-patcher] if this project "
            "publishes no sdist, or move pyproject.toml to the workspace root"
        ]
    maturin = _maturin_settings(project.pyproject)
    found = []
    if not _has(maturin.get("include"), glob):
        found.append(
            f"[tool.maturin] include lacks {line(glob)}: the sdist would leave {vendor_dir}/ "
            "out (run `patcher apply`, or add it yourself)"
        )
    excludes = [p for p in _patterns(maturin.get("exclude")) if p]
    if excludes:
        import pathspec  # only here: most projects exclude nothing, and it costs verify ~20 ms

        spec = pathspec.GitIgnoreSpec.from_lines(excludes)
        base = project.workspace_root
        for rel in files:
            shown = os.path.relpath(base / rel, project.directory).replace(os.sep, "/")
            if spec.match_file(shown):
                found.append(
                    f"[tool.maturin] exclude leaves {shown} out of the sdist: narrow the "
                    f"pattern so that it matches nothing below {vendor_dir}/"
                )
                break
    return found


def _maturin_settings(pyproject: Path) -> dict[str, Any]:
    tool = textfile.read_toml(pyproject).unwrap().get("tool", {})
    maturin = tool.get("maturin", {}) if isinstance(tool, dict) else {}
    return maturin if isinstance(maturin, dict) else {}


def has_include(project: Project, glob: str) -> bool:
    """Whether pyproject.toml's [tool.maturin] include holds our element (whoever wrote it)."""
    assert project.pyproject is not None
    return _has(_maturin_settings(project.pyproject).get("include"), glob)


def _patterns(value: Any) -> list[str]:
    """maturin's include/exclude entries that apply to the sdist: a string (every format) or
    a table whose `format` names sdist."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            formats = item.get("format", FORMAT)
            formats = formats if isinstance(formats, list) else [formats]
            if FORMAT in formats:
                out.append(item["path"])
    return out
