from __future__ import annotations

import argparse
import sys
from typing import Any

from patcher import maturin, upstream
from patcher.commands.apply import add_project_arg
from patcher.errors import ProjectError, UsageError
from patcher.project import apply
from patcher.project.discovery import discover


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "refresh",
        help="carry a project (or, for maintainers, our patches) to new upstream releases",
        description="In a project: re-pin, re-vendor and rewire after a pyo3 upgrade. With "
        "--upstream (maintainers, in this repository): carry the patch to a new release.",
    )
    add_project_arg(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (with --upstream: try and check, but write no pin or patch)",
    )
    parser.add_argument("--offline", action="store_true", help="use only the cache")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--upstream",
        metavar="UPSTREAM@VERSION",
        help="pin a new upstream release and carry the patch to it",
    )
    group.add_argument(
        "--continue",
        dest="continue_",
        metavar="UPSTREAM@VERSION",
        help="finish a refresh after resolving its conflicts by hand",
    )
    parser.add_argument("--url", help="git URL of the upstream (default: as for apply)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.upstream or args.continue_:
        if args.offline:
            raise UsageError(
                "--offline is for a project refresh", hint="pinning a new release needs the network"
            )
        name, version = upstream.parse_target(args.upstream or args.continue_)
        result = (
            upstream.refresh(name, version, url=args.url, dry_run=args.dry_run)
            if args.upstream
            else upstream.continue_refresh(name, version, dry_run=args.dry_run)
        )
        print(
            f"{name} {result.version}: {result.how}; variant {result.variant} {result.action}; "
            f"{result.check}"
        )
        return 0
    if args.url:
        raise UsageError(
            "--url is for --upstream", hint="a project names its git URLs in [tool.pyo3-patcher]"
        )
    applied = apply.run_apply(
        args.project, apply.Options(dry_run=args.dry_run, offline=args.offline)
    )
    previous, record = applied.previous, applied.record
    if previous is None:
        raise ProjectError(
            "patcher has not been applied to this project", hint="run `patcher apply` first"
        )
    if not applied.plan.changed:
        print(
            "nothing to do: the project is up to date (to move pyo3 to a newer release, "
            "`patcher update`)"
        )
        return 0
    old = {c: previous.pyo3_version for c in previous.crates}
    new = {c: record.pyo3_version for c in record.crates}
    revendored = {t.crate for t in applied.plan.trees if t.source is not None}
    for crate in sorted(old.keys() | new.keys()):
        before, after = old.get(crate, "-"), new.get(crate, "-")
        if before != after:
            print(f"{crate}: {before} -> {after}")
        elif crate in revendored:
            print(f"{crate}: {after} (re-vendored)")
    if previous.maturin != record.maturin:
        print(f"maturin: {previous.maturin or '-'} -> {record.maturin or '-'}")
    sys.stdout.write(applied.plan.render(done=not args.dry_run))
    if not args.dry_run and record.maturin and previous.maturin != record.maturin:
        # isolated builds need the new patched maturin; build it now (cached) so that
        # `patcher env` is instant and a build failure shows here, not in the user's CI
        build = maturin.build_for_project(discover(args.project), offline=args.offline)
        print(f"patched maturin {build.local_version}: {build.wheel}")
    return 0
