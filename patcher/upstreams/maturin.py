"""maturin: which release a project's build gets, its source tree for a pin, the patched
wheel, and the behaviour check.

Source: the pinned git tree, else the crate published from the pinned commit (maturin's crate
carries setup.py, pyproject.toml and Cargo.lock; `Cargo.toml.orig` put back as `Cargo.toml`
gives the repository's files; vendor/notes/maturin.md). The wheel: the tree patched, given
the PEP 440 local version `X+pyo3patcher.<variant>` (Cargo.toml and maturin's own Cargo.lock
entry, since setup.py builds `--locked`), built with pip, retagged py3-none (the payload is a
plain executable); cached per (release, variant digest, platform).

The check: the patched tree built as its wheel is (release, no default features, locked), and
that binary's `maturin build -i <venv python>` of a probe project whose build script prints
what cargo got: PYO3_BASE_PYTHON must be the base interpreter, PYO3_PYTHON the venv's. A
stand-in `pyo3-ffi` path crate makes maturin take its pyo3 path without compiling pyo3.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from patcher import cache, cargo, proc, trees, ui
from patcher.errors import PatchError, ProjectError, SourceError, UnsupportedRelease
from patcher.upstreams import pins, sources, variants
from patcher.upstreams.base import Upstream
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant

LOCAL_PREFIX = "pyo3patcher"
# what `cargo package` adds to a crate; the repository has none of them
_PACKAGING_LEFTOVERS = (".cargo_vcs_info.json", ".cargo-ok", "Cargo.toml.orig")


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


# --- which release a project's build gets ---------------------------------------------------


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


def wanted_version(requires: tuple[str, ...], pinned: str | None = None) -> str:
    """The local version of the patched maturin the project's isolated builds get ("" when
    it does not build with maturin); raises when no pinned release will do."""
    pin = choose_release(requires, pinned)
    if pin is None:
        return ""
    return local_version(pin, variants.select_variant("maturin", pin.version))


# --- the source tree ----------------------------------------------------------------------


def target_dir() -> Path:
    """cargo's target dir for maturin builds and checks, shared across releases."""
    return cache.root() / "maturin-target"


def _platform() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def _crate_tree(pin: Pin, dest: Path) -> None:
    """The crate published from the pinned commit, as the repository had it."""
    ((crate, _path),) = sources.published_crates(pin, ("maturin",)).values()
    missing = [
        n for n in ("setup.py", "Cargo.lock", "Cargo.toml.orig") if not (crate / n).is_file()
    ]
    if missing:
        raise SourceError(
            f"the maturin {pin.version} crate lacks {', '.join(missing)}",
            hint="this release cannot be built from its crate; use the git source (a mirror)",
        )
    trees.copy_tree(crate, dest)
    (dest / "Cargo.toml.orig").replace(dest / "Cargo.toml")
    for name in _PACKAGING_LEFTOVERS:
        (dest / name).unlink(missing_ok=True)


