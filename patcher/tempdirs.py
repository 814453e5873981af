"""Every patcher process keeps its temporary folders (shadows, derived trees, unpacked
crates, doctor's builds) in one folder of its own in the system's temp dir, marked with its
pid. It deletes that folder when it exits; a run that finds the folder of a process that no
longer runs (killed with `kill -9`) deletes that too. Nothing else is touched: only folders
with our name and our marker naming a dead process."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "pyo3-patcher-run-"
_OWNER = "pyo3-patcher-owner.json"
_claimed: list[Path] = []


def claim() -> Path:
    """This process's folder, made the default of `tempfile` (once per process); first the
    folders of dead processes go."""
    if not _claimed:
        remove_stale()
        folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        owner = {"tool": "pyo3-patcher", "pid": os.getpid()}
        (folder / _OWNER).write_text(json.dumps(owner), encoding="utf-8")
        atexit.register(shutil.rmtree, folder, True)
        tempfile.tempdir = str(folder)
        _claimed.append(folder)
    return _claimed[0]


def system_temp() -> str:
    """The system's temp dir (the one this process's own folder lies in), for what must
    outlive the process."""
    return str(_claimed[0].parent) if _claimed else tempfile.gettempdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # not ours to signal: it exists
        return True
    return True


def remove_stale() -> None:
    """Remove the folders of patcher processes that died without cleaning up."""
    if os.name != "posix":  # os.kill(pid, 0) terminates a process on Windows
        return
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = json.loads((folder / _OWNER).read_text(encoding="utf-8"))
            pid = owner["pid"]
            if owner.get("tool") != "pyo3-patcher" or type(pid) is not int or pid <= 0:
                continue
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours, or still being made
        if folder.is_dir() and not folder.is_symlink() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
