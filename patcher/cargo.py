"""What we ask of cargo, through the subprocess boundary in proc.py."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from patcher import proc
from patcher.errors import ProjectError, SourceError, ToolError

NOT_USED_MARKER = "was not used in the crate graph"


def _offline(offline: bool) -> list[str]:
    return ["--offline"] if offline else []


def run(
    args: list[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    locked: bool = False,
    offline: bool = False,
    check: bool = True,
    what: str = "cargo failed",
) -> subprocess.CompletedProcess[str]:
    """`cargo ARGS`; with `check`, a failure is a ToolError that keeps cargo's output."""
    cmd: list[str | Path] = ["cargo", *args]
    if locked:
        cmd.append("--locked")
    cmd += _offline(offline)
    result = proc.run(cmd, cwd=cwd, env=env, check=False)
    if check and result.returncode != 0:
        raise ToolError(
            what,
            hint="see cargo's message above; with --offline, the crates.io index and the crates "
            "must already be in cargo's cache",
            cmd=tuple(str(c) for c in cmd),
            returncode=result.returncode,
            stderr=result.stderr,
        )
    return result


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


def metadata(
    manifest: Path, *, no_deps: bool = False, offline: bool = False, locked: bool = False
) -> tuple[dict[str, Any], str]:
    """`cargo metadata` as JSON, with cargo's stderr (where its warnings go)."""
    cmd: list[str | Path] = [
        "cargo",
        "metadata",
        "--format-version",
        "1",
        "--manifest-path",
        manifest,
        *_offline(offline),
    ]
    if no_deps:
        cmd.append("--no-deps")
    if locked:
        cmd.append("--locked")
    result = proc.run(cmd, check=False)
    if result.returncode != 0:
        raise ToolError(
            f"cargo could not resolve {manifest}",
            hint="see cargo's message below; with --offline, the crates.io index and crates must "
            "be in cargo's cache",
            cmd=tuple(str(c) for c in cmd),
            returncode=result.returncode,
            stderr=result.stderr,
        )
    return json.loads(result.stdout), result.stderr


def workspace_packages(root: Path) -> dict[str, tuple[str, Path]]:
    data, _ = metadata(root / "Cargo.toml", no_deps=True)
    return {p["name"]: (p["version"], Path(p["manifest_path"])) for p in data["packages"]}


def package(root: Path, crates: tuple[str, ...], target_dir: Path) -> dict[str, Path]:
    """`cargo package` the named workspace members; returns the .crate file of each."""
    cmd: list[str | Path] = [
        "cargo",
        "package",
        "--no-verify",
        "--allow-dirty",
        "--target-dir",
        target_dir,
    ]
    for name in crates:
        cmd += ["-p", name]
    result = proc.run(cmd, cwd=root, check=False)
    if result.returncode != 0:
        raise SourceError(
            "cargo package failed on the upstream checkout",
            hint="cargo said:\n" + result.stderr.strip()[-2000:],
        )
    found = {}
    for crate_file in (target_dir / "package").glob("*.crate"):
        name = crate_file.stem.rpartition("-")[0]  # <name>-<version>.crate
        if name in crates:
            found[name] = crate_file
    missing = [n for n in crates if n not in found]
    if missing:
        raise SourceError(f"cargo package produced no crate for {missing}")
    return found


def download_crates(wanted: dict[str, str], *, offline: bool = False) -> dict[str, Path]:
    """Have cargo download exact versions of crates; returns each one's extracted directory.

    cargo verifies the registry checksum of every .crate it downloads.
    """
    with tempfile.TemporaryDirectory(prefix="patcher-download-") as tmp:
        project = Path(tmp)
        _write_download_manifest(project, {n: f"={v}" for n, v in wanted.items()})
        fetch: list[str | Path] = [
            "cargo",
            "fetch",
            "--manifest-path",
            project / "Cargo.toml",
            *_offline(offline),
        ]
        result = proc.run(fetch, check=False)
        if result.returncode != 0 and "is yanked" in result.stderr:
            # A yanked release resolves only by name: lock a sibling, then move to it precisely
            # (cargo allows --precise onto a yanked version).
            versions = set(wanted.values())
            _write_download_manifest(project, {n: _tilde(v) for n, v in wanted.items()})
            (project / "Cargo.lock").unlink(missing_ok=True)
            proc.run(
                ["cargo", "generate-lockfile", "--manifest-path", project / "Cargo.toml"],
                check=False,
            )
            cmd: list[str | Path] = ["cargo", "update", "--manifest-path", project / "Cargo.toml"]
            for name in wanted:
                cmd += ["-p", name]
            update = (
                proc.run([*cmd, "--precise", versions.pop()], check=False)
                if len(versions) == 1
                else result
            )
            result = proc.run(fetch, check=False) if update.returncode == 0 else update
        if result.returncode != 0:
            raise SourceError(
                f"cargo could not download {', '.join(f'{n} {v}' for n, v in wanted.items())}",
                hint="check that crates.io is reachable (or the crates are in cargo's cache "
                "with --offline); cargo said:\n" + result.stderr.strip()[-1500:],
            )
        data, _ = metadata(project / "Cargo.toml", offline=True)
        dirs = {}
        for pkg in data["packages"]:
            if wanted.get(pkg["name"]) == pkg["version"] and pkg["source"]:
                dirs[pkg["name"]] = Path(pkg["manifest_path"]).parent
        missing = [n for n in wanted if n not in dirs]
        if missing:
            raise SourceError(f"cargo did not download {missing}")
        return dirs


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
