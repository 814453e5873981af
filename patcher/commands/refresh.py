from __future__ import annotations

import argparse
import sys
from typing import Any

from patcher.commands import add_project_arg
from patcher.errors import UsageError
from patcher.maintainer import refresh as maintainer_refresh
from patcher.project import refresh


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "refresh",
        help="carry the patch to the pyo3/maturin release the project now locks",
        description="In a project: re-pin, re-vendor and rewire after you changed the pyo3 or "
        "maturin requirement yourself (to move pyo3 within your requirements: `patcher "
        "update`). Maintainers, in this repository: --upstream carries our patches to a new "
        "upstream release.",
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
        help="(maintainers) pin a new upstream release and carry the patches to it",
    )
    group.add_argument(
        "--continue",
        dest="continue_",
        metavar="UPSTREAM@VERSION",
        help="(maintainers) finish a refresh after resolving its conflicts by hand",
    )
    group.add_argument(
        "--digests",
        metavar="UPSTREAM[@VERSION]",
        help="(maintainers) record in the pins the digests of what patcher derives from a "
        "pinned release (vendored trees, the patched maturin backend, PyPI's wheel digests), "
        "for one release or all of them; --upstream does it for the release it pins",
    )
    parser.add_argument("--url", help="(maintainers) git URL of the upstream")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.digests:
        from patcher.maintainer import digests

        upstream, _, version = args.digests.partition("@")
        if upstream not in ("pyo3", "maturin"):
            raise UsageError(
                f"--digests {args.digests}: no upstream {upstream!r}",
                hint="name pyo3 or maturin, with @VERSION for one release",
            )
        for line in digests.record(upstream, version or None):
            print(line)
        return 0
    if args.upstream or args.continue_:
        return _upstream(args)
    if args.url:
        raise UsageError(
            "--url is for --upstream", hint="a project names its git URLs in [tool.pyo3-patcher]"
        )
    refreshed = refresh.run_refresh(args.project, dry_run=args.dry_run, offline=args.offline)
    if not refreshed.result.plan.changed:
        print(
            "nothing to do: the project is up to date (to move pyo3 to a newer release, "
            "`patcher update`)"
        )
        return 0
    for line in refreshed.moved:
        print(line)
    sys.stdout.write(refreshed.result.plan.render(done=not args.dry_run))
    if refreshed.maturin is not None:
        print(f"patched maturin {refreshed.maturin.local_version}: {refreshed.maturin.wheel}")
    return 0


def _upstream(args: argparse.Namespace) -> int:
    if args.offline:
        raise UsageError(
            "--offline is for a project refresh", hint="pinning a new release needs the network"
        )
    upstream, version = maintainer_refresh.parse_target(args.upstream or args.continue_)
    results = (
        maintainer_refresh.refresh(upstream, version, url=args.url, dry_run=args.dry_run)
        if args.upstream
        else maintainer_refresh.continue_refresh(upstream, version, dry_run=args.dry_run)
    )
    for result in results:
        print(result.render())
    return 0
