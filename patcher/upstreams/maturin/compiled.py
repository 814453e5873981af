"""The compiled wheel: the maturin binary built from its patched source (opt-in)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from patcher import cache, proc, ui
from patcher.upstreams.maturin.release import MaturinBuild
from patcher.upstreams.maturin.source import patched_tree, pristine, set_version
from patcher.upstreams.maturin.wheels import record_wheel, wheel_once
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant


def target_dir() -> Path:
    """cargo's target dir for maturin builds and checks, shared across releases."""
    return cache.root() / "maturin-target"


def compiled_wheel(pin: Pin, *, url: str | None = None, offline: bool = False) -> MaturinBuild:
    """The patched maturin binary as a wheel, built once per (release, variant, platform)."""

    def make(variant: Variant, version: str, entry: Path) -> None:
        pristine(pin, url=url, offline=offline)  # fetched (or found) before the long part
        with (
            tempfile.TemporaryDirectory(prefix="patcher-maturin-") as tmp,
            cache.building(entry) as out,
            ui.progress(f"building patched maturin {version} from source (minutes, once)"),
        ):
            work = Path(tmp) / "src"
            patched_tree(pin, variant, work, url=url)
            set_version(work, version)
            wheel = _retag_py3_none(_pip_wheel(work, Path(tmp) / "built", version))
            shutil.move(str(wheel), str(out / wheel.name))
            record_wheel(out, out / wheel.name)

    return wheel_once(pin, "compiled", make)


def _pip_wheel(tree: Path, out: Path, version: str) -> Path:
    proc.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, tree],
        cwd=tree.parent,
        what=f"the build of patched maturin {version} failed",
        env={"MATURIN_NO_INSTALL_RUST": "1", "CARGO_TARGET_DIR": str(target_dir())},
    )
    (wheel,) = out.glob("maturin-*.whl")
    return wheel


def _retag_py3_none(wheel: Path) -> Path:
    """setuptools-rust tags the wheel for the building CPython; its payload is a plain
    executable, so it installs on any Python of the platform."""
    proc.run(
        [
            sys.executable,
            "-m",
            "wheel",
            "tags",
            "--python-tag",
            "py3",
            "--abi-tag",
            "none",
            "--remove",
            wheel,
        ],
        what="retagging the maturin wheel failed",
    )
    (retagged,) = wheel.parent.glob("maturin-*.whl")
    return retagged
