"""The main job on the bundled example: unpatched vs patched, second build from a new venv.

Until the patched maturin drives isolated PEP 517 builds (see docs), the demo reproduces
what a frontend does: each build gets a fresh venv, `PYO3_PYTHON` points into it, and
`PYO3_BASE_PYTHON` names the base interpreter, as our maturin change exports it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patcher import apply, proc
from patcher.sources import PYO3_CRATES

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "hello-pyo3"


@dataclasses.dataclass(frozen=True)
class BuildResult:
    label: str
    first_s: float
    second_s: float
    recompiled: tuple[str, ...]


def _base_python() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def _build(project: Path, venv_python: Path) -> tuple[float, str]:
    start = time.monotonic()
    result = proc.run(
        ["cargo", "build", "--release", "-v", "--features", "pyo3/extension-module"],
        cwd=project,
        env={"PYO3_PYTHON": str(venv_python), "PYO3_BASE_PYTHON": _base_python()},
        what="cargo build of the example",
    )
    return time.monotonic() - start, result.stderr


def _one(label: str, example: Path, work: Path, patched: bool) -> BuildResult:
    project = work / label
    shutil.copytree(example, project, ignore=shutil.ignore_patterns("target", ".pyo3-patcher"))
    if patched:
        apply.run_apply(project, apply.Options())
    venvs = []
    for name in ("venv-1", "venv-2"):
        subprocess.run(
            [_base_python(), "-m", "venv", "--without-pip", str(work / f"{label}-{name}")],
            check=True,
        )
        venvs.append(work / f"{label}-{name}" / "bin" / "python")
    first, _ = _build(project, venvs[0])
    second, log = _build(project, venvs[1])
    rebuilt = sorted(set(re.findall(r"^\s+Compiling (\S+) v", log, re.M)) & set(PYO3_CRATES))
    return BuildResult(label, first, second, tuple(rebuilt))


def run_demo(example: Path = EXAMPLE_DIR) -> list[BuildResult]:
    with tempfile.TemporaryDirectory(prefix="patcher-demo-") as tmp:
        return [
            _one(label, example, Path(tmp), label == "patched")
            for label in ("unpatched", "patched")
        ]


def render(results: list[BuildResult]) -> str:
    lines = [
        "| build | first build (s) | second build (s) | pyo3 crates recompiled in the second |",
        "|---|---:|---:|---|",
    ]
    for r in results:
        crates = ", ".join(r.recompiled) or "none"
        lines.append(
            f"| {r.label} | {r.first_s:.1f} | {r.second_s:.1f} | {len(r.recompiled)}: {crates} |"
        )
    return "\n".join(lines) + "\n"
