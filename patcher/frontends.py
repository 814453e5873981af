"""The PEP 517 frontends we serve, in one table: how each is made to install our patched
maturin into its isolated build environment, and how each runs an isolated build.

pip passes its PIP_* variables on to the pip that fills its build environment, and `python -m
build` installs through pip (or through uv, which reads its own UV_* variables). The proof that
a variable works is which maturin ran (tests/end_to_end/test_isolated_builds.py).

What we hand out names only what this run made: the wheel alone in a folder of its own, its
sha256, and constraint files written there now. Every path is a file:// URL: pip and uv split
these variables on whitespace, and a URL has none (a space is %20, a line break %0A).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from packaging.version import InvalidVersion, Version

from patcher import cache
from patcher.errors import ExternalError, UsageError

# pip 25.3 reads build constraints (`--build-constraint`, PIP_BUILD_CONSTRAINT), which reach
# only isolated build environments; before it, only PIP_CONSTRAINT reaches them, and it pins
# every pip command that reads it too
PIP_BUILD_CONSTRAINTS = Version("25.3")


@dataclasses.dataclass(frozen=True)
class Frontend:
    name: str
    # environment that makes it install our wheel: {wheel_link} (the wheel's URL with its
    # sha256), {wheels} (the URL of its folder), {pip_constraints} / {uv_constraints}
    environment: Mapping[str, str]


FRONTENDS = {
    f.name: f
    for f in (
        # pip checks the `#sha256=` of a find-links URL on install; a hash inside a constraint
        # file would put its top-level command into hash-checking mode, so pip's pins the
        # version only
        Frontend(
            name="pip",
            environment={
                "PIP_FIND_LINKS": "{wheel_link}",
                "PIP_BUILD_CONSTRAINT": "{pip_constraints}",
            },
        ),
        # uv reads only folders as find-links; its build constraint carries the hash
        Frontend(
            name="uv",
            environment={"UV_FIND_LINKS": "{wheels}", "UV_BUILD_CONSTRAINT": "{uv_constraints}"},
        ),
    )
}


def pip_has_build_constraints() -> bool:
    """Whether the pip of this Python (the one CI installed patcher with, as a rule) reads
    PIP_BUILD_CONSTRAINT."""
    import importlib.metadata  # 0.1 s of imports (email, zipfile), for this one question

    try:
        return Version(importlib.metadata.version("pip")) >= PIP_BUILD_CONSTRAINTS
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):
        return False


def one_line(name: str, value: str, *, inherited: bool = False) -> str:
    """`value`, refused when it holds a line break: a line of `KEY=VALUE` in $GITHUB_ENV would
    end there, and the rest become a variable of its own (LD_PRELOAD, BASH_ENV) for every
    later step."""
    if "\n" in value or "\r" in value:
        raise UsageError(
            f"{'the inherited ' if inherited else ''}{name} holds a line break ({value!r})",
            hint=f"set {name} to one line (or unset it) before running patcher",
        )
    return value


def environment(
    *,
    wheel: Path,
    version: str,
    digest: str,
    existing: Mapping[str, str],
    pip_build_constraints: bool,
) -> dict[str, str]:
    """What makes pip, `python -m build` and uv install exactly `wheel` (maturin `version`,
    sha256 `digest`, alone in a folder of this run's own) into their isolated build
    environments. Constraint files are written fresh; a PIP_FIND_LINKS already set is kept,
    after ours. With a pip that has no build constraints, PIP_CONSTRAINT pins maturin for
    every pip command."""
    folder = wheel.parent
    pip_constraints = folder / "pip-constraints.txt"
    uv_constraints = folder / "uv-build-constraints.txt"
    cache.write_new(pip_constraints, f"maturin=={version}\n".encode())
    cache.write_new(uv_constraints, f"maturin=={version} --hash=sha256:{digest}\n".encode())
    values = {
        "wheel_link": f"{wheel.as_uri()}#sha256={digest}",
        "wheels": folder.as_uri(),
        "pip_constraints": pip_constraints.as_uri(),
        "uv_constraints": uv_constraints.as_uri(),
    }
    env: dict[str, str] = {}
    for frontend in FRONTENDS.values():
        for key, template in frontend.environment.items():
            env[key] = template.format(**values)
    if not pip_build_constraints:
        env["PIP_CONSTRAINT"] = env["PIP_BUILD_CONSTRAINT"]
    theirs = one_line("PIP_FIND_LINKS", existing.get("PIP_FIND_LINKS", ""), inherited=True)
    env["PIP_FIND_LINKS"] = " ".join(p for p in (env["PIP_FIND_LINKS"], theirs) if p)
    return {key: one_line(key, value) for key, value in env.items()}


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
