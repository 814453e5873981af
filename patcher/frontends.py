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
import os
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
    version = _pip_version()
    if version is None:
        import importlib.metadata  # 0.1 s of imports (email, zipfile), for this one question

        try:
            version = importlib.metadata.version("pip")
        except importlib.metadata.PackageNotFoundError:
            version = ""
    try:
        return bool(version) and Version(version) >= PIP_BUILD_CONSTRAINTS
    except InvalidVersion:
        return False


def _pip_version() -> str | None:
    """`importlib.metadata.version("pip")` read as it reads it where that is plain: the first
    `pip-*.dist-info` folder of the first folder on sys.path holding pip's metadata ("" where
    none does). Importing importlib.metadata costs every `patcher env` some 30 ms. None, for
    importlib.metadata to answer, wherever it would look further: a finder of another kind,
    a zip or egg on sys.path, an .egg-info, metadata without a Version."""
    import importlib.machinery

    for finder in sys.meta_path:
        if finder is not importlib.machinery.PathFinder and hasattr(finder, "find_distributions"):
            return None
    for entry in sys.path:
        if not isinstance(entry, str) or entry.lower().endswith(".egg"):
            return None
        folder = Path(entry or ".")
        try:
            children = [path.name for path in folder.iterdir()]
        except OSError:
            if os.path.lexists(folder):
                return None  # a zip file, or a folder we may not list
            continue
        found = [
            child
            for child in children
            if child.lower().endswith((".dist-info", ".egg-info"))
            and child.lower().rpartition(".")[0].partition("-")[0] == "pip"
        ]
        if not found:
            continue
        if not found[0].lower().endswith(".dist-info"):
            return None
        try:
            with (folder / found[0] / "METADATA").open(encoding="utf-8") as metadata:
                for line in metadata:
                    if not line.strip():
                        break  # the end of the headers
                    key, colon, value = line.partition(":")
                    if colon and key.strip().lower() == "version":
                        return value.strip() or None
        except (OSError, ValueError):
            return None
        return None
    return ""


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
