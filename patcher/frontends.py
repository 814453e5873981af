"""The PEP 517 frontends we serve, in one table: how each is made to install our patched
maturin into its isolated build environment, and how each runs an isolated build.

pip passes its PIP_* variables on to the pip that fills its build environment, and `python -m
build` installs through pip (or through uv, which reads its own UV_* variables). The proof that
a variable works is which maturin ran (tests/test_isolated_builds.py).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from patcher.errors import ExternalError


@dataclasses.dataclass(frozen=True)
class Frontend:
    name: str
    # environment that makes it install the wheels in {wheels}, pinned by {constraints}
    environment: Mapping[str, str]


FRONTENDS = {
    f.name: f
    for f in (
        Frontend(
            "pip",
            {
                "PIP_FIND_LINKS": "{wheels}",
                "PIP_CONSTRAINT": "{constraints}",
                "PIP_BUILD_CONSTRAINT": "{constraints}",
            },
        ),
        Frontend(
            "uv",
            {"UV_FIND_LINKS": "{wheels}", "UV_BUILD_CONSTRAINT": "{constraints}"},
        ),
    )
}


def environment(wheel_dir: Path, version: str, existing: Mapping[str, str]) -> dict[str, str]:
    """What makes pip, `python -m build` and uv install exactly maturin `version` from
    `wheel_dir` into their isolated build environments (a PIP_FIND_LINKS already set is
    kept)."""
    constraints = wheel_dir / "constraints.txt"
    if not constraints.exists():
        constraints.write_text(f"maturin=={version}\n", encoding="utf-8")
    env: dict[str, str] = {}
    for frontend in FRONTENDS.values():
        for key, template in frontend.environment.items():
            env[key] = template.format(wheels=wheel_dir, constraints=constraints)
    env["PIP_FIND_LINKS"] = " ".join(
        p for p in (str(wheel_dir), existing.get("PIP_FIND_LINKS", "")) if p
    )
    return env


def uv() -> str:
    """The uv program: on PATH, or beside this Python (installed with pip)."""
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(found).exists():
        raise ExternalError(
            "uv was not found", hint="install it (`python -m pip install uv`) or use --frontend pip"
        )
    return found


def build_command(name: str, project: Path, out: Path, python: Path) -> list[str]:
    """An isolated wheel build of `project` into `out` with frontend `name`, run from the
    environment of `python` (pip and build) or by uv itself."""
    if name == "pip":
        return [str(python), "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(project)]
    if name == "build":
        return [str(python), "-m", "build", "--wheel", "--outdir", str(out), str(project)]
    return [uv(), "build", "--wheel", "-v", "--out-dir", str(out), str(project)]
