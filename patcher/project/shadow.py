"""Cargo resolution in a scratch copy of the workspace, so cargo never writes the project.

`cargo metadata` and `cargo update` rewrite Cargo.lock (or create one) beside the workspace
manifest. Running them in the project would put a write outside our fence and transaction,
create a Cargo.lock in projects that keep none, and make a dry run either lie or write. So
we resolve in a shadow: the workspace's manifests at their relative places, empty files
where its targets are (cargo only needs them to exist), the Cargo.lock we are given, and
`[patch]` paths to the trees we name (none: the manifest's own, as the build reads them).
cargo runs with the project as its working directory, so it reads the project's
`.cargo/config.toml` as a real build would, sealed (cargo.run) so that no program the
checkout names runs.
Path dependencies outside the workspace are read where they are, by absolute path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import tomlkit

from patcher import cargo
from patcher.project import textfile

_DEPENDENCY_TABLES = (
    "dependencies",
    "dev-dependencies",
    "build-dependencies",
    "dev_dependencies",
    "build_dependencies",
)
_TARGET_ARRAYS = ("bin", "example", "test", "bench")


@dataclasses.dataclass(frozen=True)
class Member:
    manifest: Path  # absolute, in the project
    targets: tuple[Path, ...]  # source files of its targets (and build script)


@dataclasses.dataclass(frozen=True)
class Workspace:
    """What `cargo metadata --no-deps` says of the project: read-only, no lock written."""

    root: Path
    members: tuple[Member, ...]

    @classmethod
    def load(cls, manifest: Path) -> Workspace:
        data = cargo.metadata_no_deps(manifest)
        root = Path(data["workspace_root"])
        members = tuple(
            Member(
                Path(pkg["manifest_path"]),
                tuple(Path(t["src_path"]) for t in pkg.get("targets", [])),
            )
            for pkg in data["packages"]
        )
        return cls(root, members)


SHADOW_PREFIX = "pyo3-patcher-shadow-"  # in the process's own temp folder (tempdirs.py)


class Shadow:
    """A scratch copy of the workspace's manifests; use as a context manager."""

    def __init__(
        self,
        workspace: Workspace,
        root_manifest: str,
        lock: bytes | None,
        patch_paths: Mapping[str, Path],
    ) -> None:
        self.workspace = workspace
        self._root_manifest = root_manifest
        self._lock = lock
        self._patch_paths = dict(patch_paths)
        self._tmp: Path | None = None

    @property
    def root(self) -> Path:
        assert self._tmp is not None, "use Shadow as a context manager"
        return self._tmp / "workspace"

    def __enter__(self) -> Shadow:
        self._tmp = Path(tempfile.mkdtemp(prefix=SHADOW_PREFIX))
        try:
            self._build()
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _build(self) -> None:
        real_root = self.workspace.root
        mirrored = {real_root} | {m.manifest.parent for m in self.workspace.members}
        for member in self.workspace.members:
            for target in member.targets:
                if _inside(target, real_root):
                    placeholder = self.root / target.relative_to(real_root)
                    placeholder.parent.mkdir(parents=True, exist_ok=True)
                    placeholder.touch()
            if member.manifest.parent == real_root:
                continue  # the root manifest is the text we were given
            text = textfile.read(member.manifest).text
            rel = member.manifest.relative_to(real_root)
            self._write_manifest(rel, text, member.manifest.parent, mirrored)
        self._write_manifest(Path("Cargo.toml"), self._root_manifest, real_root, mirrored)
        if self._lock is not None:
            (self.root / "Cargo.lock").write_bytes(self._lock)

    def _write_manifest(self, rel: Path, text: str, real_dir: Path, mirrored: set[Path]) -> None:
        doc = textfile.parse_toml(text, real_dir / "Cargo.toml")
        _rewrite_paths(doc, real_dir, mirrored, self.workspace.root, self._patch_paths)
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(tomlkit.dumps(doc), encoding="utf-8")

    def _env(self) -> dict[str, str]:
        assert self._tmp is not None
        return {"CARGO_TARGET_DIR": str(self._tmp / "target")}

    def metadata(
        self,
        *,
        locked: bool,
        offline: bool,
        cwd: Path | None = None,
        args: Sequence[str] = (),
        configs: Sequence[str] = (),
    ) -> tuple[dict[str, Any], str]:
        """`cargo metadata` of the shadow: the resolved graph and cargo's warnings. `cwd`
        (default: the workspace root) decides which cargo configs apply; `args` and `configs`
        are more of cargo's arguments and `--config` values (what a build passes)."""
        result = cargo.run(
            [
                "metadata",
                "--format-version",
                "1",
                "--manifest-path",
                self.root / "Cargo.toml",
                *args,
            ],
            cwd=cwd or self.workspace.root,
            env=self._env(),
            locked=locked,
            offline=offline,
            what="cargo could not resolve the workspace",
            sealed=True,
            configs=configs,
        )
        return json.loads(result.stdout), result.stderr

    def update(self, args: list[str], *, offline: bool, check: bool = True) -> tuple[int, str]:
        """`cargo update ARGS` in the shadow; (exit code, what cargo said)."""
        result = cargo.run(
            ["update", "--manifest-path", self.root / "Cargo.toml", *args],
            cwd=self.workspace.root,
            env=self._env(),
            offline=offline,
            check=check,
            what="cargo update failed",
            sealed=True,
        )
        return result.returncode, result.stderr

    def lock(self) -> bytes | None:
        path = self.root / "Cargo.lock"
        return path.read_bytes() if path.is_file() else None

    def to_project(self, path: Path) -> Path:
        """A path cargo reported in the shadow, as the same path in the project."""
        try:
            return self.workspace.root / path.relative_to(self.root)
        except ValueError:
            return path


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _rewrite_paths(
    doc: Any, real_dir: Path, mirrored: set[Path], real_root: Path, patch_paths: dict[str, Path]
) -> None:
    """Point every relative path of a manifest that the shadow does not mirror at the real
    location, and our patch entries at the trees named for this resolution."""

    def fix(spec: Any) -> None:
        if not hasattr(spec, "get") or not isinstance(spec.get("path"), str):
            return
        real = Path(os.path.normpath(real_dir / spec["path"]))
        if real not in mirrored:
            spec["path"] = str(real)

    def fix_tables(container: Any) -> None:
        for key in _DEPENDENCY_TABLES:
            table: Any = container.get(key) if hasattr(container, "get") else None
            for spec in table.values() if hasattr(table, "values") else ():
                fix(spec)

    fix_tables(doc)
    for platform in (doc.get("target") or {}).values():
        fix_tables(platform)
    workspace = doc.get("workspace")
    if hasattr(workspace, "get"):
        fix_tables(workspace)
    for registry in (doc.get("patch") or {}).values():
        if not hasattr(registry, "items"):
            continue
        for name, spec in registry.items():
            if name in patch_paths and hasattr(spec, "get") and spec.get("path") is not None:
                spec["path"] = str(patch_paths[name])
            else:
                fix(spec)
    replace = doc.get("replace")
    if hasattr(replace, "values"):
        for spec in replace.values():
            fix(spec)
    package = doc.get("package")
    if hasattr(package, "get") and isinstance(package.get("workspace"), str):
        real = Path(os.path.normpath(real_dir / package["workspace"]))
        if not _inside(real, real_root):
            package["workspace"] = str(real)
    # targets named outside the workspace: read where they are
    for spec in [doc.get("lib"), *[t for key in _TARGET_ARRAYS for t in (doc.get(key) or [])]]:
        if hasattr(spec, "get") and isinstance(spec.get("path"), str):
            real = Path(os.path.normpath(real_dir / spec["path"]))
            if not _inside(real, real_root):
                spec["path"] = str(real)
    if hasattr(package, "get") and isinstance(package.get("build"), str):
        real = Path(os.path.normpath(real_dir / package["build"]))
        if not _inside(real, real_root):
            package["build"] = str(real)
