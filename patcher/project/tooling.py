"""The repository's own tooling, and the lines that keep it off the vendored trees.

The vendored trees are pyo3's published files byte for byte: `.py` files, CRLF files, trailing
whitespace. A formatter that rewrites one (pre-commit's `trailing-whitespace`,
`end-of-file-fixer`, `mixed-line-ending`; ruff; black; prettier) makes `patcher verify` fail.
Where a tool reads rules from a file inside the vendor folder, that file is ours and apply
writes it (vendor.ROOT_FILES: `.editorconfig`, `ruff.toml` for `ruff check .`,
`.gitattributes` for GitHub's linguist). The others read one configuration at the top, which
is the user's: for those we say the exact lines, and only where the configuration does not
already keep the folder out. Nothing here runs a tool or writes a file.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from patcher import git
from patcher.errors import PatcherError
from patcher.project import textfile
from patcher.project.discovery import Project


@dataclasses.dataclass(frozen=True)
class Advice:
    tool: str
    config: Path  # the file to edit
    lines: str  # what to add there

    def render(self) -> str:
        return f"{self.tool}: add to {self.config.name}: {self.lines}"


def advice(project: Project, vendor_dir: str) -> list[Advice]:
    """For each tool configured in the repository that would reach the vendored files, the
    lines that keep it off them."""
    top = git.work_tree_of(project.workspace_root) or project.workspace_root
    vendor = project.workspace_root / vendor_dir
    found: list[Advice] = []
    for folder in _folders(vendor.parent, top):
        rel = vendor.relative_to(folder).as_posix()
        for check in (_pre_commit, _ruff, _black, _flake8, _prettier):
            item = check(folder, rel)
            if item is not None and all(a.tool != item.tool for a in found):
                found.append(item)
    return found


def _folders(start: Path, top: Path) -> list[Path]:
    """`start` and the folders above it, up to `top` (the git work tree)."""
    out = []
    for folder in (start, *start.parents):
        out.append(folder)
        if folder == top:
            break
    return out


def _read(path: Path) -> str | None:
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _toml(path: Path) -> dict[str, Any] | None:
    if _read(path) is None:
        return None
    try:
        return textfile.read_toml(path).unwrap()
    except PatcherError:  # the user's file: unreadable means nothing to advise
        return None


def _sample(rel: str) -> str:
    return f"{rel}/pyo3-0.0.0/src/lib.py"


def _pre_commit(folder: Path, rel: str) -> Advice | None:
    path = folder / ".pre-commit-config.yaml"
    text = _read(path)
    if text is None:
        return None
    import yaml  # only where the repository uses pre-commit

    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    exclude = config.get("exclude") if isinstance(config, dict) else None
    if isinstance(exclude, str) and _searches(exclude, _sample(rel)):
        return None
    ours = f"^{_regex(rel)}/"
    if isinstance(exclude, str) and exclude:
        return Advice("pre-commit", path, f"`{ours}` to the top-level exclude: `{exclude}`")
    return Advice("pre-commit", path, f"`exclude: {ours}` at the top level")


def _regex(rel: str) -> str:
    """`rel` as a regular expression, escaped only where it must be (`.` but not `-`)."""
    return re.escape(rel).replace("\\-", "-")


def _searches(pattern: str, path: str) -> bool:
    try:
        return re.search(pattern, path) is not None
    except re.error:
        return False


def _ruff(folder: Path, rel: str) -> Advice | None:
    for name, prefix in (("ruff.toml", ""), (".ruff.toml", ""), ("pyproject.toml", "tool.ruff")):
        doc = _toml(folder / name)
        if doc is None:
            continue
        table = doc.get("tool", {}).get("ruff") if prefix else doc
        if not isinstance(table, dict) or (prefix and table is None):
            continue
        listed = [*table.get("exclude", []), *table.get("extend-exclude", [])]
        if table.get("force-exclude") is True and any(
            str(p).strip("/").removesuffix("/**") == rel for p in listed
        ):
            return None
        where = "[tool.ruff]" if prefix else "the top level"
        # pre-commit passes file names, which ruff checks unless force-exclude is set
        return Advice(
            "ruff",
            folder / name,
            f'`extend-exclude = ["{rel}"]` and `force-exclude = true` in {where}',
        )
    return None


def _black(folder: Path, rel: str) -> Advice | None:
    doc = _toml(folder / "pyproject.toml")
    table = doc.get("tool", {}).get("black") if doc is not None else None
    if not isinstance(table, dict):
        return None
    force = table.get("force-exclude")
    if isinstance(force, str) and _searches(force, "/" + _sample(rel)):
        return None
    return Advice(
        "black",
        folder / "pyproject.toml",
        f"`force-exclude = '^/{_regex(rel)}/'` in [tool.black]",
    )


def _flake8(folder: Path, rel: str) -> Advice | None:
    for name, section in ((".flake8", "flake8"), ("setup.cfg", "flake8"), ("tox.ini", "flake8")):
        text = _read(folder / name)
        if text is None:
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            continue
        if not parser.has_section(section):
            continue
        listed = ",".join(
            parser.get(section, k, fallback="") for k in ("exclude", "extend-exclude")
        )
        if any(p.strip().strip("/") == rel for p in listed.replace("\n", ",").split(",")):
            return None
        return Advice("flake8", folder / name, f"`extend-exclude = {rel}` in [{section}]")
    return None


def _prettier(folder: Path, rel: str) -> Advice | None:
    configured = any(folder.glob(".prettierrc*")) or any(folder.glob("prettier.config.*"))
    package = _read(folder / "package.json")
    if package is not None:
        with contextlib.suppress(ValueError, TypeError):
            configured = configured or "prettier" in json.loads(package)
    if not configured:
        return None
    ignore = _read(folder / ".prettierignore") or ""
    if any(line.strip().strip("/") == rel for line in ignore.splitlines()):
        return None
    return Advice("prettier", folder / ".prettierignore", f"a line `{rel}/`")


def whitespace_only(expected: bytes, actual: bytes) -> bool:
    """Whether two versions of a file differ only as a formatter's whitespace fixers make them
    differ: trailing whitespace, line endings, a final newline."""

    def norm(data: bytes) -> list[bytes]:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        stripped = [line.rstrip() for line in lines]
        while stripped and not stripped[-1]:
            stripped.pop()
        return stripped

    return expected != actual and norm(expected) == norm(actual)