def pristine(pin: Pin, *, url: str | None = None, offline: bool = False) -> tuple[Path, str]:
    """maturin's source tree at `pin` and where it came from: git first, then the crate
    published from the pin."""
    entry = cache.root() / "pristine" / f"maturin-{pin.version}-{pin.commit[:12]}"
    with cache.exclusive(entry):
        marker = entry / "origin"
        if marker.is_file() and (entry / "tree").is_dir():
            origin = marker.read_text("utf-8").strip()
            if origin in ("git", "crates.io"):
                return entry / "tree", origin
        if entry.exists() or entry.is_symlink():
            cache.discard(entry, "is incomplete")
        if offline:
            raise SourceError(
                f"maturin {pin.version} is not in the cache and --offline was given",
                hint=f"run once without --offline to fill the cache at {cache.root()}",
            )
        url = url or UPSTREAM.url()
        try:
            with cache.building(entry) as tmp:
                sources.export_pinned(pin, url, tmp / "tree")
                (tmp / "origin").write_text("git\n", encoding="utf-8")
            ui.say(f"maturin {pin.version}: source is git {url} @ {pin.commit[:12]}")
        except SourceError as exc:
            ui.warn(
                f"git source unavailable ({exc.message}); FALLING BACK to the crate on "
                f"crates.io, verified to be published from {pin.commit[:12]}"
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
    roots = [p for p in lock_doc["package"] if p["name"] == "maturin" and "source" not in p]
    if len(roots) != 1:
        raise SourceError(
            "cannot find maturin's own entry in its Cargo.lock",
            hint="this maturin tree is not laid out as a release; use another source",
        )
    roots[0]["version"] = version
    lock.write_text(tomlkit.dumps(lock_doc), encoding="utf-8")


def patched_tree(pin: Pin, variant: Variant, dest: Path, *, url: str | None = None) -> None:
    """The release `pin` with `variant` applied, in `dest`."""
    tree, _origin = pristine(pin, url=url)
    trees.copy_tree(tree, dest)
    variants.apply(variants.check_patch(variant), dest)


# --- the patched wheel ----------------------------------------------------------------------


def build_wheel(pin: Pin, *, url: str | None = None, offline: bool = False) -> MaturinBuild:
    """The patched maturin wheel for `pin`, built once per (release, variant, platform)."""
    variant = variants.select_variant("maturin", pin.version)
    version = local_version(pin, variant)
    entry = cache.root() / "maturin-wheels" / f"{version}-{variant.digest[:12]}-{_platform()}"
    with cache.exclusive(entry):
        found = sorted(entry.glob("maturin-*.whl")) if entry.is_dir() else []
        if found:
            return MaturinBuild(pin, variant, found[0])
        pristine(pin, url=url, offline=offline)  # fetched (or found) before the long part
        ui.say(f"building patched maturin {version} (minimal features; takes minutes, once)")
        with (
            tempfile.TemporaryDirectory(prefix="patcher-maturin-") as tmp,
            cache.building(entry) as out,
        ):
            work = Path(tmp) / "src"
            patched_tree(pin, variant, work, url=url)
            set_version(work, version)
            wheel = _retag_py3_none(_pip_wheel(work, Path(tmp) / "built", version))
            shutil.move(str(wheel), str(out / wheel.name))
        return MaturinBuild(pin, variant, next(entry.glob("maturin-*.whl")))


def _pip_wheel(tree: Path, out: Path, version: str) -> Path:
    proc.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, tree],
        cwd=tree.parent,
        what=f"the build of patched maturin {version} failed",
        env={"MATURIN_NO_INSTALL_RUST": "1", "CARGO_TARGET_DIR": str(target_dir())},
    )
    (wheel,) = out.glob("maturin-*.whl")
    return wheel


def _retag_py3_none(wheel: Path) -> Path:
    """setuptools-rust tags the wheel for the building CPython; its payload is a plain
    executable, so it installs on any Python of the platform."""
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
        what="retagging the maturin wheel failed",
    )
    (retagged,) = wheel.parent.glob("maturin-*.whl")
    return retagged


def build_for_project(
    requires: tuple[str, ...],
    pinned: str | None,
    *,
    url: str | None = None,
    offline: bool = False,
) -> MaturinBuild:
    """The patched maturin a project's isolated builds get (built once, cached); `url` is
    the project's maturin-url setting."""
    pin = choose_release(requires, pinned)
    if pin is None:
        raise ProjectError(
            "the project does not build with maturin ([build-system] requires)",
            hint="patcher env is for maturin projects",
        )
    return build_wheel(pin, url=UPSTREAM.url(url), offline=offline)


# --- the behaviour check ------------------------------------------------------------------

_PROBE = {
    "Cargo.toml": '[package]\nname = "probe"\nversion = "0.0.0"\nedition = "2021"\n\n'
    '[lib]\ncrate-type = ["cdylib"]\npath = "lib.rs"\n\n'
    '[dependencies]\npyo3-ffi = { path = "pyo3-ffi" }\n',
    "pyproject.toml": '[build-system]\nrequires = ["maturin>=1,<2"]\nbuild-backend = "maturin"\n'
    '\n[project]\nname = "probe"\nversion = "0.0.0"\n',
    "build.rs": "fn main() {\n"
    '    for name in ["PYO3_PYTHON", "PYO3_BASE_PYTHON"] {\n'
    "        let value = std::env::var(name).unwrap_or_default();\n"
    '        println!("cargo:warning=probe {}={}", name, value);\n'
    "    }\n}\n",
    "lib.rs": '#[no_mangle]\npub extern "C" fn PyInit_probe() {}\n',
    "pyo3-ffi/Cargo.toml": '[package]\nname = "pyo3-ffi"\nversion = "0.28.3"\n'
    'edition = "2021"\n\n[lib]\npath = "lib.rs"\n',
    "pyo3-ffi/lib.rs": "",
}


