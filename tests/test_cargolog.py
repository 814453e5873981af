"""cargolog reads cargo's own fingerprint and job logs: each cause is made to happen in a real
cargo build of two tiny crates (no dependencies from the registry: a second each)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import plain_crate

from patcher import cargolog

BUILD_RS = """fn main() {
    println!("cargo:rerun-if-env-changed=DOCTOR_PROBE");
    println!("cargo:rerun-if-changed=watched.txt");
}
"""


@pytest.fixture
def crates(tmp_path: Path) -> Path:
    """`app` depends on `dep`, whose build script watches a variable and a file."""
    plain_crate(tmp_path / "dep", "dep")
    (tmp_path / "dep" / "build.rs").write_text(BUILD_RS, encoding="utf-8")
    (tmp_path / "dep" / "watched.txt").write_text("1\n", encoding="utf-8")
    plain_crate(tmp_path / "app", "app", 'dep = { path = "../dep" }\n')
    _build(tmp_path / "app", {"DOCTOR_PROBE": "one"})
    return tmp_path


def _build(project: Path, env: dict[str, str]) -> cargolog.BuildLog:
    done = subprocess.run(
        ["cargo", "build", "--offline"],
        cwd=project,
        env={**os.environ, **env, **cargolog.LOG_ENV, "CARGO_TARGET_DIR": str(project / "t")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return cargolog.parse(done.stderr)


def _only_root(log: cargolog.BuildLog) -> cargolog.StaleUnit:
    (root,) = [u for u in log.stale if u.cause.kind != cargolog.DEPENDENCY]
    return root


def test_an_environment_variable_a_build_script_watches(crates: Path) -> None:
    log = _build(crates / "app", {"DOCTOR_PROBE": "two"})
    assert [name for name, _ in log.recompiled] == ["dep", "app"]
    root = _only_root(log)
    assert (root.package, root.mode) == ("dep", "RunCustomBuild")
    assert root.cause == cargolog.Cause(
        cargolog.ENV_CHANGED,
        "DOCTOR_PROBE changed: 'one' -> 'two'",
        variable="DOCTOR_PROBE",
        old="one",
        new="two",
    )
    assert {u.package for u in log.stale if u.cause.kind == cargolog.DEPENDENCY} >= {"app"}
    assert set(log.seconds) >= {("dep", "0.1.0"), ("app", "0.1.0")}
    assert all(s >= 0 for s in log.seconds.values())


def test_a_variable_that_was_unset(crates: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DOCTOR_PROBE"}
    done = subprocess.run(
        ["cargo", "build", "--offline"],
        cwd=crates / "app",
        env={**env, **cargolog.LOG_ENV, "CARGO_TARGET_DIR": str(crates / "app" / "t")},
        capture_output=True,
        text=True,
        check=True,
    )
    cause = _only_root(cargolog.parse(done.stderr)).cause
    assert (cause.variable, cause.old, cause.new) == ("DOCTOR_PROBE", "one", None)
    assert cause.text == "DOCTOR_PROBE changed: 'one' -> (unset)"


def test_a_watched_file_that_is_missing_and_one_that_changed(crates: Path) -> None:
    watched = crates / "dep" / "watched.txt"
    watched.unlink()
    cause = _only_root(_build(crates / "app", {"DOCTOR_PROBE": "one"})).cause
    assert (cause.kind, cause.path) == (cargolog.FILE_MISSING, str(watched))

    watched.write_text("2\n", encoding="utf-8")
    _build(crates / "app", {"DOCTOR_PROBE": "one"})
    future = watched.stat().st_mtime + 60
    os.utime(watched, (future, future))
    cause = _only_root(_build(crates / "app", {"DOCTOR_PROBE": "one"})).cause
    assert (cause.kind, cause.path) == (cargolog.FILE_CHANGED, str(watched))


def test_other_settings_are_a_new_unit_and_a_warm_build_is_empty(crates: Path) -> None:
    warm = _build(crates / "app", {"DOCTOR_PROBE": "one"})
    assert (warm.recompiled, warm.stale) == ((), ())

    flagged = _build(crates / "app", {"DOCTOR_PROBE": "one", "RUSTFLAGS": "-Cdebuginfo=1"})
    kinds = {u.cause.kind for u in flagged.stale}
    assert cargolog.NEW_UNIT in kinds or cargolog.RUSTFLAGS_CHANGED in kinds


@pytest.mark.parametrize(
    ("reason", "kind", "detail"),
    [
        (
            'EnvVarChanged { name: "P", old_value: Some("a \\"q\\""), new_value: None }',
            cargolog.ENV_CHANGED,
            "P changed: 'a \"q\"' -> (unset)",
        ),
        (
            'FsStatusOutdated(StaleItem(ChangedEnv { var: "V", previous: None, '
            'current: Some("x") }))',
            cargolog.ENV_CHANGED,
            "V changed: (unset) -> 'x'",
        ),
        ("FsStatusOutdated(StaleDepFingerprint { unit: UnitIndex(3) })", cargolog.DEPENDENCY, None),
        ('RustflagsChanged { old: ["-Ca"], new: [] }', cargolog.RUSTFLAGS_CHANGED, None),
        ("SomethingCargoAddsLater { x: 1 }", cargolog.OTHER, "SomethingCargoAddsLater { x: 1 }"),
    ],
)
def test_causes_cargo_words_in_other_ways(reason: str, kind: str, detail: str | None) -> None:
    cause = cargolog.cause_of(reason)
    assert cause.kind == kind
    if detail is not None:
        assert cause.text == detail


def test_a_log_that_is_not_cargo_s_gives_nothing() -> None:
    log = cargolog.parse("Compiling\nrandom noise\n   0.1s  INFO nothing: here\n")
    assert (log.recompiled, log.stale, log.seconds) == ((), (), {})
