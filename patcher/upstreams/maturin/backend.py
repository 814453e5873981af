"""The backend wheel: the wheel PyPI publishes, checked against PyPI's sha256 and the pin, its
PEP 517 backend patched, repacked; derived again each time it is handed out."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.utils import parse_wheel_filename
from packaging.version import Version

from patcher import cache, proc, ui
from patcher.errors import SourceError
from patcher.upstreams import sources, variants
from patcher.upstreams.maturin.release import BACKEND_DIR, MaturinBuild, local_version
from patcher.upstreams.maturin.wheels import hand_out, record_wheel, wheel_entry
from patcher.upstreams.pins import Pin

# what must not steer the pip that downloads the published wheel (our own wheel dir, say)
_PIP_STEERING = ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_BUILD_CONSTRAINT", "PIP_NO_INDEX")


def backend_wheel(pin: Pin, *, offline: bool = False) -> MaturinBuild:
    """maturin `pin` as published on PyPI for this platform, with the backend patch.

    Each time it is handed out, the published wheel the cache keeps must have PyPI's sha256
    for its file name (read over HTTPS) and its backend files the pin's digests, and the
    patched wheel is derived from it again: that wheel, in a folder of this run's own, is what
    is handed out (the entry's copy is replaced when it holds anything else). Without the
    network nothing can vouch for the cached wheel: refused."""
    variant = variants.select_variant("maturin", pin.version, "backend")
    version = local_version(pin, variant)
    entry = wheel_entry(version, variant)
    if offline:
        raise SourceError(
            f"the patched maturin {version} cannot be checked against PyPI's sha256 with --offline",
            hint="run `patcher env` without --offline: the wheel is checked against the digest "
            "PyPI publishes each time it is handed out (from the cache when it is there)",
        )
    digests = _pypi_digests(pin.version)
    with cache.exclusive(entry), tempfile.TemporaryDirectory(prefix="patcher-maturin-") as tmp:
        published = _cached_published(entry, digests)
        kept = published is not None  # in the entry already (we hold its lock)
        if published is None:
            published = download_wheel(pin, Path(tmp) / "download")
            if digests.get(published.name) != sources.sha256_of(published):
                raise SourceError(
                    f"the downloaded {published.name} does not have the sha256 PyPI publishes "
                    "for it",
                    hint="check your pip index configuration (it serves another file under "
                    "that name); patcher patches only PyPI's wheel",
                )
        tree = _unpack(published, Path(tmp) / "unpacked")
        verify_backend(pin, tree)
        variants.apply(variants.check_patch(variant), tree)
        (Path(tmp) / "packed").mkdir()
        fresh = _pack(tree, Path(tmp) / "packed", version.partition("+")[2])
        cached = entry / fresh.name
        if (
            not (cached.is_file() and not cached.is_symlink() and _same_members(cached, fresh))
            or not kept
        ):
            with cache.building(entry) as out:
                shutil.copyfile(fresh, out / fresh.name)
                (out / "published").mkdir()
                shutil.copyfile(published, out / "published" / published.name)
                record_wheel(
                    out,
                    out / fresh.name,
                    published=published.name,
                    published_sha256=digests[published.name],  # what it was checked against
                )
        # what is handed out is the wheel derived in this run, in a folder of its own
        return MaturinBuild(pin, variant, hand_out(fresh, version))


def _pypi_digests(version: str) -> dict[str, str]:
    """file name -> sha256 of every file PyPI publishes for maturin `version` (its JSON
    simple index, PEP 691, over HTTPS)."""
    data = sources.https_get(
        "https://pypi.org/simple/maturin/",
        what="PyPI's digests of maturin",
        accept="application/vnd.pypi.simple.v1+json",
    )
    try:
        files = json.loads(data)["files"]
        return {
            str(f["filename"]): str(f["hashes"]["sha256"])
            for f in files
            if isinstance(f, dict) and f"-{version}-" in str(f.get("filename", ""))
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(
            "PyPI's index of maturin could not be read", hint="check the network and retry"
        ) from exc


def _cached_published(entry: Path, digests: dict[str, str]) -> Path | None:
    """The published wheel kept in the entry, if it has PyPI's sha256 for its name."""
    folder = entry / "published"
    if entry.is_symlink() or folder.is_symlink() or not folder.is_dir():
        return None
    for wheel in folder.glob("*.whl"):
        if (
            not wheel.is_symlink()
            and wheel.is_file()
            and digests.get(wheel.name) == sources.sha256_of(wheel)
        ):
            return wheel
    return None


def _same_members(one: Path, other: Path) -> bool:
    """Whether two wheels hold the same files with the same bytes (zip timestamps aside)."""
    try:
        with zipfile.ZipFile(one) as a, zipfile.ZipFile(other) as b:
            names = sorted(a.namelist())
            return names == sorted(b.namelist()) and all(
                a.read(name) == b.read(name) for name in names
            )
    except (OSError, zipfile.BadZipFile):
        return False


def download_wheel(pin: Pin, dest: Path) -> Path:
    """The wheel PyPI (or the user's index) publishes of maturin `pin` for this platform."""
    with ui.progress(f"downloading maturin {pin.version} from PyPI"):
        proc.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
                dest,
                f"maturin=={pin.version}",
            ],
            unset=_PIP_STEERING,
            what=f"pip could not download the maturin {pin.version} wheel",
            hint="check that PyPI (or your index) is reachable; where maturin publishes no "
            'wheel for this platform, set [tool.pyo3-patcher] maturin-patch = "compiled"',
        )
    found = sorted(dest.glob("*.whl"))
    if len(found) != 1 or parse_wheel_filename(found[0].name)[1] != Version(pin.version):
        raise SourceError(
            f"pip did not download the wheel of maturin {pin.version} ({[p.name for p in found]})",
            hint="check your pip configuration (an index or find-links that serves another "
            "maturin)",
        )
    return found[0]


def _unpack(wheel: Path, dest: Path) -> Path:
    proc.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", dest, wheel],
        what=f"could not unpack {wheel.name}",
        hint="the download may be damaged: run again",
    )
    (tree,) = dest.iterdir()
    return tree


def _pack(tree: Path, out: Path, local: str) -> Path:
    """Repack with the local version `local`: dist-info, data dir, METADATA and RECORD."""
    proc.run(
        [sys.executable, "-m", "wheel", "pack", "--local-version", local, "-d", out, tree],
        what="could not repack the maturin wheel",
        hint="pyo3-patcher needs wheel >= 0.48 (`pip install -U wheel`)",
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def backend_files(tree: Path) -> dict[str, str]:
    """sha256 of the Python files of maturin's backend in a source tree or unpacked wheel."""
    package = tree / BACKEND_DIR
    return {
        f"{BACKEND_DIR}/{path.name}": sources.sha256_of(path)
        for path in sorted(package.glob("*.py"))
    }


def verify_backend(pin: Pin, tree: Path) -> None:
    """The Python files of the published wheel must be the pinned commit's."""
    if not pin.files:
        raise SourceError(
            f"the pin of maturin {pin.version} records no backend files to check the wheel with",
            hint=f"maintainers record them with `patcher refresh --upstream maturin@{pin.version}`",
        )
    found = backend_files(tree)
    if found != dict(pin.files):
        differ = sorted(
            k for k in found.keys() | pin.files.keys() if found.get(k) != pin.files.get(k)
        )
        raise SourceError(
            f"the published maturin {pin.version} wheel differs from the pinned commit in "
            f"{', '.join(differ)}",
            hint="refusing to patch a wheel that is not the pinned release; check your index",
        )
