from __future__ import annotations

import argparse
import sys
from typing import Any

from patcher.commands import add_project_arg
from patcher.commands.apply import report
from patcher.project import update


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "update",
        help="move pyo3 to another pinned release (what `cargo update -p pyo3` would do)",
        description="With the [patch] in place, `cargo update -p pyo3 --precise X` does "
        "nothing. `patcher update` moves the project to the newest pinned pyo3 release its "
        "requirements allow (or to --precise X.Y.Z), re-vendors, and updates Cargo.lock and "
        "the record, all or nothing.",
    )
    add_project_arg(parser)
    parser.add_argument("--precise", metavar="X.Y.Z", help="move to exactly this release")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--offline", action="store_true", help="use only the caches")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = update.run_update(
        args.project, precise=args.precise, dry_run=args.dry_run, offline=args.offline
    )
    if result is None:
        sys.stdout.write(
            "nothing to do: pyo3 is at the newest pinned release your requirements allow\n"
        )
        return 0
    previous = result.previous
    if previous is not None and previous.pyo3_version != result.record.pyo3_version:
        sys.stdout.write(f"pyo3: {previous.pyo3_version} -> {result.record.pyo3_version}\n")
    report(result, dry_run=args.dry_run, as_json=args.json)
    return 0
