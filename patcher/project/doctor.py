"""Why is the second isolated build not warm in CI, and what does it cost? (`patcher doctor`)

We build the project the way CI does: two jobs, each on a fresh copy of the workspace at the
same path (a fresh checkout: every file with the current time), each with a fresh build
environment of a PEP 517 frontend, job 2 with the target/ job 1 left, saved and restored
(mtimes kept) by a CI cache: Swatinem/rust-cache, whose cleaning before the save is emulated
(patcher/cicache.py), or a plain tar cache. A patched project runs `patcher env --ci` in each
job as docs/ci.md's recipe does, unless its workflows run `patcher env` without it (or
`--ci-mode off` says so). cargo's fingerprint log of job 2 says which crates it recompiled and
the first cause of each (cargolog.py); artifacts the cache dropped are named as such.

The jobs run in a scratch folder, so nothing of the project changes: no Cargo.lock appears in a
project that keeps none, build scripts may write where they like, and the project's target/
keeps the fingerprints of the user's own builds. Job 1 starts cold and is not judged.
`--target-dir` names a target dir the two jobs share in place instead (a self-hosted runner's),
which is then updated.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from patcher import cargo, cargolog, cicache, frontends, proc, ui
from patcher.cargolog import BuildLog, Cause, StaleUnit
from patcher.errors import ExternalError, PatcherError, ProjectError, UsageError
from patcher.project import builds, ci, gains, record, resolve, verify
from patcher.project.discovery import Project, discover, opened
from patcher.upstreams.pyo3 import CRATES as PYO3_CRATES

SCHEMA = 1
FRONTEND_CHOICES = ("pip", "uv", "build")
# never copied: version control, build output, environments, caches (not sources of a build)
_NOT_COPIED = (
    ".git",
    ".hg",
    ".svn",
    "target",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
)
APPLY_AND_ENV = "patcher apply + patcher env --ci"
CI_ENV = "patcher env --ci"
CI_MODES = ("auto", "on", "off")
# "none": both builds in one checkout, its target/ kept in place: a developer's machine
ONE_CHECKOUT = "none"
CACHE_CHOICES = (*cicache.CACHES, ONE_CHECKOUT)
CACHE_DROPPED = "cache-dropped"  # our kind of cause: cargo only sees that the build is gone
CHECKOUT = "checkout"  # the category of the project's own crates rebuilt for a fresh checkout
# a workflow line that runs `patcher env`, and whether it asks for CI mode
_ENV_STEP = re.compile(r"patcher\s+env\b[^\n]*")
_OUR_ACTION = re.compile(r"uses:\s*\S*pyo3-patcher@")
# causes a fresh build environment gives every time, and which a patched pyo3 removes
_FIXED_BY_PATCH = {"PYO3_PYTHON"}
# set by maturin but not by plain cargo or rust-analyzer: they differ between those builds
_MATURIN_ONLY = {"PYO3_ENVIRONMENT_SIGNATURE", "PYO3_BUILD_EXTENSION_MODULE"}


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


@dataclasses.dataclass(frozen=True)
class Finding:
    """One crate cargo recompiled in the second build."""

    name: str
    version: str
    own: bool  # a crate of the project (a path dependency that is not pyo3)
    cause: Cause
    via: tuple[str, ...]  # when rebuilt for a dependency: the crates whose own causes it follows
    fix: str | None  # the command that fixes it, when patcher does
    advice: str | None  # what the user can do, when patcher does not
    seconds: float  # time cargo spent on this crate's units in the second build
    category: str  # "patcher", "own" or "other"

    @property
    def fixed_by_patcher(self) -> bool:
        return self.category == "patcher"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "own": self.own,
            "cause": dataclasses.asdict(self.cause),
            "via": list(self.via),
            "fixed_by_patcher": self.fixed_by_patcher,
            "fix": self.fix,
            "advice": self.advice,
            "seconds": round(self.seconds, 2),
            "category": self.category,
        }


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    plan: Plan
    build_seconds: tuple[float, float]
    findings: tuple[Finding, ...]
    dropped: tuple[str, ...] = ()  # packages whose artifacts the CI cache did not keep
    # the project's own crates, recompiled because a fresh checkout gives their files new
    # mtimes: every CI job does that, and it is not a finding
    checkout: tuple[str, ...] = ()
    nothing_to_gain: tuple[str, ...] = ()  # why the patch can gain nothing (gains.py)

    @property
    def warm(self) -> bool:
        return not self.findings

    def count(self, category: str) -> int:
        return sum(1 for f in self.findings if f.category == category)

    def seconds(self, category: str | None = None) -> float:
        """Cargo's time on the recompiled crates (of one category)."""
        return sum(f.seconds for f in self.findings if category in (None, f.category))

    @property
    def fix_command(self) -> str:
        if not self.plan.patched:
            return "`patcher apply` + `patcher env --ci`"
        return "`patcher verify`" if self.plan.ci_mode else "`patcher env --ci` in CI"

    def verdict(self) -> str:
        if self.warm:
            return "the second build is warm: cargo recompiled no crate" + (
                " but the project's own" if self.checkout else ""
            )
        fixed = self.count("patcher")
        parts = [] if self.plan.patched else [f"{fixed} fixed by {self.fix_command}"]
        parts.append(f"{self.count('own')} in your own build scripts")
        if self.count("other"):
            parts.append(f"{self.count('other')} elsewhere")
        if self.plan.patched and fixed:
            parts.append(f"{fixed} that the patch should keep warm (run {self.fix_command})")
        n = len(self.findings)
        crates = "1 crate recompiles" if n == 1 else f"{n} crates recompile"
        return f"{crates}: {', '.join(parts)}: see below"

    def advice(self) -> list[str]:
        found = [f"the patch can gain nothing here: {why}" for why in self.nothing_to_gain]
        found += [f.advice for f in self.findings if f.advice]
        if self.count("patcher"):
            saved = self.seconds("patcher")
            found.insert(
                0,
                f"{self.fix_command} "
                + (
                    "should have made these crates warm; it reports what is off"
                    if self.plan.patched
                    else f"saves about {saved:.1f} s of cargo time per isolated build"
                ),
            )
        return list(dict.fromkeys(found))

    def as_json(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "schema": SCHEMA,
            "project": str(plan.project),
            "frontend": plan.frontend,
            "patched": plan.patched,
            "maturin": plan.maturin,
            "target_dir": None if plan.target_dir is None else str(plan.target_dir),
            "ci": {
                "cache": None if plan.target_dir is not None else plan.cache,
                "ci_mode": plan.ci_mode,
                "ci_mode_why": plan.ci_mode_why,
                "dropped_by_cache": list(self.dropped),
                "own_crates_of_the_checkout": list(self.checkout),
            },
            "builds": [{"seconds": round(s, 2)} for s in self.build_seconds],
            "warm": self.warm,
            "crates": [f.as_json() for f in self.findings],
            "summary": {
                "recompiled": len(self.findings),
                "fixed_by_patcher": self.count("patcher"),
                "own_build_scripts": self.count("own"),
                "other": self.count("other"),
                "seconds_recompiling": round(self.seconds(), 2),
                "seconds_fixed_by_patcher": round(self.seconds("patcher"), 2),
            },
            "verdict": self.verdict(),
            "advice": self.advice(),
            "nothing_to_gain": list(self.nothing_to_gain),  # added last: earlier keys keep order
        }

    def render(self) -> str:
        plan = self.plan
        first, second = self.build_seconds
        state = f"patched, maturin {plan.maturin}" if plan.patched else "not patched"
        target = (
            "one checkout, its target/ kept"
            if plan.cache == ONE_CHECKOUT
            else f"target/ saved and restored by {plan.cache}"
            if plan.target_dir is None
            else f"target dir {plan.target_dir} kept in place"
        )
        mode = ""
        if plan.patched:
            mode = f"; {CI_ENV} " + ("in each job" if plan.ci_mode else "not run")
            mode += f" ({plan.ci_mode_why})" if plan.ci_mode_why else ""
        lines = [
            f"project: {plan.project} ({state})",
            f"builds: two CI jobs with {plan.frontend}, each a fresh checkout at one path and a "
            f"fresh build environment, {target}{mode}: "
            f"job 1 {first:.1f} s, job 2 {second:.1f} s",
            "",
        ]
        if self.findings:
            rows = [("crate", "cause", "fixed by patcher", "seconds")]
            for f in self.findings:
                cause = f.cause.text if not f.via else f"rebuilt because {', '.join(f.via)} was"
                fixed = f"yes: {f.fix}" if f.fixed_by_patcher else "no"
                rows.append((f"{f.name} {f.version}", cause, fixed, f"{f.seconds:.1f}"))
            widths = [max(len(r[i]) for r in rows) for i in range(3)]
            for r in rows:
                lines.append(
                    f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>7}"
                )
            lines.append("")
        if self.checkout:
            own = ", ".join(self.checkout)
            lines.append(f"compiled in every job, as a fresh checkout's sources are: {own}")
        lines.append(f"verdict: {self.verdict()}")
        for item in self.advice():
            lines.append(f"  - {item}")
        return "\n".join(lines) + "\n"


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


