from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from patcher.commands import add_project_arg
from patcher.project import apply
from patcher.project.apply import Result
from patcher.upstreams.names import SOURCE_CHOICES


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "apply",
        help="vendor patched pyo3 crates and wire them into Cargo.toml",
        description="Vendor the pinned, patched pyo3 crates that the project locks and point "
        "[patch.crates-io] at them.",
    )
    add_project_arg(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--offline", action="store_true", help="use only the cache")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace [patch.crates-io] entries for pyo3 crates that are not ours "
        "(`patcher remove` puts them back), and patch a project where the patch can gain "
        "nothing (stable-ABI with pyo3 >= 0.29 and maturin >= 1.14; a vendored source "
        "replacement inside the workspace)",
    )
    parser.add_argument(
        "--source",
        choices=SOURCE_CHOICES,
        default=None,
        help="where pinned sources come from: auto (git, falling back to crates.io), git, or "
        "crates.io (default: [tool.pyo3-patcher] source, else auto; a re-apply of the same "
        "release uses the source pyo3-patcher.lock records, so it reproduces the same trees)",
    )
    parser.set_defaults(func=run)


def report(result: Result, *, dry_run: bool, as_json: bool) -> None:
    """Print what apply (or refresh, update) did, or would do."""
    if as_json:
        payload = result.plan.as_json()
        rec = result.record
        payload.update(
            {
                "dry_run": dry_run,
                "pyo3_version": rec.pyo3_version,
                "commit": rec.commit,
                "variant": rec.variant,
                "outcome": rec.outcome,
                "source": rec.source,
                "crates": list(rec.crates),
                "maturin": rec.maturin,
            }
        )
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.plan.render(done=not dry_run))


def run(args: argparse.Namespace) -> int:
    options = apply.Options(
        dry_run=args.dry_run, offline=args.offline, force=args.force, source=args.source
    )
    report(apply.run_apply(args.project, options), dry_run=args.dry_run, as_json=args.json)
    return 0
