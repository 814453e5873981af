"""The repository's own tooling and the vendored trees: git readers, formatters, linters."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import git, run_patcher

from patcher.project import vendor

MAKEFILE = ".pyo3-patcher/pyo3-0.28.3/emscripten/Makefile"  # has trailing whitespace
HOSTILE_ATTRIBUTES = "**/pyo3-*/** text eol=crlf working-tree-encoding=UTF-16 ident filter=theirs\n"


def _applied(template: Path, tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(template, project, symlinks=True)
    return project


def _committed(project: Path) -> Path:
    """Commit the project; return a fresh clone of it (as a release job checks it out: every
    file as new as the index, so gitoxide's status must read them, and their attributes)."""
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "patched", cwd=project)
    clone = project.parent / f"{project.name}-clone"
    git("clone", "-q", project, clone, cwd=project.parent)
    return clone


def _cargo_package_list(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cargo", "package", "--list", "--allow-dirty", "--offline"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_git_reader_takes_our_attributes_over_the_repositorys(
    applied_template: Path, tmp_path: Path
) -> None:
    """git, libgit2 (pygit2) and gitoxide (cargo, so maturin's sdist) all read our
    `.gitattributes`, and ours win over the repository's rules."""
    pygit2 = pytest.importorskip("pygit2")
    project = _applied(applied_template, tmp_path)
    (project / ".gitattributes").write_text(HOSTILE_ATTRIBUTES, encoding="utf-8")
    clone = _committed(project)
    path = ".pyo3-patcher/pyo3-0.28.3/src/lib.rs"

    shown = subprocess.run(
        ["git", "check-attr", "-a", path], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    for unset in ("text", "eol", "crlf", "ident", "filter"):
        assert f"{path}: {unset}: unset" in shown
    assert "working-tree-encoding" not in shown  # unspecified: no re-encoding
    assert f"{path}: linguist-generated: set" in shown

    repo = pygit2.Repository(str(project))
    for name in ("text", "eol", "crlf", "ident", "filter"):
        assert repo.get_attr(path, name) is False, name
    assert repo.get_attr(path, "working-tree-encoding") is None
    assert repo.get_attr(path, "linguist-vendored") is True

    listed = _cargo_package_list(clone)
    assert listed.returncode == 0, listed.stderr
    assert "src/lib.rs" in listed.stdout

    # and the clone has every vendored byte
    result = run_patcher("verify", "--project", clone, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_earlier_gitattributes_broke_cargo_and_apply_replaces_it(
    applied_template: Path, tmp_path: Path
) -> None:
    project = _applied(applied_template, tmp_path)
    attributes = project / ".pyo3-patcher" / ".gitattributes"
    attributes.write_text(vendor.EARLIER_ROOT_FILES[".gitattributes"][0], encoding="utf-8")
    clone = _committed(project)
    broken = _cargo_package_list(clone)
    assert broken.returncode != 0  # the control: what every patched project hit
    assert "Encodings must be names" in broken.stderr

    result = run_patcher("verify", "--project", project, "--offline")
    assert result.returncode != 0
    assert "written by an earlier patcher" in result.stdout

    result = run_patcher("apply", "--project", project, "--offline")
    assert result.returncode == 0, result.stderr
    assert "updated .pyo3-patcher/.gitattributes" in result.stdout
    git("commit", "-qam", "patcher apply", cwd=project)
    git("pull", "-q", cwd=clone)
    listed = _cargo_package_list(clone)
    assert listed.returncode == 0, listed.stderr


def test_a_formatter_rewrite_is_named_with_the_line_that_keeps_it_off(
    applied_template: Path, tmp_path: Path
) -> None:
    project = _applied(applied_template, tmp_path)
    (project / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: https://github.com/pre-commit/pre-commit-hooks\n  rev: v6.0.0\n"
        "  hooks:\n  - id: trailing-whitespace\n",
        encoding="utf-8",
    )
    # the real hook, as pre-commit runs it on the files of a commit
    fixer = subprocess.run(
        [sys.executable, "-m", "pre_commit_hooks.trailing_whitespace_fixer", MAKEFILE],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert fixer.returncode == 1, fixer.stdout  # it rewrote the file

    result = run_patcher("verify", "--project", project, "--offline")
    assert result.returncode != 0
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL formatters"))
    assert MAKEFILE in line
    assert "differ only in whitespace or line endings" in line
    hint = "pre-commit: add to .pre-commit-config.yaml: `exclude: ^\\.pyo3-patcher/`"
    assert hint in line

    # doctor says the same before it builds anything
    result = run_patcher("doctor", "--project", project)
    assert result.returncode == 3
    assert f"error: vendored files were rewritten: {MAKEFILE} differ only" in result.stderr
    assert hint in result.stderr
    assert not list(project.glob("target"))


def test_apply_says_each_tools_lines_and_they_keep_the_tool_off(tmp_path: Path) -> None:
    from helpers import copy_example

    project = copy_example(tmp_path)
    (project / ".pre-commit-config.yaml").write_text("repos: []\n", encoding="utf-8")
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write("\n[tool.ruff]\nline-length = 100\n\n[tool.black]\nline-length = 100\n")
    (project / ".flake8").write_text("[flake8]\nmax-line-length = 100\n", encoding="utf-8")
    (project / ".prettierrc").write_text("{}\n", encoding="utf-8")

    result = run_patcher("apply", "--project", project)
    assert result.returncode == 0, result.stderr
    notes = [x for x in result.stdout.splitlines() if x.startswith("note: ")]
    said = {
        "pre-commit": "add to .pre-commit-config.yaml: `exclude: ^\\.pyo3-patcher/` at the top "
        "level",
        "ruff": 'add to pyproject.toml: `extend-exclude = [".pyo3-patcher"]` and `force-exclude '
        "= true` in [tool.ruff]",
        "black": "add to pyproject.toml: `force-exclude = '^/\\.pyo3-patcher/'` in [tool.black]",
        "flake8": "add to .flake8: `extend-exclude = .pyo3-patcher` in [flake8]",
        "prettier": "add to .prettierignore: a line `.pyo3-patcher/`",
    }
    for tool, text in said.items():
        assert f"note: {tool}: {text}" in notes, notes

    # the lines as said, written in
    (project / ".pre-commit-config.yaml").write_text(
        "exclude: ^\\.pyo3-patcher/\nrepos: []\n", encoding="utf-8"
    )
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text("utf-8")
        .replace(
            "[tool.ruff]\n",
            '[tool.ruff]\nextend-exclude = [".pyo3-patcher"]\nforce-exclude = true\n',
        )
        .replace("[tool.black]\n", "[tool.black]\nforce-exclude = '^/\\.pyo3-patcher/'\n"),
        encoding="utf-8",
    )
    (project / ".flake8").write_text(
        "[flake8]\nmax-line-length = 100\nextend-exclude = .pyo3-patcher\n", encoding="utf-8"
    )
    (project / ".prettierignore").write_text(".pyo3-patcher/\n", encoding="utf-8")
    result = run_patcher("apply", "--project", project)
    assert result.returncode == 0, result.stderr
    assert not [x for x in result.stdout.splitlines() if x.startswith("note: ")]

    # ruff, given a vendored file by name (as pre-commit gives it), leaves it alone; and
    # `ruff check .` skips the vendor folder through the ruff.toml patcher put there
    vendored_py = next((project / ".pyo3-patcher").rglob("*.py"))
    ruff = [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "ALL"]
    named = subprocess.run(
        [*ruff, vendored_py], cwd=project, capture_output=True, text=True, check=False
    )
    assert "No Python files found" in named.stderr or named.returncode == 0, named.stdout
    (project / "pyproject.toml").write_text(
        pyproject.read_text("utf-8")
        .replace("force-exclude = true\n", "")
        .replace('extend-exclude = [".pyo3-patcher"]\n', ""),
        encoding="utf-8",
    )
    whole = subprocess.run([*ruff, "."], cwd=project, capture_output=True, text=True, check=False)
    assert ".pyo3-patcher" not in whole.stdout
    # pre-commit searches its top-level exclude in each path, relative to the repository
    assert re.search(r"^\.pyo3-patcher/", MAKEFILE)
