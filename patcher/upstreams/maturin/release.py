"""Which maturin release a project's build gets, and the local version of its patched wheel."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from patcher.errors import ProjectError, UnsupportedRelease
from patcher.upstreams import pins, variants
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant

LOCAL_PREFIX = "pyo3patcher"


KINDS = ("backend", "compiled")


DEFAULT_KIND = "backend"


BACKEND_DIR = "maturin"  # the Python package of the PEP 517 backend, in the repo and wheels


@dataclasses.dataclass(frozen=True)
class MaturinBuild:
    pin: Pin
    variant: Variant
    wheel: Path

    @property
    def local_version(self) -> str:
        return local_version(self.pin, self.variant)


def local_version(pin: Pin, variant: Variant) -> str:
    return f"{pin.version}+{LOCAL_PREFIX}.{variant.name.replace('-', '.').replace('_', '.')}"


def choose_release(requires: tuple[str, ...], pinned: str | None = None) -> Pin | None:
    """The newest pinned maturin release that `[build-system] requires` allows (or the user's
    pin); None when the project does not build with maturin."""
    wanted = None
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise ProjectError(
                f"[build-system] requires has an invalid entry {text!r}: {exc}",
                hint="fix the requirement in pyproject.toml (PEP 508)",
            ) from exc
        if canonicalize_name(req.name) == "maturin":
            wanted = req
    if wanted is None:
        return None
    if pinned is not None:
        pin = pins.get_pin("maturin", pinned)
        if not wanted.specifier.contains(Version(pinned), prereleases=True):
            raise ProjectError(
                f"[tool.pyo3-patcher] maturin = {pinned!r} does not satisfy the build "
                f"requirement {wanted}",
                hint="pin a release the requirement allows, or remove the setting",
            )
        return pin
    known = pins.load_pins("maturin")
    for version in sorted(known, key=Version, reverse=True):
        if wanted.specifier.contains(Version(version)):
            return known[version]
    raise UnsupportedRelease(
        f"no maturin release pinned by this patcher satisfies {wanted} "
        f"(supported: {pins.supported_range('maturin')})",
        hint="widen the maturin requirement in [build-system] requires, or upgrade pyo3-patcher",
    )


def wanted_version(
    requires: tuple[str, ...], pinned: str | None = None, kind: str = DEFAULT_KIND
) -> str:
    """The local version of the patched maturin the project's isolated builds get ("" when
    it does not build with maturin); raises when no pinned release will do."""
    pin = choose_release(requires, pinned)
    if pin is None:
        return ""
    return local_version(pin, variants.select_variant("maturin", pin.version, kind))
