"""The main job on the bundled example: real isolated PEP 517 builds, unpatched vs patched.

Each build is `pip wheel .` (build isolation on) from a fresh venv, as in a CI job or a tox/nox
session: pip's build environment is an overlay on the interpreter that runs pip, so the venv
is what changes PYO3_PYTHON between builds. The patched run uses `patcher apply` and the
environment `patcher env` prints (the patched maturin).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from patcher import frontends, proc, resources, ui
from patcher.project import apply, builds
from patcher.project.discovery import discover
from patcher.upstreams.names import PYO3_CRATES as CRATES

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


@contextlib.contextmanager
def _step(number: int, what: str) -> Iterator[None]:
    """One step of the demo, said when it starts and when it ends: each takes from seconds to
    a minute, and the demo takes minutes in all."""
    ui.say(f"[{number}/{STEPS}] {what}...")
    start = time.monotonic()
    yield
    ui.say(f"[{number}/{STEPS}] done in {time.monotonic() - start:.1f} s")


STEPS = 5


def _one(label: str, example: Path, work: Path) -> BuildResult:
    project = work / label
    if label == "patched":  # steps 3 to 5
        with _step(3, "patched: `patcher apply` on a copy of the example, and the patched maturin"):
            env = prepare(example, project, patched=True)
        number = 4
    else:  # steps 1 and 2; copying takes no time
        env = prepare(example, project, patched=False)
        number = 1
    with _step(number, f"{label}: first isolated build (`pip wheel .` from a fresh venv)"):
        first, _ = isolated_build(project, work / f"{label}-job-1", work / "dist", env)
    with _step(number + 1, f"{label}: second isolated build (from another fresh venv)"):
        second, log = isolated_build(project, work / f"{label}-job-2", work / "dist", env)
    return BuildResult(label, first, second, recompiled(log))


def run_demo(example: Path = EXAMPLE_DIR) -> list[BuildResult]:
    with tempfile.TemporaryDirectory(prefix="patcher-demo-") as tmp:
        return [_one(label, example, Path(tmp)) for label in ("unpatched", "patched")]


def conclusion(results: list[BuildResult]) -> str:
    """The sentence that says what the table means."""
    by_label = {r.label: r for r in results}
    before, after = by_label["unpatched"], by_label["patched"]

    def crates(r: BuildResult) -> str:
        return f"{len(r.recompiled)} pyo3 crates recompiled" if r.recompiled else "none"

    saved = before.second_s - after.second_s
    verdict = (
        f"patcher saved {saved:.1f} s per build"
        if saved > 0 and not after.recompiled
        else "patcher saved nothing here: see `patcher doctor`"
    )
    return (
        f"The second isolated build took {before.second_s:.1f} s unpatched "
        f"({crates(before)}) and {after.second_s:.1f} s patched ({crates(after)}): {verdict}.\n"
    )


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
    return "\n".join(lines) + "\n\n" + conclusion(results)
