"""The main job on the bundled example: real isolated PEP 517 builds, unpatched vs patched.

Each build is `pip wheel .` (build isolation on) from a fresh venv, as in a CI job or a tox/nox
session: pip's build environment is an overlay on the interpreter that runs pip, so the venv
is what changes PYO3_PYTHON between builds. The patched run uses `patcher apply` and the
environment `patcher env` prints (the patched maturin).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
import time
from pathlib import Path

from patcher import frontends, proc, resources
from patcher.project import apply, builds
from patcher.project.discovery import discover
from patcher.upstreams.pyo3 import CRATES

EXAMPLE_DIR = resources.example_dir()


@dataclasses.dataclass(frozen=True)
class BuildResult:
    label: str
    first_s: float
    second_s: float
    recompiled: tuple[str, ...]


def isolated_build(project: Path, venv: Path, out: Path, env: dict[str, str]) -> tuple[float, str]:
    """`pip wheel` with build isolation from a fresh venv; (seconds, log)."""
    python = proc.make_venv(venv, with_pip=True)
    start = time.monotonic()
    result = proc.run(
        frontends.build_command("pip", project, out, python),
        env=env,
        what="isolated build of the example",
    )
    return time.monotonic() - start, result.stdout + result.stderr


def recompiled(log: str) -> tuple[str, ...]:
    return tuple(sorted(set(re.findall(r"Compiling (\S+) v", log)) & set(CRATES)))


def patched_env(project: Path) -> dict[str, str]:
    """What `patcher env` prints for the project: the patched maturin for its frontends."""
    return builds.frontend_environment(builds.patched_maturin(discover(project)))


def prepare(example: Path, project: Path, *, patched: bool) -> dict[str, str]:
    """Copy the example to `project`; if `patched`, apply and return what `patcher env` would
    print (else no extra environment)."""
    shutil.copytree(example, project, ignore=shutil.ignore_patterns("target", ".pyo3-patcher"))
    if not patched:
        return {}
    apply.run_apply(project, apply.Options())
    return patched_env(project)


def _one(label: str, example: Path, work: Path) -> BuildResult:
    project = work / label
    env = prepare(example, project, patched=label == "patched")
    first, _ = isolated_build(project, work / f"{label}-job-1", work / "dist", env)
    second, log = isolated_build(project, work / f"{label}-job-2", work / "dist", env)
    return BuildResult(label, first, second, recompiled(log))


def run_demo(example: Path = EXAMPLE_DIR) -> list[BuildResult]:
    with tempfile.TemporaryDirectory(prefix="patcher-demo-") as tmp:
        return [_one(label, example, Path(tmp)) for label in ("unpatched", "patched")]


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
