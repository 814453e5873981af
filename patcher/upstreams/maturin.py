"""maturin: which release a project's build gets, the patched maturin for it, and the checks.

Two kinds of change (patches/maturin/variants.toml), one script: both find the base
interpreter of the build's Python and accept only the same Python.

* backend (the default): maturin's PEP 517 backend, `maturin/__init__.py`, where the
  throwaway build venv is born, exports PYO3_BASE_PYTHON for every frontend. The patched
  maturin is the wheel published on PyPI for this platform, its Python files checked against
  the sha256 the pin records for the pinned commit, that one file patched, and repacked with
  the local version `X+pyo3patcher.<variant>` (RECORD rewritten). Seconds, no Rust build.
* compiled (opt-in, `maturin-patch = "compiled"`): the maturin binary itself, for `maturin
  build` / `maturin develop` run by hand across venvs. Built from the pinned source (git,
  else the crate published from the pin: it carries setup.py, pyproject.toml and Cargo.lock,
  and `Cargo.toml.orig` put back gives the repository's files), with the local version in
  Cargo.toml and maturin's Cargo.lock entry (setup.py builds `--locked`), retagged py3-none.

Either wheel is cached per (release, variant digest, platform).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from patcher import cache, cargo, proc, trees, ui
from patcher.errors import PatchError, ProjectError, SourceError, UnsupportedRelease
from patcher.upstreams import pins, sources, variants
from patcher.upstreams.base import Upstream
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant

LOCAL_PREFIX = "pyo3patcher"
KINDS = ("backend", "compiled")
DEFAULT_KIND = "backend"
BACKEND_DIR = "maturin"  # the Python package of the PEP 517 backend, in the repo and wheels
# what `cargo package` adds to a crate; the repository has none of them
_PACKAGING_LEFTOVERS = (".cargo_vcs_info.json", ".cargo-ok", "Cargo.toml.orig")
# what must not steer the pip that downloads the published wheel (our own wheel dir, say)
_PIP_STEERING = ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_BUILD_CONSTRAINT", "PIP_NO_INDEX")


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


def wanted_version(
    requires: tuple[str, ...], pinned: str | None = None, kind: str = DEFAULT_KIND
) -> str:
    """The local version of the patched maturin the project's isolated builds get ("" when
    it does not build with maturin); raises when no pinned release will do."""
    pin = choose_release(requires, pinned)
    if pin is None:
        return ""
    return local_version(pin, variants.select_variant("maturin", pin.version, kind))


def build_for_project(
    requires: tuple[str, ...],
    pinned: str | None,
    *,
    kind: str = DEFAULT_KIND,
    url: str | None = None,
    offline: bool = False,
) -> MaturinBuild:
    """The patched maturin a project's isolated builds get (made once, cached); `url` is the
    project's maturin-url setting (the compiled kind builds from source)."""
    pin = choose_release(requires, pinned)
    if pin is None:
        raise ProjectError(
            "the project does not build with maturin ([build-system] requires)",
            hint="patcher env is for maturin projects",
        )
    if kind == "compiled":
        return compiled_wheel(pin, url=UPSTREAM.url(url), offline=offline)
    return backend_wheel(pin, offline=offline)


def _platform() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def _wheel_entry(version: str, variant: Variant) -> Path:
    return cache.root() / "maturin-wheels" / f"{version}-{variant.digest[:12]}-{_platform()}"


def _cached_wheel(entry: Path) -> Path | None:
    """The wheel of a cache entry, if whole: its recorded sha256 must match."""

    def parse(meta: Any) -> tuple[str, str]:
        name, digest = str(meta["wheel"]), str(meta["sha256"])
        if "/" in name or not name.endswith(".whl"):
            raise ValueError("unexpected wheel name")
        return name, digest

    found = cache.read_entry(entry, "wheel.json", parse)
    if found is None:
        return None
    wheel = entry / found[0]
    if not wheel.is_file() or _sha256(wheel) != found[1]:
        cache.discard(entry, "has a wheel that does not match its digest")
        return None
    return wheel


