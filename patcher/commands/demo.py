from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from patcher import demo, ui


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="build the bundled example twice, unpatched and patched, and compare",
        description="Copy the bundled example (or --example DIR) to a temporary folder and build "
        "it with `pip wheel .` twice from two fresh venvs in one folder (CI jobs: `patcher "
        "doctor`): first "
        "unpatched, then after `patcher apply` with the patched maturin of `patcher env`. "
        "Prints each build's time, which pyo3 crates the second build recompiled, and what "
        "the patch saved. Takes a few minutes; changes nothing outside the temporary folder.",
    )
    parser.add_argument("--example", type=Path, default=demo.EXAMPLE_DIR, metavar="DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ui.say(
        "demo: building the example unpatched, then patched, twice each from a fresh venv in "
        "one folder (a few minutes; the first build of each is cold)"
    )
    sys.stdout.write(demo.render(demo.run_demo(args.example)))
    return 0
