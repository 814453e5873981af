from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from patcher.commands import add_project_arg
from patcher.errors import VerifyError
from patcher.project import verify


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "verify",
        help="check the project is patched exactly as applied (CI)",
        description="For CI: compare every vendored file with the pinned release and our patch "
        "(naming changed, added and deleted files), check the pins, our git rules in the vendor "
        "folder, the build backend, and that cargo resolves every pyo3 crate to the vendored "
        "trees as the PEP 517 build will (from the pyproject.toml folder, with maturin's "
        "settings; no program of the checkout runs). Exit 0 only if "
        "the project is patched exactly as applied (7 if not). Changes nothing, except the "
        "vendored files' mtimes with --pin-mtimes.",
    )
    add_project_arg(parser)
    parser.add_argument("--offline", action="store_true", help="use only the caches")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--pin-mtimes",
        action="store_true",
        help="CI: when every check passes, give the vendored trees the mtimes that keep a "
        "restored target/ warm for builds reading them in place (maturin-action, cargo test); a "
        "stamp in target/pyo3-patcher/ says which content the cached build was made from, and "
        "other content is rebuilt (docs/ci.md). Touches no file's content",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = verify.verify(args.project, offline=args.offline, pin_mtimes=args.pin_mtimes)
    if args.json:
        json.dump(report.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report.render())
    return 0 if report.ok else VerifyError.exit_code
