"""pyo3: its five crates for a pin, the patched crate trees, and the behaviour check.

Pristine crates, one standalone crate directory each (as cargo accepts a path dependency),
come from git (the pinned commit, each crate made standalone with `cargo package`: pyo3 0.26+
members inherit from the workspace manifest, so a member copied alone out of a checkout does
not load) or from crates.io (the published crates, checked against their crates.io checksums
and the pinned commit). The cache holds only what an anchor checks again (sources.py); the
pristine and patched trees are derived from it in each process.

The check: a probe crate built on the patched pyo3-ffi (which compiles the patched
pyo3-build-config) with PYO3_PYTHON pointing into a venv and PYO3_BASE_PYTHON set must
register no rerun on PYO3_PYTHON and resolve the base interpreter.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import struct
import sys
import tempfile
from pathlib import Path

from patcher import cargo, proc, trees
from patcher.errors import PatchError, SourceError
from patcher.upstreams import sources, variants
from patcher.upstreams.base import Upstream
from patcher.upstreams.names import PYO3_CRATES
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import CheckedPatch, Variant

CRATES = PYO3_CRATES  # kept in names.py, which reading the record imports without this module


@dataclasses.dataclass(frozen=True)
class Crate:
    name: str
    version: str
    path_in_vcs: str  # "" for the crate at the repository root
    directory: Path


@dataclasses.dataclass(frozen=True)
class PristineRelease:
    pin: Pin
    origin: str  # "git" or "crates.io"
    url: str
    crates: tuple[Crate, ...]


@dataclasses.dataclass(frozen=True)
class PatchedRelease:
    pristine: PristineRelease
    variant: Variant
    outcome: str  # "patched", or "upstream" when the release already carries the change
    directories: dict[str, Path]  # crate name -> patched tree (scratch; read only)
    digests: dict[str, str]  # crate name -> tree digest

    @property
    def version(self) -> str:
        return self.pristine.pin.version


# --- pristine crates -------------------------------------------------------------------

# What this process derived already: (version, commit, source, url) -> release, and
# (release folder, variant digest) -> patched release. Never persisted: the cache is not
# trusted, the anchors are (sources.py).
_PRISTINE: dict[tuple[str, str, str, str, bool], PristineRelease] = {}
_PATCHED: dict[tuple[Path, str], PatchedRelease] = {}


def pristine(
    pin: Pin, *, source: str = "auto", url: str | None = None, offline: bool = False
) -> PristineRelease:
    """The five pyo3 crates of `pin`, derived in this process from an anchored source: the
    pinned commit's git objects, or the crates.io crates with their checksums."""
    url = url or UPSTREAM.url()
    key = (pin.version, pin.commit, source, url, offline)
    if key not in _PRISTINE:
        paths: dict[str, str] = {}

        def from_git(checkout: Path, dest: Path) -> None:
            paths.update(_from_git(pin, url, checkout, dest))

        def from_registry(dest: Path) -> None:
            paths.update(_from_registry(pin, dest, offline=offline))

        dest, origin = sources.pristine(
            pin,
            source=source,
            url=url,
            offline=offline,
            from_git=from_git,
            from_registry=from_registry,
        )
        crates = tuple(
            Crate(name, pin.version, paths[name], dest / name) for name in sorted(CRATES)
        )
        _PRISTINE[key] = PristineRelease(
            pin=pin, origin=origin, url=url if origin == "git" else "crates.io", crates=crates
        )
    return _PRISTINE[key]


def _from_git(pin: Pin, url: str, checkout: Path, dest: Path) -> dict[str, str]:
    """Each crate of the exported commit made standalone with `cargo package`."""
    hint = "the pinned commit is not a pyo3 release; check the URL (a mirror?)"
    members = cargo.workspace_packages(checkout)
    missing = [c for c in CRATES if c not in members]
    if missing:
        raise SourceError(f"{url} @ {pin.commit[:12]} has no crates {missing}", hint=hint)
    for name in CRATES:
        version = members[name][0]
        if version != pin.version:
            raise SourceError(
                f"{url} @ {pin.commit[:12]}: {name} has version {version}, "
                f"the pin says {pin.version}",
                hint=hint,
            )
    paths = {}
    with tempfile.TemporaryDirectory(prefix="patcher-package-") as tmp:
        crate_files = cargo.package(checkout, CRATES, Path(tmp) / "target")
        dest.mkdir(parents=True, exist_ok=True)
        for name, crate_file in crate_files.items():
            trees.safe_extract(crate_file, Path(tmp) / "unpack", allow_links=False)
            shutil.move(str(Path(tmp) / "unpack" / f"{name}-{pin.version}"), str(dest / name))
            rel = members[name][1].parent.relative_to(checkout).as_posix()
            paths[name] = "" if rel == "." else rel
    return paths


