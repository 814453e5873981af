from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

from patcher import maturin
from patcher.commands.apply import add_project_arg
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
    build = maturin.build_for_project(discover(args.project), offline=args.offline)
    for key, value in maturin.frontend_env(build, dict(os.environ)).items():
        line = f"export {key}={shlex.quote(value)}" if args.format == "shell" else f"{key}={value}"
        print(line)
    print(f"# patched maturin {build.local_version}: {build.wheel}", file=sys.stderr)
    return 0
