"""What a CI cache of target/ keeps between two jobs, for `patcher doctor` and the tests.

Two caches, as CI uses them:
- `tar`: a plain `actions/cache` of target/: saved and restored whole, mtimes kept (tar).
- `rust-cache`: Swatinem/rust-cache, emulated from its own source at v2.9.2 (commit 6323deb;
  `src/save.ts`, `src/cleanup.ts` `cleanTargetDir` / `cleanProfileTarget` / `rmExcept`,
  `src/workspace.ts` `getPackagesOutsideWorkspaceRoot` / `getWorkspaceMembers`), with its
  defaults. Before saving it runs `cargo metadata --all-features --format-version 1` in the
  workspace root (with `CARGO_ENCODED_RUSTFLAGS` emptied) and keeps, in every profile dir, only
  `build/`, `.fingerprint/` and `deps/`, and inside those only the entries named after a package
  whose `manifest_path` does not start with the workspace root (a string prefix test, as
  there), or after one of its library-like targets; `cache-workspace-crates: true` adds the
  workspace members (`--no-deps`). If its `cargo metadata` fails, it keeps no package at all.
  (Its check of week-old files runs only when a restore was not an exact key match; not here.)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

from patcher import proc

RUST_CACHE_VERSION = "v2.9.2"
CACHES = ("rust-cache", "tar")
_SAVE_TARGETS = {"lib", "cdylib", "dylib", "rlib", "staticlib", "proc-macro"}


@dataclasses.dataclass(frozen=True)
class Package:
    name: str
    version: str
    targets: tuple[str, ...]
    path: str


def _packages(
    root: Path, *, no_deps: bool, outside_only: bool, env: Mapping[str, str]
) -> list[Package]:
    cmd = ["cargo", "metadata", "--all-features", "--format-version", "1"]
    if no_deps:
        cmd.append("--no-deps")
    result = proc.run(cmd, cwd=root, env={**env, "CARGO_ENCODED_RUSTFLAGS": ""}, check=False)
    if result.returncode != 0:
        return []  # as rust-cache: the error is printed and nothing is kept
    meta = json.loads(result.stdout)
    found = []
    for pkg in meta["packages"]:
        if outside_only and pkg["manifest_path"].startswith(str(root)):
            continue
        targets = tuple(
            t["name"] for t in pkg["targets"] if any(k in _SAVE_TARGETS for k in t["kind"])
        )
        found.append(
            Package(pkg["name"], pkg["version"], targets, str(Path(pkg["manifest_path"]).parent))
        )
    return found


def kept_packages(
    root: Path, *, workspace_crates: bool = False, env: Mapping[str, str] | None = None
) -> list[Package]:
    """The packages whose artifacts rust-cache keeps for the workspace at `root`; `env`: what
    the job's steps added to the environment of its post step ($GITHUB_ENV)."""
    env = env or {}
    packages = _packages(root, no_deps=False, outside_only=True, env=env)
    if workspace_crates:
        packages += _packages(root, no_deps=True, outside_only=False, env=env)
    return packages


def clean_target_dir(target: Path, packages: list[Package]) -> list[str]:
    """rust-cache's cleaning of `target` before it saves; returns what it removed (relative)."""
    removed: list[str] = []
    _clean_dir(target, packages, removed, target)
    return removed


def _clean_dir(directory: Path, packages: list[Package], removed: list[str], top: Path) -> None:
    for entry in sorted(directory.iterdir()) if directory.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            is_profile = entry.name == "tests" or any(
                (entry / name).exists() for name in ("build", ".fingerprint", "deps")
            )
            if is_profile:
                _clean_profile(entry, packages, removed, top)
            else:
                _clean_dir(entry, packages, removed, top)
        elif entry.name != "CACHEDIR.TAG":
            _rm(entry, removed, top)


def _clean_profile(profile: Path, packages: list[Package], removed: list[str], top: Path) -> None:
    if profile.name == "tests":
        for nested in ("target", "trybuild"):
            if (profile / nested).is_dir():
                _clean_dir(profile / nested, packages, removed, top)
        _rm_except(profile, {"target", "trybuild"}, removed, top)
        return
    _rm_except(profile, {"build", ".fingerprint", "deps"}, removed, top)
    keep_pkg = {p.name for p in packages} | {
        t.replace("-", "_") for p in packages for t in p.targets
    }
    for sub in ("build", ".fingerprint"):
        if (profile / sub).is_dir():
            _rm_except(profile / sub, keep_pkg, removed, top)
    keep_deps = set()
    for p in packages:
        for n in (p.name, *p.targets):
            name = n.replace("-", "_")
            keep_deps |= {name, f"lib{name}"}
    if (profile / "deps").is_dir():
        _rm_except(profile / "deps", keep_deps, removed, top)


def _rm_except(directory: Path, keep: set[str], removed: list[str], top: Path) -> None:
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name in keep:
            continue
        cut = name.rfind("-")  # cargo's `-<hash>` suffix (its V1 layout)
        if cut != -1 and name[:cut] in keep:
            continue
        _rm(entry, removed, top)


def _rm(entry: Path, removed: list[str], top: Path) -> None:
    removed.append(entry.relative_to(top).as_posix())
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()


def save(target: Path, archive: Path) -> None:
    """Pack `target` as the cache action does: a tar archive, mtimes kept."""
    with tarfile.open(archive, "w") as tar:
        tar.add(target, arcname=target.name)


def restore(archive: Path, parent: Path) -> None:
    """Unpack a saved target dir into `parent` (mtimes as saved)."""
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "tar_filter"):  # 3.9.17+: say what we want; 3.14 changes the default
            tar.extractall(parent, filter="tar")
        else:
            tar.extractall(parent)  # our own archive of our own target dir


@dataclasses.dataclass(frozen=True)
class Jobs:
    """CI jobs one after another, each on a fresh machine of one layout (GitHub Actions checks
    out at /home/runner/work/<repo>/<repo>: here `<work>/runner/<name>/<name>`), sharing
    nothing but a saved target/."""

    work: Path
    name: str

    @property
    def base(self) -> Path:
        """The folder that holds the checkout (everything in it is new in every job)."""
        return self.work / "runner" / self.name

    @property
    def checkout(self) -> Path:
        return self.base / self.name

    @property
    def runner_temp(self) -> Path:
        """The runner's own temporary folder ($RUNNER_TEMP: /home/runner/work/_temp), outside
        the checkout, at the same path and emptied in every job."""
        return self.work / "runner" / "_temp"

    def fresh(self, fill: Callable[[Path], object], archive: Path | None) -> Path:
        """A new job: the runner's folders emptied, the checkout made by `fill(checkout)`, and
        target/ restored from `archive` (None: no cache yet)."""
        for folder in (self.base, self.runner_temp):
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
        fill(self.checkout)
        if archive is not None:
            restore(archive, self.checkout)
        return self.checkout

    def save(self, cache: str, archive: Path, env: Mapping[str, str] | None = None) -> list[str]:
        """The end of a job: target/ saved as `cache` saves it (rust-cache cleans it first,
        in place, with `env` from the job's $GITHUB_ENV); returns what the cleaning removed."""
        target = self.checkout / "target"
        removed = []
        if cache == "rust-cache":
            removed = clean_target_dir(target, kept_packages(self.checkout, env=env))
        save(target, archive)
        return removed
