"""`patcher doctor`: real isolated builds of small pyo3-ffi projects, each with one reason (or
none) for its second build not to be warm; and what it refuses before any build."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import crates, diagnose, ffi_project, run_patcher, snapshot


@pytest.mark.slow
def test_unpatched_names_pyo3_build_config_and_pyo3_python(tmp_path: Path) -> None:
    project = ffi_project(tmp_path)
    before = snapshot(project)
    found = diagnose(project, "--frontend", "pip", "--cache", "tar")

    assert snapshot(project) == before  # no Cargo.lock, no target/: nothing of the project
    assert (found["schema"], found["patched"], found["warm"]) == (1, False, False)
    by_name = crates(found)
    assert {"pyo3-build-config", "pyo3-ffi", "ffi-probe"} <= set(by_name)
    config = by_name["pyo3-build-config"]
    assert config["cause"]["kind"] == "env-changed"
    assert config["cause"]["variable"] == "PYO3_PYTHON"
    assert config["cause"]["old"].endswith("venv-1/bin/python")
    assert config["cause"]["new"].endswith("venv-2/bin/python")
    assert (config["fixed_by_patcher"], config["fix"]) == (
        True,
        "patcher apply + patcher env --ci",
    )
    assert "pyo3-build-config" in by_name["pyo3-ffi"]["via"]
    assert all(c["fixed_by_patcher"] for c in found["crates"])
    assert found["summary"]["fixed_by_patcher"] == len(found["crates"])
    assert found["summary"]["own_build_scripts"] == 0
    assert "fixed by `patcher apply` + `patcher env --ci`" in found["verdict"]
    assert found["advice"][0].startswith("`patcher apply` + `patcher env --ci` saves about")


@pytest.mark.slow
def test_patched_names_the_own_build_script_that_watches_pyo3_python(tmp_path: Path) -> None:
    build_rs = 'fn main() {\n    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");\n}\n'
    project = ffi_project(tmp_path, build_rs=build_rs, patched=True)
    # in CI a fresh checkout reruns the project's own build script anyway: the watch costs
    # a rebuild where the checkout stays, on a developer's machine
    found = diagnose(project, "--frontend", "uv", "--cache", "none")

    assert found["patched"] is True
    assert found["maturin"].endswith("+pyo3patcher.backend.v2")
    (crate,) = found["crates"]  # no pyo3 crate
    assert crate["name"] == "ffi-probe"
    assert (crate["cause"]["kind"], crate["cause"]["variable"]) == ("env-changed", "PYO3_PYTHON")
    assert (crate["own"], crate["category"], crate["fixed_by_patcher"]) == (True, "own", False)
    assert "PYO3_BASE_PYTHON" in crate["advice"]
    assert found["verdict"].startswith("1 crate recompiles: 1 in your own build scripts")


@pytest.mark.slow
def test_a_rerun_if_changed_on_a_missing_file(tmp_path: Path) -> None:
    build_rs = 'fn main() {\n    println!("cargo:rerun-if-changed=schema/*.json");\n}\n'
    project = ffi_project(tmp_path, build_rs=build_rs, patched=True)
    found = diagnose(project, "--frontend", "uv", "--cache", "none")

    (crate,) = found["crates"]
    assert crate["cause"]["kind"] == "file-missing"
    assert crate["cause"]["path"].endswith("schema/*.json")
    assert "does not exist" in crate["advice"]


@pytest.mark.slow
def test_a_warm_project_says_so_and_keeps_the_named_target_dir(tmp_path: Path) -> None:
    project = ffi_project(tmp_path, patched=True)
    target = tmp_path / "ci-target"
    found = diagnose(project, "--frontend", "build", "--target-dir", target)

    assert (found["warm"], found["crates"]) == (True, [])
    assert found["verdict"].startswith("the second build is warm: cargo recompiled no crate")
    assert found["target_dir"] == str(target)
    assert (target / "release").is_dir()  # the builds used it, and left it for the next


OLD_RECIPE = """jobs:
  wheels:
    steps:
      - uses: Swatinem/rust-cache@v2
      - run: patcher env --no-ci --format shell > patcher.env
      - run: . ./patcher.env && uv build --wheel
"""
FIXED_RECIPE = """jobs:
  wheels:
    steps:
      - uses: Swatinem/rust-cache@v2
      - run: patcher env --ci >> "$GITHUB_ENV"
      - run: uv build --wheel
"""


@pytest.mark.slow
def test_ci_causes_of_a_project_warm_only_in_one_checkout(tmp_path: Path) -> None:
    """Patched, with a workflow that runs `patcher env --no-ci` (the checkout's trees): a second
    build in one checkout is warm, two CI jobs are not, and doctor says why; with docs/ci.md's
    line, warm."""
    project = ffi_project(tmp_path, patched=True)
    workflow = project / ".github" / "workflows" / "wheels.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(OLD_RECIPE, encoding="utf-8")

    dropped = diagnose(project, "--frontend", "uv")  # rust-cache, as the workflow uses
    assert (dropped["ci"]["cache"], dropped["ci"]["ci_mode"]) == ("rust-cache", False)
    assert dropped["workflows"]["matches_ci"] is True
    assert "--no-ci" in dropped["ci"]["ci_mode_why"]
    assert dropped["warm"] is False
    pyo3 = crates(dropped)
    assert {"pyo3-build-config", "pyo3-ffi"} <= set(pyo3)
    config = pyo3["pyo3-build-config"]
    assert config["cause"]["kind"] == "cache-dropped"
    assert (config["category"], config["fix"]) == ("patcher", "patcher env --ci")
    assert "outside the workspace root" in config["advice"]
    assert {"pyo3-build-config", "pyo3-ffi"} <= set(dropped["ci"]["dropped_by_cache"])

    newer = diagnose(project, "--frontend", "uv", "--cache", "tar")
    ffi = crates(newer)["pyo3-build-config"]
    assert ffi["cause"]["kind"] != "cache-dropped"
    assert "new mtimes" in ffi["advice"] and ffi["fix"] == "patcher env --ci"
    assert newer["ci"]["dropped_by_cache"] == []
    assert newer["warm"] is None  # a tar cache is not what the workflow runs: not judged

    workflow.write_text(FIXED_RECIPE, encoding="utf-8")
    fixed = diagnose(project, "--frontend", "uv")
    assert fixed["ci"]["ci_mode"] is True
    assert (fixed["warm"], fixed["crates"]) == (True, [])


def test_bad_input_is_refused_before_any_build(tmp_path: Path) -> None:
    project = ffi_project(tmp_path)
    (tmp_path / "file").write_text("", encoding="utf-8")
    before = snapshot(project)
    result = run_patcher("doctor", "--project", project, "--target-dir", tmp_path / "file")
    assert result.returncode == 3
    assert "not a directory" in result.stderr and "hint:" in result.stderr
    result = run_patcher("doctor", "--project", tmp_path / "nowhere")
    assert result.returncode == 3
    assert snapshot(project) == before
