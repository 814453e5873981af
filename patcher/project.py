"""A consumer project: where its manifests are, what it locks, what it configured."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from patcher import cargo
from patcher.errors import ProjectError

STATE_FILE = "pyo3-patcher.lock"
# Hidden and named after the tool, like .cargo/ or .venv/: one directory we own entirely, at the
# workspace root beside the [patch] table that points into it (short relative paths, and no
# clash with a `cargo vendor` directory, which cargo would prune).
DEFAULT_VENDOR_DIR = ".pyo3-patcher"


@dataclasses.dataclass(frozen=True)
class Config:
    vendor_dir: str = DEFAULT_VENDOR_DIR
    pyo3_url: str | None = None
    maturin_url: str | None = None
    source: str = "auto"
    maturin: str | None = None  # a maturin release the user pins, instead of the newest allowed


@dataclasses.dataclass(frozen=True)
class Project:
    directory: Path  # where the user pointed us (pyproject.toml lives here, if any)
    pyproject: Path | None
    manifest: Path  # the extension crate's Cargo.toml
    workspace_manifest: Path  # the workspace root Cargo.toml: the only place [patch] counts
    config: Config
    build_requires: tuple[str, ...]

    @property
    def workspace_root(self) -> Path:
        return self.workspace_manifest.parent

    @property
    def cargo_lock(self) -> Path:
        return self.workspace_root / "Cargo.lock"

    @property
    def state_file(self) -> Path:
        return self.workspace_root / STATE_FILE

    @property
    def vendor_dir(self) -> Path:
        return self.workspace_root / self.config.vendor_dir


def read_toml(path: Path) -> tomlkit.TOMLDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path} is not UTF-8 text", hint="save it as UTF-8") from exc
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ProjectError(
            f"{path} is not valid TOML: {exc}", hint=f"fix the syntax error in {path.name}"
        ) from exc


def discover(directory: Path) -> Project:
    directory = directory.resolve()
    if not directory.is_dir():
        raise ProjectError(f"{directory} is not a directory", hint="pass --project DIR")
    pyproject = directory / "pyproject.toml"
    maturin: dict[str, Any] = {}
    tool: dict[str, Any] = {}
    requires: tuple[str, ...] = ()
    if pyproject.is_file():
        doc = read_toml(pyproject).unwrap()
        tools = doc.get("tool", {})
        maturin = tools.get("maturin", {}) or {}
        tool = tools.get("pyo3-patcher", {}) or {}
        requires = tuple(str(r) for r in doc.get("build-system", {}).get("requires", []))
    else:
        pyproject = None  # type: ignore[assignment]
    manifest = (directory / maturin.get("manifest-path", "Cargo.toml")).resolve()
    if not manifest.is_file():
        raise ProjectError(
            f"no Cargo.toml at {manifest}",
            hint="run patcher in a PyO3 project (or pass --project DIR); a maturin project "
            "names its crate with [tool.maturin] manifest-path",
        )
    read_toml(manifest)  # a clear error for malformed TOML before cargo's
    workspace_manifest = cargo.locate_workspace_root(manifest)
    if workspace_manifest != manifest:
        read_toml(workspace_manifest)
    config = Config(
        vendor_dir=str(tool.get("vendor-dir", DEFAULT_VENDOR_DIR)),
        pyo3_url=tool.get("pyo3-url"),
        maturin_url=tool.get("maturin-url"),
        source=str(tool.get("source", "auto")),
        maturin=tool.get("maturin"),
    )
    vendor = Path(config.vendor_dir)
    if vendor.is_absolute() or ".." in vendor.parts or not vendor.parts:
        raise ProjectError(
            f"[tool.pyo3-patcher] vendor-dir = {config.vendor_dir!r} must be a relative path "
            "inside the workspace"
        )
    return Project(directory, pyproject, manifest, workspace_manifest, config, requires)
