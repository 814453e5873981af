from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from patcher import remove
from patcher.commands.apply import add_project_arg


def register(sub: Any) -> None:
    parser = sub.add_parser("remove", help="undo `patcher apply` completely")
    add_project_arg(parser)
    parser.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    parser.add_argument("--offline", action="store_true", help="do not let cargo use the network")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plan = remove.run_remove(args.project, dry_run=args.dry_run, offline=args.offline)
    root = plan.project.workspace_root
    removed = [p.relative_to(root).as_posix() for p in plan.trees]
    if args.json:
        json.dump({"changed": plan.changed, "dry_run": args.dry_run, "trees": removed}, sys.stdout)
        sys.stdout.write("\n")
    elif plan.changed:
        verb = "would remove" if args.dry_run else "removed"
        for rel in removed:
            print(f"{verb} {rel}/")
        print(f"{verb} our [patch.crates-io] entries and {plan.project.state_file.name}")
    return 0
