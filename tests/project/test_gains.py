"""apply says where the patch saves nothing: abi3 builds, build scripts of the project's own
that watch the build venv, and a CI that builds only with maturin-action."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (
    MATURIN_ACTION_ONLY,
    apply_refused_then_forced,
    copy_example,
    maturin_new_project,
    run_patcher,
    write_workflow,
)

from patcher.project import gains
from patcher.project.discovery import discover


def _apply(project: Path) -> str:
    result = run_patcher("apply", "--project", project)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text("utf-8").replace(old, new), encoding="utf-8")


def test_an_abi3_build_is_said_to_gain_nothing(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    _replace(
        project / "pyproject.toml",
        '"pyo3/extension-module"',
        '"pyo3/extension-module", "pyo3/abi3-py39"',
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


def test_apply_refuses_where_the_patch_can_gain_nothing_unless_forced(tmp_path: Path) -> None:
    """A stable-ABI project on pyo3 0.29 built by maturin >= 1.14: maturin hands pyo3 a config
    file, so its isolated builds are warm already; apply says so and changes nothing, and
    patches only with --force."""
    project = maturin_new_project(tmp_path)
    _replace(
        project / "Cargo.toml",
        'pyo3 = "=0.29.3"',
        'pyo3 = { version = "=0.29.3", features = ["abi3-py39"] }',
    )
    refused, forced = apply_refused_then_forced(project)
    assert "the patch can gain nothing" in refused
    assert "it builds stable-ABI wheels (abi3, " in refused
    assert "with pyo3 >= 0.29 and maturin 1." in refused
    assert "--force: patched although it builds stable-ABI wheels" in forced


def test_apply_refuses_where_ci_builds_only_with_maturin_action(tmp_path: Path) -> None:
    """Every workflow job that builds the project runs maturin-action (a fixed interpreter,
    warm without the patch): apply refuses unless forced; a tox.ini or noxfile.py (isolated
    builds elsewhere) lifts the refusal."""
    project = copy_example(tmp_path)
    write_workflow(project, "wheels.yml", MATURIN_ACTION_ONLY)
    refused, forced = apply_refused_then_forced(project)
    assert "the patch can gain nothing" in refused
    assert "its workflows build wheels only with a fixed interpreter (maturin-action: " in refused
    assert "--force: patched although its workflows build wheels only" in forced

    (project / "tox.ini").write_text("[tox]\n", encoding="utf-8")
    assert gains.nothing_to_gain_in_ci(discover(project)) is None


@pytest.mark.parametrize(
    ("config", "found"),
    [
        ('[source.crates-io]\nreplace-with = "v"\n[source.v]\ndirectory = "include/cargo"\n', True),
        # a chain of replacements, as `cargo vendor` prints for several sources
        (
            '[source.crates-io]\nreplace-with = "a"\n[source.a]\nreplace-with = "b"\n'
            '[source.b]\ndirectory = "vendor"\n',
            True,
        ),
        ('[source.crates-io]\nreplace-with = "v"\n[source.v]\ndirectory = "../elsewhere"\n', False),
        (
            '[source.crates-io]\nreplace-with = "m"\n[source.m]\nregistry = "https://x.invalid"\n',
            False,
        ),
        ("[build]\njobs = 1\n", False),
    ],
)
def test_a_vendored_source_replacement_inside_the_workspace_gains_nothing(
    tmp_path: Path, config: str, found: bool
) -> None:
    (tmp_path / ".cargo").mkdir()
    (tmp_path / ".cargo" / "config.toml").write_text(config, encoding="utf-8")
    reasons = gains.nothing_to_gain(
        workspace_root=tmp_path, maturin_features=(), metadata={}, maturin="1.16.0"
    )
    assert bool(reasons) == found
    if found:
        assert "source replacement inside the workspace" in reasons[0]


def test_abi3_gains_nothing_only_from_pyo3_029_and_maturin_114() -> None:
    def metadata(version: str) -> dict[str, object]:
        pkg = {"id": "p", "name": "pyo3", "version": version}
        return {"packages": [pkg], "resolve": {"nodes": [{"id": "p", "features": ["abi3"]}]}}

    def reasons(version: str, maturin: str) -> list[str]:
        return gains.nothing_to_gain(
            workspace_root=Path("/nonexistent"),
            maturin_features=(),
            metadata=metadata(version),
            maturin=maturin,
        )

    assert reasons("0.29.3", "1.14.0+pyo3patcher.backend.v2")
    assert not reasons("0.28.3", "1.16.0")  # pyo3 itself still reads the interpreter
    assert not reasons("0.29.3", "1.13.1")  # maturin writes no config file for abi3 yet
