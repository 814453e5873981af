"""The maturin half: pick the release a project's build needs, patch it, build it into a
wheel once per (release, variant, patch digest, platform), and tell frontends to use it.

Recipe (vendor/notes/maturin.md): the pinned git tree (or the crate published from it) has
setup.py, which reads the wheel version from Cargo.toml and builds with `cargo --locked
--no-default-features`; we give the tree a PEP 440 local version `X+pyo3patcher.<variant>`
(Cargo.toml and the root entry of Cargo.lock) so the wheel cannot be mistaken for the
published one, build it with pip, and retag it py3-none (the payload is a plain executable).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from patcher import cache, cargo, patches, pins, proc, sources, trees
from patcher.errors import ProjectError, SourceError, UnsupportedRelease
from patcher.pins import Pin
from patcher.project.discovery import Project

LOCAL_PREFIX = "pyo3patcher"


@dataclasses.dataclass(frozen=True)
class MaturinBuild:
    pin: Pin
    variant: patches.Variant
    wheel: Path

    @property
    def local_version(self) -> str:
        return local_version(self.pin, self.variant)


def local_version(pin: Pin, variant: patches.Variant) -> str:
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
                f"[build-system] requires has an invalid entry {text!r}: {exc}"
            ) from exc
        if canonicalize_name(req.name) == "maturin":
            wanted = req
    if wanted is None:
        return None
    known = pins.load_pins("maturin")
    if pinned is not None:
        pin = pins.get_pin("maturin", pinned)
        if not wanted.specifier.contains(Version(pinned), prereleases=True):
            raise ProjectError(
                f"[tool.pyo3-patcher] maturin = {pinned!r} does not satisfy "
                f"the build requirement {wanted}"
            )
        return pin
    for version in sorted(known, key=Version, reverse=True):
        if wanted.specifier.contains(Version(version)):
            return known[version]
    raise UnsupportedRelease(
        f"no maturin release pinned by this patcher satisfies {wanted} "
        f"(supported: {pins.supported_range('maturin')})",
        hint="widen the maturin requirement in [build-system] requires, or upgrade pyo3-patcher",
    )


def wanted_version(project: Project) -> str:
    """The local version of the patched maturin the project's isolated builds should get
    ("" when it does not build with maturin); raises when no pinned release will do."""
    pin = choose_release(project.build_requires, project.config.maturin)
    if pin is None:
        return ""
    return local_version(pin, patches.select_variant("maturin", pin.version))


def target_dir() -> Path:
    """cargo's target dir for maturin builds and checks, shared across releases."""
    return cache.root() / "maturin-target"


def _platform() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


# what `cargo package` adds to a crate; the repository has none of them
_PACKAGING_LEFTOVERS = (".cargo_vcs_info.json", ".cargo-ok", "Cargo.toml.orig")


def _crate_tree(pin: Pin, dest: Path) -> None:
    """The crate published from the pinned commit, as the repository had it: maturin's crate
    carries setup.py, pyproject.toml and Cargo.lock; `Cargo.toml.orig` is the repository's
    manifest (the PyPI sdist is exactly this, except for 1.8.4, whose sdist came from other
    sources)."""
    crate = cargo.download_crates({"maturin": pin.version})["maturin"]
    info = json.loads((crate / ".cargo_vcs_info.json").read_text("utf-8"))
    sha = info["git"]["sha1"]
    if sha != pin.commit or info["git"].get("dirty"):
        raise SourceError(
            f"published maturin {pin.version} was built from {sha}"
            f"{' (dirty)' if info['git'].get('dirty') else ''}, the pin says {pin.commit}"
        )
    missing = [
        n for n in ("setup.py", "Cargo.lock", "Cargo.toml.orig") if not (crate / n).is_file()
    ]
    if missing:
        raise SourceError(f"the maturin {pin.version} crate lacks {', '.join(missing)}")
    trees.copy_tree(crate, dest)
    (dest / "Cargo.toml.orig").replace(dest / "Cargo.toml")
    for name in _PACKAGING_LEFTOVERS:
        (dest / name).unlink(missing_ok=True)


