"""The emulation of Swatinem/rust-cache v2.9.2's target cleaning, on a target dir laid out as
cargo lays it out, against what its `src/cleanup.ts` keeps and removes."""

from __future__ import annotations

import os
from pathlib import Path

from patcher import cicache
from patcher.cicache import Package

KEPT = [
    Package("pyo3-ffi", "0.28.3", ("pyo3_ffi",), "elsewhere/pyo3-ffi"),
    Package("syn", "2.0.0", ("syn",), "registry/syn"),
]


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_text("x", encoding="utf-8")


def test_only_build_fingerprint_and_deps_of_kept_packages_survive(tmp_path: Path) -> None:
    target = tmp_path / "target"
    _touch(
        target,
        "CACHEDIR.TAG",
        ".rustc_info.json",
        "release/.cargo-lock",
        "release/libhello.so",
        "release/incremental/",
        "release/build/pyo3-ffi-0123456789abcdef/output",
        "release/build/hello-0123456789abcdef/output",
        "release/.fingerprint/pyo3-ffi-0123456789abcdef/lib-pyo3_ffi",
        "release/.fingerprint/syn-0123456789abcdef/lib-syn",
        "release/.fingerprint/hello-0123456789abcdef/lib-hello",
        "release/deps/libpyo3_ffi-0123456789abcdef.rlib",
        "release/deps/pyo3_ffi-0123456789abcdef.d",
        "release/deps/libsyn-0123456789abcdef.rmeta",
        "release/deps/libhello.so",
        "release/deps/hello-0123456789abcdef.d",
        "wheels/hello.whl",
    )
    removed = cicache.clean_target_dir(target, KEPT)

    left = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert left == [
        "CACHEDIR.TAG",
        "release/.fingerprint/pyo3-ffi-0123456789abcdef/lib-pyo3_ffi",
        "release/.fingerprint/syn-0123456789abcdef/lib-syn",
        "release/build/pyo3-ffi-0123456789abcdef/output",
        "release/deps/libpyo3_ffi-0123456789abcdef.rlib",
        "release/deps/libsyn-0123456789abcdef.rmeta",
        "release/deps/pyo3_ffi-0123456789abcdef.d",
    ]
    assert "release/.fingerprint/hello-0123456789abcdef" in removed
    # not a profile dir: cleaned as a target dir of its own, whose files all go
    assert "wheels/hello.whl" in removed
    assert ".rustc_info.json" in removed and "release/incremental" in removed


def test_a_failing_cargo_metadata_keeps_nothing(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text("not toml [", encoding="utf-8")
    assert cicache.kept_packages(tmp_path) == []


def test_save_and_restore_keep_mtimes(tmp_path: Path) -> None:
    target = tmp_path / "job1" / "target"
    _touch(target, "release/deps/libx.rlib")
    stamp = 1_500_000_000
    os.utime(target / "release/deps/libx.rlib", (stamp, stamp))
    cicache.save(target, tmp_path / "t.tar")
    cicache.restore(tmp_path / "t.tar", tmp_path / "job2")
    restored = tmp_path / "job2" / "target" / "release/deps/libx.rlib"
    assert int(restored.stat().st_mtime) == stamp
