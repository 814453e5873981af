"""`pip install .` must carry the patches and pins, not only a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import REPO_ROOT


def test_wheel_carries_patches_and_pins(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(REPO_ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("pyo3_patcher-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "patcher/_data/patches/pyo3/variants.toml" in names
    assert "patcher/_data/patches/pyo3/base-python-v1.patch" in names
    assert "patcher/_data/pins/pyo3.toml" in names
