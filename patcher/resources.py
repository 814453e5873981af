"""Where the patches, pins and the demo's example shipped with patcher live.

In a checkout they are `patches/`, `vendor/pins/` and `examples/hello-pyo3/` at the top of the
repository (reviewed as data); an installed wheel carries copies under `patcher/_data/` (see
pyproject.toml).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT_DIR = _PACKAGE_DIR.parent


def _pick(installed: Path, checkout: Path) -> Path:
    return installed if installed.is_dir() else checkout


def patches_dir() -> Path:
    override = os.environ.get("PYO3_PATCHER_PATCHES_DIR")
    if override:
        return Path(override)
    return _pick(_PACKAGE_DIR / "_data" / "patches", _CHECKOUT_DIR / "patches")


def pins_dir() -> Path:
    override = os.environ.get("PYO3_PATCHER_PINS_DIR")
    if override:
        return Path(override)
    return _pick(_PACKAGE_DIR / "_data" / "pins", _CHECKOUT_DIR / "vendor" / "pins")


def example_dir() -> Path:
    """The example project `patcher demo` builds."""
    return _pick(
        _PACKAGE_DIR / "_data" / "examples" / "hello-pyo3",
        _CHECKOUT_DIR / "examples" / "hello-pyo3",
    )
