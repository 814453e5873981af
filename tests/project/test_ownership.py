"""What is ours and what is not: apply --force and remove with a user's entry, and a verify
that derives the expected trees instead of trusting the record's digests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import tomlkit
from helpers import bytes_of, copy_example, pins_without_derived, run_patcher, snapshot

from patcher import trees

FFI = "pyo3-ffi-0.28.3"


def _cargo_metadata(project: Path) -> None:
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1"], cwd=project, capture_output=True, check=True
    )


def test_force_replaces_a_users_entry_and_remove_puts_it_back(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    assert run_patcher("apply", "--project", project, "--dry-run").returncode == 0  # warm cache
    # the user's own pyo3-ffi: a local copy of the published crate
    registry = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1"],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    (ffi,) = [p for p in registry["packages"] if p["name"] == "pyo3-ffi"]
    shutil.copytree(Path(ffi["manifest_path"]).parent, tmp_path / "my-pyo3-ffi")
    manifest = project / "Cargo.toml"
    with manifest.open("a", encoding="utf-8") as f:
        f.write('\n[patch.crates-io]\npyo3-ffi = { path = "../my-pyo3-ffi" }  # my own fork\n')
    _cargo_metadata(project)  # the user's Cargo.lock now names their fork
    before = bytes_of(snapshot(project))

    refused = run_patcher("apply", "--project", project)
    assert refused.returncode == 3 and "--force" in refused.stderr
    assert bytes_of(snapshot(project)) == before

    forced = run_patcher("apply", "--project", project, "--force")
    assert forced.returncode == 0, forced.stderr
    text = manifest.read_text(encoding="utf-8")
    assert f'pyo3-ffi = {{ path = ".pyo3-patcher/{FFI}" }}  # my own fork' in text
    record = tomlkit.parse((project / "pyo3-patcher.lock").read_text(encoding="utf-8"))
    assert record["manifest"]["replaced"]["pyo3-ffi"] == '{ path = "../my-pyo3-ffi" }'
    assert run_patcher("verify", "--project", project).returncode == 0

    removed = run_patcher("remove", "--project", project)
    assert removed.returncode == 0, removed.stderr
    assert bytes_of(snapshot(project)) == before  # their entry, comment and lock, byte for byte


def _apply(project: Path, **env: str) -> None:
    result = run_patcher("apply", "--project", project, env=env)
    assert result.returncode == 0, result.stderr


def test_verify_is_not_fooled_by_a_digest_edited_with_the_file(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    _apply(project)
    tree = project / ".pyo3-patcher" / "pyo3-build-config-0.28.3"
    impl = tree / "src" / "impl_.rs"
    impl.write_text(
        impl.read_text(encoding="utf-8").replace("PYO3_BASE_PYTHON", "PYO3_SOMETHING_ELSE"),
        encoding="utf-8",
    )
    record_file = project / "pyo3-patcher.lock"
    record = tomlkit.parse(record_file.read_text(encoding="utf-8"))
    record["pyo3"]["digests"]["pyo3-build-config"] = trees.digest_of(tree)  # the same hand
    record_file.write_text(tomlkit.dumps(record), encoding="utf-8")

    result = run_patcher("verify", "--project", project)
    assert result.returncode == 7, result.stdout
    assert "FAIL tree pyo3-build-config: changed: src/impl_.rs" in result.stdout
    assert "digest was edited" in result.stdout


def test_verify_offline_with_a_cold_cache_checks_cargos_crates_against_the_pins(
    tmp_path: Path,
) -> None:
    """Our cache cold, cargo's warm: the crates come from cargo's cache, each checked against
    the crates.io checksum the pin ships, so the full check runs offline (with nothing that
    can vouch for the trees, verify fails: tests/project/test_verify_fails_closed.py)."""
    project = copy_example(tmp_path)
    _apply(project)
    cold = {"PYO3_PATCHER_CACHE_DIR": str(tmp_path / "empty-cache")}
    # the pins ship the trees' digests: nothing is derived
    result = run_patcher("verify", "--project", project, "--offline", env=cold)
    assert result.returncode == 0, result.stdout
    assert "checksums and commit" not in result.stderr
    # pins without them: the crates are derived from cargo's cache, checked against the pins
    cold["PYO3_PATCHER_PINS_DIR"] = str(pins_without_derived(tmp_path / "pins"))
    result = run_patcher("verify", "--project", project, "--offline", env=cold)
    assert result.returncode == 0, result.stdout
    assert "checksums and commit" in result.stderr