def _from_registry(pin: Pin, dest: Path, *, offline: bool) -> dict[str, str]:
    return {
        name: path_in_vcs or ("" if name == "pyo3" else name)
        for name, (_directory, path_in_vcs) in sources.published_crates(
            pin, CRATES, dest, offline=offline
        ).items()
    }


# --- patched trees -----------------------------------------------------------------------


def patched(release: PristineRelease, variant: Variant) -> PatchedRelease:
    """The crates of `release` with `variant` applied, derived in this process."""
    key = (release.crates[0].directory.parent, variant.digest)
    if key not in _PATCHED:
        checked = variants.check_patch(variant)
        dest = sources.scratch(f"pyo3-{release.pin.version}-patched")
        dest.mkdir()
        outcome, directories = _patch_into(release, checked, dest)
        digests = {name: trees.digest_of(tree) for name, tree in directories.items()}
        _PATCHED[key] = PatchedRelease(release, variant, outcome, directories, digests)
    return _PATCHED[key]


def _owner(crates: tuple[Crate, ...], repo_path: str) -> Crate:
    """The crate a repository path belongs to: the longest matching path_in_vcs."""
    best: Crate | None = None
    for crate in crates:
        prefix = crate.path_in_vcs
        if (prefix == "" or repo_path.startswith(prefix + "/")) and (
            best is None or len(prefix) > len(best.path_in_vcs)
        ):
            best = crate
    if best is None:
        raise PatchError(
            f"the patch touches {repo_path}, which belongs to no pyo3 crate",
            hint="a pyo3 variant may patch only files of the five crates",
        )
    return best


def stage_touched(
    crates: tuple[Crate, ...], files: tuple[str, ...], stage: Path
) -> dict[str, Crate]:
    """Lay the crates that `files` (repository paths) belong to out as they sit in the
    repository, so the paths in a patch resolve: the root crate at the top, members in their
    subdirectories. Returns the touched crates by name."""
    touched = {crate.name: crate for crate in (_owner(crates, f) for f in files)}
    for crate in sorted(touched.values(), key=lambda c: c.path_in_vcs):
        trees.copy_tree(crate.directory, stage / crate.path_in_vcs)
    return touched


def _patch_into(
    release: PristineRelease, checked: CheckedPatch, dest: Path
) -> tuple[str, dict[str, Path]]:
    """The variant applied to the crates it touches, each moved to `dest/<crate>`; the
    outcome and every crate's tree (an untouched crate's is its pristine tree: read only
    from here on, so never copied)."""
    with tempfile.TemporaryDirectory(prefix="patcher-stage-") as tmp:
        stage = Path(tmp) / "repo"
        touched = stage_touched(release.crates, checked.files, stage)
        outcome = variants.apply(checked, stage)
        for crate in touched.values():
            if crate.path_in_vcs:
                shutil.move(str(stage / crate.path_in_vcs), str(dest / crate.name))
        for crate in touched.values():
            if not crate.path_in_vcs:  # what is left of the stage is the root crate
                shutil.move(str(stage), str(dest / crate.name))
    directories = {
        crate.name: dest / crate.name if crate.name in touched else crate.directory
        for crate in release.crates
    }
    return outcome, directories


def patched_release(
    version: str, *, source: str = "auto", url: str | None = None, offline: bool = False
) -> PatchedRelease:
    """The pinned release `version`, patched with the variant that claims it."""
    from patcher.upstreams import pins

    pin = pins.get_pin("pyo3", version)
    release = pristine(pin, source=source, url=url, offline=offline)
    return patched(release, variants.select_variant("pyo3", version))


# --- the behaviour check -------------------------------------------------------------------


def signature() -> str:
    """maturin's PYO3_ENVIRONMENT_SIGNATURE for the running Python (and its base)."""
    major, minor = sys.version_info[:2]
    return f"{sys.implementation.name}-{major}.{minor}-{struct.calcsize('P') * 8}bit"


