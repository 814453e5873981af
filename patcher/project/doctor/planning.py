"""What doctor will build, and how (`patcher doctor`'s plan): the frontend, the CI cache that
carries target/ from job 1 to job 2, whether the jobs run `patcher env --ci`, and the patched
maturin a patched project's builds get. Refuses, before any build, what cannot be judged."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

from patcher import cicache
from patcher.errors import PatcherError, ProjectError, UsageError
from patcher.project import builds, ci, record, resolve, verify
from patcher.project.discovery import Project, opened

FRONTEND_CHOICES = ("pip", "uv", "build")
CI_MODES = ("auto", "on", "off")
# "none": both builds in one checkout, its target/ kept in place: a developer's machine
ONE_CHECKOUT = "none"
CACHE_CHOICES = (*cicache.CACHES, ONE_CHECKOUT)
# a workflow line that runs `patcher env`, and whether it asks for CI mode
_ENV_STEP = re.compile(r"patcher\s+env\b[^\n]*")
_OUR_ACTION = re.compile(r"uses:\s*\S*pyo3-patcher@")


@dataclasses.dataclass(frozen=True)
class Plan:
    project: Path
    workspace_root: Path
    frontend: str
    patched: bool  # the project has our [patch] entries: its builds get the patched maturin
    maturin: str | None  # the patched maturin's version, when patched
    target_dir: Path | None  # None: each job's target/, carried by the CI cache
    environment: Mapping[str, str]  # added to the builds' environment
    cache: str = "rust-cache"  # how target/ travels from job 1 to job 2 (cicache.CACHES)
    ci_mode: bool = True  # a patched project runs `patcher env --ci` in each job
    ci_mode_why: str = ""
    maturin_features: tuple[str, ...] = ()  # [tool.maturin] features
    maturin_built: str = ""  # the maturin its isolated builds get, patched or not


def plan(
    directory: Path,
    frontend: str,
    target_dir: Path | None,
    *,
    cache: str = "rust-cache",
    ci_mode: str = "auto",
) -> Plan:
    """What doctor will build, and how; fetches the patched maturin of a patched project.
    Refuses, before any build, a project that no frontend could build or that has no pyo3."""
    if frontend not in FRONTEND_CHOICES:
        raise UsageError(
            f"unknown frontend {frontend!r}", hint=f"use one of {', '.join(FRONTEND_CHOICES)}"
        )
    if cache not in CACHE_CHOICES:
        raise UsageError(f"unknown cache {cache!r}", hint=f"use one of {', '.join(CACHE_CHOICES)}")
    if ci_mode not in CI_MODES:
        raise UsageError(f"unknown CI mode {ci_mode!r}", hint=f"use one of {', '.join(CI_MODES)}")
    with opened(directory) as project:
        if project.pyproject is None:
            raise ProjectError(
                f"no pyproject.toml in {project.directory}: doctor builds the project as a PEP 517 "
                "frontend does, and a frontend needs one",
                hint="run doctor in the folder of your pyproject.toml (`--project DIR`)",
            )
        resolve.locked_pyo3(project, resolve.read_inputs(project), offline=False)
        applied = record.load(project.record_file) is not None
        env: dict[str, str] = {}
        version = None
        if applied:
            # a CI job's `patcher env --ci` refuses trees that differ from the record: name
            # what a formatter rewrote before any build
            reformatted = verify.formatters(project)
            if reformatted is not None:
                raise ProjectError(
                    f"vendored files were rewritten: {reformatted.detail}",
                    hint="restore them, keep the formatter off the vendor folder, then run "
                    "doctor again",
                )
            build = builds.patched_maturin(project)
            env = builds.frontend_environment(build)
            version = build.local_version
        use_ci, why = _ci_mode(project, ci_mode)
        try:
            built = version or builds.wanted_maturin(project)
        except PatcherError:  # no pinned release for it: nothing to say about its version
            built = ""
        features = project.maturin_features
    if target_dir is not None:
        target_dir = Path.cwd() / target_dir  # as given: a link stays a link
        if target_dir.exists() and not target_dir.is_dir():
            raise ProjectError(
                f"--target-dir {target_dir} is not a directory", hint="name a directory"
            )
    return Plan(
        project=project.directory,
        workspace_root=project.workspace_root,
        frontend=frontend,
        patched=applied,
        maturin=version,
        target_dir=target_dir,
        environment=env,
        cache=cache,
        ci_mode=use_ci,
        ci_mode_why=why,
        maturin_features=features,
        maturin_built=built,
    )


def _ci_mode(project: Project, asked: str) -> tuple[bool, str]:
    """Whether the jobs run `patcher env --ci`: as asked, or as the project's GitHub workflows
    do (docs/ci.md's recipe when none runs `patcher env`)."""
    if asked != "auto":
        return asked == "on", f"--ci-mode {asked}"
    top = ci.checkout_top(project)
    plain = []
    for workflow in sorted((top / ".github" / "workflows").glob("*.y*ml")):
        try:
            text = workflow.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        steps = _ENV_STEP.findall(text)
        if _OUR_ACTION.search(text) or any("--ci" in step.split() for step in steps):
            return True, f"as {workflow.relative_to(top).as_posix()} runs it"
        if steps:
            plain.append(workflow.relative_to(top).as_posix())
    if plain:
        return False, f"{plain[0]} runs `patcher env` without --ci"
    return True, "as docs/ci.md's recipe does"
