"""pyo3's interpreter discovery with our patch, built for real: PYO3_BASE_PYTHON set (and the
Python the build is for), empty, for another Python, and missing. Each case asks the build
script for its config (PYO3_PRINT_CONFIG) and reads which interpreter it took."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import BASE_PYTHON, make_venv, pythons

from patcher.upstreams import pyo3

VERSION = "0.28.3"


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("probe")
    dirs = pyo3.patched_release(VERSION, source="crates.io").directories
    pyo3._write_probe(work / "probe", VERSION, dirs)
    return work, make_venv(work / "venv")


def _config(work: Path, **env: str) -> tuple[set[str], str]:
    done = subprocess.run(
        ["cargo", "build", "--target-dir", str(work / "print")],
        cwd=work / "probe",
        env={**os.environ, **env, "PYO3_PRINT_CONFIG": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    said = done.stdout + done.stderr
    return set(re.findall(r"executable=(\S+)", said)), said


@pytest.mark.slow
def test_discovery_with_the_base_set_empty_for_another_python_and_missing(
    probe: tuple[Path, Path],
) -> None:
    work, venv = probe
    common = {"PYO3_PYTHON": str(venv), "PYO3_ENVIRONMENT_SIGNATURE": pyo3.signature()}

    # set, and the Python the build is for: the base, and PYO3_PYTHON is not even read
    found, said = _config(work, **common, PYO3_BASE_PYTHON=BASE_PYTHON)
    assert found == {BASE_PYTHON}, said
    assert "rerun-if-env-changed=PYO3_PYTHON\n" not in said

    # empty: an opt-out, upstream's behaviour (PYO3_PYTHON)
    found, said = _config(work, **common, PYO3_BASE_PYTHON="")
    assert found == {str(venv)}, said
    assert "ignored" not in said

    # for another Python (maturin's signature says what the build is for): a warning, and
    # upstream's behaviour
    found, said = _config(
        work,
        **{**common, "PYO3_ENVIRONMENT_SIGNATURE": "cpython-2.7-64bit"},
        PYO3_BASE_PYTHON=BASE_PYTHON,
    )
    assert found == {str(venv)}, said
    assert "warning" in said and "PYO3_BASE_PYTHON" in said and "it is ignored" in said

    # missing: an error that names the variable
    found, said = _config(work, **common, PYO3_BASE_PYTHON=str(work / "no-such-python"))
    assert not found
    assert "PYO3_BASE_PYTHON is set to" in said and "which is not a file" in said


@pytest.mark.slow
def test_a_base_of_another_version_is_ignored(probe: tuple[Path, Path]) -> None:
    work, venv = probe
    mine = pyo3.signature().split("-")[1]
    others = [path for version, path in pythons().items() if version != mine]
    if not others:
        pytest.skip("only one Python on this machine")
    found, said = _config(
        work,
        PYO3_PYTHON=str(venv),
        PYO3_ENVIRONMENT_SIGNATURE=pyo3.signature(),
        PYO3_BASE_PYTHON=others[0],
    )
    assert found == {str(venv)}, said
    assert "it is ignored" in said
