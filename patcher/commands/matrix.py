from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from patcher import upstreams
from patcher.errors import UsageError
from patcher.maintainer import matrix


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "matrix",
        help="(maintainers) regenerate the coverage matrices",
        description="For every pinned release: the variant, whether it applies, and whether "
        "the patched release passes the compile and behaviour check. "
        "`patcher matrix --output-dir docs` regenerates every committed matrix.",
    )
    parser.add_argument(
        "upstreams", nargs="*", metavar="UPSTREAM", help="pyo3 and/or maturin (default: all)"
    )
    parser.add_argument(
        "--check",
        choices=["ends", "all", "none"],
        help="which releases to check: all, none, or the first and last of each variant's "
        "range and the newest (default: all for pyo3, whose check takes seconds; ends for "
        "maturin, whose check builds maturin)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--output", type=Path, help="write the one matrix here")
    output.add_argument(
        "--output-dir", type=Path, help="write coverage-<upstream>.md for each upstream here"
    )
    parser.set_defaults(func=run)


def _command(args: argparse.Namespace) -> str:
    command = "patcher matrix" + (f" {' '.join(args.upstreams)}" if args.upstreams else "")
    if args.check:
        command += f" --check {args.check}"
    if args.output:
        command += f" --output {args.output.as_posix()}"
    if args.output_dir:
        command += f" --output-dir {args.output_dir.as_posix()}"
    return command


def run(args: argparse.Namespace) -> int:
    chosen = [upstreams.get(name) for name in dict.fromkeys(args.upstreams)]
    chosen = chosen or list(upstreams.ALL.values())
    if args.output and len(chosen) != 1:
        raise UsageError("--output takes one matrix", hint="name one upstream, or --output-dir")
    if args.output_dir and not args.output_dir.is_dir():
        raise UsageError(f"{args.output_dir} is not a directory", hint="create it first")
    for upstream in chosen:
        text = matrix.render(upstream, matrix.coverage(upstream, args.check or ""), _command(args))
        target = args.output or (
            args.output_dir / f"coverage-{upstream.name}.md" if args.output_dir else None
        )
        if target is not None:
            target.write_text(text, encoding="utf-8")
        sys.stdout.write(text)
    return 0
