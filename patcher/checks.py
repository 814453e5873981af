"""Behaviour checks shared by `refresh --upstream` and the coverage matrix.

A patched pyo3 must take the interpreter from PYO3_BASE_PYTHON and register no rerun for
PYO3_PYTHON. We build a probe crate on the patched pyo3-ffi (which compiles the patched
pyo3-build-config: that is the compile check) with PYO3_PYTHON pointing into a venv.

A patched maturin must hand cargo PYO3_BASE_PYTHON (the base interpreter) beside PYO3_PYTHON
(the venv's). We build it as its wheel is built (release, no default features, locked) and run
`maturin build -i <venv python>` on a probe whose build script prints both variables; a
stand-in `pyo3-ffi` path crate makes maturin take its pyo3 path without compiling pyo3.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from patcher import maturin, patches, proc, sources, trees
from patcher.errors import PatchError
from patcher.patched import patched_pyo3
from patcher.pins import Pin


def base_python() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def _venv(where: Path) -> Path:
    subprocess.run([base_python(), "-m", "venv", "--without-pip", str(where)], check=True)
    return where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def check_patched_pyo3(version: str, crate_dirs: dict[str, Path]) -> str:
    """Build a probe on the patched crates; raise PatchError unless the change behaves."""
    with tempfile.TemporaryDirectory(prefix="patcher-probe-") as tmp:
        work = Path(tmp)
        venv_python = _venv(work / "venv")
        patch_lines = "\n".join(
            f'{name} = {{ path = "{crate_dirs[name].as_posix()}" }}'
            for name in ("pyo3-ffi", "pyo3-build-config")
        )
        (work / "probe").mkdir()
        (work / "probe" / "Cargo.toml").write_text(
            '[package]\nname = "probe"\nversion = "0.0.0"\nedition = "2021"\n\n'
            '[lib]\npath = "lib.rs"\n\n'
            f'[dependencies]\npyo3-ffi = "={version}"\n\n[patch.crates-io]\n{patch_lines}\n',
            encoding="utf-8",
        )
        (work / "probe" / "lib.rs").write_text("", encoding="utf-8")
        env = {"PYO3_PYTHON": str(venv_python), "PYO3_BASE_PYTHON": base_python()}
        target = work / "target"
        proc.run(
            ["cargo", "build", "--target-dir", target],
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
            raise PatchError(f"patched pyo3 {version} still registers a rerun on PYO3_PYTHON")
        printed = proc.run(
            ["cargo", "build", "--target-dir", work / "print-config"],
            cwd=work / "probe",
            env={**env, "PYO3_PRINT_CONFIG": "1"},
            check=False,
        )
        executables = set(re.findall(r"executable=(\S+)", printed.stdout + printed.stderr))
        if executables != {base_python()}:
            raise PatchError(
                f"patched pyo3 {version} resolved {executables or 'no'} interpreter, "
                f"expected the base {base_python()}"
            )
        return "compiles; no rerun on PYO3_PYTHON; executable is the base interpreter"


_MATURIN_PROBE = {
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


def check_patched_maturin(version: str, tree: Path, target_dir: Path) -> str:
    """Build the patched maturin source `tree`; raise PatchError unless the binary gives
    cargo the base interpreter in PYO3_BASE_PYTHON and leaves PYO3_PYTHON the venv's."""
    proc.run(
        ["cargo", "build", "--release", "--no-default-features", "--locked", "--bin", "maturin"],
        cwd=tree,
        env={"CARGO_TARGET_DIR": str(target_dir)},
        what=f"compile check of patched maturin {version}",
    )
    binary = target_dir / "release" / ("maturin.exe" if os.name == "nt" else "maturin")
    with tempfile.TemporaryDirectory(prefix="patcher-probe-") as tmp:
        work = Path(tmp)
        venv_python = _venv(work / "venv")
        for name, text in _MATURIN_PROBE.items():
            (work / "probe" / name).parent.mkdir(parents=True, exist_ok=True)
            (work / "probe" / name).write_text(text, encoding="utf-8")
        built = proc.run(
            [binary, "build", "-i", venv_python, "--out", work / "wheels"],
            cwd=work / "probe",
            env={"CARGO_TARGET_DIR": str(work / "target")},
            unset=("PYO3_BASE_PYTHON", "PYO3_PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX"),
            what=f"probe build with patched maturin {version}",
        )
        said = dict(re.findall(r"probe (PYO3_\w+)=(.*)", built.stdout + built.stderr))
        seen = {k: v.strip() for k, v in said.items()}
        if os.path.realpath(seen.get("PYO3_PYTHON", "")) != os.path.realpath(venv_python):
            raise PatchError(
                f"patched maturin {version} gave cargo PYO3_PYTHON={seen.get('PYO3_PYTHON')!r}, "
                f"expected the venv's {venv_python}"
            )
        if seen.get("PYO3_BASE_PYTHON") != base_python():
            raise PatchError(
                f"patched maturin {version} gave cargo "
                f"PYO3_BASE_PYTHON={seen.get('PYO3_BASE_PYTHON')!r}, expected {base_python()}"
            )
    return "builds; cargo gets PYO3_BASE_PYTHON (base) and PYO3_PYTHON (venv)"


def check_release(
    pin: Pin, variant: patches.Variant, *, url: str | None = None, source: str = "auto"
) -> str:
    """Patch the whole release with `variant`, then compile- and behaviour-check it (the one
    check `refresh --upstream` and the matrix share). `source` chooses pyo3's source."""
    if pin.upstream == "pyo3":
        patched = patched_pyo3(sources.pristine_pyo3(pin, source=source, url=url), variant)
        return check_patched_pyo3(pin.version, patched.directories)
    tree, _origin = maturin.pristine_maturin(pin, url=url)
    with tempfile.TemporaryDirectory(prefix="patcher-check-") as tmp:
        work = Path(tmp) / "src"
        trees.copy_tree(tree, work)
        patches.apply(patches.check_patch(variant), work)
        return check_patched_maturin(pin.version, work, maturin.target_dir())
