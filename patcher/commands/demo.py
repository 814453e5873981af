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
    )
    parser.add_argument("--example", type=Path, default=demo.EXAMPLE_DIR, metavar="DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ui.say("building the example unpatched, then patched (each twice, from two venvs)...")
    sys.stdout.write(demo.render(demo.run_demo(args.example)))
    return 0
