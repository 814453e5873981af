"""`patcher doctor`: real isolated builds of small pyo3-ffi projects, each with one reason (or
none) for its second build not to be warm; and the judging of cargo's causes on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import extension_project, run_patcher, snapshot

from patcher import cargolog
from patcher.cargolog import BuildLog, Cause, StaleUnit
from patcher.project import doctor

LIB_RS = """use pyo3_ffi::*;

static mut MODULE: PyModuleDef = PyModuleDef {
    m_base: PyModuleDef_HEAD_INIT,
    m_name: c"ffi_probe".as_ptr(),
    m_doc: std::ptr::null(),
    m_size: 0,
    m_methods: std::ptr::null_mut(),
    m_slots: std::ptr::null_mut(),
    m_traverse: None,
    m_clear: None,
    m_free: None,
};

#[no_mangle]
pub unsafe extern "C" fn PyInit_ffi_probe() -> *mut PyObject {
    PyModule_Create(std::ptr::addr_of_mut!(MODULE))
}
"""


def ffi_project(where: Path, *, build_rs: str | None = None, patched: bool = False) -> Path:
    """A one-crate extension on pyo3-ffi alone (the quickest pyo3 build), no Cargo.lock."""
    project = extension_project(
        where, "ffi-probe", 'pyo3-ffi = "=0.28.3"', LIB_RS, 'version = "0.1.0"'
    )
    if build_rs is not None:
        (project / "build.rs").write_text(build_rs, encoding="utf-8")
    if patched:
        result = run_patcher("apply", "--project", project)
        assert result.returncode == 0, result.stderr
    return project


def diagnose(project: Path, *args: str | Path) -> dict:
    result = run_patcher(
        "doctor",
        "--project",
        project,
        "--json",
        *args,
        env={"UV_CACHE_DIR": str(project.parent / "uv")},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def crates(found: dict) -> dict[str, dict]:
    return {c["name"]: c for c in found["crates"]}


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
      - run: patcher env --format shell > patcher.env
      - run: . ./patcher.env && uv build --wheel
"""
FIXED_RECIPE = """jobs:
  wheels:
    steps:
      - run: patcher env --ci >> "$GITHUB_ENV"
      - run: uv build --wheel
"""


@pytest.mark.slow
def test_ci_causes_of_a_project_warm_only_in_one_checkout(tmp_path: Path) -> None:
    """Patched, with a workflow that runs `patcher env` the old way: a second build in one
    checkout is warm, two CI jobs are not, and doctor says why; with docs/ci.md's line, warm."""
    project = ffi_project(tmp_path, patched=True)
    workflow = project / ".github" / "workflows" / "wheels.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(OLD_RECIPE, encoding="utf-8")

    dropped = diagnose(project, "--frontend", "uv")  # rust-cache, the default
    assert (dropped["ci"]["cache"], dropped["ci"]["ci_mode"]) == ("rust-cache", False)
    assert "without --ci" in dropped["ci"]["ci_mode_why"]
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

    workflow.write_text(FIXED_RECIPE, encoding="utf-8")
    fixed = diagnose(project, "--frontend", "uv")
    assert fixed["ci"]["ci_mode"] is True
    assert (fixed["warm"], fixed["crates"]) == (True, [])


# --- judging, on cargo's causes as cargolog reads them ----------------------------------

GRAPH = {
    "pyo3-build-config": {"own": False, "deps": []},
    "pyo3-ffi": {"own": False, "deps": ["pyo3-build-config"]},
    "app": {"own": True, "deps": ["pyo3-ffi"]},
    "helper": {"own": True, "deps": []},
}
PYO3_PYTHON = Cause(cargolog.ENV_CHANGED, "PYO3_PYTHON changed", "PYO3_PYTHON", "a", "b")
DEPENDENCY = Cause(cargolog.DEPENDENCY, "a dependency was rebuilt")


def _log(*stale: tuple[str, Cause]) -> BuildLog:
    names = list(dict.fromkeys(name for name, _ in stale))
    units = tuple(StaleUnit(name, "1.0.0", "t", "RunCustomBuild", cause) for name, cause in stale)
    return BuildLog(tuple((n, "1.0.0") for n in names), units, {(n, "1.0.0"): 1.5 for n in names})


