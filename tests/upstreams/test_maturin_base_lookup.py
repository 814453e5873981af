"""How maturin's half finds the base interpreter: the script both maturin patches carry, run
in real venvs of every Python 3.9 to 3.13 this machine has, made four ways."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import base_lookup_script, pythons

SCRIPT = base_lookup_script("backend-v2.patch") + "\nprint(_pyo3_patcher_base_python())\n"
PYTHONS = pythons()
KINDS = ["venv", "venv --copies", "virtualenv", "uv venv"]


def test_both_patches_carry_the_same_script() -> None:
    assert base_lookup_script("backend-v2.patch") == base_lookup_script("compiled-v2.patch")


def _make(kind: str, python: str, where: Path) -> Path:
    commands = {
        "venv": [python, "-m", "venv", "--without-pip", str(where)],
        "venv --copies": [python, "-m", "venv", "--copies", "--without-pip", str(where)],
        "virtualenv": [
            sys.executable,
            "-m",
            "virtualenv",
            "-q",
            "--no-seed",
            "-p",
            python,
            str(where),
        ],
        "uv venv": [
            str(Path(sys.executable).parent / "uv"),
            "venv",
            "-q",
            "-p",
            python,
            str(where),
        ],
    }
    subprocess.run(commands[kind], check=True, capture_output=True)
    return where / "bin" / "python"


def _lookup(venv_python: Path, **env: str) -> str:
    done = subprocess.run(
        [str(venv_python), "-c", SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    return done.stdout.strip()


def _version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", ["3.9", "3.10", "3.11", "3.12", "3.13"])
def test_two_venvs_find_the_same_base_of_their_own_version(
    tmp_path: Path, version: str, kind: str
) -> None:
    if version not in PYTHONS:
        pytest.skip(f"no Python {version} on this machine")
    bases = {_lookup(_make(kind, PYTHONS[version], tmp_path / name)) for name in ("job-1", "job-2")}
    assert len(bases) == 1, bases  # the same path from two throwaway venvs
    (base,) = bases
    assert Path(base).is_file() and not base.startswith(str(tmp_path))
    assert _version(base) == version


def test_an_inherited_base_of_another_python_is_replaced(tmp_path: Path) -> None:
    others = [v for v in PYTHONS if v != f"{sys.version_info[0]}.{sys.version_info[1]}"]
    if not others:
        pytest.skip("only one Python on this machine")
    venv = _make("venv", sys.executable, tmp_path / "venv")
    own = _lookup(venv)
    assert _lookup(venv, PYO3_BASE_PYTHON=PYTHONS[others[0]]) == own
    assert _lookup(venv, PYO3_BASE_PYTHON=str(tmp_path / "not-a-python")) == own
    assert _lookup(venv, PYO3_BASE_PYTHON=own) == own  # the right one is kept


def test_a_copies_venv_whose_home_holds_another_python_finds_none(tmp_path: Path) -> None:
    """The known trap: a `--copies` venv whose pyvenv.cfg `home` has `python3` of another
    version (and not its own). Without the check of the version, that one would be taken."""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    others = [v for v in PYTHONS if v != mine]
    if not others:
        pytest.skip("only one Python on this machine")
    home = tmp_path / "home" / "bin"
    home.mkdir(parents=True)
    for name in ("python", "python3"):
        (home / name).symlink_to(PYTHONS[others[0]])
    real_prefix = Path(PYTHONS.get(mine, sys.executable)).resolve().parent.parent
    (home.parent / "lib").symlink_to(real_prefix / "lib")  # its own stdlib, to start at all
    venv = _make("venv --copies", PYTHONS.get(mine, sys.executable), tmp_path / "trap")
    cfg = venv.parent.parent / "pyvenv.cfg"
    cfg.write_text(
        "\n".join(
            f"home = {home}" if line.startswith("home =") else line
            for line in cfg.read_text(encoding="utf-8").splitlines()
        )
        + "\n",
        encoding="utf-8",
    )
    assert _lookup(venv) == ""
