"""verify's note on a newer pinned release: cargo is asked only when the graph's own
requirements allow one (issue 24, item 7: one or two `cargo update` runs with the index)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_example, run_patcher

from patcher.project import resolve


@pytest.mark.parametrize(
    ("req", "version", "allowed"),
    [
        ("^0.28", "0.28.3", True),
        ("^0.28", "0.29.0", False),
        ("0.28", "0.28.9", True),
        ("=0.29.3", "0.29.3", True),
        ("=0.29.3", "0.30.0", False),
        (">=0.20, <0.30", "0.29.3", True),
        (">=0.20, <0.30", "0.30.1", False),
        ("~0.28", "0.28.5", True),
        ("~0.28", "0.29.0", False),
        ("0.28.*", "0.28.1", True),
        ("0.28.*", "0.29.0", False),
        ("*", "0.30.1", True),
        ("^0.0.3", "0.0.4", False),
        (">0.28", "0.29.0", True),
        (">0.28", "0.28.9", False),
        ("<=0.28", "0.28.9", True),
        ("<=0.28", "0.29.0", False),
        (">0.29.1", "0.29.1", False),
        ("^1", "1.9.0", True),
        ("=0.29.0-beta.1", "0.29.0", None),  # not understood: cargo decides
        (">=0.2x", "0.29.0", None),
    ],
)
def test_cargo_requirements_as_cargo_reads_them(req: str, version: str, allowed: bool) -> None:
    assert resolve.semver_allows(req, version) is allowed


def _graph(*reqs: tuple[str, str, str]) -> dict[str, object]:
    packages: dict[str, list[dict[str, str]]] = {}
    for owner, name, req in reqs:
        packages.setdefault(owner, []).append({"name": name, "req": req})
    return {"packages": [{"name": n, "dependencies": d} for n, d in packages.items()]}


def test_only_requirements_outside_the_pyo3_crates_count() -> None:
    graph = _graph(
        ("hello", "pyo3", "^0.28"),
        ("pyo3", "pyo3-ffi", "=0.28.3"),  # pyo3's own exact pins never count
        ("numpy", "pyo3", "^0.28"),
    )
    assert not resolve._any_allowed(graph, ["0.29.3", "0.30.1"])
    assert resolve._any_allowed(graph, ["0.28.4", "0.29.3"])
    wider = _graph(("hello", "pyo3", ">=0.28"), ("numpy", "pyo3", ">=0.28, <0.30"))
    assert resolve._any_allowed(wider, ["0.29.3"])
    assert not resolve._any_allowed(wider, ["0.30.1"])
    unknown = _graph(("hello", "pyo3", "=0.30.0-rc.1"))
    assert resolve._any_allowed(unknown, ["0.30.1"])  # not understood: cargo is asked


@pytest.mark.slow
def test_the_note_still_comes_where_a_newer_pin_is_allowed(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    assert run_patcher("apply", "--project", project).returncode == 0
    result = run_patcher("verify", "--project", project)
    assert result.returncode == 0, result.stdout
    assert "moves to it" not in result.stdout  # pyo3 = "0.28.3": no newer 0.28 pin
    manifest = project / "Cargo.toml"
    text = manifest.read_text(encoding="utf-8")
    assert 'pyo3 = "0.28.3"' in text, text
    manifest.write_text(text.replace('"0.28.3"', '">=0.28.3, <0.30"', 1), encoding="utf-8")
    result = run_patcher("verify", "--project", project)
    assert result.returncode == 0, result.stdout
    assert "note: pyo3 0.29." in result.stdout and "moves to it" in result.stdout