def run(p: Plan) -> Diagnosis:
    """Two CI jobs; read cargo's log of job 2 and judge every recompiled crate."""
    with tempfile.TemporaryDirectory(prefix="patcher-doctor-") as tmp:
        work = Path(tmp).resolve()  # CI mode refuses a folder reached through a link (macOS /var)
        jobs = cicache.Jobs(work, p.workspace_root.name)
        archive = work / "target.tar"
        inside = p.project.relative_to(p.workspace_root)
        env = {**p.environment, **cargolog.LOG_ENV}
        if p.target_dir is not None:
            env["CARGO_TARGET_DIR"] = str(p.target_dir)
        logs: list[str] = []
        seconds: list[float] = []
        dropped: set[str] = set()
        ci_env: dict[str, str] = {}
        post_env: dict[str, str] = {}  # what the recipe's last step leaves for rust-cache
        for n in (1, 2):
            one_checkout = n == 2 and p.cache == ONE_CHECKOUT
            if not one_checkout:
                restored = archive if n == 2 and p.target_dir is None else None
                with ui.progress(f"job {n} of 2: a fresh copy of the workspace"):
                    checkout = jobs.fresh(lambda dest: _copy_workspace(p, dest), restored)
            project = checkout / inside
            if p.patched and p.ci_mode and not one_checkout:
                copy = discover(project)
                rec = record.load(copy.record_file)
                if rec is not None:
                    # the scratch layout is named, never found: a `.git` anyone makes above
                    # the scratch folder must not move where the copies go
                    mirror = ci.materialize(
                        copy, rec, explicit=jobs.runner_temp, environ=os.environ, checkout=checkout
                    )
                    ci_env = ci.environment(mirror, {**os.environ, **env})
                    post_env = ci.end_of_job_home(mirror, os.environ)
            with ui.progress(f"job {n} of 2: isolated build ({p.frontend})"):
                elapsed, log = _build(p.frontend, project, work, n, {**env, **ci_env})
            seconds.append(elapsed)
            logs.append(log)
            if n == 1 and p.target_dir is None and p.cache != ONE_CHECKOUT:
                with ui.progress(f"saving target/ as {p.cache} does"):
                    dropped = _packages_of(jobs.save(p.cache, archive, env=post_env))
        graph, metadata = _dependency_graph(checkout, p.target_dir or checkout / "target")
        no_gain = gains.nothing_to_gain(
            workspace_root=checkout,
            maturin_features=p.maturin_features,
            metadata=metadata,
            maturin=p.maturin_built,
        )
    second = cargolog.parse(logs[1])
    fresh = p.cache != ONE_CHECKOUT
    judged = judge(second, graph, patched=p.patched, dropped=dropped, fresh_checkout=fresh)
    return Diagnosis(
        p,
        (seconds[0], seconds[1]),
        tuple(f for f in judged if f.category != CHECKOUT),
        tuple(sorted(dropped)),
        tuple(f.name for f in judged if f.category == CHECKOUT),
        tuple(no_gain),
    )