def _record_wheel(out: Path, wheel: Path, **extra: str) -> None:
    meta = {"wheel": wheel.name, "sha256": _sha256(wheel), **extra}
    (out / "wheel.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _wheel_once(pin: Pin, kind: str, make: Callable[[Variant, str, Path], None]) -> MaturinBuild:
    """The patched wheel of `kind` for `pin` from the cache, else `make(variant, local
    version, entry)` stages it into the entry; under the entry's lock either way."""
    variant = variants.select_variant("maturin", pin.version, kind)
    version = local_version(pin, variant)
    entry = _wheel_entry(version, variant)
    with cache.exclusive(entry):
        found = _cached_wheel(entry)
        if found is None:
            make(variant, version, entry)
            found = cache.made(_cached_wheel(entry), entry)
        return MaturinBuild(pin, variant, found)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the backend wheel: the published wheel, its backend patched ------------------------------


def backend_wheel(pin: Pin, *, offline: bool = False) -> MaturinBuild:
    """maturin `pin` as published on PyPI for this platform, with the backend patch.

    Each time it is handed out, the published wheel the cache keeps must have PyPI's sha256
    for its file name (read over HTTPS) and its backend files the pin's digests, and the
    patched wheel is derived from it again: a cached wheel is used only if it holds exactly
    what that derivation gives (a wheel and its recorded sha256 changed together in the cache
    are thrown away). Without the network nothing can vouch for the cached wheel: refused."""
    variant = variants.select_variant("maturin", pin.version, "backend")
    version = local_version(pin, variant)
    entry = _wheel_entry(version, variant)
    if offline:
        raise SourceError(
            f"the patched maturin {version} cannot be checked against PyPI's sha256 with --offline",
            hint="run `patcher env` without --offline: the wheel is checked against the digest "
            "PyPI publishes each time it is handed out (from the cache when it is there)",
        )
    digests = _pypi_digests(pin.version)
    with cache.exclusive(entry), tempfile.TemporaryDirectory(prefix="patcher-maturin-") as tmp:
        published = _cached_published(entry, digests)
        if published is None:
            published = download_wheel(pin, Path(tmp) / "download")
            if digests.get(published.name) != _sha256(published):
                raise SourceError(
                    f"the downloaded {published.name} does not have the sha256 PyPI publishes "
                    "for it",
                    hint="check your pip index configuration (it serves another file under "
                    "that name); patcher patches only PyPI's wheel",
                )
        tree = _unpack(published, Path(tmp) / "unpacked")
        verify_backend(pin, tree)
        variants.apply(variants.check_patch(variant), tree)
        (Path(tmp) / "packed").mkdir()
        fresh = _pack(tree, Path(tmp) / "packed", version.partition("+")[2])
        cached = entry / fresh.name
        if (
            not (cached.is_file() and not cached.is_symlink() and _same_members(cached, fresh))
            or _cached_published(entry, digests) is None
        ):
            with cache.building(entry) as out:
                shutil.copyfile(fresh, out / fresh.name)
                (out / "published").mkdir()
                shutil.copyfile(published, out / "published" / published.name)
                _record_wheel(
                    out,
                    out / fresh.name,
                    published=published.name,
                    published_sha256=_sha256(published),
                )
        return MaturinBuild(pin, variant, entry / fresh.name)


def _pypi_digests(version: str) -> dict[str, str]:
    """file name -> sha256 of every file PyPI publishes for maturin `version` (its JSON
    simple index, PEP 691, over HTTPS)."""
    data = sources.https_get(
        "https://pypi.org/simple/maturin/",
        what="PyPI's digests of maturin",
        accept="application/vnd.pypi.simple.v1+json",
    )
    try:
        files = json.loads(data)["files"]
        return {
            str(f["filename"]): str(f["hashes"]["sha256"])
            for f in files
            if isinstance(f, dict) and f"-{version}-" in str(f.get("filename", ""))
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(
            "PyPI's index of maturin could not be read", hint="check the network and retry"
        ) from exc


def _cached_published(entry: Path, digests: dict[str, str]) -> Path | None:
    """The published wheel kept in the entry, if it has PyPI's sha256 for its name."""
    folder = entry / "published"
    if entry.is_symlink() or folder.is_symlink() or not folder.is_dir():
        return None
    for wheel in folder.glob("*.whl"):
        if not wheel.is_symlink() and wheel.is_file() and digests.get(wheel.name) == _sha256(wheel):
            return wheel
    return None


def _same_members(one: Path, other: Path) -> bool:
    """Whether two wheels hold the same files with the same bytes (zip timestamps aside)."""
    try:
        with zipfile.ZipFile(one) as a, zipfile.ZipFile(other) as b:
            names = sorted(a.namelist())
            return names == sorted(b.namelist()) and all(
                a.read(name) == b.read(name) for name in names
            )
    except (OSError, zipfile.BadZipFile):
        return False


def download_wheel(pin: Pin, dest: Path) -> Path:
    """The wheel PyPI (or the user's index) publishes of maturin `pin` for this platform."""
    with ui.progress(f"downloading maturin {pin.version} from PyPI"):
        proc.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
                dest,
                f"maturin=={pin.version}",
            ],
            unset=_PIP_STEERING,
            what=f"pip could not download the maturin {pin.version} wheel",
            hint="check that PyPI (or your index) is reachable; where maturin publishes no "
            'wheel for this platform, set [tool.pyo3-patcher] maturin-patch = "compiled"',
        )
    found = sorted(dest.glob("*.whl"))
    if len(found) != 1 or parse_wheel_filename(found[0].name)[1] != Version(pin.version):
        raise SourceError(
            f"pip did not download the wheel of maturin {pin.version} ({[p.name for p in found]})",
            hint="check your pip configuration (an index or find-links that serves another "
            "maturin)",
        )
    return found[0]


