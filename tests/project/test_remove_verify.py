from __future__ import annotations

import json
from pathlib import Path

from helpers import bytes_of, copy_example, run_patcher, snapshot


def _apply(project: Path) -> None:
    result = run_patcher("apply", "--project", project, "--source", "crates.io")
    assert result.returncode == 0, result.stderr


def test_remove_gives_back_the_exact_bytes(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    before = bytes_of(snapshot(project))
    _apply(project)
    assert bytes_of(snapshot(project)) != before
    result = run_patcher("remove", "--project", project)
    assert result.returncode == 0, result.stderr
    assert bytes_of(snapshot(project)) == before
    assert not (project / ".pyo3-patcher").exists()  # every tree, our rule files, the folder
    assert result.stdout.count("removed .pyo3-patcher/") == 9  # 5 trees, 4 rule files
    assert "updated pyproject.toml" in result.stdout  # our [tool.maturin] include


def test_remove_keeps_what_the_user_added_since(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    _apply(project)
    manifest = project / "Cargo.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        text.replace("[patch.crates-io]\n", "[patch.crates-io]\n# mine\n"), encoding="utf-8"
    )
    assert run_patcher("remove", "--project", project).returncode == 0
    after = manifest.read_text(encoding="utf-8")
    assert "# mine" in after and "pyo3-ffi = { path" not in after


def test_remove_with_nothing_to_undo_says_so(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    before = snapshot(project)
    result = run_patcher("remove", "--project", project)
    assert result.returncode == 0
    assert "nothing to undo" in result.stderr
    assert snapshot(project) == before


def test_verify_passes_after_apply_and_names_edits(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    assert run_patcher("verify", "--project", project).returncode == 7
    _apply(project)
    result = run_patcher("verify", "--project", project, "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["ok"] is True

    vendored = project / ".pyo3-patcher" / "pyo3-ffi-0.28.3"
    (vendored / "src" / "lib.rs").write_text("// edited\n", encoding="utf-8")
    (vendored / "extra.rs").write_text("", encoding="utf-8")
    (vendored / "README.md").unlink()
    result = run_patcher("verify", "--project", project)
    assert result.returncode == 7
    assert "changed: src/lib.rs" in result.stdout
    assert "added: extra.rs" in result.stdout
    assert "deleted: README.md" in result.stdout


def test_verify_catches_a_pyo3_upgrade_without_refresh(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    _apply(project)
    lock = project / "Cargo.lock"
    # what `cargo update` after bumping pyo3 leaves: registry entries of another release
    lock.write_text(
        lock.read_text(encoding="utf-8").replace('version = "0.28.3"', 'version = "0.28.2"'),
        encoding="utf-8",
    )
    result = run_patcher("verify", "--project", project)
    assert result.returncode == 7
    assert "run `patcher refresh`" in result.stdout