def _packages_of(removed: list[str]) -> set[str]:
    """Package names from the entries a cache's cleaning removed from `.fingerprint/`."""
    names = set()
    for entry in removed:
        parent, _, name = entry.rpartition("/")
        if parent.endswith(".fingerprint") and "-" in name:
            names.add(name.rsplit("-", 1)[0])
    return names


def _copy_workspace(p: Plan, dest: Path) -> Path:
    ignored = shutil.ignore_patterns(*_NOT_COPIED)

    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = set(ignored(directory, names))
        for name in names:
            path = Path(directory) / name
            # sockets, fifos, devices: not sources, and a fifo would block the copy
            if not path.is_symlink() and not path.is_dir() and not path.is_file():
                skip.add(name)
            if p.target_dir is not None and path == p.target_dir:
                skip.add(name)
        return skip

    with opened(p.project):  # not while an apply or update is half-way
        # shutil.copy, not copy2: a fresh checkout gives every file the current time
        shutil.copytree(
            p.workspace_root, dest, symlinks=True, ignore=ignore, copy_function=shutil.copy
        )
    return dest


def _build(
    frontend: str, project: Path, work: Path, n: int, env: dict[str, str]
) -> tuple[float, str]:
    out = work / f"dist-{n}"
    extra = dict(env)
    if frontend == "pip":
        # pip's build environment is an overlay on the interpreter running pip: a new venv per
        # build is what makes it new, as in a CI job or a tox/nox session
        with ui.progress(f"creating a fresh venv for build {n}"):
            python = proc.make_venv(work / f"venv-{n}", with_pip=True)
    elif frontend == "build":
        if importlib.util.find_spec("build") is None:
            raise ExternalError(
                "`python -m build` is not installed beside patcher",
                hint="install it (`python -m pip install build`) or use --frontend pip",
            )
        python = Path(sys.executable)
    else:
        python = Path(sys.executable)
        extra.setdefault("UV_PYTHON", os.environ.get("UV_PYTHON", proc.base_python()))
    start = time.monotonic()
    result = proc.run(
        frontends.build_command(frontend, project, out, python),
        cwd=work,
        env=extra,
        what=f"isolated build {n} of the project failed ({frontend})",
        hint="the project must build with this frontend before doctor can judge it: "
        "read the build's output above",
    )
    return time.monotonic() - start, result.stdout + "\n" + result.stderr


