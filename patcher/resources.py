"""Where the patches, pins and the demo's example shipped with patcher live.

In a checkout they are `patches/`, `vendor/pins/` and `examples/hello-pyo3/` at the top of the
repository (reviewed as data); an installed wheel carries copies under `patcher/_data/` (see
pyproject.toml).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT_DIR = _PACKAGE_DIR.parent


def _pick(installed: Path, checkout: Path) -> Path:
    return installed if installed.is_dir() else checkout


def patches_dir() -> Path:
    override = os.environ.get("PYO3_PATCHER_PATCHES_DIR")
    if override:
        return Path(override)
    return _pick(_PACKAGE_DIR / "_data" / "patches", _CHECKOUT_DIR / "patches")


def pins_dir() -> Path:
    override = os.environ.get("PYO3_PATCHER_PINS_DIR")
    if override:
        return Path(override)
    return _pick(_PACKAGE_DIR / "_data" / "pins", _CHECKOUT_DIR / "vendor" / "pins")


def example_dir() -> Path:
    """The example project `patcher demo` builds."""
    return _pick(
        _PACKAGE_DIR / "_data" / "examples" / "hello-pyo3",
        _CHECKOUT_DIR / "examples" / "hello-pyo3",
    )


# Our own data files (pins, variants), read by every command: each parsed once per process
# and change of the file (a maintainer command rewrites them), with the standard library's
# parser where there is one (tomllib, 3.11+: the pins file parsed in 0.2 s with tomlkit on
# every read, 4 reads a verify). tomlkit stays the writer, which keeps comments and layout.
_PARSED: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


class DataFileError(Exception):
    """A data file of ours that cannot be read or parsed (callers turn it into theirs)."""


def read_toml(path: Path) -> dict[str, Any]:
    """The plain (unwrapped) content of one of our TOML data files; the caller must not
    change it (it is shared)."""
    doc: dict[str, Any] = _read_once(path, _parse)
    return doc


def read_json(path: Path) -> dict[str, Any]:
    """The content of one of our JSON data files (an object), parsed once per process and
    change, like read_toml; the caller must not change it."""
    import json

    try:
        doc = _read_once(path, json.loads)
    except ValueError as exc:
        raise DataFileError(str(exc)) from exc
    if not isinstance(doc, dict):
        raise DataFileError("not a JSON object")
    return doc


def _read_once(path: Path, parse: Callable[[str], Any]) -> Any:
    """`parse` of the file's text, once per process for each (mtime, size) of the file (what
    `parse` raises goes to the caller)."""
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _PARSED.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(str(exc)) from exc
    doc = parse(text)
    _PARSED[path] = (stamp, doc)
    return doc


def _parse(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DataFileError(str(exc)) from exc
    import tomlkit

    try:
        return dict(tomlkit.parse(text).unwrap())
    except tomlkit.exceptions.TOMLKitError as exc:
        raise DataFileError(str(exc)) from exc
