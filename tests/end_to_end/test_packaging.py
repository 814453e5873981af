"""`pip install .` must carry the patches and pins, not only a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import REPO_ROOT, make_venv


def test_wheel_carries_patches_and_pins(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(REPO_ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("pyo3_patcher-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "patcher/_data/patches/pyo3/variants.toml" in names
    assert "patcher/_data/patches/pyo3/base-python-v2.patch" in names
    assert "patcher/_data/pins/pyo3.toml" in names
    assert "patcher/_data/pins/maturin-wheels.json" in names  # PyPI's digests, beside the pins
    # `pip install . && patcher demo` (the README) builds the example from the wheel's copy
    example = "patcher/_data/examples/hello-pyo3/"
    assert {f"{example}{n}" for n in ("Cargo.toml", "Cargo.lock", "pyproject.toml")} <= names
    assert f"{example}src/lib.rs" in names
    assert not any(n.startswith((f"{example}target/", f"{example}.pyo3-patcher/")) for n in names)

    # and an installed wheel finds its own copies, not a checkout's
    venv = tmp_path / "venv"
    python = make_venv(venv, with_pip=True)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, cwd=tmp_path
    )
    found = subprocess.run(
        [python, "-c", "from patcher import resources as r; print(r.example_dir(), r.pins_dir())"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.split()
    assert all("site-packages/patcher/_data/" in path and Path(path).is_dir() for path in found)
