"""Pins: for each upstream release we support, its tag and the commit it was published from.

One file per upstream, vendor/pins/<upstream>.toml (shipped inside the wheel), read here and
extended by `patcher refresh --upstream`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

import tomlkit
from packaging.version import InvalidVersion, Version

from patcher import resources
from patcher.errors import PatcherError, UnsupportedRelease

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_HINT = (
    "the pins come with pyo3-patcher: restore vendor/pins/ from version control or reinstall "
    "pyo3-patcher (PYO3_PATCHER_PINS_DIR, if set, points elsewhere)"
)


@dataclasses.dataclass(frozen=True)
class Pin:
    upstream: str  # "pyo3" or "maturin"
    version: str
    tag: str
    commit: str
    # Where upstream placed the tag on another commit than the one it published from
    # (pyo3 v0.23.0 points at a docs fix-up): the tag must point here instead.
    tag_commit: str | None = None
    yanked: bool = False
    # sha256 of files a release's published artifacts must carry as the pinned commit has
    # them (maturin: the Python files of its PEP 517 backend, checked in the PyPI wheel)
    files: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # the crates.io checksum (sha256 of the .crate, as the registry index lists it) of each
    # crate of the release: the anchor a downloaded or cached crate is checked against
    crates: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def expected_tag_commit(self) -> str:
        return self.tag_commit or self.commit

    def as_toml(self) -> dict[str, object]:
        table: dict[str, object] = {"tag": self.tag, "commit": self.commit}
        if self.tag_commit:
            table["tag-commit"] = self.tag_commit
        if self.yanked:
            table["yanked"] = True
        if self.files:
            table["files"] = dict(sorted(self.files.items()))
        if self.crates:
            table["crates"] = dict(sorted(self.crates.items()))
        return table


def pins_file(upstream: str) -> Path:
    return resources.pins_dir() / f"{upstream}.toml"


def load_pins(upstream: str) -> dict[str, Pin]:
    path = pins_file(upstream)
    try:
        doc = resources.read_toml(path)
    except resources.DataFileError as exc:
        raise PatcherError(f"cannot read the {upstream} pins at {path}: {exc}", _HINT) from exc
    pins: dict[str, Pin] = {}
    for version, table in doc.get("release", {}).items():
        commit = str(table["commit"])
        tag_commit = table.get("tag-commit")
        if not _SHA_RE.match(commit) or (tag_commit and not _SHA_RE.match(tag_commit)):
            raise PatcherError(f"{path}: release {version} has a malformed commit SHA", _HINT)
        files = {str(k): str(v) for k, v in table.get("files", {}).items()}
        crates = {str(k): str(v) for k, v in table.get("crates", {}).items()}
        if not all(_SHA256_RE.match(v) for v in [*files.values(), *crates.values()]):
            raise PatcherError(f"{path}: release {version} has a malformed file digest", _HINT)
        pins[version] = Pin(
            upstream=upstream,
            version=version,
            tag=str(table["tag"]),
            commit=commit,
            tag_commit=tag_commit,
            yanked=bool(table.get("yanked", False)),
            files=files,
            crates=crates,
        )
    return pins


def supported_range(upstream: str) -> str:
    versions = sorted(load_pins(upstream), key=Version)
    return f"{versions[0]} .. {versions[-1]}" if versions else "(none)"


def get_pin(upstream: str, version: str) -> Pin:
    try:
        Version(version)
    except InvalidVersion as exc:
        raise UnsupportedRelease(
            f"{version!r} is not a valid {upstream} version", hint="name a release, e.g. 0.28.3"
        ) from exc
    pins = load_pins(upstream)
    if version not in pins:
        raise UnsupportedRelease(
            f"{upstream} {version} is not pinned by this patcher "
            f"(supported: {supported_range(upstream)})",
            hint=(
                f"use a supported {upstream} release, or upgrade pyo3-patcher; maintainers add "
                f"releases with `patcher refresh --upstream {upstream}@{version}`"
            ),
        )
    return pins[version]


def write_pin(pin: Pin) -> None:
    """Add `pin` to its upstream's pins file (nothing if it is there), atomically."""
    path = pins_file(pin.upstream)
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    releases = doc.setdefault("release", tomlkit.table(is_super_table=True))
    if pin.version in releases:
        return
    table = tomlkit.table()
    for key, value in pin.as_toml().items():
        if isinstance(value, dict):
            inner = tomlkit.table()
            for name, digest in value.items():
                inner.add(name, digest)
            table.add(key, inner)
        else:
            table.add(key, value)
    releases.add(pin.version, table)
    atomic_write(path, tomlkit.dumps(doc))


def atomic_write(path: Path, text: str) -> None:
    """Write one of our own data files (pins, variants) so that a crash leaves the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
