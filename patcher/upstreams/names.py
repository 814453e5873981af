"""Names of the upstreams that the project side checks its files against, apart from the
modules that fetch, patch and build them: reading the record and CI mode need only these, and
pyo3.py and base.py import the rest of this package (tens of milliseconds of every CI step)."""

from __future__ import annotations

PYO3_CRATES = ("pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend")

SOURCE_CHOICES = ("auto", "git", "crates.io")