def _diagnosis(findings: tuple[doctor.Finding, ...], *, patched: bool) -> doctor.Diagnosis:
    plan = doctor.Plan(Path("/p"), Path("/p"), "pip", patched, None, None, {})
    return doctor.Diagnosis(plan, (10.0, 4.5), findings)


def test_crates_rebuilt_for_a_pyo3_crate_are_fixed_with_it() -> None:
    log = _log(("pyo3-build-config", PYO3_PYTHON), ("pyo3-ffi", DEPENDENCY), ("app", DEPENDENCY))
    findings = doctor.judge(log, GRAPH, patched=False)
    assert [(f.name, f.category, f.via) for f in findings] == [
        ("pyo3-build-config", "patcher", ()),
        ("pyo3-ffi", "patcher", ("pyo3-build-config",)),
        ("app", "patcher", ("pyo3-build-config",)),
    ]
    text = _diagnosis(findings, patched=False).render()
    assert "3 crates recompile: 3 fixed by `patcher apply` + `patcher env --ci`" in text
    assert "rebuilt because pyo3-build-config was" in text
    assert "saves about 4.5 s" in text


def test_an_own_cause_comes_before_a_dependency() -> None:
    log = _log(("pyo3-build-config", PYO3_PYTHON), ("app", DEPENDENCY), ("app", PYO3_PYTHON))
    app = doctor.judge(log, GRAPH, patched=True)[1]
    assert (app.category, app.cause.variable, app.via) == ("own", "PYO3_PYTHON", ())
    diagnosis = _diagnosis(doctor.judge(log, GRAPH, patched=True), patched=True)
    assert diagnosis.verdict() == (
        "2 crates recompile: 1 in your own build scripts, "
        "1 that the patch should keep warm (run `patcher verify`): see below"
    )


def test_causes_patcher_does_not_fix_get_advice() -> None:
    path = Cause(cargolog.ENV_CHANGED, "PATH changed", "PATH", "x", "y")
    signature = Cause(cargolog.ENV_CHANGED, "sig", "PYO3_ENVIRONMENT_SIGNATURE", "x", "y")
    newer = Cause(cargolog.FILE_CHANGED, "newer", path="src/gen.rs")
    new_unit = Cause(cargolog.NEW_UNIT, "no earlier build")
    for cause, words in [
        (path, "rerun-if-env-changed=PATH"),
        (signature, "rust-analyzer"),
        (newer, "OUT_DIR"),
        (new_unit, "CARGO_TARGET_DIR"),
    ]:
        (finding,) = doctor.judge(_log(("helper", cause)), GRAPH, patched=False)
        assert (finding.category, finding.fixed_by_patcher) == ("own", False)
        assert finding.advice is not None and words in finding.advice


def test_a_warm_diagnosis_as_json_has_stable_keys() -> None:
    found = _diagnosis((), patched=False).as_json()
    assert list(found) == [
        "schema", "project", "frontend", "patched", "maturin", "target_dir", "ci", "builds", "warm",
        "crates", "summary", "verdict", "advice", "nothing_to_gain",
    ]  # fmt: skip
    assert found["warm"] is True


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


def test_doctor_says_where_the_patch_can_gain_nothing() -> None:
    """The reasons apply refuses for (gains.nothing_to_gain) come first in doctor's advice."""
    plan = doctor.Plan(Path("/p"), Path("/p"), "pip", False, None, None, {})
    why = "it builds stable-ABI wheels (abi3) with pyo3 >= 0.29 and maturin 1.16.0: ..."
    diagnosis = doctor.Diagnosis(plan, (10.0, 0.5), (), nothing_to_gain=(why,))
    assert diagnosis.advice()[0] == f"the patch can gain nothing here: {why}"
    assert diagnosis.as_json()["nothing_to_gain"] == [why]
    assert f"  - the patch can gain nothing here: {why}" in diagnosis.render()