def _unpack(wheel: Path, dest: Path) -> Path:
    proc.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", dest, wheel],
        what=f"could not unpack {wheel.name}",
        hint="the download may be damaged: run again",
    )
    (tree,) = dest.iterdir()
    return tree


def _pack(tree: Path, out: Path, local: str) -> Path:
    """Repack with the local version `local`: dist-info, data dir, METADATA and RECORD."""
    proc.run(
        [sys.executable, "-m", "wheel", "pack", "--local-version", local, "-d", out, tree],
        what="could not repack the maturin wheel",
        hint="pyo3-patcher needs wheel >= 0.48 (`pip install -U wheel`)",
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def backend_files(tree: Path) -> dict[str, str]:
    """sha256 of the Python files of maturin's backend in a source tree or unpacked wheel."""
    package = tree / BACKEND_DIR
    return {f"{BACKEND_DIR}/{path.name}": _sha256(path) for path in sorted(package.glob("*.py"))}


def verify_backend(pin: Pin, tree: Path) -> None:
    """The Python files of the published wheel must be the pinned commit's."""
    if not pin.files:
        raise SourceError(
            f"the pin of maturin {pin.version} records no backend files to check the wheel with",
            hint=f"maintainers record them with `patcher refresh --upstream maturin@{pin.version}`",
        )
    found = backend_files(tree)
    if found != dict(pin.files):
        differ = sorted(
            k for k in found.keys() | pin.files.keys() if found.get(k) != pin.files.get(k)
        )
        raise SourceError(
            f"the published maturin {pin.version} wheel differs from the pinned commit in "
            f"{', '.join(differ)}",
            hint="refusing to patch a wheel that is not the pinned release; check your index",
        )


# --- the compiled wheel: maturin built from its patched source --------------------------------


def target_dir() -> Path:
    """cargo's target dir for maturin builds and checks, shared across releases."""
    return cache.root() / "maturin-target"


def _crate_tree(pin: Pin, dest: Path, *, offline: bool = False) -> None:
    """The crate published from the pinned commit (its crates.io checksum checked), as the
    repository had it."""
    with tempfile.TemporaryDirectory(prefix="patcher-crate-") as tmp:
        ((crate, _path),) = sources.published_crates(
            pin, ("maturin",), Path(tmp), offline=offline
        ).values()
        needed = ("setup.py", "Cargo.lock", "Cargo.toml.orig")
        missing = [name for name in needed if not (crate / name).is_file()]
        if missing:
            raise SourceError(
                f"the maturin {pin.version} crate lacks {', '.join(missing)}",
                hint="this release cannot be built from its crate; use the git source (a mirror)",
            )
        trees.copy_tree(crate, dest)
    (dest / "Cargo.toml.orig").replace(dest / "Cargo.toml")
    for name in _PACKAGING_LEFTOVERS:
        (dest / name).unlink(missing_ok=True)


_PRISTINE: dict[tuple[str, str, str, bool], tuple[Path, str]] = {}


def pristine(pin: Pin, *, url: str | None = None, offline: bool = False) -> tuple[Path, str]:
    """maturin's source tree at `pin` and where it came from: git first, then the crate
    published from the pin (sources.pristine: the protocol pyo3's crates use too), derived
    in this process from the anchored source."""
    url = url or UPSTREAM.url()
    key = (pin.version, pin.commit, url, offline)
    if key not in _PRISTINE:

        def from_git(checkout: Path, dest: Path) -> None:
            shutil.copytree(checkout, dest, symlinks=True)

        def from_registry(dest: Path) -> None:
            _crate_tree(pin, dest, offline=offline)

        _PRISTINE[key] = sources.pristine(
            pin,
            source="auto",
            url=url,
            offline=offline,
            from_git=from_git,
            from_registry=from_registry,
        )
    return _PRISTINE[key]


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


def compiled_wheel(pin: Pin, *, url: str | None = None, offline: bool = False) -> MaturinBuild:
    """The patched maturin binary as a wheel, built once per (release, variant, platform)."""

    def make(variant: Variant, version: str, entry: Path) -> None:
        pristine(pin, url=url, offline=offline)  # fetched (or found) before the long part
        with (
            tempfile.TemporaryDirectory(prefix="patcher-maturin-") as tmp,
            cache.building(entry) as out,
            ui.progress(f"building patched maturin {version} from source (minutes, once)"),
        ):
            work = Path(tmp) / "src"
            patched_tree(pin, variant, work, url=url)
            set_version(work, version)
            wheel = _retag_py3_none(_pip_wheel(work, Path(tmp) / "built", version))
            shutil.move(str(wheel), str(out / wheel.name))
            _record_wheel(out, out / wheel.name)

    return _wheel_once(pin, "compiled", make)


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


# --- the behaviour checks -----------------------------------------------------------------

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
_MISBEHAVES = "the variant applies but does not behave: fix it before it is pinned"
# a maturin stand-in for the backend check: it says what the backend handed it, and
# answers with a wheel path, as `maturin pep517 build-wheel` does
_FAKE_MATURIN = """#!/bin/sh
printf 'probe PYO3_BASE_PYTHON=%s\\n' "${PYO3_BASE_PYTHON-<unset>}" >&2
touch "$PROBE_OUT/probe-0.0.0-py3-none-any.whl"
echo "$PROBE_OUT/probe-0.0.0-py3-none-any.whl"
"""


def write_probe(dest: Path) -> None:
    for name, text in _PROBE.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text, encoding="utf-8")


