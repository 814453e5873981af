"""What doctor will build, and how (`patcher doctor`'s plan): the frontend, the CI cache that
carries target/ from job 1 to job 2 and whether the jobs run `patcher env --ci` (both as the
repository's workflows do, workflows.py), and the patched maturin a patched project's builds
get. Refuses, before any build, what cannot be judged."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from patcher import cicache
from patcher.errors import PatcherError, ProjectError, UsageError
from patcher.project import builds, ci, record, resolve, verify, workflows
from patcher.project.discovery import opened
from patcher.project.workflows import Workflows

FRONTEND_CHOICES = ("pip", "uv", "build")
CI_MODES = ("auto", "on", "off")
# "none": both builds in one checkout, its target/ kept in place: a developer's machine
ONE_CHECKOUT = "none"
# "auto": as the workflows cache target/ (rust-cache, else tar; docs/ci.md's recipe if none)
AUTO = "auto"
CACHE_CHOICES = (AUTO, *cicache.CACHES, ONE_CHECKOUT)
RECIPE = "as docs/ci.md's recipe does"


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
    cache_why: str = ""  # why this cache, or why nothing is simulated
    simulate: bool = True  # False: no workflow job runs a build doctor could simulate
    matches_ci: bool = True  # the simulated jobs are a setup the workflows run (or none known)
    workflows: Workflows = dataclasses.field(default_factory=Workflows)  # what doctor read
    pyo3: str = ""  # the pyo3 release the project resolves to


def plan(
    directory: Path,
    frontend: str,
    target_dir: Path | None,
    *,
    cache: str = AUTO,
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
        locked = resolve.locked_pyo3(project, resolve.read_inputs(project), offline=False)
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
        found = workflows.read(ci.checkout_top(project), project.directory)
        use_ci, why = _ci_mode(found, ci_mode)
        chosen, cache_why, simulate, matches = _choose_cache(found, cache)
        try:
            built = version or builds.wanted_maturin(project)
        except PatcherError:  # no pinned release for it: nothing to say about its version
            built = ""
        features = project.maturin_features
    if target_dir is not None:
        # a target dir kept between jobs (a self-hosted runner's): the setup the user names
        simulate, matches = True, True
        cache_why = f"--target-dir {target_dir}"
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
        cache=chosen,
        ci_mode=use_ci,
        ci_mode_why=why,
        maturin_features=features,
        maturin_built=built,
        cache_why=cache_why,
        simulate=simulate,
        matches_ci=matches,
        workflows=found,
        pyo3=locked.version,
    )


def _ci_mode(found: Workflows, asked: str) -> tuple[bool, str]:
    """Whether the jobs run `patcher env --ci`: as asked, or as the project's GitHub workflows
    do (docs/ci.md's recipe when none runs `patcher env`)."""
    if asked != "auto":
        return asked == "on", f"--ci-mode {asked}"
    use, why = found.ci_mode()
    return (True, RECIPE) if use is None else (use, why)


def _choose_cache(found: Workflows, asked: str) -> tuple[str, str, bool, bool]:
    """(cache, why, simulate, matches_ci): the cache the two jobs use, as asked or as the
    workflows' jobs that run isolated builds cache target/. Nothing is simulated where every
    job that builds the project does so with a fixed interpreter (maturin-action): no CI job
    there runs the isolated build doctor would judge."""
    isolated = found.isolated_jobs()
    if asked != AUTO:
        matches = asked == ONE_CHECKOUT or not found.jobs or any(j.cache == asked for j in isolated)
        return asked, f"--cache {asked}", True, matches
    if not found.jobs:
        where = (
            "no workflow job runs a build doctor recognises"
            if found.folder
            else "no GitHub workflow found"
        )
        return "rust-cache", f"{RECIPE} ({where})", True, True
    chosen, why = found.choose_cache()
    if chosen:
        return chosen, why, True, True
    if isolated or any(j.unread for j in found.jobs):
        unread = "; ".join(j.where() for j in found.jobs if j.unread)
        why = why or f"what {unread} builds lies in code doctor does not read"
        return (
            "rust-cache",
            f"{why}; simulated: docs/ci.md's recipe with rust-cache, which your workflows "
            "do not run",
            True,
            False,
        )
    fixed = "; ".join(workflows.describe(found.jobs))
    return "", f"no workflow job runs an isolated build ({fixed})", False, False
