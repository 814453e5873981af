"""Pins: for each upstream release we support, its tag and the commit it was published from.

One file per upstream, vendor/pins/<upstream>.toml (shipped inside the wheel), read here and
extended by `patcher refresh --upstream`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    # maturin: the sha256 PyPI publishes for each wheel file of the release (its JSON simple
    # index, read by the maintainer who pinned it), so that a cached published wheel is
    # checked without asking PyPI again
    wheels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # What our patch makes of the release, per variant name: the variant's digest (`patch`;
    # a digest for another patch is not used) and the sha256 of what is derived (pyo3: each
    # crate's vendored tree digest from the crates.io crates, with `form`, the vendored form;
    # maturin backend: each patched backend file). A cache entry or a vendored tree is then
    # checked by comparing digests, without deriving it again; where none is shipped (or it
    # does not match), patcher derives as before.
    derived: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)

    def derived_for(self, variant_name: str, patch_digest: str) -> Mapping[str, str]:
        """The digests shipped for `variant_name` with exactly that patch (else none)."""
        found = self.derived.get(variant_name, {})
        if found.get("patch") != patch_digest:
            return {}
        return {k: v for k, v in found.items() if k != "patch"}

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
        if self.derived:
            table["derived"] = {k: dict(sorted(v.items())) for k, v in sorted(self.derived.items())}
        return table


def pins_file(upstream: str) -> Path:
    return resources.pins_dir() / f"{upstream}.toml"


def wheels_file(upstream: str) -> Path:
    """PyPI's sha256 of each wheel file, per release: bulky registry data (13 files a maturin
    release), in JSON beside the pins, which every command parses (tomllib took 50 ms more
    with them in the TOML, tomlkit on Python < 3.11 several times that)."""
    return resources.pins_dir() / f"{upstream}-wheels.json"


def _load_wheels(upstream: str) -> dict[str, dict[str, str]]:
    path = wheels_file(upstream)
    if not path.is_file():
        return {}
    try:
        doc = resources.read_json(path)
        return {
            str(version): {str(k): str(v) for k, v in files.items()}
            for version, files in doc.items()
        }
    except (resources.DataFileError, AttributeError) as exc:
        raise PatcherError(
            f"cannot read the {upstream} wheel digests at {path}: {exc}", _HINT
        ) from exc


def load_pins(upstream: str) -> dict[str, Pin]:
    path = pins_file(upstream)
    try:
        doc = resources.read_toml(path)
    except resources.DataFileError as exc:
        raise PatcherError(f"cannot read the {upstream} pins at {path}: {exc}", _HINT) from exc
    all_wheels = _load_wheels(upstream)
    pins: dict[str, Pin] = {}
    for version, table in doc.get("release", {}).items():
        commit = str(table["commit"])
        tag_commit = table.get("tag-commit")
        if not _SHA_RE.match(commit) or (tag_commit and not _SHA_RE.match(tag_commit)):
            raise PatcherError(f"{path}: release {version} has a malformed commit SHA", _HINT)
        files = {str(k): str(v) for k, v in table.get("files", {}).items()}
        crates = {str(k): str(v) for k, v in table.get("crates", {}).items()}
        wheels = all_wheels.get(version, {})
        derived = {
            str(name): {str(k): str(v) for k, v in digests.items()}
            for name, digests in table.get("derived", {}).items()
        }
        shipped = [*files.values(), *crates.values(), *wheels.values()]
        shipped += [v for d in derived.values() for k, v in d.items() if k != "form"]
        if not all(_SHA256_RE.match(v) for v in shipped):
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
            wheels=wheels,
            derived=derived,
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


def write_pin(pin: Pin, *, replace: bool = False) -> None:
    """Add `pin` to its upstream's pins file (nothing if it is there, unless `replace`: then
    its table is rewritten in place), atomically."""
    import tomlkit

    path = pins_file(pin.upstream)
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    releases = doc.setdefault("release", tomlkit.table(is_super_table=True))
    if pin.version in releases and not replace:
        return

    def as_table(values: Mapping[str, object]) -> Any:
        table = tomlkit.table()
        for key, value in values.items():
            table.add(key, as_table(value) if isinstance(value, Mapping) else value)
        return table

    if pin.version in releases:
        # only the digests of what patcher derives are replaced: the rest stays as written
        table = releases[pin.version]
        if pin.derived:
            table["derived"] = as_table(pin.as_toml()["derived"])  # type: ignore[arg-type]
    else:
        releases.add(pin.version, as_table(pin.as_toml()))
    # a blank line before every release table, as the file is written by hand
    atomic_write(path, re.sub(r"(?<=[^\n])\n(\[release\.)", r"\n\n\1", tomlkit.dumps(doc)))
    if pin.wheels:
        wheels = _load_wheels(pin.upstream)
        wheels[pin.version] = dict(sorted(pin.wheels.items()))
        ordered = dict(sorted(wheels.items(), key=lambda item: Version(item[0])))
        atomic_write(wheels_file(pin.upstream), json.dumps(ordered, indent=1) + "\n")


def atomic_write(path: Path, text: str) -> None:
    """Write one of our own data files (pins, variants) so that a crash leaves the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
