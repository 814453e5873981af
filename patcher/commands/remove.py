from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from patcher.commands import add_project_arg
from patcher.project import remove


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "remove",
        help="undo `patcher apply` completely",
        description="Undo `patcher apply`: take out our [patch.crates-io] entries (an entry of "
        "yours that `apply --force` replaced comes back), the vendored trees, our files in the "
        "vendor folder and pyo3-patcher.lock, and give Cargo.lock back the lines apply took. "
        "Apply then remove gives back the exact bytes; all or nothing.",
    )
    add_project_arg(parser)
    parser.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    parser.add_argument("--offline", action="store_true", help="do not let cargo use the network")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = remove.run_remove(args.project, dry_run=args.dry_run, offline=args.offline)
    if args.json:
        payload = result.plan.as_json()
        payload["dry_run"] = args.dry_run
        payload["trees"] = [t["path"] for t in payload["vendor"]]
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif result.record is not None:
        sys.stdout.write(result.plan.render(done=not args.dry_run))
    return 0
