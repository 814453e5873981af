"""The command line: parse, dispatch to patcher.commands.<verb>, turn errors into exit codes."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence

from patcher import __version__
from patcher.errors import PatcherError, UsageError

BUG_EXIT = 70
_DISK_TROUBLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, hint=f"see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    from patcher.commands import apply as apply_cmd
    from patcher.commands import demo as demo_cmd
    from patcher.commands import env as env_cmd
    from patcher.commands import matrix as matrix_cmd
    from patcher.commands import refresh as refresh_cmd
    from patcher.commands import remove as remove_cmd
    from patcher.commands import update as update_cmd
    from patcher.commands import verify as verify_cmd

    parser = _Parser(
        prog="patcher",
        description="Keep the cargo cache of PyO3 projects warm across isolated builds.",
    )
    parser.add_argument("--version", action="version", version=f"pyo3-patcher {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what patcher runs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    apply_cmd.register(sub)
    refresh_cmd.register(sub)
    update_cmd.register(sub)
    remove_cmd.register(sub)
    verify_cmd.register(sub)
    env_cmd.register(sub)
    demo_cmd.register(sub)
    matrix_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except PatcherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in _DISK_TROUBLE:
            # a full or read-only disk is never our bug, wherever it shows first
            where = f": {exc.filename}" if exc.filename else ""
            print(f"error: {exc.strerror}{where}", file=sys.stderr)
            print(
                "hint: free some disk space (or make it writable), then run again", file=sys.stderr
            )
            return 1
        fd, path = tempfile.mkstemp(prefix="pyo3-patcher-crash-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as log:
            log.write(traceback.format_exc())
        print(
            f"error: patcher hit a bug; the traceback is in {path}\n"
            "hint: please report it with that file",
            file=sys.stderr,
        )
        return BUG_EXIT


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 2
    result: int = args.func(args)
    return result