def _dependency_graph(
    workspace: Path, target: Path
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """name -> {"version", "own", "deps"} for every package of the resolved workspace, and
    cargo's metadata it comes from."""
    result = cargo.run(
        ["metadata", "--format-version", "1", "--manifest-path", workspace / "Cargo.toml"],
        cwd=workspace,
        env={"CARGO_TARGET_DIR": str(target)},
        offline=True,  # the builds fetched all of it
        what="cargo could not describe the workspace it just built",
    )
    data = json.loads(result.stdout)
    names = {pkg["id"]: pkg for pkg in data["packages"]}
    graph: dict[str, dict[str, Any]] = {}
    for node in (data.get("resolve") or {}).get("nodes", []):
        pkg = names[node["id"]]
        deps = [names[d]["name"] for d in node.get("dependencies", []) if d in names]
        graph[pkg["name"]] = {
            "version": pkg["version"],
            "own": pkg.get("source") is None and pkg["name"] not in PYO3_CRATES,
            "deps": deps,
        }
    return graph, data


def judge(
    log: BuildLog,
    graph: Mapping[str, Mapping[str, Any]],
    *,
    patched: bool,
    dropped: set[str] | frozenset[str] = frozenset(),
    fresh_checkout: bool = False,
) -> tuple[Finding, ...]:
    """A finding for every crate cargo recompiled: its first own cause, or the crates it was
    rebuilt with, whether patcher fixes it, and what it cost. `dropped`: the packages whose
    artifacts the CI cache did not keep (cargo sees only that their build is gone);
    `fresh_checkout`: the build ran in a fresh checkout, so the project's own crates are
    compiled anyway (category CHECKOUT) when nothing more than that explains it."""
    units: dict[str, list[StaleUnit]] = {}
    for unit in log.stale:
        units.setdefault(unit.package, []).append(unit)
    recompiled = [name for name, _ in log.recompiled]
    own_cause: dict[str, Cause | None] = {}
    for name in recompiled:
        causes = cargolog.root_causes(units.get(name, []))
        # a cause that is more than the fresh checkout comes first
        real = [c for c in causes if not (fresh_checkout and _checkout_only(name, c, graph))]
        own_cause[name] = next(iter(real or causes), None)
    for name in recompiled:
        cause = own_cause[name]
        own = graph.get(name, {}).get("own", False)
        if name in dropped and (cause is None or cause.kind != cargolog.ENV_CHANGED):
            if own:  # rust-cache keeps no workspace member: compiled in every job anyway
                own_cause[name] = Cause(cargolog.FILE_CHANGED, "a fresh checkout")
                continue
            own_cause[name] = Cause(
                CACHE_DROPPED, "the CI cache dropped its build: a path crate inside the workspace"
            )
        elif name not in units:  # compiled without a fingerprint at all
            own_cause[name] = Cause(cargolog.NEW_UNIT, "no earlier build of this crate here")

    def roots(name: str) -> tuple[str, ...]:
        """The recompiled crates with causes of their own that `name` depends on."""
        seen: set[str] = set()
        found: list[str] = []
        todo = list(graph.get(name, {}).get("deps", []))
        while todo:
            dep = todo.pop(0)
            if dep in seen:
                continue
            seen.add(dep)
            if own_cause.get(dep) is not None:
                found.append(dep)
            elif dep in own_cause:
                todo.extend(graph.get(dep, {}).get("deps", []))
        return tuple(found)

    verdicts = {
        name: _classify(name, cause, graph, patched=patched, fresh_checkout=fresh_checkout)
        for name, cause in own_cause.items()
        if cause is not None
    }
    findings = []
    for name, version in log.recompiled:
        own = bool(graph.get(name, {}).get("own", False))
        seconds = log.seconds.get((name, version), 0.0)
        cause = own_cause[name]
        if cause is not None:
            category, fix, advice = verdicts[name]
            findings.append(Finding(name, version, own, cause, (), fix, advice, seconds, category))
            continue
        via = roots(name)
        categories = {verdicts[v][0] for v in via}
        if via and categories == {"patcher"}:
            category = "patcher"
        elif via and categories == {CHECKOUT}:
            category = CHECKOUT
        elif "own" in categories:
            category = "own"
        else:
            category = "other"
        fix = verdicts[via[0]][1] if category == "patcher" else None
        dependency = Cause(cargolog.DEPENDENCY, "a dependency was rebuilt")
        findings.append(Finding(name, version, own, dependency, via, fix, None, seconds, category))
    return tuple(findings)


def _checkout_only(name: str, cause: Cause, graph: Mapping[str, Mapping[str, Any]]) -> bool:
    """A crate of the project recompiled because its files are newer than the cached build:
    what every fresh checkout does to the project's own sources, and not a finding."""
    if not graph.get(name, {}).get("own", False):
        return False
    return cause.kind == cargolog.FILE_CHANGED or (
        cause.kind == cargolog.OTHER and "Precalculated" in cause.text
    )


def _classify(
    name: str,
    cause: Cause,
    graph: Mapping[str, Mapping[str, Any]],
    *,
    patched: bool,
    fresh_checkout: bool = False,
) -> tuple[str, str | None, str | None]:
    """(category, fix command, advice) for a crate recompiled for a cause of its own."""
    own = bool(graph.get(name, {}).get("own", False))
    whose = f"your build script ({name})" if own else f"the build script of {name}"
    category = "own" if own else "other"
    if fresh_checkout and _checkout_only(name, cause, graph):
        return CHECKOUT, None, None
    if patched and name in PYO3_CRATES and cause.kind != cargolog.ENV_CHANGED:
        # a vendored crate that a second build in one checkout keeps warm: the CI causes
        if cause.kind == CACHE_DROPPED:
            why = (
                "rust-cache keeps only the build of crates outside the workspace root, and "
                "removed this vendored crate's before saving"
            )
        else:
            why = (
                "a fresh checkout gives the vendored files new mtimes, newer than the cached "
                f"build ({cause.text})"
            )
        advice = f"{why}: `{CI_ENV}` builds copies outside the checkout with fixed mtimes"
        return "patcher", CI_ENV, f"{advice} (docs/ci.md)"
    if cause.kind == cargolog.ENV_CHANGED:
        var = cause.variable
        if name in PYO3_CRATES and var in _FIXED_BY_PATCH:
            return "patcher", "patcher verify" if patched else APPLY_AND_ENV, None
        if var == "PYO3_PYTHON":
            return (
                category,
                None,
                f"{whose} registers `rerun-if-env-changed=PYO3_PYTHON`, which names a new venv "
                "in every isolated build: read it without registering, or watch "
                "`PYO3_BASE_PYTHON` (the same in every build once patched)",
            )
        if var in _MATURIN_ONLY:
            return (
                category,
                None,
                f"{var} is set by maturin but not by plain cargo or rust-analyzer: give those "
                "their own target dir (rust-analyzer: `rust-analyzer.cargo.targetDir`)",
            )
        return (
            category,
            None,
            f"{whose} registers `rerun-if-env-changed={var}`, which differs between isolated "
            "builds: read it without registering, or register a variable that is stable",
        )
    if cause.kind == cargolog.FILE_MISSING:
        return (
            category,
            None,
            f"{whose} registers `rerun-if-changed={cause.path}`, which does not exist, so cargo "
            "reruns it in every build: name a file that exists (cargo expands no globs)",
        )
    if cause.kind == cargolog.FILE_CHANGED:
        return (
            category,
            None,
            f"{cause.path} is newer than the last build of {name}: something rewrites it "
            "during the build; write generated files to OUT_DIR",
        )
    if cause.kind in (cargolog.NEW_UNIT, cargolog.RUSTFLAGS_CHANGED):
        return (
            category,
            None,
            f"{name} was built with other settings than in the first build (RUSTFLAGS, "
            "features, profile or compiler), or in another target dir (a frontend that "
            "builds from an unpacked sdist): make them the same, build with `--wheel`, or set "
            "`CARGO_TARGET_DIR`",
        )
    return category, None, f"cargo says {name} is stale: {cause.text}"
