"""Our record of an apply: `pyo3-patcher.lock` at the workspace root, and its one reader.

The file is in the user's repository, so anyone can edit it: every field is type-checked and
every name or path in it is validated before use. A record that fails is an error (exit 3)
that changes nothing. Format 2 adds what `remove` needs to give back Cargo.lock and a user's
`[patch]` entries byte for byte; format 1 (the first release) is still read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from packaging.version import InvalidVersion, Version
from tomlkit.exceptions import TOMLKitError

from patcher.errors import ProjectError
from patcher.project import textfile
from patcher.project.fence import check_relative
from patcher.project.manifest import Ours
from patcher.upstreams.names import PYO3_CRATES

FILE_NAME = "pyo3-patcher.lock"
FORMAT = 2
READABLE_FORMATS = (1, 2)
OUTCOMES = ("patched", "upstream")
SOURCES = ("git", "crates.io")
# what apply put between the user's last byte and a table it appended ("EOF\n": a newline
# tomlkit added to a last line that had none)
SEPARATORS = ("", "\n", "\n\n", "EOF\n")
SDIST_INCLUDES = ("element", "key", "table", "table-eof")  # see project/sdist.py

_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")

_HINT = (
    "restore pyo3-patcher.lock from version control (`git checkout -- pyo3-patcher.lock`); "
    "if it is lost, delete it, the vendored folder and the [patch.crates-io] entries that point "
    "into it, then run `patcher apply`"
)


class RecordError(ProjectError):
    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path.name}: {problem}", hint=_HINT)


@dataclasses.dataclass(frozen=True)
class RegistryEntry:
    """What Cargo.lock said of a pyo3 crate before apply pointed it at our tree."""

    source: str
    checksum: str


@dataclasses.dataclass(frozen=True)
class Record:
    vendor_dir: str
    pyo3_version: str
    tag: str
    commit: str
    variant: str
    patch_sha256: str
    outcome: str
    source: str
    crates: tuple[str, ...]
    digests: Mapping[str, str]  # crate -> digest of its vendored tree
    entries: Mapping[str, str]  # the [patch.crates-io] entries we own: crate -> path
    created_patch_table: bool
    separator: str
    maturin: str = ""  # the patched maturin isolated builds get ("" when not a maturin build)
    registry: Mapping[str, RegistryEntry] = dataclasses.field(default_factory=dict)
    replaced: Mapping[str, str] = dataclasses.field(default_factory=dict)  # crate -> TOML value
    # folders apply made on the way to the vendor folder (`vendor-dir = "a/b"`: "a"), which
    # remove takes away again when they are empty
    created_dirs: tuple[str, ...] = ()
    # how apply added the vendor folder to pyproject.toml's [tool.maturin] include (see
    # project/sdist.py); "" where it added nothing
    sdist_include: str = ""
    format: int = FORMAT

    def tree_rel(self, crate: str) -> str:
        return tree_rel(self.vendor_dir, crate, self.pyo3_version)

    @property
    def ours(self) -> Ours:
        """What we own in the manifest, as manifest.py takes it."""
        return Ours(self.entries, self.created_patch_table, self.separator, self.replaced)

    def render(self) -> str:
        doc = tomlkit.document()
        doc.add(tomlkit.comment("Written by pyo3-patcher (`patcher apply`). Commit it: a later"))
        doc.add(tomlkit.comment("`patcher apply` reproduces exactly these trees, `patcher verify`"))
        doc.add(tomlkit.comment("checks them and `patcher remove` undoes the change."))
        doc.add("format", FORMAT)
        doc.add("vendor-dir", self.vendor_dir)
        if self.created_dirs:
            doc.add("created-dirs", list(self.created_dirs))
        pyo3 = tomlkit.table()
        for key, value in (
            ("version", self.pyo3_version),
            ("tag", self.tag),
            ("commit", self.commit),
            ("variant", self.variant),
            ("patch-sha256", self.patch_sha256),
            ("outcome", self.outcome),
            ("source", self.source),
            ("crates", sorted(self.crates)),
        ):
            pyo3.add(key, value)
        pyo3.add("digests", _table(self.digests))
        doc.add("pyo3", pyo3)
        if self.registry:
            registry = tomlkit.table()
            registry.add(tomlkit.comment("Cargo.lock before apply: `patcher remove` puts it back"))
            for name in sorted(self.registry):
                entry = tomlkit.inline_table()
                entry.update(
                    {"source": self.registry[name].source, "checksum": self.registry[name].checksum}
                )
                registry.add(name, entry)
            doc.add("cargo-lock", registry)
        manifest = tomlkit.table()
        manifest.add("created-patch-table", self.created_patch_table)
        manifest.add("separator", self.separator)
        manifest.add("entries", _table(self.entries))
        if self.replaced:
            manifest.add("replaced", _table(self.replaced))
        doc.add("manifest", manifest)
        if self.maturin:
            doc.add("maturin", {"version": self.maturin})
        if self.sdist_include:
            pyproject = tomlkit.table()
            pyproject.add(tomlkit.comment("what `patcher remove` takes out of pyproject.toml"))
            pyproject.add("sdist-include", self.sdist_include)
            doc.add("pyproject", pyproject)
        return tomlkit.dumps(doc)


def tree_rel(vendor_dir: str, crate: str, version: str) -> str:
    return f"{vendor_dir}/{crate}-{version}"


def _table(values: Mapping[str, str]) -> Any:
    table = tomlkit.table()
    for name in sorted(values):
        table.add(name, values[name])
    return table


def load(path: Path) -> Record | None:
    """The record at `path`, validated; None when there is none."""
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_symlink() or not path.is_file():
        raise RecordError(path, "is not a regular file")
    try:
        doc = textfile.parse_toml(textfile.read(path).text, path).unwrap()
    except (ProjectError, TOMLKitError) as exc:
        raise RecordError(path, str(exc)) from exc
    return parse(doc, path)


def parse(doc: Mapping[str, Any], path: Path) -> Record:
    reader = _Reader(path)
    fmt = doc.get("format")
    if type(fmt) is not int:
        raise reader.fail("format", "must be an integer")
    if fmt not in READABLE_FORMATS:
        newer = fmt > FORMAT
        raise ProjectError(
            f"{path.name} has format {fmt}; this pyo3-patcher reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}"
            + (" (the file was written by a newer pyo3-patcher)" if newer else ""),
            hint="upgrade pyo3-patcher (reinstall it from a newer checkout or tag: it is not on "
            "PyPI)"
            if newer
            else _HINT,
        )
    return _parse_v1(doc, reader) if fmt == 1 else _parse_v2(doc, reader)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> RecordError:
        return RecordError(self.path, f"`{key}` {problem}")

    def table(self, doc: Mapping[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
        value = doc.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def string(self, doc: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None) -> str:
        value = doc.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "must be a string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"has an unexpected value {value!r}")
        return value

    def choice(self, doc: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
        value = self.string(doc, key, None)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(map(repr, choices))}")
        return value

    def boolean(self, doc: Mapping[str, Any], key: str) -> bool:
        value = doc.get(key, False)
        if type(value) is not bool:
            raise self.fail(key, "must be true or false")
        return value

    def unknown(self, doc: Mapping[str, Any], where: str, known: set[str]) -> None:
        extra = sorted(set(doc) - known)
        if extra:
            raise self.fail(where, f"has unknown keys: {', '.join(extra)}")


def _parse_pyo3(pyo3: Mapping[str, Any], r: _Reader) -> dict[str, Any]:
    r.unknown(
        pyo3,
        "pyo3",
        {"version", "tag", "commit", "variant", "patch-sha256", "outcome", "source", "crates"}
        | {"digests"},
    )
    version = r.string(pyo3, "version", _SEMVER)
    crates_value = pyo3.get("crates")
    if not isinstance(crates_value, list) or not all(isinstance(c, str) for c in crates_value):
        raise r.fail("pyo3.crates", "must be a list of crate names")
    crates = tuple(crates_value)
    unknown = [c for c in crates if c not in PYO3_CRATES]
    if unknown or not crates or len(set(crates)) != len(crates):
        raise r.fail("pyo3.crates", f"must name pyo3 crates, each once (got {list(crates)})")
    digests = r.table(pyo3, "digests")
    if set(digests) != set(crates) or not all(
        isinstance(d, str) and _HEX64.match(d) for d in digests.values()
    ):
        raise r.fail("pyo3.digests", "must give a sha256 digest for each crate")
    return {
        "pyo3_version": version,
        "tag": r.string(pyo3, "tag", _TAG),
        "commit": r.string(pyo3, "commit", _HEX40),
        "variant": r.string(pyo3, "variant", _NAME),
        "patch_sha256": r.string(pyo3, "patch-sha256", _HEX64),
        "outcome": r.choice(pyo3, "outcome", OUTCOMES),
        "source": r.choice(pyo3, "source", SOURCES),
        "crates": crates,
        "digests": dict(digests),
    }


def _parse_entries(
    entries: Mapping[str, Any], vendor_dir: str, fields: Mapping[str, Any], r: _Reader
) -> dict[str, str]:
    """Our [patch.crates-io] entries: exactly the vendored tree of each crate, nothing else
    (so a hand-edited record cannot make remove delete a user's own entry)."""
    for name, value in entries.items():
        expected = tree_rel(vendor_dir, name, fields["pyo3_version"])
        if name not in fields["crates"] or value != expected:
            raise r.fail(
                f"entries.{name}", f"must be {expected!r} for a vendored crate (got {value!r})"
            )
    return dict(entries)


def _maturin_version(doc: Mapping[str, Any], r: _Reader) -> str:
    table = r.table(doc, "maturin", required=False)
    if not table:
        return ""
    r.unknown(table, "maturin", {"version"})
    value = r.string(table, "version", None)
    try:
        Version(value)
    except InvalidVersion:
        raise r.fail("maturin.version", f"is not a version: {value!r}") from None
    return value


def _parse_v2(doc: Mapping[str, Any], r: _Reader) -> Record:
    r.unknown(
        doc,
        "the file",
        {"format", "vendor-dir", "created-dirs", "pyo3", "cargo-lock", "manifest", "maturin"}
        | {"pyproject"},
    )
    vendor_dir = _vendor_dir(doc, r)
    created = doc.get("created-dirs", [])
    if not isinstance(created, list) or not all(
        isinstance(d, str) and vendor_dir.startswith(d + "/") for d in created
    ):
        raise r.fail("created-dirs", "must list folders on the way to vendor-dir")
    fields = _parse_pyo3(r.table(doc, "pyo3"), r)
    manifest = r.table(doc, "manifest")
    r.unknown(manifest, "manifest", {"created-patch-table", "separator", "entries", "replaced"})
    registry: dict[str, RegistryEntry] = {}
    for name, value in r.table(doc, "cargo-lock", required=False).items():
        if name not in fields["crates"] or not isinstance(value, dict):
            raise r.fail(f"cargo-lock.{name}", "must be a table for a vendored crate")
        r.unknown(value, f"cargo-lock.{name}", {"source", "checksum"})
        source = r.string(value, "source", None)
        if not source.startswith("registry+") or any(c in source for c in '\n\r"\\'):
            raise r.fail(f"cargo-lock.{name}.source", f"is not a registry source: {source!r}")
        registry[name] = RegistryEntry(source, r.string(value, "checksum", _HEX64))
    replaced: dict[str, str] = {}
    for name, value in r.table(manifest, "replaced", required=False).items():
        if name not in PYO3_CRATES or not isinstance(value, str):
            raise r.fail(f"manifest.replaced.{name}", "must be a TOML value for a pyo3 crate")
        try:
            tomlkit.parse(f"x = {value}\n")
        except (TOMLKitError, ValueError) as exc:
            raise r.fail(f"manifest.replaced.{name}", f"is not a TOML value: {exc}") from exc
        replaced[name] = value
    return Record(
        vendor_dir=vendor_dir,
        **fields,
        entries=_parse_entries(r.table(manifest, "entries"), vendor_dir, fields, r),
        created_patch_table=r.boolean(manifest, "created-patch-table"),
        separator=r.choice(manifest, "separator", SEPARATORS),
        maturin=_maturin_version(doc, r),
        registry=registry,
        replaced=replaced,
        created_dirs=tuple(created),
        sdist_include=_sdist_include(doc, r),
        format=2,
    )


def _sdist_include(doc: Mapping[str, Any], r: _Reader) -> str:
    table = r.table(doc, "pyproject", required=False)
    if not table:
        return ""
    r.unknown(table, "pyproject", {"sdist-include"})
    return r.choice(table, "sdist-include", SDIST_INCLUDES)


def _parse_v1(doc: Mapping[str, Any], r: _Reader) -> Record:
    r.unknown(
        doc,
        "the file",
        {"format", "vendor-dir", "created-patch-table", "separator", "cargo-lock-was-absent"}
        | {"pyo3", "maturin", "patch-entries"},
    )
    vendor_dir = _vendor_dir(doc, r)
    fields = _parse_pyo3(r.table(doc, "pyo3"), r)
    r.boolean(doc, "cargo-lock-was-absent")  # format 1 only; checked, then unused
    return Record(
        vendor_dir=vendor_dir,
        **fields,
        entries=_parse_entries(
            r.table(doc, "patch-entries", required=False), vendor_dir, fields, r
        ),
        created_patch_table=r.boolean(doc, "created-patch-table"),
        separator=r.choice(doc, "separator", SEPARATORS),
        maturin=_maturin_version(doc, r),
        format=1,
    )


def _vendor_dir(doc: Mapping[str, Any], r: _Reader) -> str:
    value = r.string(doc, "vendor-dir", None)
    try:
        return check_relative(value, what="vendor-dir")
    except ProjectError:
        raise r.fail(
            "vendor-dir", f"must be a relative path inside the workspace (got {value!r})"
        ) from None
