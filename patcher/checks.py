"""Behaviour checks shared by `refresh --upstream` and the coverage matrix.

A patched pyo3 must take the interpreter from PYO3_BASE_PYTHON and register no rerun for
PYO3_PYTHON. We build a probe crate on the patched pyo3-ffi (which compiles the patched
pyo3-build-config: that is the compile check) with PYO3_PYTHON pointing into a venv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from patcher import proc
from patcher.errors import PatchError


def base_python() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def check_patched_pyo3(version: str, crate_dirs: dict[str, Path]) -> str:
    """Build a probe on the patched crates; raise PatchError unless the change behaves."""
    with tempfile.TemporaryDirectory(prefix="patcher-probe-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [base_python(), "-m", "venv", "--without-pip", str(work / "venv")], check=True
        )
        venv_python = work / "venv" / "bin" / "python"
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
