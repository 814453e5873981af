"""pyproject.toml's `[tool.maturin] include` of the vendor folder: added surgically, taken out
byte for byte, checked by verify without a build (the builds: end_to_end/test_sdist_builds.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import bytes_of, copy_example, run_patcher, snapshot, write_crate

from patcher.errors import ProjectError
from patcher.project import sdist

GLOB = ".pyo3-patcher/**/*"
PATH = Path("pyproject.toml")
TEXTS = {
    "no [tool.maturin]": '[project]\nname = "x"\n',
    "no final newline": '[project]\nname = "x"',
    "empty file": "",
    "[tool] of other tools": "[tool.ruff]\nline-length = 100\n\n[tool.black]\nx = 1\n",
    "[tool.maturin] without include": (
        '[tool.maturin]\nfeatures = ["pyo3/extension-module"]  # why\n\n[tool.ruff]\nx = 1\n'
    ),
    "their include, one line": '[tool.maturin]\ninclude = ["a.txt"]  # mine\nbindings = "pyo3"\n',
    "their include, one a line": (
        '[tool.maturin]\ninclude = [\n    "a.txt",\n    { path = "b", format = "sdist" },\n]\n'
    ),
    "an empty include": "[tool.maturin]\ninclude = []\n",
}


@pytest.mark.parametrize("name", list(TEXTS))
def test_the_include_is_added_and_taken_out_byte_for_byte(name: str) -> None:
    old = TEXTS[name]
    edit = sdist.plan_include(old, GLOB, PATH)
    assert edit is not None
    assert edit.text.startswith(old.rstrip("\n")) or edit.how in ("key", "element")
    assert sdist.plan_include(edit.text, GLOB, PATH) is None  # already there: nothing to do
    assert sdist.remove_include(edit.text, GLOB, edit.how, PATH) == old


def test_remove_leaves_what_the_user_added_after_apply() -> None:
    old = '[project]\nname = "x"\n'
    edit = sdist.plan_include(old, GLOB, PATH)
    assert edit is not None and edit.how == "table"
    later = edit.text.replace("include = [", 'bindings = "pyo3"\ninclude = [')
    assert sdist.remove_include(later, GLOB, edit.how, PATH) == (
        '[project]\nname = "x"\n\n[tool.maturin]\nbindings = "pyo3"\n'
    )
    gone = sdist.remove_include(old, GLOB, edit.how, PATH)  # the user took it out already
    assert gone == old


@pytest.mark.parametrize(
    "text",
    [
        '[tool.maturin]\ninclude = "a.txt"\n',
        "tool = { maturin = { features = [] } }\n",
        "[tool]\nmaturin = 1\n",
    ],
)
def test_a_layout_it_cannot_undo_exactly_is_refused_with_the_line_to_add(text: str) -> None:
    with pytest.raises(ProjectError) as err:
        sdist.plan_include(text, GLOB, PATH)
    assert sdist.line(GLOB) in (err.value.hint or "")


def test_apply_and_remove_keep_crlf_and_the_users_include(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text("utf-8") + 'include = [\n    "LICENSE",  # theirs\n]\n'
    pyproject.write_bytes(text.replace("\n", "\r\n").encode())
    (project / "LICENSE").write_text("MIT\n", encoding="utf-8")
    before = bytes_of(snapshot(project))

    result = run_patcher("apply", "--project", project)
    assert result.returncode == 0, result.stderr
    after = pyproject.read_bytes()
    assert b'"LICENSE",  # theirs\r\n' in after
    assert f'{{path = "{GLOB}", format = "sdist"}},\r\n'.encode() in after
    assert b"\r\n" in after and b"\n" not in after.replace(b"\r\n", b"")
    assert 'sdist-include = "element"' in (project / "pyo3-patcher.lock").read_text("utf-8")

    result = run_patcher("remove", "--project", project)
    assert result.returncode == 0, result.stderr
    assert bytes_of(snapshot(project)) == before


def _applied(template: Path, tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(template, project, symlinks=True)
    return project


def test_verify_names_a_missing_include_and_an_exclude_that_drops_vendored_files(
    applied_template: Path, tmp_path: Path
) -> None:
    project = _applied(applied_template, tmp_path)
    pyproject = project / "pyproject.toml"
    ours = f'include = [{{path = "{GLOB}", format = "sdist"}}]\n'
    text = pyproject.read_text("utf-8")
    assert ours in text

    pyproject.write_text(text.replace(ours, ""), encoding="utf-8")
    result = run_patcher("verify", "--project", project, "--offline")
    assert result.returncode != 0
    assert "FAIL sdist carries the vendored trees: [tool.maturin] include lacks" in result.stdout
    assert sdist.line(GLOB) in result.stdout

    pyproject.write_text(text + 'exclude = ["**/*.md"]\n', encoding="utf-8")
    result = run_patcher("verify", "--project", project, "--offline")
    assert result.returncode != 0
    assert "[tool.maturin] exclude leaves .pyo3-patcher/" in result.stdout

    pyproject.write_text(text + 'exclude = [{path = "**/*.md", format = "wheel"}]\n', "utf-8")
    result = run_patcher("verify", "--project", project, "--offline")
    assert result.returncode == 0, result.stdout  # a wheel-only exclude leaves the sdist alone


def test_pyproject_below_the_workspace_root_is_refused_unless_no_sdist(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    member = workspace / "py"
    write_crate(member, "ext", 'pyo3 = "0.28.3"')
    (workspace / "Cargo.toml").write_text('[workspace]\nmembers = ["py"]\n', encoding="utf-8")
    (member / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["maturin>=1.9,<2"]\nbuild-backend = "maturin"\n',
        encoding="utf-8",
    )
    before = snapshot(workspace)
    result = run_patcher("apply", "--project", member)
    assert result.returncode == 3
    assert "no include can carry .pyo3-patcher/" in result.stderr
    assert "hint: if this project publishes no sdist, set `sdist = false`" in result.stderr
    assert snapshot(workspace) == before

    with (member / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write("\n[tool.pyo3-patcher]\nsdist = false\n")
    result = run_patcher("apply", "--project", member)
    assert result.returncode == 0, result.stderr
    assert "include" not in (member / "pyproject.toml").read_text("utf-8")
    result = run_patcher("verify", "--project", member, "--offline")
    assert result.returncode == 0, result.stdout
    assert "sdist" not in result.stdout
