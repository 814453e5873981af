"""maturin: which release a project's build gets, the patched maturin for it, and the checks.

Two kinds of change (patches/maturin/variants.toml), one script: both find the base
interpreter of the build's Python and accept only the same Python.

* backend (the default): maturin's PEP 517 backend, `maturin/__init__.py`, where the
  throwaway build venv is born, exports PYO3_BASE_PYTHON for every frontend. The patched
  maturin is the wheel published on PyPI for this platform (checked against the sha256 PyPI
  publishes for it), its Python files checked against the sha256 the pin records for the
  pinned commit, that one file patched, and repacked with the local version
  `X+pyo3patcher.<variant>` (RECORD rewritten); derived again each time it is handed out.
  Seconds, no Rust build.
* compiled (opt-in, `maturin-patch = "compiled"`): the maturin binary itself, for `maturin
  build` / `maturin develop` run by hand across venvs. Built from the pinned source (git,
  else the crate published from the pin: it carries setup.py, pyproject.toml and Cargo.lock,
  and `Cargo.toml.orig` put back gives the repository's files), with the local version in
  Cargo.toml and maturin's Cargo.lock entry (setup.py builds `--locked`), retagged py3-none.

Either wheel is cached per (release, variant digest, platform).

One module per job, behind the interface here (`Maturin`, which maintainers' commands use,
and the functions user commands call): release.py (which release a build gets), source.py
(the pinned source, through upstreams/sources.py), backend.py and compiled.py (the two
kinds of wheel), wheels.py (their cache slot), checks.py (behaviour checks).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from patcher.errors import ProjectError
from patcher.upstreams.base import Upstream
from patcher.upstreams.maturin.backend import (
    backend_files,
    backend_wheel,
    download_wheel,
    patch_backend,
    verify_backend,
)
from patcher.upstreams.maturin.checks import check_backend, check_compiled, probe_said, write_probe
from patcher.upstreams.maturin.compiled import compiled_wheel, target_dir
from patcher.upstreams.maturin.release import (
    BACKEND_DIR,
    DEFAULT_KIND,
    KINDS,
    LOCAL_PREFIX,
    MaturinBuild,
    choose_release,
    local_version,
    wanted_version,
)
from patcher.upstreams.maturin.source import patched_tree, pristine, set_version
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant

__all__ = [
    "BACKEND_DIR",
    "DEFAULT_KIND",
    "KINDS",
    "LOCAL_PREFIX",
    "UPSTREAM",
    "Maturin",
    "MaturinBuild",
    "backend_files",
    "backend_wheel",
    "build_for_project",
    "check_backend",
    "check_compiled",
    "choose_release",
    "compiled_wheel",
    "download_wheel",
    "local_version",
    "patch_backend",
    "patched_tree",
    "pristine",
    "probe_said",
    "set_version",
    "target_dir",
    "verify_backend",
    "wanted_version",
    "write_probe",
]


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


class Maturin(Upstream):
    name = "maturin"
    default_url = "https://github.com/PyO3/maturin.git"
    published_crate = "maturin"
    registry_crates = ("maturin",)
    matrix_preamble = (
        "*applies*: `git apply` of the variant to the release's source (zero fuzz; `offset`",
        "gives how far each hunk moved). *checked*, **backend**: the patched",
        "`maturin/__init__.py` runs the PEP 517 `build_wheel` hook in a venv with a maturin",
        "stand-in that says what it got: `PYO3_BASE_PYTHON` = the base interpreter, also when an",
        "unusable value is inherited, and an empty one is left alone; the hook logs",
        "`pyo3-patcher: PYO3_BASE_PYTHON=<base>` once, and `get_requires_for_build_wheel`, in a",
        "process of its own as frontends run it, exports the base and logs nothing (every release",
        "is checked: seconds each). **compiled**: the patched tree builds as its wheel does",
        "(`cargo build --release --no-default-features --locked`), and that binary's `maturin",
        "build -i <venv python>` of a probe project hands cargo `PYO3_BASE_PYTHON` = the base",
        "interpreter and `PYO3_PYTHON` = the venv's (`-`: not checked; by default the first and",
        "last release each variant claims and the newest, since each check builds maturin).",
        "*source*: git (the pinned commit) or the crate on crates.io whose",
        "`.cargo_vcs_info.json` names it.",
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
        """A new pin records the crate's crates.io checksum and the sha256 of the backend's
        Python files at its commit."""
        pin = super().describe(pin, url=url)
        tree, _origin = pristine(pin, url=url)
        return dataclasses.replace(pin, files=backend_files(tree))


UPSTREAM = Maturin()
