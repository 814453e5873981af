"""What the patch saves in a project, and where it saves nothing (said at apply).

The patch stops pyo3's build script from rerunning when the build venv changes. Where pyo3
never looks at the venv anyway, or where the project's own build script watches it, part or
all of the rebuild stays (docs/usage.md, "What the patch saves").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patcher.project.discovery import Project

_MAX_BUILD_SCRIPT = 1 << 20  # read no more of a build script than this


def notes(project: Project, metadata: dict[str, Any]) -> list[str]:
    return _abi3(project, metadata) + _build_scripts(metadata)


def _abi3(project: Project, metadata: dict[str, Any]) -> list[str]:
    names = {p.get("id"): p.get("name") for p in metadata.get("packages", [])}
    resolved = {
        feature
        for node in (metadata.get("resolve") or {}).get("nodes", [])
        if names.get(node.get("id")) in ("pyo3", "pyo3-ffi", "pyo3-build-config")
        for feature in node.get("features", [])
    }
    features = set(resolved) | set(project.maturin_features)
    abi3 = sorted(f for f in features if "abi3" in f)
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
