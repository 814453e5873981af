"""What the pins ship of what we derive (`patcher refresh --digests UPSTREAM[@VERSION]`).

A command checks a vendored tree or a cached wheel against these digests, where it would
otherwise derive the tree or the wheel again from its anchored source (a second or more per
command). They are computed here from the same anchored sources (crates.io crates with their
checksums, PyPI's digests, the pinned commit's backend files) and the patch variants as
they are now: run this after `refresh --upstream`, which writes both the pin and the
variants (it calls this itself), and after any change to a patch. A digest that is stale
(a patch changed since) is simply not used (`Pin.derived_for` wants the patch's digest), and
tests/maintainer/test_shipped_digests.py derives the example's releases again and fails on a
mismatch.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from packaging.version import Version

from patcher import ui
from patcher.errors import PatcherError
from patcher.upstreams import pins, pyo3, sources, variants
from patcher.upstreams.pins import Pin


def pyo3_derived(pin: Pin) -> dict[str, dict[str, str]]:
    """For the pyo3 variant claiming `pin`: each crate's vendored tree digest, derived from
    the crates.io crates (checked against the pin's checksums)."""
    from patcher.project import vendor  # the vendored form is the project layer's

    patched = pyo3.patched_release(pin.version, source="crates.io")
    release = vendor.vendored(patched)
    return {
        patched.variant.name: {
            "patch": patched.variant.digest,
            "form": vendor.VENDORED_FORM,
            **release.digests,
        }
    }


def maturin_derived(pin: Pin, url: str | None = None) -> dict[str, dict[str, str]]:
    """For the backend variant claiming `pin`: the sha256 of each backend file it changes,
    patched from the pinned commit's files (those every published wheel carries: pin.files)."""
    from patcher.upstreams import maturin

    variant = variants.select_variant("maturin", pin.version, "backend")
    tree, _origin = maturin.pristine(pin, url=url)
    maturin.verify_backend(pin, tree)
    files = {name: (tree / name).read_bytes() for name in pin.files}
    with tempfile.TemporaryDirectory(prefix="patcher-digests-") as tmp:
        changed = maturin.patch_backend(variant, files, Path(tmp))
    return {
        variant.name: {
            "patch": variant.digest,
            **{name: sources.sha256_bytes(data) for name, data in changed.items()},
        }
    }


def maturin_wheels(pin: Pin) -> dict[str, str]:
    """PyPI's sha256 of every wheel file of the release (its JSON index, over HTTPS)."""
    from patcher.upstreams.maturin import backend

    return {
        name: digest
        for name, digest in backend.pypi_digests(pin.version).items()
        if name.endswith(".whl")
    }


def record(upstream: str, version: str | None, *, url: str | None = None) -> list[str]:
    """Compute and write the shipped digests of one pinned release, or of every pinned one
    (newest first; a release that cannot be derived is reported and left as it was)."""
    known = pins.load_pins(upstream)
    versions = [version] if version else sorted(known, key=Version, reverse=True)
    said = []
    for name in versions:
        pin = pins.get_pin(upstream, name)
        try:
            if upstream == "pyo3":
                new = dataclasses.replace(pin, derived=pyo3_derived(pin))
            else:
                new = dataclasses.replace(
                    pin, derived=maturin_derived(pin, url), wheels=maturin_wheels(pin)
                )
        except PatcherError as exc:
            said.append(f"{upstream} {name}: not derived ({exc.message})")
            ui.warn(said[-1])
            continue
        if new != pin:
            pins.write_pin(new, replace=True)
        said.append(f"{upstream} {name}: {'recorded' if new != pin else 'unchanged'}")
    return said
