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
from patcher.upstreams.maturin import repack
from patcher.upstreams.maturin.release import BACKEND_DIR, MaturinBuild, local_version
from patcher.upstreams.maturin.wheels import hand_out, record_wheel, wheel_entry
from patcher.upstreams.pins import Pin

# what must not steer the pip that downloads the published wheel (our own wheel dir, say)
_PIP_STEERING = ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_BUILD_CONSTRAINT", "PIP_NO_INDEX")


def backend_wheel(pin: Pin, *, offline: bool = False) -> MaturinBuild:
    """maturin `pin` as published on PyPI for this platform, with the backend patch.

    Each time it is handed out, the published wheel the cache keeps must have PyPI's sha256
    for its file name (shipped in the pin, else read over HTTPS) and its backend files the
    pin's digests, and the patched wheel is written from it again (repack.py: the published
    members copied as stored, a few tens of milliseconds): that wheel, in a folder of this
    run's own, is what is handed out (the entry's copy is replaced when it holds anything
    else). The patched backend files come from the entry's wheel only when they have the
    sha256 the pin ships for this patch; otherwise the patch is applied again. Without PyPI's
    digests (a pin that ships none, offline) nothing can vouch for the cached wheel: refused."""
    variant = variants.select_variant("maturin", pin.version, "backend")
    version = local_version(pin, variant)
    entry = wheel_entry(version, variant)
    if offline and not pin.wheels:
        raise SourceError(
            f"the patched maturin {version} cannot be checked against PyPI's sha256 with --offline",
            hint="run `patcher env` without --offline: the wheel is checked against the digest "
            "PyPI publishes each time it is handed out (from the cache when it is there)",
        )
    digests = dict(pin.wheels) or pypi_digests(pin.version)
    with cache.exclusive(entry), tempfile.TemporaryDirectory(prefix="patcher-maturin-") as tmp:
        published = _cached_published(entry, digests)
        kept = published is not None  # in the entry already (we hold its lock)
        if published is None:
            if offline:
                raise SourceError(
                    f"the published maturin {pin.version} wheel is not in the cache, and "
                    "--offline forbids the download",
                    hint="run `patcher env` once without --offline",
                )
            published = download_wheel(pin, Path(tmp) / "download")
            if digests.get(published.name) != sources.sha256_of(published):
                raise SourceError(
                    f"the downloaded {published.name} does not have the sha256 PyPI publishes "
                    "for it",
                    hint="check your pip index configuration (it serves another file under "
                    "that name); patcher patches only PyPI's wheel",
                )
        read = repack.read_published(published, f"{BACKEND_DIR}/")
        found = {
            name: sources.sha256_bytes(data)
            for name, data in read.members.items()
            if name.startswith(f"{BACKEND_DIR}/")
        }
        verify_files(pin, found)
        cached = entry / _patched_name(read, version)
        changed = _patched_backend(pin, variant, read, cached, Path(tmp) / "backend")
        (Path(tmp) / "packed").mkdir()
        fresh = repack.repack(read, changed, version.partition("+")[2], Path(tmp) / "packed")
        if (
            not (cached.is_file() and not cached.is_symlink() and _same_bytes(cached, fresh))
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
        # what is handed out is the wheel derived in this run, in a folder of its own (moved
        # there: the scratch folder goes when this returns)
        return MaturinBuild(pin, variant, hand_out(fresh, version, move=True))


def _same_bytes(one: Path, other: Path) -> bool:
    """Whether two files hold the same bytes; compared rather than both hashed, which every
    `patcher env` would pay for twice over a ~10 MB wheel."""
    if one.stat().st_size != other.stat().st_size:
        return False
    with one.open("rb") as a, other.open("rb") as b:
        while True:
            block = a.read(1 << 20)
            if block != b.read(1 << 20):
                return False
            if not block:
                return True


def _patched_name(read: repack.Published, version: str) -> str:
    return f"{read.name}-{version}-{repack.tagline_of(read)}.whl"


def _patched_backend(
    pin: Pin, variant: variants.Variant, read: repack.Published, cached: Path, scratch: Path
) -> dict[str, bytes]:
    """The backend files our patch changes, by member name: from the entry's wheel when each
    has the sha256 the pin ships for this patch (the cache is not trusted, the pin is), else
    the patch applied again to the published files."""
    shipped = pin.derived_for(variant.name, variant.digest)
    if shipped and cached.is_file() and not cached.is_symlink():
        try:
            with zipfile.ZipFile(cached) as zf:
                taken = {name: zf.read(name) for name in shipped}
        except (OSError, KeyError, zipfile.BadZipFile):
            taken = {}
        if taken and all(sources.sha256_bytes(taken[n]) == d for n, d in shipped.items()):
            return taken
    files = {n: d for n, d in read.members.items() if n.startswith(f"{BACKEND_DIR}/")}
    return patch_backend(variant, files, scratch)


def patch_backend(
    variant: variants.Variant, files: dict[str, bytes], scratch: Path
) -> dict[str, bytes]:
    """The backend files (by path, from a wheel or the source tree) that `variant` changes,
    as it changes them (applied in `scratch`, a folder of the caller's)."""
    for name, data in files.items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_bytes(data)
    checked = variants.check_patch(variant)
    variants.apply(checked, scratch)
    return {
        name: (scratch / name).read_bytes()
        for name in checked.files
        if (scratch / name).read_bytes() != files.get(name)
    }


def pypi_digests(version: str) -> dict[str, str]:
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


def backend_files(tree: Path) -> dict[str, str]:
    """sha256 of the Python files of maturin's backend in a source tree or unpacked wheel."""
    package = tree / BACKEND_DIR
    return {
        f"{BACKEND_DIR}/{path.name}": sources.sha256_of(path)
        for path in sorted(package.glob("*.py"))
    }


def verify_backend(pin: Pin, tree: Path) -> None:
    """The Python files of an unpacked wheel or source tree must be the pinned commit's."""
    verify_files(pin, backend_files(tree))


def verify_files(pin: Pin, found: dict[str, str]) -> None:
    """`found` (backend file -> sha256, of a wheel or tree) must be the pinned commit's."""
    if not pin.files:
        raise SourceError(
            f"the pin of maturin {pin.version} records no backend files to check the wheel with",
            hint=f"maintainers record them with `patcher refresh --upstream maturin@{pin.version}`",
        )
    if found != dict(pin.files):
        differ = sorted(
            k for k in found.keys() | pin.files.keys() if found.get(k) != pin.files.get(k)
        )
        raise SourceError(
            f"the published maturin {pin.version} wheel differs from the pinned commit in "
            f"{', '.join(differ)}",
            hint="refusing to patch a wheel that is not the pinned release; check your index",
        )
