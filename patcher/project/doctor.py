"""Why is the second isolated build not warm, and what does it cost? (`patcher doctor`)

We build the project twice the way a PEP 517 frontend does in CI (two fresh build
environments, one target dir), with cargo's fingerprint log on, and read from the second
build which crates cargo recompiled and the first cause it gives for each (cargolog.py).

Both builds run on a scratch copy of the workspace with their own target dir, so nothing of
the project changes: cargo would otherwise write a Cargo.lock into a project that keeps none,
build scripts may write into the source tree, and the fingerprints our builds leave in the
project's target/ (made with the frontend's venv, not the user's usual environment) would make
the user's next build recompile. We do not copy the project's target/ (often gigabytes): the
first build starts cold, and only the second one is judged. `--target-dir` names a target dir
to use instead (a CI cache, say), which is then updated in place.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from patcher import cargo, cargolog, frontends, proc, ui
from patcher.cargolog import BuildLog, Cause, StaleUnit
from patcher.errors import ExternalError, ProjectError, UsageError
from patcher.project import builds, record
from patcher.project.discovery import opened
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
APPLY_AND_ENV = "patcher apply + patcher env"
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
    target_dir: Path | None  # None: a temporary one
    environment: Mapping[str, str]  # added to the builds' environment


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
        return "`patcher verify`" if self.plan.patched else "`patcher apply` + `patcher env`"

    def verdict(self) -> str:
        if self.warm:
            return "the second build is warm: cargo recompiled no crate"
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
        found = [f.advice for f in self.findings if f.advice]
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
        }

    def render(self) -> str:
        plan = self.plan
        first, second = self.build_seconds
        state = f"patched, maturin {plan.maturin}" if plan.patched else "not patched"
        target = "temporary target dir" if plan.target_dir is None else f"{plan.target_dir}"
        lines = [
            f"project: {plan.project} ({state})",
            f"builds: {plan.frontend}, two fresh build environments, {target}: "
            f"first {first:.1f} s, second {second:.1f} s",
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
        lines.append(f"verdict: {self.verdict()}")
        for item in self.advice():
            lines.append(f"  - {item}")
        return "\n".join(lines) + "\n"


def plan(directory: Path, frontend: str, target_dir: Path | None) -> Plan:
    """What doctor will build, and how; fetches the patched maturin of a patched project."""
    if frontend not in FRONTEND_CHOICES:
        raise UsageError(
            f"unknown frontend {frontend!r}", hint=f"use one of {', '.join(FRONTEND_CHOICES)}"
        )
    with opened(directory) as project:
        applied = record.load(project.record_file) is not None
        env: dict[str, str] = {}
        version = None
        if applied:
            build = builds.patched_maturin(project)
            env = builds.frontend_environment(build)
            version = build.local_version
    if target_dir is not None:
        target_dir = Path.cwd() / target_dir  # as given: a link stays a link
        if target_dir.exists() and not target_dir.is_dir():
            raise ProjectError(
                f"--target-dir {target_dir} is not a directory", hint="name a directory"
            )
    return Plan(
        project.directory,
        project.workspace_root,
        frontend,
        applied,
        version,
        target_dir,
        env,
    )


def run(p: Plan) -> Diagnosis:
    """Build twice, read cargo's log of the second build, and judge every recompiled crate."""
    with tempfile.TemporaryDirectory(prefix="patcher-doctor-") as tmp:
        work = Path(tmp)
        copy = _copy_workspace(p, work / "workspace")
        project = copy / p.project.relative_to(p.workspace_root)
        target = p.target_dir or work / "target"
        env = {**p.environment, **cargolog.LOG_ENV, "CARGO_TARGET_DIR": str(target)}
        logs: list[str] = []
        seconds: list[float] = []
        for n in (1, 2):
            with ui.progress(f"isolated build {n} of 2 ({p.frontend})"):
                elapsed, log = _build(p.frontend, project, work, n, env)
            seconds.append(elapsed)
            logs.append(log)
        graph = _dependency_graph(copy, target)
    second = cargolog.parse(logs[1])
    findings = judge(second, graph, patched=p.patched)
    return Diagnosis(p, (seconds[0], seconds[1]), findings)


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

    with (
        opened(p.project),  # not while an apply or update is half-way
        ui.progress(f"copying {p.workspace_root} to a scratch directory"),
    ):
        shutil.copytree(p.workspace_root, dest, symlinks=True, ignore=ignore)
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


def _dependency_graph(workspace: Path, target: Path) -> dict[str, dict[str, Any]]:
    """name -> {"version", "own", "deps"} for every package of the resolved workspace."""
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
    return graph


def judge(
    log: BuildLog, graph: Mapping[str, Mapping[str, Any]], *, patched: bool
) -> tuple[Finding, ...]:
    """A finding for every crate cargo recompiled: its first own cause, or the crates it was
    rebuilt with, whether patcher fixes it, and what it cost."""
    units: dict[str, list[StaleUnit]] = {}
    for unit in log.stale:
        units.setdefault(unit.package, []).append(unit)
    recompiled = [name for name, _ in log.recompiled]
    own_cause = {
        name: next(iter(cargolog.root_causes(units.get(name, []))), None) for name in recompiled
    }
    for name in recompiled:
        if name not in units:  # compiled without a fingerprint at all
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
        name: _classify(name, cause, graph, patched=patched)
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
        elif "own" in categories:
            category = "own"
        else:
            category = "other"
        fix = verdicts[via[0]][1] if category == "patcher" else None
        dependency = Cause(cargolog.DEPENDENCY, "a dependency was rebuilt")
        findings.append(Finding(name, version, own, dependency, via, fix, None, seconds, category))
    return tuple(findings)


def _classify(
    name: str, cause: Cause, graph: Mapping[str, Mapping[str, Any]], *, patched: bool
) -> tuple[str, str | None, str | None]:
    """(category, fix command, advice) for a crate recompiled for a cause of its own."""
    own = bool(graph.get(name, {}).get("own", False))
    whose = f"your build script ({name})" if own else f"the build script of {name}"
    category = "own" if own else "other"
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