def probe_said(output: str) -> dict[str, str]:
    """What the probe printed of PYO3_PYTHON and PYO3_BASE_PYTHON."""
    return {k: v.strip() for k, v in re.findall(r"probe (PYO3_\w+)=(.*)", output)}


def check_backend(pin: Pin, variant: Variant, *, url: str | None = None) -> str:
    """Run the patched backend's build_wheel hook in a venv, with a maturin stand-in that
    says what it got: PYO3_BASE_PYTHON must be the base interpreter, also when an unusable
    value is inherited, and an empty value (an opt-out) must stay empty."""
    base = proc.base_python()
    with tempfile.TemporaryDirectory(prefix="patcher-probe-") as tmp:
        work = Path(tmp)
        tree, _origin = pristine(pin, url=url)
        shutil.copytree(tree / BACKEND_DIR, work / "pkg" / BACKEND_DIR)
        variants.apply(variants.check_patch(variant), work / "pkg")
        (work / "bin").mkdir()
        (work / "bin" / "maturin").write_text(_FAKE_MATURIN, encoding="utf-8")
        (work / "bin" / "maturin").chmod(0o755)
        write_probe(work / "probe")
        python = proc.make_venv(work / "venv")
        hook = "import sys, maturin; maturin.build_wheel(sys.argv[1])"

        def seen(inherited: str | None) -> str:
            env = {
                "PATH": f"{work / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                "PYTHONPATH": str(work / "pkg"),
                "PROBE_OUT": str(work),
                "MATURIN_NO_INSTALL_RUST": "1",
            }
            if inherited is not None:
                env["PYO3_BASE_PYTHON"] = inherited
            done = proc.run(
                [python, "-c", hook, work / "wheels"],
                cwd=work / "probe",
                env=env,
                unset=() if inherited is not None else ("PYO3_BASE_PYTHON",),
                what=f"the patched backend of maturin {pin.version} failed",
            )
            return probe_said(done.stdout + done.stderr).get("PYO3_BASE_PYTHON", "")

        (work / "wheels").mkdir()
        if seen(None) != base:
            raise PatchError(f"patched backend of maturin {pin.version}: no base", _MISBEHAVES)
        if seen(str(work / "not-a-python")) != base:
            raise PatchError(
                f"patched backend of maturin {pin.version} kept an unusable inherited base",
                _MISBEHAVES,
            )
        if seen("") != "":
            raise PatchError(
                f"patched backend of maturin {pin.version} overrode an opt-out", _MISBEHAVES
            )
    return (
        "the backend hands maturin PYO3_BASE_PYTHON = the base interpreter; an unusable "
        "inherited value is replaced; an empty one is kept"
    )


