"""The digests the pins ship of what patcher derives (`refresh --digests`) are what derivation
gives now: a stale one would let a command skip deriving on a wrong premise, or (the usual
case, a patch changed without `refresh --digests`) silently lose the fast path."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import maturin_cache, maturin_entry

from patcher.maintainer import digests
from patcher.project import vendor
from patcher.upstreams import maturin, pins, variants
from patcher.upstreams.maturin import repack

# the example's releases (examples/hello-pyo3, and `maturin new` with pyo3 0.29)
DERIVED = [("pyo3", "0.28.3"), ("pyo3", "0.29.3"), ("maturin", "1.16.0")]


@pytest.mark.parametrize(("upstream", "version"), DERIVED)
def test_the_example_releases_ship_digests_for_the_current_patch(
    upstream: str, version: str
) -> None:
    pin = pins.get_pin(upstream, version)
    kind = "backend" if upstream == "maturin" else ""
    variant = variants.select_variant(upstream, version, kind)
    shipped = pin.derived_for(variant.name, variant.digest)
    assert shipped, (
        f"{upstream} {version}: no digests shipped for {variant.name} as it is now: run "
        f"`patcher refresh --digests {upstream}@{version}`"
    )
    if upstream == "pyo3":
        assert shipped["form"] == vendor.VENDORED_FORM


def test_every_shipped_digest_names_a_patch_of_ours() -> None:
    """A `derived` table for a patch that has changed since is never used: say so."""
    for upstream in ("pyo3", "maturin"):
        for version, pin in pins.load_pins(upstream).items():
            for name, table in pin.derived.items():
                current = {v.name: v.digest for v in variants.load_variants(upstream)}
                assert table.get("patch") == current.get(name), (
                    f"{upstream} {version}: the digests shipped for {name} are for another "
                    f"patch: run `patcher refresh --digests {upstream}@{version}`"
                )


@pytest.mark.parametrize("version", [v for u, v in DERIVED if u == "pyo3"])
def test_shipped_pyo3_digests_are_what_derivation_gives(version: str) -> None:
    pin = pins.get_pin("pyo3", version)
    assert digests.pyo3_derived(pin) == {k: dict(v) for k, v in pin.derived.items()}


def test_shipped_maturin_digests_are_what_derivation_gives() -> None:
    pin = pins.get_pin("maturin", "1.16.0")
    assert digests.maturin_derived(pin) == {k: dict(v) for k, v in pin.derived.items()}


@pytest.mark.slow
def test_the_repacked_wheel_is_what_wheel_pack_makes(tmp_path: Path) -> None:
    """The in-process repack against `wheel unpack` + `wheel pack --local-version`: the same
    members with the same bytes (METADATA aside, where wheel pack moves the Version line to
    the end; here it stays in place), the same RECORD lines, and the same bytes every time."""
    cache = maturin_cache(tmp_path / "cache")
    (published,) = (maturin_entry(cache) / "published").glob("*.whl")
    pin = pins.get_pin("maturin", "1.16.0")
    variant = variants.select_variant("maturin", "1.16.0", "backend")
    local = maturin.local_version(pin, variant).partition("+")[2]

    read = repack.read_published(published, "maturin/")
    files = {n: d for n, d in read.members.items() if n.startswith("maturin/")}
    (tmp_path / "scratch").mkdir()
    changed = maturin.patch_backend(variant, files, tmp_path / "scratch")
    outs = []
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
        outs.append(repack.repack(read, changed, local, tmp_path / run))
    assert outs[0].name == outs[1].name
    assert outs[0].read_bytes() == outs[1].read_bytes()

    def wheel(*args: str | Path) -> None:
        subprocess.run([sys.executable, "-m", "wheel", *map(str, args)], check=True)

    wheel("unpack", "-d", tmp_path / "unpacked", published)
    (tree,) = (tmp_path / "unpacked").iterdir()
    for name, data in changed.items():
        (tree / name).write_bytes(data)
    (tmp_path / "packed").mkdir()
    wheel("pack", "--local-version", local, "-d", tmp_path / "packed", tree)
    (reference,) = (tmp_path / "packed").glob("*.whl")
    assert reference.name == outs[0].name

    with zipfile.ZipFile(outs[0]) as ours, zipfile.ZipFile(reference) as theirs:
        assert ours.testzip() is None
        assert sorted(ours.namelist()) == sorted(theirs.namelist())
        for name in ours.namelist():
            if name.endswith("/METADATA"):
                assert sorted(ours.read(name).splitlines()) == sorted(
                    theirs.read(name).splitlines()
                )
            elif name.endswith("/RECORD"):
                mine = set(ours.read(name).decode().splitlines())
                packed = set(theirs.read(name).decode().splitlines())
                metadata = {line for line in mine ^ packed if "/METADATA," in line}
                assert mine ^ packed == metadata  # METADATA's hash: its line order
            else:
                assert ours.read(name) == theirs.read(name), name
            if not name.endswith("/RECORD"):  # wheel pack's RECORD takes the umask's mode
                assert ours.getinfo(name).external_attr == theirs.getinfo(name).external_attr
