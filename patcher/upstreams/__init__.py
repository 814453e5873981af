"""The upstreams we patch, one module each behind one interface (base.Upstream).

pins.py and variants.py read what we pin and carry for any of them; sources.py fetches a
pinned release from git or the registry and checks it against its trust anchors, for both.
pyo3.py and maturin/ hold what is particular to each: how its files are laid out for a
patch, what is made from them, how a patched release is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from patcher.errors import UsageError

if TYPE_CHECKING:
    from patcher.upstreams.base import Upstream

    ALL: dict[str, Upstream]


# The registry (ALL) is built on first use: importing any module of this package (pyo3's crate
# names, the pins) would otherwise import both upstreams and all they need (unidiff, packaging's
# requirements, maturin's wheel code), tens of milliseconds of every CI step.
def _all() -> dict[str, Upstream]:
    found: dict[str, Upstream] | None = globals().get("ALL")
    if found is None:
        from patcher.upstreams import maturin, pyo3

        found = {u.name: u for u in (pyo3.UPSTREAM, maturin.UPSTREAM)}
        globals()["ALL"] = found
    return found


def __getattr__(name: str) -> Any:
    if name == "ALL":
        return _all()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get(name: str) -> Upstream:
    registry = _all()
    try:
        return registry[name]
    except KeyError:
        raise UsageError(
            f"unknown upstream {name!r}", hint=f"use one of {', '.join(registry)}"
        ) from None
