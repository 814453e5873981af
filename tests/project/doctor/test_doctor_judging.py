"""`patcher doctor`'s judging of cargo's causes, as cargolog reads them, and its diagnosis
(verdict, advice, text, JSON): no build."""

from __future__ import annotations

from pathlib import Path

from patcher import cargolog
from patcher.cargolog import BuildLog, Cause, StaleUnit
from patcher.project import doctor

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
        "crates", "summary", "verdict", "advice", "nothing_to_gain", "workflows",
    ]  # fmt: skip
    assert found["warm"] is True  # no workflow says the CI runs something else


def test_doctor_says_where_the_patch_can_gain_nothing() -> None:
    """The reasons apply refuses for (gains.nothing_to_gain) come first in doctor's advice."""
    plan = doctor.Plan(Path("/p"), Path("/p"), "pip", False, None, None, {})
    why = "it builds stable-ABI wheels (abi3) with pyo3 >= 0.29 and maturin 1.16.0: ..."
    diagnosis = doctor.Diagnosis(plan, (10.0, 0.5), (), nothing_to_gain=(why,))
    assert diagnosis.advice()[0] == f"the patch can gain nothing here: {why}"
    assert diagnosis.as_json()["nothing_to_gain"] == [why]
    assert f"  - the patch can gain nothing here: {why}" in diagnosis.render()
