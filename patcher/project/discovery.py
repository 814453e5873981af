"""Find a project: its pyproject.toml, its crate, the workspace root, and our settings.

Every value read here comes from files anyone can edit, so each is type-checked, and every
path is checked to stay where it belongs: `manifest-path` inside the project directory,
`vendor-dir` inside the workspace, and the workspace inside the git work tree that holds the
project (so a manifest cannot steer patcher into someone else's directories).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from patcher import cache, git, ui
from patcher.errors import ProjectError, UsageError
from patcher.project import textfile, transaction
from patcher.project.fence import Fence, check_relative
from patcher.project.record import FILE_NAME as RECORD_FILE
from patcher.project.shadow import Workspace
from patcher.upstreams.names import SOURCE_CHOICES

# Hidden and named after the tool, like .cargo/ or .venv/: one directory we own entirely, at the
# workspace root beside the [patch] table that points into it (short relative paths, and no
# clash with a `cargo vendor` directory, which cargo would prune).
DEFAULT_VENDOR_DIR = ".pyo3-patcher"
_SETTINGS = (
    "vendor-dir",
    "pyo3-url",
    "maturin-url",
    "source",
    "maturin",
    "maturin-patch",
    "sdist",
)
MATURIN_PATCHES = ("backend", "compiled")


@dataclasses.dataclass(frozen=True)
class Config:
    vendor_dir: str = DEFAULT_VENDOR_DIR
    pyo3_url: str | None = None
    maturin_url: str | None = None
    source: str = "auto"
    maturin: str | None = None  # a maturin release the user pins, instead of the newest allowed
    maturin_patch: str = "backend"  # which kind of maturin patch isolated builds get
    sdist: bool = True  # the project publishes an sdist, which must carry the vendored trees


@dataclasses.dataclass(frozen=True)
class Project:
    directory: Path  # where the user pointed us (pyproject.toml lives here, if any)
    pyproject: Path | None
    manifest: Path  # the extension crate's Cargo.toml
    workspace: Workspace
    config: Config
    build_requires: tuple[str, ...]
    maturin_features: tuple[str, ...] = ()  # [tool.maturin] features

    @property
    def workspace_root(self) -> Path:
        return self.workspace.root

    @property
    def workspace_manifest(self) -> Path:
        """The root manifest: the only place cargo reads [patch] from."""
        return self.workspace.root / "Cargo.toml"

    @property
    def cargo_lock(self) -> Path:
        return self.workspace.root / "Cargo.lock"

    @property
    def record_file(self) -> Path:
        return self.workspace.root / RECORD_FILE

    @property
    def fence(self) -> Fence:
        return Fence(self.workspace.root)


def _table(doc: Mapping[str, Any], key: str, where: str, path: Path) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ProjectError(f"{path}: {where} must be a table", hint=f"fix {where} in {path.name}")
    return value


def _string(table: Mapping[str, Any], key: str, where: str, path: Path) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ProjectError(
            f"{path}: {where}.{key} must be a string", hint=f"fix {where} in {path.name}"
        )
    return value


def _read_pyproject(path: Path) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]:
    doc = textfile.read_toml(path).unwrap()
    tools = _table(doc, "tool", "[tool]", path)
    maturin = _table(tools, "maturin", "[tool.maturin]", path)
    ours = _table(tools, "pyo3-patcher", "[tool.pyo3-patcher]", path)
    build_system = _table(doc, "build-system", "[build-system]", path)
    requires = build_system.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ProjectError(
            f"{path}: [build-system] requires must be a list of strings",
            hint="fix [build-system] in pyproject.toml",
        )
    return maturin, ours, tuple(requires)


def _config(ours: Mapping[str, Any], path: Path | None) -> Config:
    if path is None:
        return Config()
    unknown = sorted(set(ours) - set(_SETTINGS))
    if unknown:
        ui.warn(
            f"{path.name}: unknown [tool.pyo3-patcher] settings {unknown} are ignored "
            f"(known: {', '.join(_SETTINGS)})"
        )
    where = "[tool.pyo3-patcher]"
    vendor_dir = _string(ours, "vendor-dir", where, path) or DEFAULT_VENDOR_DIR
    source = _string(ours, "source", where, path) or "auto"
    if source not in SOURCE_CHOICES:
        raise ProjectError(
            f"{path}: {where} source = {source!r} is not a source patcher knows",
            hint=f"use one of {', '.join(SOURCE_CHOICES)}",
        )
    maturin = _string(ours, "maturin", where, path)
    if maturin is not None:
        try:
            Version(maturin)
        except InvalidVersion:
            raise ProjectError(
                f"{path}: {where} maturin = {maturin!r} is not a version",
                hint='name a maturin release, e.g. maturin = "1.16.0"',
            ) from None
    maturin_patch = _string(ours, "maturin-patch", where, path) or "backend"
    if maturin_patch not in MATURIN_PATCHES:
        raise ProjectError(
            f"{path}: {where} maturin-patch = {maturin_patch!r} is not a kind patcher knows",
            hint='use "backend" (the default: maturin\'s PEP 517 backend, from the published '
            'wheel) or "compiled" (the maturin binary, built from source)',
        )
    sdist = ours.get("sdist", True)
    if not isinstance(sdist, bool):
        raise ProjectError(
            f"{path}: {where} sdist = {sdist!r} is not true or false",
            hint="set `sdist = false` if this project publishes no sdist, or leave it out",
        )
    return Config(
        maturin_patch=maturin_patch,
        sdist=sdist,
        vendor_dir=check_relative(vendor_dir.rstrip("/"), what=f"{where} vendor-dir"),
        pyo3_url=_url(ours, "pyo3-url", where, path),
        maturin_url=_url(ours, "maturin-url", where, path),
        source=source,
        maturin=maturin,
    )


def _url(table: Mapping[str, Any], key: str, where: str, path: Path) -> str | None:
    """A URL setting: data for git, never an option or a program (git.url_problem)."""
    value = _string(table, key, where, path)
    problem = None if value is None else git.url_problem(value)
    if problem is not None:
        raise ProjectError(
            f"{path}: {where} {key} = {value!r} is not a git URL patcher fetches from: {problem}",
            hint=git.URL_HINT,
        )
    return value


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _nearest_project(directory: Path) -> Path:
    """`directory`, or the nearest folder above it that holds a pyproject.toml or Cargo.toml
    (as cargo finds its manifest, so `patcher apply` works from `src/`); the search stops at
    the top of the git work tree, so it never leaves the repository."""
    top = git.work_tree_of(directory)
    for candidate in (directory, *directory.parents):
        if (candidate / "pyproject.toml").is_file() or (candidate / "Cargo.toml").is_file():
            return candidate
        if candidate == top:
            break
    return directory  # nothing found: the errors below name what is missing here


def discover(directory: Path) -> Project:
    directory = Path(os.path.realpath(directory))
    if not directory.is_dir():
        raise ProjectError(f"{directory} is not a directory", hint="pass --project DIR")
    directory = _nearest_project(directory)
    pyproject: Path | None = directory / "pyproject.toml"
    maturin: dict[str, Any] = {}
    ours: dict[str, Any] = {}
    requires: tuple[str, ...] = ()
    if pyproject is not None and pyproject.is_file():
        maturin, ours, requires = _read_pyproject(pyproject)
    else:
        pyproject = None
    manifest_setting = "Cargo.toml"
    if pyproject is not None:
        manifest_setting = _string(maturin, "manifest-path", "[tool.maturin]", pyproject) or (
            "Cargo.toml"
        )
    if Path(manifest_setting).is_absolute():
        raise ProjectError(
            f"[tool.maturin] manifest-path = {manifest_setting!r} is absolute",
            hint="name the crate's Cargo.toml relative to pyproject.toml",
        )
    # not resolved: a Cargo.toml that is a symbolic link is found by the fence when we write
    manifest = Path(os.path.normpath(directory / manifest_setting))
    if not manifest.is_file():
        raise ProjectError(
            f"no Cargo.toml at {manifest}",
            hint="run patcher in a PyO3 project (or pass --project DIR); a maturin project "
            "names its crate with [tool.maturin] manifest-path",
        )
    textfile.read_toml(manifest)  # a clear error for malformed TOML before cargo's
    workspace = Workspace.load(manifest)
    root = workspace.root
    real_root = Path(os.path.realpath(root))
    if not (_inside(directory, real_root) or _inside(real_root, directory)):
        raise ProjectError(
            f"the crate {manifest} belongs to a workspace at {real_root}, outside the project "
            f"{directory}",
            hint="point [tool.maturin] manifest-path at a crate inside the project",
        )
    if real_root != root:
        raise ProjectError(
            f"the workspace root {root} is reached through a symbolic link (it is {real_root})",
            hint="run patcher on the real path of the project",
        )
    work_tree = git.work_tree_of(directory)
    if work_tree is not None and not _inside(root, Path(os.path.realpath(work_tree))):
        raise ProjectError(
            f"the workspace root {root} lies outside the git repository {work_tree}",
            hint="patcher edits only the repository you run it in; check [tool.maturin] "
            "manifest-path and `package.workspace` in Cargo.toml",
        )
    root_manifest = root / "Cargo.toml"
    if root_manifest != manifest:
        textfile.read_toml(root_manifest)
    config = _config(ours, pyproject)
    features = maturin.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise ProjectError(
            f"{pyproject}: [tool.maturin] features must be a list of strings",
            hint="fix [tool.maturin] in pyproject.toml",
        )
    return Project(directory, pyproject, manifest, workspace, config, requires, tuple(features))


def project_mutex(project: Project) -> Path:
    return cache.root() / "projects" / transaction.project_key(project.workspace_root)


LOCK_TIMEOUT_ENV = "PYO3_PATCHER_PROJECT_LOCK_TIMEOUT"


def _lock_timeout() -> float:
    """Seconds a second patcher waits for the project: a finite number, 0 or more."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "600")
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(
            f"{LOCK_TIMEOUT_ENV}={value!r} is not a number of seconds",
            hint=f"set {LOCK_TIMEOUT_ENV} to a number of seconds, 0 or more (e.g. 600), "
            "or unset it",
        )
    return seconds


@contextlib.contextmanager
def opened(directory: Path, *, recover: bool = True) -> Iterator[Project]:
    """Discover the project and hold its lock; first roll back what an interrupted run on
    this machine left (its journal is in our cache, never in the checkout).

    `recover=False` (verify) writes nothing: an interrupted run still pending is an error
    there (it neither rolls back nor finishes another run's change). Two patchers on one
    project: the second waits for the first (or fails clearly)."""
    project = discover(directory)
    timeout = _lock_timeout()
    with cache.exclusive(project_mutex(project), timeout=timeout):
        if recover:
            for message in transaction.recover(project.fence):
                ui.say(f"note: {message} in {project.workspace_root}")
        else:
            transaction.warn_strangers(project.workspace_root)
            journal = transaction.pending(project.workspace_root)
            if journal is not None:
                raise transaction.RecoveryError(
                    f"an interrupted patcher run left a journal for {project.workspace_root} "
                    f"({journal}); this command writes nothing, so it neither rolls that change "
                    "back nor finishes its clean-up",
                    hint="run `patcher apply` (or `patcher remove`) first: it rolls an unfinished "
                    "change back, or deletes the backups of a finished one; then run this "
                    "command again",
                )
        yield project
