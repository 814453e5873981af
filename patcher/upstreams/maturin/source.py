"""maturin's source tree at a pin: git, else the crate published from the pin (the protocol
of upstreams/sources.py, shared with pyo3), and the patched tree."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import tomlkit

from patcher import trees
from patcher.errors import SourceError
from patcher.upstreams import sources, variants
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant

# what `cargo package` adds to a crate; the repository has none of them
_PACKAGING_LEFTOVERS = (".cargo_vcs_info.json", ".cargo-ok", "Cargo.toml.orig")


def _crate_tree(pin: Pin, dest: Path, *, offline: bool = False) -> None:
    """The crate published from the pinned commit (its crates.io checksum checked), as the
    repository had it."""
    with tempfile.TemporaryDirectory(prefix="patcher-crate-") as tmp:
        ((crate, _path),) = sources.published_crates(
            pin, ("maturin",), Path(tmp), offline=offline
        ).values()
        needed = ("setup.py", "Cargo.lock", "Cargo.toml.orig")
        missing = [name for name in needed if not (crate / name).is_file()]
        if missing:
            raise SourceError(
                f"the maturin {pin.version} crate lacks {', '.join(missing)}",
                hint="this release cannot be built from its crate; use the git source (a mirror)",
            )
        trees.copy_tree(crate, dest)
    (dest / "Cargo.toml.orig").replace(dest / "Cargo.toml")
    for name in _PACKAGING_LEFTOVERS:
        (dest / name).unlink(missing_ok=True)


_PRISTINE: dict[tuple[str, str, str, bool], tuple[Path, str]] = {}


def _upstream_url() -> str:
    """The URL the interface resolves (setting, variable, default): imported here, not at the
    top, since the interface module imports this one."""
    from patcher.upstreams.maturin import UPSTREAM

    return UPSTREAM.url()


def pristine(pin: Pin, *, url: str | None = None, offline: bool = False) -> tuple[Path, str]:
    """maturin's source tree at `pin` and where it came from: git first, then the crate
    published from the pin (sources.pristine: the protocol pyo3's crates use too), derived
    in this process from the anchored source."""
    url = url or _upstream_url()
    key = (pin.version, pin.commit, url, offline)
    if key not in _PRISTINE:

        def from_git(checkout: Path, dest: Path) -> None:
            shutil.copytree(checkout, dest, symlinks=True)

        def from_registry(dest: Path) -> None:
            _crate_tree(pin, dest, offline=offline)

        _PRISTINE[key] = sources.pristine(
            pin,
            source="auto",
            url=url,
            offline=offline,
            from_git=from_git,
            from_registry=from_registry,
        )
    return _PRISTINE[key]


def set_version(tree: Path, version: str) -> None:
    """Give a maturin source tree another version, in Cargo.toml and Cargo.lock alike (its
    builds are `--locked`)."""
    manifest = tree / "Cargo.toml"
    doc = tomlkit.parse(manifest.read_text("utf-8"))
    doc["package"]["version"] = version
    manifest.write_text(tomlkit.dumps(doc), encoding="utf-8")
    lock = tree / "Cargo.lock"
    lock_doc = tomlkit.parse(lock.read_text("utf-8"))
    roots = [p for p in lock_doc["package"] if p["name"] == "maturin" and "source" not in p]
    if len(roots) != 1:
        raise SourceError(
            "cannot find maturin's own entry in its Cargo.lock",
            hint="this maturin tree is not laid out as a release; use another source",
        )
    roots[0]["version"] = version
    lock.write_text(tomlkit.dumps(lock_doc), encoding="utf-8")


def patched_tree(pin: Pin, variant: Variant, dest: Path, *, url: str | None = None) -> None:
    """The release `pin` with `variant` applied, in `dest`."""
    tree, _origin = pristine(pin, url=url)
    trees.copy_tree(tree, dest)
    variants.apply(variants.check_patch(variant), dest)