def pristine_maturin(
    pin: Pin, *, url: str | None = None, offline: bool = False
) -> tuple[Path, str]:
    """maturin's source tree at `pin`: git first, then the crate published from the pin."""
    entry = cache.root() / "pristine" / f"maturin-{pin.version}-{pin.commit[:12]}"
    with cache.locked(entry):
        marker = entry / "origin"
        if marker.is_file():
            return entry / "tree", marker.read_text("utf-8").strip()
        if offline:
            raise SourceError(f"maturin {pin.version} is not in the cache and --offline was given")
        url = url or sources.upstream_url("maturin")
        try:
            with cache.building(entry) as tmp:
                sources.export_pinned(pin, url, tmp / "tree")
                (tmp / "origin").write_text("git\n", encoding="utf-8")
            print(
                f"maturin {pin.version}: source is git {url} @ {pin.commit[:12]}", file=sys.stderr
            )
        except SourceError as exc:
            print(
                f"warning: git source unavailable ({exc.message}); FALLING BACK to the crate "
                f"on crates.io, verified to be published from {pin.commit[:12]}",
                file=sys.stderr,
            )
            with cache.building(entry) as tmp:
                _crate_tree(pin, tmp / "tree")
                (tmp / "origin").write_text("crates.io\n", encoding="utf-8")
        return entry / "tree", (entry / "origin").read_text("utf-8").strip()


def set_version(tree: Path, version: str) -> None:
    """Give a maturin source tree another version, in Cargo.toml and Cargo.lock alike (its
    builds are `--locked`)."""
    manifest = tree / "Cargo.toml"
    doc = tomlkit.parse(manifest.read_text("utf-8"))
    doc["package"]["version"] = version
    manifest.write_text(tomlkit.dumps(doc), encoding="utf-8")
    lock = tree / "Cargo.lock"
    lock_doc = tomlkit.parse(lock.read_text("utf-8"))
    packages = lock_doc["package"]
    roots = [p for p in packages if p["name"] == "maturin" and "source" not in p]
    if len(roots) != 1:
        raise SourceError("cannot find maturin's own entry in its Cargo.lock")
    roots[0]["version"] = version
    lock.write_text(tomlkit.dumps(lock_doc), encoding="utf-8")


def build_wheel(pin: Pin, *, offline: bool = False) -> MaturinBuild:
    variant = patches.select_variant("maturin", pin.version)
    version = local_version(pin, variant)
    entry = cache.root() / "maturin-wheels" / f"{version}-{variant.digest[:12]}-{_platform()}"
    with cache.locked(entry):
        found = sorted(entry.glob("maturin-*.whl")) if entry.is_dir() else []
        if found:
            return MaturinBuild(pin, variant, found[0])
        tree, _origin = pristine_maturin(pin, offline=offline)
        checked = patches.check_patch(variant)
        print(
            f"building patched maturin {version} (minimal features; takes minutes, once)",
            file=sys.stderr,
        )
        with (
            tempfile.TemporaryDirectory(prefix="patcher-maturin-") as tmp,
            cache.building(entry) as out,
        ):
            work = Path(tmp) / "src"
            trees.copy_tree(tree, work)
            patches.apply(checked, work)
            set_version(work, version)
            built = Path(tmp) / "built"
            proc.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", built, work],
                cwd=Path(tmp),
                what=f"build of patched maturin {version}",
                env={
                    "MATURIN_NO_INSTALL_RUST": "1",
                    "CARGO_TARGET_DIR": str(target_dir()),
                },
            )
            (wheel,) = built.glob("maturin-*.whl")
            proc.run(
                [
                    sys.executable,
                    "-m",
                    "wheel",
                    "tags",
                    "--python-tag",
                    "py3",
                    "--abi-tag",
                    "none",
                    "--remove",
                    wheel,
                ],
                what="wheel retag",
            )
            (retagged,) = built.glob("maturin-*.whl")
            shutil.move(str(retagged), str(out / retagged.name))
        return MaturinBuild(pin, variant, next(entry.glob("maturin-*.whl")))


def build_for_project(project: Project, *, offline: bool = False) -> MaturinBuild:
    """The patched maturin a project's isolated builds should get (built once, cached)."""
    pin = choose_release(project.build_requires, project.config.maturin)
    if pin is None:
        raise ProjectError(
            "the project does not build with maturin ([build-system] requires)",
            hint="patcher env is for maturin projects",
        )
    return build_wheel(pin, offline=offline)


def frontend_env(build: MaturinBuild, existing: dict[str, str]) -> dict[str, str]:
    """Environment that makes pip, `python -m build` (through pip or uv) and uv install our
    wheel into their isolated build environments."""
    wheel_dir = build.wheel.parent
    constraints = wheel_dir / "constraints.txt"
    if not constraints.exists():
        constraints.write_text(f"maturin=={build.local_version}\n", encoding="utf-8")
    find_links = " ".join(p for p in (str(wheel_dir), existing.get("PIP_FIND_LINKS", "")) if p)
    return {
        # pip passes these on to the pip that fills its build environment
        "PIP_FIND_LINKS": find_links,
        "PIP_CONSTRAINT": str(constraints),
        "PIP_BUILD_CONSTRAINT": str(constraints),
        # uv reads its own
        "UV_FIND_LINKS": str(wheel_dir),
        "UV_BUILD_CONSTRAINT": str(constraints),
    }
