"""The behaviour checks of a patched maturin, for maintainers (refresh, the matrix)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from patcher import cargo, proc
from patcher.errors import PatchError
from patcher.upstreams import variants
from patcher.upstreams.maturin.compiled import target_dir
from patcher.upstreams.maturin.release import BACKEND_DIR
from patcher.upstreams.maturin.source import patched_tree, pristine
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant

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


_LOG_LINE = "pyo3-patcher: PYO3_BASE_PYTHON="

# the hook every frontend runs first, in a process of its own: the base is exported (at
# import) but not logged, so that the build log names it once, from the build hook
_OTHER_HOOK = (
    "import os, maturin; maturin.get_requires_for_build_wheel(); "
    "print('probe PYO3_BASE_PYTHON=' + os.environ.get('PYO3_BASE_PYTHON', ''))"
)
_BUILD_HOOK = "import sys, maturin; maturin.build_wheel(sys.argv[1])"


def check_backend(pin: Pin, variant: Variant, *, url: str | None = None) -> str:
    """Run the patched backend's hooks in a venv, each in a process of its own as frontends
    do, with a maturin stand-in that says what it got: PYO3_BASE_PYTHON must be the base
    interpreter, also when an unusable value is inherited, and an empty value (an opt-out)
    must stay empty. Another hook exports it too but says nothing; the build hook says it
    once."""
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

        def seen(inherited: str | None, hook: str = _BUILD_HOOK) -> tuple[str, list[str]]:
            """What the stand-in (or the hook) got, and the backend's log lines."""
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
            said = done.stdout + done.stderr
            logged = [line for line in said.splitlines() if line.startswith(_LOG_LINE)]
            return probe_said(said).get("PYO3_BASE_PYTHON", ""), logged

        def fail(problem: str) -> PatchError:
            return PatchError(f"patched backend of maturin {pin.version} {problem}", _MISBEHAVES)

        (work / "wheels").mkdir()
        for inherited in (None, str(work / "not-a-python")):
            got, logged = seen(inherited)
            if got != base:
                raise fail(
                    "handed maturin no base"
                    if inherited is None
                    else "kept an unusable inherited base"
                )
            if logged != [_LOG_LINE + base]:
                raise fail(f"logged {logged!r} in the build hook, not the base once")
        got, logged = seen(None, _OTHER_HOOK)
        if got != base or logged:
            raise fail(f"in another hook's process: exported {got!r}, logged {logged!r}")
        if seen("") != ("", []):
            raise fail("overrode an opt-out")
    return (
        "the backend hands maturin PYO3_BASE_PYTHON = the base interpreter; an unusable "
        "inherited value is replaced; an empty one is kept; every hook exports it, the build "
        "hook alone logs it, once"
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
