"""The two CI jobs doctor runs: a fresh copy of the workspace at one path for each, an isolated
build in a fresh build environment, target/ saved after job 1 and restored for job 2 by the
CI cache the plan names (patcher/cicache.py), and cargo's log of job 2 judged."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from patcher import cargo, cargolog, cicache, frontends, proc, ui
from patcher.errors import ExternalError
from patcher.project import ci, gains, record
from patcher.project.discovery import discover, opened
from patcher.project.doctor.findings import Diagnosis
from patcher.project.doctor.judging import CHECKOUT, judge
from patcher.project.doctor.planning import ONE_CHECKOUT, Plan
from patcher.upstreams.names import PYO3_CRATES

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


def run(p: Plan) -> Diagnosis:
    """Two CI jobs; read cargo's log of job 2 and judge every recompiled crate."""
    if not p.simulate:  # no CI job runs an isolated build: nothing to judge
        return Diagnosis(p, (0.0, 0.0), ())
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
