"""apply says where the patch saves nothing: abi3 builds, and build scripts of the project's
own that watch the build venv."""

from __future__ import annotations

from pathlib import Path

from helpers import copy_example, run_patcher


def _apply(project: Path) -> str:
    result = run_patcher("apply", "--project", project)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_abi3_build_is_said_to_gain_nothing(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text("utf-8").replace(
            '"pyo3/extension-module"', '"pyo3/extension-module", "pyo3/abi3-py39"'
        ),
        encoding="utf-8",
    )
    said = _apply(project)
    assert "note: this project builds stable-ABI wheels (pyo3/abi3-py39)" in said


def test_a_build_script_that_watches_the_venv_is_named(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    (project / "build.rs").write_text(
        "fn main() {\n"
        '    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");\n'
        '    let _python = std::env::var("PYO3_PYTHON");\n'
        "}\n",
        encoding="utf-8",
    )
    said = _apply(project)
    assert "note: the build script of hello-pyo3 reads PYO3_PYTHON" in said
    assert "stable-ABI" not in said


def test_a_plain_project_gets_no_such_note(tmp_path: Path) -> None:
    said = _apply(copy_example(tmp_path))
    assert "note:" not in said
