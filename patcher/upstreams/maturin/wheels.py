"""The cache slot of a patched maturin wheel, of either kind: per (release, variant digest,
platform)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patcher import cache
from patcher.upstreams import sources, variants
from patcher.upstreams.maturin.release import MaturinBuild, local_version
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant


def _platform() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def wheel_entry(version: str, variant: Variant) -> Path:
    return cache.root() / "maturin-wheels" / f"{version}-{variant.digest[:12]}-{_platform()}"


def cached_wheel(entry: Path) -> Path | None:
    """The wheel of a cache entry, if whole: its recorded sha256 must match."""

    def parse(meta: Any) -> tuple[str, str]:
        name, digest = str(meta["wheel"]), str(meta["sha256"])
        if "/" in name or not name.endswith(".whl"):
            raise ValueError("unexpected wheel name")
        return name, digest

    found = cache.read_entry(entry, "wheel.json", parse)
    if found is None:
        return None
    wheel = entry / found[0]
    if not wheel.is_file() or sources.sha256_of(wheel) != found[1]:
        cache.discard(entry, "has a wheel that does not match its digest")
        return None
    return wheel


def record_wheel(out: Path, wheel: Path, **extra: str) -> None:
    meta = {"wheel": wheel.name, "sha256": sources.sha256_of(wheel), **extra}
    (out / "wheel.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


HANDOUT_DAYS = 7  # how long a folder `patcher env` handed out is kept (a shell may still use it)
_HANDOUT = re.compile(r"^maturin-[A-Za-z0-9_.+-]+-[a-z0-9_]{8}$")


def hand_out(wheel: Path, version: str, *, move: bool = False) -> Path:
    """A copy of `wheel`, which this run derived or checked, alone in a new folder of this
    run's own (`<cache>/env/maturin-<version>-<random>`): what `patcher env` names is only
    that, never an entry folder another job may have added a wheel or file to. Folders
    handed out more than HANDOUT_DAYS ago go. `move`: `wheel` is a file of this run's own
    scratch folder, moved rather than copied where it is on the same file system (writing
    ~10 MB again is a good part of a `patcher env`)."""
    parent = cache.folder(cache.root() / "env")
    _drop_old_handouts(parent)
    with cache.writing(parent):
        out = Path(tempfile.mkdtemp(prefix=f"maturin-{version}-", dir=parent))
        out.chmod(0o755)  # mkdtemp's 0700: a build run as another user must read it
        copy = out / wheel.name  # a new name in a folder made just now
        if not (move and _moved(wheel, copy)):
            shutil.copyfile(wheel, copy)
    return copy


def _moved(wheel: Path, dest: Path) -> bool:
    try:
        wheel.rename(dest)
    except OSError:  # another file system (EXDEV): copied instead
        return False
    return True


def _drop_old_handouts(parent: Path) -> None:
    cutoff = time.time() - HANDOUT_DAYS * 86400
    for child in parent.iterdir():
        with contextlib.suppress(OSError):
            st = os.lstat(child)
            if _HANDOUT.match(child.name) and stat.S_ISDIR(st.st_mode) and st.st_mtime < cutoff:
                shutil.rmtree(child)


def wheel_once(pin: Pin, kind: str, make: Callable[[Variant, str, Path], None]) -> MaturinBuild:
    """The patched wheel of `kind` for `pin` from the cache, else `make(variant, local
    version, entry)` stages it into the entry; under the entry's lock either way."""
    variant = variants.select_variant("maturin", pin.version, kind)
    version = local_version(pin, variant)
    entry = wheel_entry(version, variant)
    with cache.exclusive(entry):
        found = cached_wheel(entry)
        if found is None:
            make(variant, version, entry)
            found = cache.made(cached_wheel(entry), entry)
        return MaturinBuild(pin, variant, hand_out(found, version))  # under the lock
