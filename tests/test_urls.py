"""URLs are data: a git URL from a project's pyproject.toml or the environment never reaches
git as an option or as a transport that runs a program (issue 18, class 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_example, marker_script, run_patcher, snapshot

from patcher import git
from patcher.errors import UsageError


def _hostile_urls(script: Path) -> list[str]:
    return [
        f"--upload-pack={script}",
        f"-u{script}",
        f"ext::sh -c {script}",
        f"ext::{script}",
        "fd::3",
        f"ssh://-oProxyCommand={script}/x",
        f"file:///tmp/x\n--upload-pack={script}",
        "/plain/path",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/PyO3/pyo3.git",
        "http://mirror.example/pyo3.git",
        "ssh://git@github.com/PyO3/pyo3.git",
        "git://mirror.example/pyo3.git",
        "file:///srv/mirrors/pyo3.git",
        "git@github.com:PyO3/pyo3.git",
        "mirror.example:pyo3.git",
    ],
)
def test_supported_urls_pass(url: str) -> None:
    assert git.url_problem(url) is None


def test_hostile_urls_are_refused_before_git_runs(tmp_path: Path) -> None:
    script, marker = marker_script(tmp_path)
    for url in _hostile_urls(script):
        assert git.url_problem(url) is not None, url
        # the boundary refuses on its own too, whoever calls it
        with pytest.raises(UsageError):
            git.fetch_tag_commit(tmp_path / "mirror.git", url, "v1")
    assert not marker.exists()


@pytest.mark.parametrize("setting", ["pyo3-url", "maturin-url"])
@pytest.mark.parametrize("command", ["apply", "verify", "env"])
def test_a_hostile_url_setting_is_refused(tmp_path: Path, setting: str, command: str) -> None:
    script, marker = marker_script(tmp_path)
    project = copy_example(tmp_path / "project")
    with (project / "pyproject.toml").open("a", encoding="utf-8") as stream:
        stream.write(f'\n[tool.pyo3-patcher]\n{setting} = "--upload-pack={script}"\n')
    before = snapshot(project), snapshot(tmp_path / "decoy")
    result = run_patcher(command, "--project", project)
    assert result.returncode == 3, result.stderr
    assert "is not a git URL patcher fetches from" in result.stderr
    assert "hint:" in result.stderr
    assert (snapshot(project), snapshot(tmp_path / "decoy")) == before
    assert not marker.exists()


@pytest.mark.parametrize("variable", ["PYO3_PATCHER_PYO3_URL", "PYO3_PATCHER_MATURIN_URL"])
def test_a_hostile_url_variable_is_refused(tmp_path: Path, variable: str) -> None:
    script, marker = marker_script(tmp_path)
    project = copy_example(tmp_path / "project")
    with (project / "pyproject.toml").open("a", encoding="utf-8") as stream:
        stream.write('\n[tool.pyo3-patcher]\nmaturin-patch = "compiled"\n')
    before = snapshot(project), snapshot(tmp_path / "decoy")
    command = "apply" if variable == "PYO3_PATCHER_PYO3_URL" else "env"
    for hostile in (f"--upload-pack={script}", f"ext::sh -c {script}"):
        result = run_patcher(command, "--project", project, env={variable: hostile})
        assert result.returncode == 2, result.stderr
        assert f"{variable} = " in result.stderr and "hint:" in result.stderr
    assert (snapshot(project), snapshot(tmp_path / "decoy")) == before
    assert not marker.exists()
