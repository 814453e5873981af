from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any

from patcher import frontends, ui
from patcher.commands import add_project_arg
from patcher.errors import UsageError
from patcher.project import builds, ci, record
from patcher.project.discovery import opened


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "env",
        help="print KEY=VALUE lines that make pip, build and uv use the patched maturin",
        description="Print the environment that makes pip, `python -m build` and uv install the "
        "project's patched maturin into their isolated build environments (made once, cached). "
        "With --ci, also keep the vendored trees warm across CI jobs (docs/ci.md).",
    )
    add_project_arg(parser)
    parser.add_argument("--offline", action="store_true", help="use only the cache")
    parser.add_argument(
        "--format",
        choices=["shell", "plain"],
        default="plain",
        help="plain: KEY=VALUE (a CI env file); shell: export KEY='VALUE'",
    )
    parser.add_argument(
        "--ci",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CI mode: copy the vendored trees, with fixed mtimes, into a folder the CI runner "
        "owns outside the checkout ($RUNNER_TEMP/pyo3-patcher-ci/ on GitHub Actions) and point "
        "the project's maturin builds at them (MATURIN_PEP517_ARGS), so a restored target/ "
        "stays warm; nothing that other cargo builds read changes. On by default on a GitHub "
        "Actions runner (--no-ci: build from the trees in the checkout). See docs/ci.md",
    )
    parser.add_argument(
        "--ci-dir",
        type=Path,
        metavar="DIR",
        help="with --ci: the runner-owned folder to copy into (its pyo3-patcher-ci/ subfolder), "
        "outside the checkout; needed off GitHub Actions",
    )
    parser.add_argument(
        "--end-of-job",
        action="store_true",
        help="with --ci, as the job's last step: print a CARGO_HOME whose config names the "
        "copies, so that rust-cache's post step keeps their build (no build may follow)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    on_runner = os.environ.get("GITHUB_ACTIONS") == "true"
    # measured (bench/RESULTS.md, env-no-ci): in-checkout trees on a runner make job 2 slower
    # than no patch, so a runner gets CI mode unless --no-ci asks for the checkout's trees
    ci_mode = args.ci if args.ci is not None else on_runner
    if (args.ci_dir is not None or args.end_of_job) and not ci_mode:
        raise UsageError(
            "--ci-dir and --end-of-job are for CI mode", hint="add --ci, or leave them out"
        )
    ci_env: dict[str, str] = {}
    # every value printed is one line; an inherited one we pass on is refused before anything
    # is written (the cache folder's own variable is refused where it is read)
    frontends.one_line("PIP_FIND_LINKS", os.environ.get("PIP_FIND_LINKS", ""), inherited=True)
    with opened(args.project) as project:
        rec = record.load(project.record_file)
        if rec is None:
            ui.warn(
                "this project is not patched: its isolated builds gain nothing from this "
                "environment (run `patcher apply` first)"
            )
            if args.end_of_job:
                return 0  # no copies for rust-cache to keep
        elif not ci_mode and on_runner:
            ui.warn(
                "on a CI runner with --no-ci: a fresh checkout gives the vendored trees new "
                "mtimes, so every pyo3 crate recompiles in every job, slower than unpatched; "
                "leave out --no-ci, and add the end-of-job step (docs/ci.md)"
            )
        elif ci_mode:
            if args.ci is None:
                ui.say("on a GitHub Actions runner: CI mode, as with --ci (docs/ci.md)")
            mirror = ci.materialize(project, rec, explicit=args.ci_dir)
            if args.end_of_job:
                # the builds are over: only what rust-cache's post step reads
                _print(ci.end_of_job_home(mirror, os.environ), args.format)
                if not ci.named_copies(shlex.split(os.environ.get(ci.ARGS_VAR, ""))):
                    ui.say(
                        "note: no `patcher env --ci` ran in this job, so its builds read the "
                        "in-repo trees: a fixed-interpreter build (maturin-action's `maturin "
                        "build`) gains nothing from the patch, and this step only lets "
                        "rust-cache keep their build (docs/ci.md, Other setups)"
                    )
                return 0
            _note_sccache(rec.pyo3_version)
            ci_env = ci.environment(mirror, os.environ)
    build = builds.patched_maturin(project, offline=args.offline)
    env = {**builds.frontend_environment(build), **ci_env}
    _print(env, args.format)
    ui.say(f"# patched maturin {build.local_version}: {build.wheel}")
    if "PIP_CONSTRAINT" in env:
        ui.say(
            f"note: this pip has no build constraints (pip {frontends.PIP_BUILD_CONSTRAINTS}+ "
            f"has): PIP_CONSTRAINT pins maturin=={build.local_version} for every pip command "
            "that reads this environment, not only for isolated builds"
        )
    return 0


def _note_sccache(pyo3_version: str) -> None:
    """sccache caches pyo3 >= 0.29's compilations across fresh build venvs without the patch
    (bench/RESULTS.md: 14 of 14 hits unpatched): with no cache of target/ CI mode gains
    nothing there. Said, not acted on: this step cannot tell whether the job restores a
    target/ (a job that saves one for the next starts without it too)."""
    wrapper = os.environ.get("RUSTC_WRAPPER", "") or os.environ.get("CARGO_BUILD_RUSTC_WRAPPER", "")
    release = tuple(int(p) for p in pyo3_version.split(".")[:2] if p.isdigit())
    if "sccache" in Path(wrapper).name and release >= (0, 29):
        ui.say(
            f"note: sccache with pyo3 {pyo3_version}: where this job keeps no cache of target/, "
            "sccache serves pyo3's crates without the patch and this step gains nothing: "
            "leave it out there (docs/ci.md, sccache)"
        )


def _print(env: dict[str, str], form: str) -> None:
    """One `KEY=VALUE` line each (`export` and quoted for a shell); a value with a line break
    is refused before anything is printed ($GITHUB_ENV would take the rest as variables)."""
    for key, value in env.items():
        frontends.one_line(key, value)
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}" if form == "shell" else f"{key}={value}")
