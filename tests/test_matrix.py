"""`patcher matrix`: one command writes both coverage matrices."""

from __future__ import annotations

from pathlib import Path

import tomlkit
from helpers import REPO_ROOT, run_patcher


def _pins_subset(dest: Path, upstream: str, versions: list[str]) -> None:
    doc = tomlkit.parse((REPO_ROOT / "vendor/pins" / f"{upstream}.toml").read_text("utf-8"))
    subset = tomlkit.document()
    releases = tomlkit.table(is_super_table=True)
    for version in versions:
        releases.add(version, doc["release"][version])
    subset.add("release", releases)
    (dest / f"{upstream}.toml").write_text(tomlkit.dumps(subset), encoding="utf-8")


def test_one_command_regenerates_both_matrices(tmp_path: Path) -> None:
    pins_dir = tmp_path / "pins"
    pins_dir.mkdir()
    _pins_subset(pins_dir, "pyo3", ["0.20.0", "0.29.2"])
    _pins_subset(pins_dir, "maturin", ["1.4.0", "1.16.0"])
    out = tmp_path / "docs"
    out.mkdir()
    result = run_patcher(
        "matrix",
        "--check",
        "none",
        "--output-dir",
        out,
        env={"PYO3_PATCHER_PINS_DIR": str(pins_dir)},
    )
    assert result.returncode == 0, result.stderr
    pyo3 = (out / "coverage-pyo3.md").read_text("utf-8")
    maturin = (out / "coverage-maturin.md").read_text("utf-8")
    assert f"Produced by `patcher matrix --check none --output-dir {out.as_posix()}`" in pyo3
    assert "| 0.20.0 | base-python-v1 | offset " in pyo3
    assert "| 0.29.2 | base-python-v1 | exact | - | crates.io |" in pyo3
    # the maturin sources come from the crates published from the pinned commits
    assert "| 1.4.0 | base-python-v1 | offset " in maturin
    assert "| 1.16.0 | base-python-v1 | " in maturin and "| crates.io |" in maturin
    assert result.stdout == pyo3 + maturin
