"""What `patcher env` hands out, from a cache another job wrote: a second wheel of the same
version beside ours, a poisoned constraints.txt, a dangling link in its place. The frontends
(a real pip and a real uv) must install exactly the wheel this run derived, and nothing
planted is installed, run or written to. A stand-in backend (`probe`) says which maturin its
build environment got, so no Rust build is needed; tests/end_to_end/test_isolated_builds.py
builds for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    BASE_PYTHON,
    copy_example,
    env_lines,
    make_venv,
    maturin_cache,
    maturin_entry,
    run_patcher,
    snapshot,
    url_path,
)
from packaging.version import Version

from patcher import frontends

VERSION = "1.16.0+pyo3patcher.backend.v2"
PROBE_BACKEND = """
import importlib.metadata, sys
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = importlib.metadata.distribution("maturin")
    init = dist.locate_file("maturin/__init__.py").read_text()
    planted = "PLANTED" in init
    print(f"PROBE maturin {dist.version} planted={planted}", file=sys.stderr, flush=True)
    raise SystemExit("the probe only looks")
"""


def _probe(where: Path) -> Path:
    """A project that builds with maturin (any release the pins allow) through a stand-in
    backend that prints which maturin its build environment holds."""
    probe = where / "probe"
    probe.mkdir()
    (probe / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["maturin>=1.9,<2"]\nbuild-backend = "probe_backend"\n'
        'backend-path = ["."]\n\n[project]\nname = "probe"\nversion = "0.1"\n',
        encoding="utf-8",
    )
    (probe / "probe_backend.py").write_text(PROBE_BACKEND, encoding="utf-8")
    return probe


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return maturin_cache(tmp_path / "cache")


def _planted_wheel(entry: Path, work: Path) -> Path:
    """A wheel of our very name and version but a more specific tag (pip and uv prefer it),
    whose backend says PLANTED: what a job sharing the cache can drop beside ours."""
    (ours,) = entry.glob("maturin-*.whl")
    run = [sys.executable, "-m", "wheel"]
    subprocess.run([*run, "unpack", "-d", work, ours], check=True, capture_output=True)
    (tree,) = work.iterdir()
    with (tree / "maturin" / "__init__.py").open("a", encoding="utf-8") as f:
        f.write("\n# PLANTED\n")
    subprocess.run([*run, "pack", "-d", work, tree], check=True, capture_output=True)
    (packed,) = work.glob("*.whl")
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    subprocess.run(
        [*run, "tags", "--python-tag", tag, "--remove", packed], check=True, capture_output=True
    )
    (planted,) = work.glob("*.whl")
    return Path(shutil.move(str(planted), entry / planted.name))


def _which_maturin(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        cmd, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, check=False
    )
    said = [line.strip() for line in (done.stdout + done.stderr).splitlines()]
    found = [line for line in said if line.startswith("PROBE maturin")]
    assert found, "\n".join(said)[-3000:]
    return found[0]


def test_env_hands_out_only_the_wheel_it_derived(tmp_path: Path, cache: Path) -> None:
    """A second wheel of the same version with a more specific tag, and a constraints.txt that
    sends pip to a folder of planted wheels, in the cache entry: pip and uv install our wheel."""
    entry = maturin_entry(cache)
    planted = _planted_wheel(entry, tmp_path / "work")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy2(planted, elsewhere / planted.name)
    (entry / "constraints.txt").write_text(
        f"--find-links {elsewhere}\nmaturin=={VERSION}\n", encoding="utf-8"
    )
    project, probe = copy_example(tmp_path), _probe(tmp_path)
    before = snapshot(tmp_path, skip=("cache",))
    result = run_patcher("env", "--project", project, env={"PYO3_PATCHER_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert snapshot(tmp_path, skip=("cache",)) == before  # nothing outside the cache
    env = env_lines(result.stdout)
    assert not any(str(entry) in url_path(v.split()[0]).as_posix() for v in env.values())
    (handed,) = url_path(env["UV_FIND_LINKS"]).glob("*.whl")  # alone in its folder
    assert handed.name == next(entry.glob("*py3-none*.whl")).name

    pip = make_venv(tmp_path / "venv", with_pip=True)
    built = {
        "pip": _which_maturin(
            [str(pip), "-m", "pip", "wheel", "--no-deps", str(probe)], env, tmp_path
        ),
        "uv": _which_maturin(
            [frontends.uv(), "build", "--wheel", str(probe)],
            {**env, "UV_PYTHON": BASE_PYTHON, "UV_CACHE_DIR": str(tmp_path / "uv-cache")},
            tmp_path,
        ),
    }
    assert built == dict.fromkeys(built, f"PROBE maturin {VERSION} planted=False")


def test_a_dangling_link_in_the_cache_entry_is_never_written_through(
    tmp_path: Path, cache: Path
) -> None:
    """constraints.txt a link to a file in a folder that does not exist: patcher once wrote
    through it (a file anywhere), or crashed (exit 70) where it could not."""
    entry = maturin_entry(cache)
    outside = tmp_path / "outside"
    outside.mkdir()
    (entry / "constraints.txt").unlink(missing_ok=True)  # what an older patcher wrote there
    (entry / "constraints.txt").symlink_to(outside / "missing" / "constraints.txt")
    (entry / "other.txt").symlink_to(outside / "written.txt")
    project = copy_example(tmp_path)
    before = snapshot(tmp_path, skip=("cache",))
    result = run_patcher("env", "--project", project, env={"PYO3_PATCHER_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert snapshot(tmp_path, skip=("cache",)) == before


@pytest.mark.parametrize("fmt", ["plain", "shell", "ci"])
def test_an_inherited_value_with_a_line_break_is_refused(tmp_path: Path, fmt: str) -> None:
    """A line break in a value we pass on would end its line in $GITHUB_ENV, and the rest
    would set a variable of its own for every later step."""
    project = copy_example(tmp_path)
    before = snapshot(tmp_path)
    args = ["--ci"] if fmt == "ci" else ["--format", fmt]
    result = run_patcher(
        "env", "--project", project, *args, env={"PIP_FIND_LINKS": "/wheels\nBASH_ENV=/tmp/evil"}
    )
    assert result.returncode == 2, result.stderr
    assert "error: the inherited PIP_FIND_LINKS holds a line break" in result.stderr
    assert result.stdout == ""
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("has_build_constraints", [True, False])
def test_pip_constraint_only_where_pip_has_no_build_constraints(
    tmp_path: Path, has_build_constraints: bool
) -> None:
    """pip 25.3 reads PIP_BUILD_CONSTRAINT, which reaches only isolated builds; before it,
    PIP_CONSTRAINT is needed, and it pins every pip command that reads it."""
    folder = tmp_path / "cache" / "env" / "a folder with spaces"
    folder.mkdir(parents=True)
    (folder / "CACHEDIR.TAG").touch()
    wheel = folder / f"maturin-{VERSION}-py3-none-any.whl"
    wheel.write_bytes(b"stand-in")
    env = frontends.environment(
        wheel=wheel,
        version=VERSION,
        digest="ab" * 32,
        existing={},
        pip_build_constraints=has_build_constraints,
    )
    assert ("PIP_CONSTRAINT" in env) is not has_build_constraints
    assert all(" " not in value and "\n" not in value for value in env.values())
    assert env["PIP_FIND_LINKS"] == f"{wheel.as_uri()}#sha256={'ab' * 32}"
    assert url_path(env["UV_FIND_LINKS"]) == folder


def _pip_metadata(folder: Path, name: str, version: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: pip\nVersion: {version}\n\nVersion: 0\n", encoding="utf-8"
    )


@pytest.mark.parametrize(
    "layout",
    ["this python", "new pip", "old pip", "first folder wins", "egg-info first", "no pip", "zip"],
)
def test_pip_version_as_importlib_metadata_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """Whether pip has build constraints is read without importing importlib.metadata where
    its metadata is a plain folder, and the answer is importlib.metadata's."""
    import importlib.metadata

    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    if layout != "this python":
        monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(one), str(two)])
    if layout == "new pip":
        _pip_metadata(two, "pip-25.3.dist-info", "25.3")
    elif layout == "old pip":
        _pip_metadata(one, "PIP-24.0.dist-info", "24.0")
    elif layout == "first folder wins":
        _pip_metadata(one, "pip-24.0.dist-info", "24.0")
        _pip_metadata(two, "pip-25.3.dist-info", "25.3")
    elif layout == "egg-info first":
        _pip_metadata(one, "pip-25.3.egg-info", "25.3")
        _pip_metadata(two, "pip-24.0.dist-info", "24.0")
    elif layout == "zip":
        (one / "archive.zip").write_bytes(b"")
        sys.path.insert(0, str(one / "archive.zip"))
    fast = frontends._pip_version()
    try:
        expected = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        expected = ""
    if layout in ("egg-info first", "zip"):
        assert fast is None  # left to importlib.metadata
    else:
        assert fast == expected
    assert frontends.pip_has_build_constraints() is (
        bool(expected) and Version(expected) >= frontends.PIP_BUILD_CONSTRAINTS
    )
