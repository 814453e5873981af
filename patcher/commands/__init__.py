"""One module per command: `register(subparsers)` and `run(args)` returning an exit code.

User commands: apply, update, refresh, remove, verify, env, doctor, demo. Maintainer commands (in a
checkout of pyo3-patcher): matrix, and refresh --upstream (which the refresh module hands to
patcher.maintainer)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType


def module(verb: str) -> ModuleType:
    return importlib.import_module(f"patcher.commands.{verb}")


def add_project_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="the project (where pyproject.toml or Cargo.toml is); default: .",
    )
