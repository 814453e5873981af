"""What the patch saves in a project, and where it saves nothing (said at apply).

The patch stops pyo3's build script from rerunning when the build venv changes. Where pyo3
never looks at the venv anyway, or where the project's own build script watches it, part or
all of the rebuild stays (docs/usage.md, "What the patch saves").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomlkit
from packaging.version import InvalidVersion, Version
from tomlkit.exceptions import TOMLKitError

from patcher.project import ci, workflows
from patcher.project.discovery import Project

_MAX_BUILD_SCRIPT = 1 << 20  # read no more of a build script than this


def notes(project: Project, metadata: dict[str, Any]) -> list[str]:
    return _abi3(project, metadata) + _build_scripts(metadata)


def _abi3_features(maturin_features: tuple[str, ...], metadata: dict[str, Any]) -> list[str]:
    names = {p.get("id"): p.get("name") for p in metadata.get("packages", [])}
    resolved = {
        feature
        for node in (metadata.get("resolve") or {}).get("nodes", [])
        if names.get(node.get("id")) in ("pyo3", "pyo3-ffi", "pyo3-build-config")
        for feature in node.get("features", [])
    }
    return sorted(f for f in set(resolved) | set(maturin_features) if "abi3" in f)


def _abi3(project: Project, metadata: dict[str, Any]) -> list[str]:
    abi3 = _abi3_features(project.maturin_features, metadata)
    if not abi3:
        return []
    return [
        f"this project builds stable-ABI wheels ({', '.join(abi3)}): with maturin >= 1.14 and "
        "pyo3 >= 0.29 maturin hands pyo3 a config file and such builds are warm already; the "
        "patch saves nothing there (it still helps builds that read the interpreter)"
    ]


def _build_scripts(metadata: dict[str, Any]) -> list[str]:
    members = set(metadata.get("workspace_members", []))
    found = []
    for package in metadata.get("packages", []):
        if package.get("id") not in members:
            continue
        for target in package.get("targets", []):
            if "custom-build" not in target.get("kind", []):
                continue
            try:
                with Path(target["src_path"]).open(encoding="utf-8", errors="replace") as f:
                    text = f.read(_MAX_BUILD_SCRIPT)
            except OSError:
                continue
            name = package["name"]
            if "PYO3_PYTHON" in text:
                found.append(
                    f"the build script of {name} reads PYO3_PYTHON: {name} still rebuilds when "
                    "the build venv changes (read it without registering a rerun, or watch "
                    "PYO3_BASE_PYTHON; see docs/usage.md)"
                )
            if "pyo3_build_config" in text and "executable" in text:
                found.append(
                    f"the build script of {name} runs the interpreter pyo3-build-config "
                    "names: with the patch that is the base interpreter, which lacks packages "
                    "installed only in the build venv (read PYO3_PYTHON for those)"
                )
    return found


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def nothing_to_gain(
    *,
    workspace_root: Path,
    maturin_features: tuple[str, ...],
    metadata: dict[str, Any],
    maturin: str,
) -> list[str]:
    """Why the patch can gain nothing in this workspace, if it cannot (apply then patches only
    with --force, and doctor says so): its isolated builds are warm without it, or cold
    whatever it does. `maturin`: the version its isolated builds get ("" if none)."""
    reasons = []
    pyo3 = {_version(p["version"]) for p in metadata.get("packages", []) if p["name"] == "pyo3"}
    built = _version(maturin)
    abi3 = _abi3_features(maturin_features, metadata)
    if (
        abi3
        and built is not None
        and built.release >= (1, 14)
        and pyo3
        and all(v is not None and v.release >= (0, 29) for v in pyo3)
    ):
        reasons.append(
            f"it builds stable-ABI wheels ({', '.join(abi3)}) with pyo3 >= 0.29 and maturin "
            f"{built.public}: maturin hands pyo3 a config file, pyo3 never looks at the build "
            "venv, and the isolated builds are warm without the patch"
        )
    inside = _vendored_sources(workspace_root)
    if inside:
        reasons.append(
            f"its dependencies come from a source replacement inside the workspace "
            f"({', '.join(inside)}), the layout of a build from an sdist, which builds in a "
            "fresh folder each time: every crate compiles anyway"
        )
    return reasons


def nothing_to_gain_in_ci(project: Project) -> str | None:
    """Why the patch gains nothing where this project is built, if it cannot: every job of its
    GitHub workflows that builds it does so with a fixed interpreter (maturin-action), and no
    noxfile.py or tox.ini hints at isolated builds elsewhere. apply then patches only with
    --force, and doctor says so. Workflow files are read as untrusted data (workflows.py)."""
    found = workflows.read(ci.checkout_top(project), project.directory)
    why = found.gains_nothing()
    return None if why is None or found.tools else why


def _vendored_sources(root: Path) -> list[str]:
    """The directory sources inside the workspace that replace crates.io in its cargo config
    (`[source.crates-io] replace-with = ...`), relative to the workspace root."""
    for name in ("config.toml", "config"):
        path = root / ".cargo" / name
        try:
            data = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
        except (OSError, UnicodeDecodeError, TOMLKitError):
            continue
        sources = data.get("source")
        if not isinstance(sources, dict):
            return []
        found = []
        seen = set()
        name_ = (sources.get("crates-io") or {}).get("replace-with")
        while isinstance(name_, str) and name_ not in seen:  # replacements may chain
            seen.add(name_)
            source = sources.get(name_) or {}
            directory = source.get("directory") if isinstance(source, dict) else None
            if isinstance(directory, str):
                where = Path(os.path.normpath(root / directory))  # relative to the workspace
                if where == root or root in where.parents:
                    found.append(where.relative_to(root).as_posix())
            name_ = source.get("replace-with") if isinstance(source, dict) else None
        return found
    return []
