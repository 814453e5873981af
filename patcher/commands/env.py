from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

from patcher import frontends, ui
from patcher.commands.apply import add_project_arg
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
        action="store_true",
        help="CI mode: copy the vendored trees beside the checkout with fixed mtimes and point "
        "cargo at them (writes <parent>/.pyo3-patcher-ci/ and <parent>/.cargo/config.toml), so "
        "a restored target cache (rust-cache, actions/cache) stays warm; see docs/ci.md",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
        elif args.ci:
            ci.materialize(project, rec)
    build = builds.patched_maturin(project, offline=args.offline)
    env = builds.frontend_environment(build)
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}" if args.format == "shell" else f"{key}={value}")
    ui.say(f"# patched maturin {build.local_version}: {build.wheel}")
    if "PIP_CONSTRAINT" in env:
        ui.say(
            f"note: this pip has no build constraints (pip {frontends.PIP_BUILD_CONSTRAINTS}+ "
            f"has): PIP_CONSTRAINT pins maturin=={build.local_version} for every pip command "
            "that reads this environment, not only for isolated builds"
        )
    return 0
