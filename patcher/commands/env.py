from __future__ import annotations

import argparse
import shlex
from typing import Any

from patcher import ui
from patcher.commands.apply import add_project_arg
from patcher.project import builds
from patcher.project.discovery import discover


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "env",
        help="print KEY=VALUE lines that make pip, build and uv use the patched maturin",
    )
    add_project_arg(parser)
    parser.add_argument("--offline", action="store_true", help="use only the cache")
    parser.add_argument(
        "--format",
        choices=["shell", "plain"],
        default="plain",
        help="plain: KEY=VALUE (a CI env file); shell: export KEY='VALUE'",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = discover(args.project)
    build = builds.patched_maturin(project, offline=args.offline)
    env = builds.frontend_environment(build)
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}" if args.format == "shell" else f"{key}={value}")
    ui.say(f"# patched maturin {build.local_version}: {build.wheel}")
    return 0
