"""The one reader of pyo3-patcher.lock: every field type-checked, every path and name checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomlkit

from patcher.errors import ProjectError
from patcher.project import record
from patcher.project.record import Record, RegistryEntry

HEX64 = "a" * 64
GOOD = Record(
    vendor_dir=".pyo3-patcher",
    pyo3_version="0.28.3",
    tag="v0.28.3",
    commit="7" * 40,
    variant="base-python-v1",
    patch_sha256=HEX64,
    outcome="patched",
    source="crates.io",
    crates=("pyo3", "pyo3-ffi"),
    digests={"pyo3": HEX64, "pyo3-ffi": "b" * 64},
    entries={"pyo3": ".pyo3-patcher/pyo3-0.28.3", "pyo3-ffi": ".pyo3-patcher/pyo3-ffi-0.28.3"},
    created_patch_table=True,
    separator="\n",
    maturin="1.16.0+pyo3patcher.backend.v2",
    registry={
        "pyo3": RegistryEntry("registry+https://github.com/rust-lang/crates.io-index", HEX64)
    },
    replaced={"pyo3-ffi": '{ git = "https://example.invalid/ffi" }'},
)


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / record.FILE_NAME
    path.write_text(doc if isinstance(doc, str) else tomlkit.dumps(doc), encoding="utf-8")
    return path


def _good_doc() -> dict[str, Any]:
    return tomlkit.parse(GOOD.render()).unwrap()


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    assert record.load(_write(tmp_path, GOOD.render())) == GOOD


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / record.FILE_NAME
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.render().encode())
    assert record.load(path) == GOOD


def test_format_1_of_the_first_release_is_still_read(tmp_path: Path) -> None:
    old = """format = 1
vendor-dir = ".pyo3-patcher"
created-patch-table = true
separator = "\\n"
cargo-lock-was-absent = false

[pyo3]
version = "0.28.3"
tag = "v0.28.3"
commit = "7777777777777777777777777777777777777777"
variant = "base-python-v1"
patch-sha256 = "{hex}"
outcome = "patched"
source = "crates.io"
crates = ["pyo3-ffi"]

[pyo3.digests]
pyo3-ffi = "{hex}"

[maturin]
version = "1.16.0+pyo3patcher.base.python.v1"

[patch-entries]
pyo3-ffi = ".pyo3-patcher/pyo3-ffi-0.28.3"
""".replace("{hex}", HEX64)
    loaded = record.load(_write(tmp_path, old))
    assert loaded is not None
    assert loaded.format == 1 and loaded.entries == {"pyo3-ffi": ".pyo3-patcher/pyo3-ffi-0.28.3"}
    assert loaded.registry == {} and loaded.replaced == {}


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        doc = doc[key]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()
BAD = [
    ("format", "2", "format"),
    ("format", 99, "newer pyo3-patcher"),
    ("format", True, "format"),
    ("vendor-dir", "../outside", "vendor-dir"),
    ("vendor-dir", "/etc", "vendor-dir"),
    ("vendor-dir", "a/./b", "vendor-dir"),
    ("vendor-dir", "a\\b", "vendor-dir"),
    ("vendor-dir", "", "vendor-dir"),
    ("vendor-dir", 7, "vendor-dir"),
    ("pyo3.version", "0.28.3/../../x", "version"),
    ("pyo3.version", 28, "version"),
    ("pyo3.crates", "pyo3", "crates"),
    ("pyo3.crates", ["../../etc"], "crates"),
    ("pyo3.crates", ["pyo3", "pyo3"], "crates"),
    ("pyo3.crates", [], "crates"),
    ("pyo3.commit", "HEAD", "commit"),
    ("pyo3.variant", "../x", "variant"),
    ("pyo3.outcome", "maybe", "outcome"),
    ("pyo3.source", "file:///x", "source"),
    ("pyo3.digests", {"pyo3": HEX64}, "digests"),
    ("pyo3.digests.pyo3", 1, "digests"),
    ("pyo3", _DELETE, "pyo3"),
    ("manifest.entries.pyo3", "src", "entries.pyo3"),
    ("manifest.entries.pyo3", "../../.pyo3-patcher/pyo3-0.28.3", "entries.pyo3"),
    ("manifest.entries.serde", ".pyo3-patcher/serde-0.28.3", "entries.serde"),
    ("manifest.separator", "\n# injected\n", "separator"),
    ("manifest.created-patch-table", "yes", "created-patch-table"),
    ("manifest.replaced.pyo3", "{ broken", "replaced.pyo3"),
    ("cargo-lock.pyo3.source", "path+file:///etc", "cargo-lock.pyo3.source"),
    ("cargo-lock.pyo3.checksum", "x", "checksum"),
    ("cargo-lock.serde", {"source": "registry+x", "checksum": HEX64}, "cargo-lock.serde"),
    ("maturin.version", "not a version", "maturin.version"),
    ("surprise", 1, "unknown keys"),
]


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    BAD,
    ids=[f"{k}={'<deleted>' if v is _DELETE else repr(v)}" for k, v, _ in BAD],
)
def test_every_malformed_field_is_refused_by_name(
    tmp_path: Path, key: str, value: Any, needle: str
) -> None:
    doc = _good_doc()
    _set(doc, key, value)
    with pytest.raises(ProjectError, match="pyo3-patcher") as caught:
        record.load(_write(tmp_path, tomlkit.dumps(doc)))
    assert caught.value.exit_code == 3
    assert needle in str(caught.value), str(caught.value)
    assert caught.value.hint


@pytest.mark.parametrize("text", ["not toml [", "", "format = 2\n", "[[pyo3]]\nx = 1\n"])
def test_a_record_that_is_not_ours_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ProjectError, match=r"pyo3-patcher\.lock") as caught:
        record.load(_write(tmp_path, text))
    assert caught.value.exit_code == 3


def test_a_record_that_is_a_directory_or_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / record.FILE_NAME).mkdir()
    with pytest.raises(ProjectError, match="not a regular file"):
        record.load(tmp_path / record.FILE_NAME)
    real = tmp_path / "elsewhere.lock"
    real.write_text(GOOD.render(), encoding="utf-8")
    link = tmp_path / "link" / record.FILE_NAME
    link.parent.mkdir()
    link.symlink_to(real)
    with pytest.raises(ProjectError, match="not a regular file"):
        record.load(link)