def check_compiled(pin: Pin, variant: Variant, *, url: str | None = None) -> str:
    """Build the patched maturin as its wheel is built, then `maturin build -i <venv python>`
    a probe: cargo must get PYO3_BASE_PYTHON = the base interpreter (also when an unusable
    value is inherited) and PYO3_PYTHON = the venv's."""
    with tempfile.TemporaryDirectory(prefix="patcher-check-") as tmp:
        tree = Path(tmp) / "src"
        patched_tree(pin, variant, tree, url=url)
        target = target_dir()
        cargo.run(
            ["build", "--release", "--no-default-features", "--locked", "--bin", "maturin"],
            cwd=tree,
            env={"CARGO_TARGET_DIR": str(target)},
            what=f"compile check of patched maturin {pin.version}",
        )
        binary = target / "release" / ("maturin.exe" if os.name == "nt" else "maturin")
        base = proc.base_python()
        work = Path(tmp) / "probe"
        venv_python = proc.make_venv(Path(tmp) / "venv")
        write_probe(work)
        for inherited in (None, str(Path(tmp) / "not-a-python")):
            built = proc.run(
                [binary, "build", "-i", venv_python, "--out", Path(tmp) / "wheels"],
                cwd=work,
                env={
                    "CARGO_TARGET_DIR": str(Path(tmp) / "target"),
                    **({"PYO3_BASE_PYTHON": inherited} if inherited else {}),
                },
                unset=(
                    "PYO3_PYTHON",
                    "VIRTUAL_ENV",
                    "CONDA_PREFIX",
                    *(() if inherited else ("PYO3_BASE_PYTHON",)),
                ),
                what=f"probe build with patched maturin {pin.version}",
            )
            seen = probe_said(built.stdout + built.stderr)
            if os.path.realpath(seen.get("PYO3_PYTHON", "")) != os.path.realpath(venv_python):
                raise PatchError(
                    f"patched maturin {pin.version} gave cargo "
                    f"PYO3_PYTHON={seen.get('PYO3_PYTHON')!r}, expected the venv's {venv_python}",
                    _MISBEHAVES,
                )
            if seen.get("PYO3_BASE_PYTHON") != base:
                raise PatchError(
                    f"patched maturin {pin.version} gave cargo "
                    f"PYO3_BASE_PYTHON={seen.get('PYO3_BASE_PYTHON')!r}, expected {base}",
                    _MISBEHAVES,
                )
    return (
        "builds; cargo gets PYO3_BASE_PYTHON (base) and PYO3_PYTHON (venv); an unusable "
        "inherited value is replaced"
    )


class Maturin(Upstream):
    name = "maturin"
    default_url = "https://github.com/PyO3/maturin.git"
    published_crate = "maturin"
    matrix_preamble = (
        "*applies*: `git apply` of the variant to the release's source (zero fuzz; `offset`",
        "gives how far the hunk moved). *checked*, **backend**: the patched",
        "`maturin/__init__.py` runs the PEP 517 `build_wheel` hook in a venv with a maturin",
        "stand-in that says what it got: `PYO3_BASE_PYTHON` = the base interpreter, also when an",
        "unusable value is inherited, and an empty one is left alone (every release is checked:",
        "seconds each). **compiled**: the patched tree builds as its wheel does (`cargo build",
        "--release --no-default-features --locked`), and that binary's `maturin build -i <venv",
        "python>` of a probe project hands cargo `PYO3_BASE_PYTHON` = the base interpreter and",
        "`PYO3_PYTHON` = the venv's (`-`: not checked; by default the first and last release",
        "each variant claims and the newest, since each check builds maturin). *source*: git",
        "(the pinned commit) or the crate on crates.io whose `.cargo_vcs_info.json` names it.",
        "That pyo3 then stays fresh across isolated builds is shown end to end by",
        "tests/end_to_end/test_isolated_builds.py.",
    )

    def default_check(self, kind: str) -> str:
        return "all" if kind == "backend" else "ends"  # a compiled check builds maturin

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
        if variant.kind == "compiled":
            return check_compiled(pin, variant, url=url)
        return check_backend(pin, variant, url=url)

    def describe(self, pin: Pin, *, url: str) -> Pin:
        """A new pin records the sha256 of the backend's Python files at its commit."""
        tree, _origin = pristine(pin, url=url)
        return dataclasses.replace(pin, files=backend_files(tree))


UPSTREAM = Maturin()
