from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from patcher import matrix


def register(sub: Any) -> None:
    parser = sub.add_parser("matrix", help="(maintainers) regenerate a coverage matrix")
    parser.add_argument("upstream", choices=["pyo3", "maturin"])
    parser.add_argument(
        "--check",
        choices=["ends", "all", "none"],
        default="ends",
        help="which releases to compile-check (default: the ends of each range and the newest)",
    )
    parser.add_argument("--output", type=Path, help="write the markdown table here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    command = f"patcher matrix {args.upstream} --check {args.check}" + (
        f" --output {args.output.as_posix()}" if args.output else ""
    )
    rows = (
        matrix.pyo3_matrix(args.check)
        if args.upstream == "pyo3"
        else matrix.maturin_matrix(args.check)
    )
    text = matrix.render(args.upstream, rows, command)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0