def write_probe(dest: Path) -> None:
    for name, text in _PROBE.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text, encoding="utf-8")


def probe_said(output: str) -> dict[str, str]:
    """What the probe's build script printed of PYO3_PYTHON and PYO3_BASE_PYTHON."""
    return {k: v.strip() for k, v in re.findall(r"probe (PYO3_\w+)=(.*)", output)}


def check_tree(version: str, tree: Path, target: Path) -> str:
    """Build the patched maturin source `tree`; raise PatchError unless the binary gives
    cargo the base interpreter in PYO3_BASE_PYTHON and leaves PYO3_PYTHON the venv's."""
    hint = "the variant compiles but does not behave: fix it before it is pinned"
    cargo.run(
        ["build", "--release", "--no-default-features", "--locked", "--bin", "maturin"],
        cwd=tree,
        env={"CARGO_TARGET_DIR": str(target)},
        what=f"compile check of patched maturin {version}",
    )
    binary = target / "release" / ("maturin.exe" if os.name == "nt" else "maturin")
    base = proc.base_python()
    with tempfile.TemporaryDirectory(prefix="patcher-probe-") as tmp:
        work = Path(tmp)
        venv_python = proc.make_venv(work / "venv")
        write_probe(work / "probe")
        built = proc.run(
            [binary, "build", "-i", venv_python, "--out", work / "wheels"],
            cwd=work / "probe",
            env={"CARGO_TARGET_DIR": str(work / "target")},
            unset=("PYO3_BASE_PYTHON", "PYO3_PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX"),
            what=f"probe build with patched maturin {version}",
        )
        seen = probe_said(built.stdout + built.stderr)
        if os.path.realpath(seen.get("PYO3_PYTHON", "")) != os.path.realpath(venv_python):
            raise PatchError(
                f"patched maturin {version} gave cargo PYO3_PYTHON={seen.get('PYO3_PYTHON')!r}, "
                f"expected the venv's {venv_python}",
                hint=hint,
            )
        if seen.get("PYO3_BASE_PYTHON") != base:
            raise PatchError(
                f"patched maturin {version} gave cargo "
                f"PYO3_BASE_PYTHON={seen.get('PYO3_BASE_PYTHON')!r}, expected {base}",
                hint=hint,
            )
    return "builds; cargo gets PYO3_BASE_PYTHON (base) and PYO3_PYTHON (venv)"


class Maturin(Upstream):
    name = "maturin"
    default_url = "https://github.com/PyO3/maturin.git"
    published_crate = "maturin"
    default_check = "ends"  # a check builds maturin: minutes
    matrix_preamble = (
        "*applies*: `git apply` of the variant to the release's source (zero fuzz; `offset` gives",
        "how far the hunk moved). *checked*: the patched tree builds as its wheel does (`cargo",
        "build --release --no-default-features --locked`), and that binary's `maturin build -i",
        "<venv python>` of a probe project hands cargo `PYO3_BASE_PYTHON` = the base interpreter",
        "and `PYO3_PYTHON` = the venv's (`-`: not checked; by default the first and last release",
        "each variant claims and the newest release). *source*: git (the pinned commit) or the",
        "crate on crates.io whose `.cargo_vcs_info.json` names that commit. That pyo3 then stays",
        "fresh across isolated builds is shown end to end by tests/test_isolated_builds.py.",
    )

    def stage_files(
        self, pin: Pin, files: tuple[str, ...], dest: Path, *, url: str, source: str
    ) -> str:
        del source  # maturin's source is git, then the published crate, always
        tree, origin = pristine(pin, url=url)
        for name in files:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tree / name, dest / name)
        return origin

    def check(self, pin: Pin, variant: Variant, *, url: str, source: str) -> str:
        del source
        with tempfile.TemporaryDirectory(prefix="patcher-check-") as tmp:
            work = Path(tmp) / "src"
            patched_tree(pin, variant, work, url=url)
            return check_tree(pin.version, work, target_dir())


UPSTREAM = Maturin()