def check_trees(version: str, crate_dirs: dict[str, Path]) -> str:
    """Build a probe on the patched crates and raise PatchError unless the change behaves:
    with the base named (and matching maturin's signature) it compiles, registers no rerun
    on PYO3_PYTHON and resolves the base; with a base for another Python it warns and falls
    back to PYO3_PYTHON; with a base that is not a file it fails, naming PYO3_BASE_PYTHON."""
    base = proc.base_python()
    with tempfile.TemporaryDirectory(prefix="patcher-probe-") as tmp:
        work = Path(tmp)
        venv_python = str(proc.make_venv(work / "venv"))
        _write_probe(work / "probe", version, crate_dirs)
        env = {
            "PYO3_PYTHON": venv_python,
            "PYO3_BASE_PYTHON": base,
            "PYO3_ENVIRONMENT_SIGNATURE": signature(),
        }
        target = work / "target"
        cargo.run(
            ["build", "--target-dir", target],
            cwd=work / "probe",
            env=env,
            what=f"compile check of patched pyo3 {version}",
        )
        outputs = "".join(
            p.read_text(encoding="utf-8") for p in target.glob("debug/build/pyo3*/output")
        )
        if (
            "rerun-if-env-changed=PYO3_PYTHON\n" in outputs
            or "rerun-if-env-changed=PYO3_BASE_PYTHON" not in outputs
        ):
            _misbehaves(version, "still registers a rerun on PYO3_PYTHON")
        seen = _print_config(work, env)
        if seen.executables != {base}:
            _misbehaves(version, f"resolved {seen.executables or 'no'} interpreter, not the base")
        mismatch = _print_config(work, {**env, "PYO3_ENVIRONMENT_SIGNATURE": "cpython-2.7-64bit"})
        if mismatch.executables != {venv_python} or "it is ignored" not in mismatch.said:
            _misbehaves(version, "did not ignore (with a warning) a base for another Python")
        missing = _print_config(work, {**env, "PYO3_BASE_PYTHON": str(work / "no-python")})
        if missing.executables or "PYO3_BASE_PYTHON is set to" not in missing.said:
            _misbehaves(version, "did not fail, naming PYO3_BASE_PYTHON, on a missing base")
        return (
            "compiles; no rerun on PYO3_PYTHON; executable is the base interpreter; a base "
            "for another Python is ignored; a missing one is an error"
        )


def _write_probe(dest: Path, version: str, crate_dirs: dict[str, Path]) -> None:
    patch_lines = "\n".join(
        f'{name} = {{ path = "{crate_dirs[name].as_posix()}" }}'
        for name in ("pyo3-ffi", "pyo3-build-config")
    )
    dest.mkdir()
    (dest / "Cargo.toml").write_text(
        '[package]\nname = "probe"\nversion = "0.0.0"\nedition = "2021"\n\n'
        '[lib]\npath = "lib.rs"\n\n'
        f'[dependencies]\npyo3-ffi = "={version}"\n\n[patch.crates-io]\n{patch_lines}\n',
        encoding="utf-8",
    )
    (dest / "lib.rs").write_text("", encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class _Printed:
    executables: set[str]
    said: str


def _print_config(work: Path, env: dict[str, str]) -> _Printed:
    """PYO3_PRINT_CONFIG=1 makes the build script print its config and fail on purpose; a
    target dir of its own keeps it from dirtying the other builds (between runs only the
    build script reruns: it registered the variables that change)."""
    printed = cargo.run(
        ["build", "--target-dir", work / "print-config"],
        cwd=work / "probe",
        env={**env, "PYO3_PRINT_CONFIG": "1"},
        check=False,
    )
    said = printed.stdout + printed.stderr
    return _Printed(set(re.findall(r"executable=(\S+)", said)), said)


def _misbehaves(version: str, what: str) -> None:
    raise PatchError(
        f"patched pyo3 {version} {what}",
        hint="the variant compiles but does not behave: fix it before it is pinned",
    )


class Pyo3(Upstream):
    name = "pyo3"
    default_url = "https://github.com/PyO3/pyo3.git"
    published_crate = "pyo3-build-config"
    registry_crates = CRATES
    matrix_preamble = (
        "*applies*: `git apply` of the variant to the release's pyo3-build-config (zero fuzz;",
        "`offset` gives how far each hunk moved). *checked*: a probe crate built on the patched",
        "pyo3-ffi with `PYO3_PYTHON` in a venv and `PYO3_BASE_PYTHON` set: it compiles,",
        "registers no rerun on `PYO3_PYTHON`, and resolves the base interpreter (`-`: not",
        "checked; by default the first and last release of each variant's range and the newest",
        "release are checked).",
    )

    def stage_files(
        self, pin: Pin, files: tuple[str, ...], dest: Path, *, url: str, source: str
    ) -> str:
        release = pristine(pin, source=source, url=url)
        stage_touched(release.crates, files, dest)
        return release.origin

    def check(self, pin: Pin, variant: Variant, *, url: str, source: str) -> str:
        return check_trees(
            pin.version, patched(pristine(pin, source=source, url=url), variant).directories
        )


UPSTREAM = Pyo3()
