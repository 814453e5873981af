from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from patcher import cicache, ui
from patcher.commands import add_project_arg
from patcher.project import doctor


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "doctor",
        help="build as two CI jobs do and say why the second one recompiles",
        description="Build the project the way CI does: two jobs, each a fresh checkout at the "
        "same path and a fresh PEP 517 build environment, job 2 with the target/ job 1 left "
        "(saved and restored by rust-cache, its cleaning emulated, or by a plain tar cache). "
        "Read cargo's fingerprint log of job 2 and say for each recompiled crate why, whether "
        "patcher fixes it, and what it costs. Reads the repository's GitHub workflows first: "
        "which build setup each job runs, what the patch does there, and which cache to "
        "simulate; where no job runs an isolated build (maturin-action only), builds nothing. "
        "Builds copies of the workspace in a scratch folder: the project is not changed.",
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
        help="both jobs build in this target dir, updating it in place (a self-hosted "
        "runner's); default: each job's own target/, carried by --cache",
    )
    parser.add_argument(
        "--cache",
        choices=doctor.CACHE_CHOICES,
        default="auto",
        help="how target/ travels from job 1 to job 2: auto (the default: as the workflows' "
        "jobs that run isolated builds cache it, rust-cache, else tar; rust-cache, docs/ci.md's "
        "recipe, where none does), Swatinem/rust-cache (its cleaning emulated from "
        f"{cicache.RUST_CACHE_VERSION}), a plain tar cache (actions/cache), or none: both "
        "builds in one checkout, as on a developer's machine",
    )
    parser.add_argument(
        "--ci-mode",
        choices=doctor.CI_MODES,
        default="auto",
        help="whether the jobs of a patched project run `patcher env --ci` (auto: as the "
        "project's GitHub workflows do; docs/ci.md's recipe when none runs `patcher env`)",
    )
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plan = doctor.plan(
        args.project, args.frontend, args.target_dir, cache=args.cache, ci_mode=args.ci_mode
    )
    if plan.simulate:
        ui.say(
            f"doctor: building {plan.project} as two CI jobs with {plan.frontend} "
            + ("(patched: the patched maturin)" if plan.patched else "(not patched)")
        )
    else:
        ui.say(f"doctor: nothing to build for {plan.project}: {plan.cache_why}")
    diagnosis = doctor.run(plan)
    if args.json:
        json.dump(diagnosis.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(diagnosis.render())
    return 0
