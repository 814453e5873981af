"""The command line: parse, dispatch to patcher.commands.<verb>, turn errors into exit codes.

A known error prints `error: ...` and `hint: ...` and exits with its own code; a full or
read-only disk is said plainly; anything else is a bug: a crash report (version, argv,
platform, traceback) goes to the cache dir and the user is told where. Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patcher import __version__, ui
from patcher.errors import PatcherError, UsageError

BUG_EXIT = 70
# a full or read-only disk, or a file-size limit (`ulimit -f`; Python ignores SIGXFSZ, so the
# write fails with EFBIG): never our bug, wherever it shows first
_DISK_TROUBLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
_USER_VERBS = ("apply", "update", "refresh", "remove", "verify", "env", "doctor", "demo")
_MAINTAINER_VERBS = ("matrix",)
_EPILOG = """\
commands for a project: apply, update, refresh, remove, verify, env, doctor, demo
commands for maintainers of pyo3-patcher (in its checkout): refresh --upstream, matrix
`patcher COMMAND --help` says more; docs/usage.md says everything."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        hint = f"see `{self.prog} --help`"
        guess = _did_you_mean(message)
        if guess is not None:
            hint = f"did you mean `{guess}`? ({hint})"
        raise UsageError(message, hint=hint)


def _did_you_mean(message: str) -> str | None:
    """The closest choice to an invalid one, from argparse's message (its wording and quoting
    vary between Python versions, so read it loosely)."""
    import difflib

    found = re.search(r"invalid choice: '?([^'\s]*)'? \(choose from (.*)\)", message)
    if found is None:
        return None
    choices = [c.strip().strip("'\"") for c in found.group(2).split(",")]
    close = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _verbosity() -> argparse.ArgumentParser:
    """-q and -v, accepted before or after the command."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="say nothing but warnings and errors",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also show every command patcher runs",
    )
    return parent


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the arguments, only the command they name is registered
    (each command module imports its part of patcher: all of them cost a CI step about
    0.3 s), unless they name none (or none are given), which then shows every command."""
    from patcher import commands

    verbosity = _verbosity()
    parser = _Parser(
        prog="patcher",
        description="Keep the cargo cache of PyO3 projects warm across isolated builds.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[verbosity],
    )
    parser.add_argument("--version", action="version", version=f"pyo3-patcher {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    named = _named_verb(argv)
    for verb in (*_USER_VERBS, *_MAINTAINER_VERBS):
        if named is None or verb == named:
            commands.module(verb).register(_WithParents(sub, verbosity))
    return parser


def _named_verb(argv: Sequence[str] | None) -> str | None:
    """The command the arguments name: the first that is not an option (the top-level
    options, -q, -v, --version, take no value), if it is one of ours."""
    first = next((a for a in argv or () if not a.startswith("-")), None)
    return first if first in (*_USER_VERBS, *_MAINTAINER_VERBS) else None


class _WithParents:
    """The subparsers action, giving every command the -q/-v options."""

    def __init__(self, sub: Any, parent: argparse.ArgumentParser) -> None:
        self._sub = sub
        self._parent = parent

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._sub.add_parser(
            name, parents=[self._parent], **kwargs
        )
        return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except PatcherError as exc:
        return _known_error(exc)
    except Exception as exc:
        if isinstance(exc, shutil.Error):  # a copy that failed for many files: say it short
            from patcher import trees

            summary = trees.copy_failure(exc)
            if isinstance(summary, PatcherError):
                return _known_error(summary)
            exc = summary
        if isinstance(exc, OSError) and exc.errno in _DISK_TROUBLE:
            where = f": {exc.filename}" if exc.filename else ""
            print(f"error: {exc.strerror}{where}", file=sys.stderr)
            hint = (
                "raise the file-size limit (`ulimit -f`)"
                if exc.errno == errno.EFBIG
                else "free some disk space (or make it writable)"
            )
            print(f"hint: {hint}; run again", file=sys.stderr)
            return 1
        report = _crash_report(argv)
        print(
            f"error: patcher hit a bug; the report is in {report}\n"
            "hint: please report it with that file",
            file=sys.stderr,
        )
        return BUG_EXIT


def _known_error(exc: PatcherError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    print(f"hint: {exc.hint}", file=sys.stderr)
    return exc.exit_code


def _crash_report(argv: Sequence[str] | None) -> Path:
    """Write what a bug report needs into the cache dir (or the temp dir, if that fails)."""
    # imported here, where they are needed, not by every run (platform alone is some ms)
    import datetime
    import platform
    import tempfile
    import traceback

    text = (
        f"pyo3-patcher {__version__}\n"
        f"argv: {list(sys.argv[:1]) + list(argv if argv is not None else sys.argv[1:])}\n"
        f"python: {sys.version.split()[0]} ({sys.executable})\n"
        f"platform: {platform.platform()}\n\n{traceback.format_exc()}"
    )
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        from patcher import cache

        # a real folder of the cache, and a new file of a fresh name in it (mkstemp: O_EXCL,
        # O_NOFOLLOW): a link or file another job left there carries no report out of it
        folder = cache.folder(cache.root() / "crash")
        fd, name = tempfile.mkstemp(
            prefix=f"crash-{stamp}-{os.getpid()}-", suffix=".log", dir=folder
        )
    except Exception:  # the cache itself may be the trouble: any place will do
        from patcher import tempdirs

        # not in this run's own temp folder, which goes when the process exits
        where = tempdirs.system_temp()
        fd, name = tempfile.mkstemp(prefix="pyo3-patcher-crash-", suffix=".log", dir=where)
    with os.fdopen(fd, "w", encoding="utf-8") as log:
        log.write(text)
    return Path(name)


def _main(argv: Sequence[str] | None) -> int:
    from patcher import cache, tempdirs

    tempdirs.claim()

    relative_cache = os.environ.get(cache.ENV_VAR, "")
    if relative_cache and not Path(relative_cache).is_absolute():
        # once, at start-up: the folder it names is the one the user was in
        os.environ[cache.ENV_VAR] = str(Path(relative_cache).absolute())
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "quiet", False):
        ui.set_level(ui.Level.QUIET)
    elif getattr(args, "verbose", False):
        ui.set_level(ui.Level.VERBOSE)
    else:
        ui.set_level(ui.Level.NORMAL)
    if args.command is None:
        parser.print_help()
        return 2
    result: int = args.func(args)
    return result
