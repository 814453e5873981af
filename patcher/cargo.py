"""What we ask of cargo, through the subprocess boundary in proc.py."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from patcher import proc, ui
from patcher.errors import ExternalError, ProjectError, SourceError

NOT_USED_MARKER = "was not used in the crate graph"
_HINT = (
    "read cargo's output above; with --offline, the crates.io index and the crates must "
    "already be in cargo's cache"
)


def run(
    args: list[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    locked: bool = False,
    offline: bool = False,
    check: bool = True,
    what: str = "cargo failed",
    hint: str = _HINT,
) -> subprocess.CompletedProcess[str]:
    """`cargo ARGS`; with `check`, a failure is an ExternalError that keeps cargo's output."""
    cmd: list[str | Path] = ["cargo", *args]
    if locked:
        cmd.append("--locked")
    if offline:
        cmd.append("--offline")
    return proc.run(cmd, cwd=cwd, env=env, check=check, what=what, hint=hint)


def metadata_no_deps(manifest: Path) -> dict[str, Any]:
    """`cargo metadata --no-deps` of the workspace `manifest` belongs to: its root and members.
    Resolves nothing, so it writes nothing (no Cargo.lock)."""
    result = run(
        ["metadata", "--no-deps", "--format-version", "1", "--manifest-path", manifest],
        check=False,
    )
    if result.returncode != 0:
        said = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise ProjectError(
            f"cargo cannot load {manifest}:\n{said}",
            hint="fix the manifest so that `cargo metadata --no-deps` works there",
        )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _metadata(manifest: Path, *, no_deps: bool = False, offline: bool = False) -> dict[str, Any]:
    args: list[str | Path] = ["metadata", "--format-version", "1", "--manifest-path", manifest]
    result = run(
        [*args, *(["--no-deps"] if no_deps else [])],
        offline=offline,
        what=f"cargo could not resolve {manifest}",
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def workspace_packages(root: Path) -> dict[str, tuple[str, Path]]:
    """The members of the workspace at `root`: name -> (version, manifest path)."""
    data = _metadata(root / "Cargo.toml", no_deps=True)
    return {p["name"]: (p["version"], Path(p["manifest_path"])) for p in data["packages"]}


def package(root: Path, crates: tuple[str, ...], target_dir: Path) -> dict[str, Path]:
    """`cargo package` the named workspace members; returns the .crate file of each."""
    args: list[str | Path] = ["package", "--no-verify", "--allow-dirty", "--target-dir", target_dir]
    for name in crates:
        args += ["-p", name]
    run(
        args,
        cwd=root,
        what="cargo package failed on the upstream checkout",
        hint="the pinned checkout does not package with this cargo; use the published crates "
        "(--source crates.io)",
    )
    found = {}
    for crate_file in (target_dir / "package").glob("*.crate"):
        name = crate_file.stem.rpartition("-")[0]  # <name>-<version>.crate
        if name in crates:
            found[name] = crate_file
    missing = [n for n in crates if n not in found]
    if missing:
        raise SourceError(
            f"cargo package produced no crate for {missing}",
            hint="use the published crates (--source crates.io)",
        )
    return found


_DOWNLOAD_HINT = (
    "check that crates.io is reachable (or that the crates are in cargo's cache, with --offline)"
)


def download_crates(wanted: dict[str, str], *, offline: bool = False) -> dict[str, Path]:
    """Have cargo download exact versions of crates; returns each one's extracted directory.

    cargo verifies the registry checksum of every .crate it downloads.
    """
    with tempfile.TemporaryDirectory(prefix="patcher-download-") as tmp:
        project = Path(tmp)
        manifest = project / "Cargo.toml"
        _write_download_manifest(project, {n: f"={v}" for n, v in wanted.items()})
        listed = ", ".join(f"{n} {v}" for n, v in wanted.items())
        what = f"cargo could not download {listed}"
        with ui.progress(f"downloading {listed} (crates.io, through cargo)"):
            fetched = run(["fetch", "--manifest-path", manifest], offline=offline, check=False)
        if fetched.returncode != 0 and "is yanked" in fetched.stderr:
            _lock_yanked(project, wanted, offline=offline, what=what)
            fetched = run(["fetch", "--manifest-path", manifest], offline=offline, check=False)
        if fetched.returncode != 0:
            raise ExternalError(
                what,
                hint=_DOWNLOAD_HINT,
                command=["cargo", "fetch", "--manifest-path", str(manifest)],
                returncode=fetched.returncode,
                stderr=fetched.stderr,
            )
        data = _metadata(manifest, offline=True)
        dirs = {
            pkg["name"]: Path(pkg["manifest_path"]).parent
            for pkg in data["packages"]
            if wanted.get(pkg["name"]) == pkg["version"] and pkg["source"]
        }
        missing = [n for n in wanted if n not in dirs]
        if missing:
            raise SourceError(f"cargo did not download {missing}", hint=_DOWNLOAD_HINT)
        return dirs


def _lock_yanked(project: Path, wanted: dict[str, str], *, offline: bool, what: str) -> None:
    """A yanked release resolves only by name: lock a sibling, then move to it precisely
    (cargo allows --precise onto a yanked version)."""
    versions = set(wanted.values())
    if len(versions) != 1:
        raise SourceError(
            f"{what}: a yanked release among crates of several versions", hint=_DOWNLOAD_HINT
        )
    manifest = project / "Cargo.toml"
    _write_download_manifest(project, {n: _tilde(v) for n, v in wanted.items()})
    (project / "Cargo.lock").unlink(missing_ok=True)
    run(["generate-lockfile", "--manifest-path", manifest], offline=offline, what=what)
    names = [arg for name in wanted for arg in ("-p", name)]
    run(
        ["update", "--manifest-path", manifest, *names, "--precise", versions.pop()],
        offline=offline,
        what=what,
    )


def _tilde(version: str) -> str:
    major, minor, *_ = version.split(".")
    return f"~{major}.{minor}.0"


def _write_download_manifest(project: Path, requirements: dict[str, str]) -> None:
    deps = "\n".join(
        f'{name} = {{ version = "{req}", default-features = false }}'
        for name, req in sorted(requirements.items())
    )
    (project / "Cargo.toml").write_text(
        '[package]\nname = "patcher-download"\nversion = "0.0.0"\nedition = "2021"\n'
        'publish = false\n\n[lib]\npath = "lib.rs"\n\n[dependencies]\n' + deps + "\n",
        encoding="utf-8",
    )
    (project / "lib.rs").write_text("", encoding="utf-8")
