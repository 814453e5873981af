from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from patcher import ui
from patcher.commands.apply import add_project_arg
from patcher.project import doctor


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "doctor",
        help="build twice as an isolated frontend does and say why the second build recompiles",
        description="Build the project twice the way a PEP 517 frontend does in CI (fresh build "
        "environments, one target dir), read cargo's fingerprint log of the second build, and "
        "say for each recompiled crate why, whether patcher fixes it, and what it costs. "
        "Builds a copy of the workspace: the project is not changed.",
    )
    add_project_arg(parser)
    parser.add_argument(
        "--frontend",
        choices=doctor.FRONTEND_CHOICES,
        default="pip",
        help="the frontend to build with (default: pip, from a fresh venv per build)",
    )
    parser.add_argument(
        "--target-dir",
        type=Path,
        metavar="DIR",
        help="build in this target dir, updating it (default: a temporary one, so the first "
        "build is cold)",
    )
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plan = doctor.plan(args.project, args.frontend, args.target_dir)
    ui.say(
        f"doctor: building {plan.project} twice with {plan.frontend} "
        + ("(patched: the patched maturin)" if plan.patched else "(not patched)")
    )
    diagnosis = doctor.run(plan)
    if args.json:
        json.dump(diagnosis.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(diagnosis.render())
    return 0
