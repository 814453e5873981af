"""The upstreams we patch, one module each behind one interface (base.Upstream).

pins.py and variants.py read what we pin and carry for any of them; sources.py fetches a
pinned release from git or the registry and checks it against its trust anchors, for both.
pyo3.py and maturin/ hold what is particular to each: how its files are laid out for a
patch, what is made from them, how a patched release is checked.
"""

from __future__ import annotations

from patcher.errors import UsageError
from patcher.upstreams import maturin, pyo3
from patcher.upstreams.base import Upstream

ALL: dict[str, Upstream] = {u.name: u for u in (pyo3.UPSTREAM, maturin.UPSTREAM)}


def get(name: str) -> Upstream:
    try:
        return ALL[name]
    except KeyError:
        raise UsageError(
            f"unknown upstream {name!r}", hint=f"use one of {', '.join(ALL)}"
        ) from None
