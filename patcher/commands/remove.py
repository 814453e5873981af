from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from patcher import ui
from patcher.commands.apply import add_project_arg
from patcher.project import remove
from patcher.project.discovery import opened


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
    try:
        result = remove.run_remove(args.project, dry_run=args.dry_run, offline=args.offline)
    except KeyboardInterrupt:
        if args.dry_run or not _done_anyway(args.project):
            raise
        ui.say(
            "interrupted after the remove was committed: it is done, and patcher finished "
            "cleaning up its backups"
        )
        return 0
    if args.json:
        payload = result.plan.as_json()
        payload["dry_run"] = args.dry_run
        payload["trees"] = [t["path"] for t in payload["vendor"]]
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif result.record is not None:
        sys.stdout.write(result.plan.render(done=not args.dry_run))
    return 0


def _done_anyway(directory: Path) -> bool:
    """After Ctrl-C: whether the remove had been committed (Ctrl-C came during the clean-up of
    its backups). Opening the project finishes that clean-up, or rolls an unfinished change
    back, as the next command would; then the record says which it was."""
    with opened(directory) as project:
        return not os.path.lexists(project.record_file)
