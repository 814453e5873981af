"""bench/RESULTS.md holds one section per benchmark; each benchmark rewrites only its own."""

from __future__ import annotations

import re
import sys
from pathlib import Path


def write_section(path: Path, name: str, text: str) -> None:
    """Replace the section `name` of `path` with `text` (appended when it is not there yet)."""
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    old = path.read_text("utf-8") if path.is_file() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old, count=1)
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block
    path.write_text(new, encoding="utf-8")


def report(text: str, output: Path | None, name: str) -> None:
    """Print a benchmark's section, and write it into `output` (a RESULTS.md) when given."""
    sys.stdout.write(text)
    if output is not None:
        write_section(output, name, text)
