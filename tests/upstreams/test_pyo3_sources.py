"""Real pyo3 sources for releases of different years, through both source paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import git as gitpython
import pytest
from helpers import make_pyo3_repo

from patcher.errors import SourceError
from patcher.upstreams import pins, pyo3, variants

RELEASES = ["0.20.3", "0.22.6", "0.30.1"]  # 2023, 2024, 2026


@pytest.fixture(scope="module")
def upstream_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    return make_pyo3_repo(tmp_path_factory.mktemp("upstream"), RELEASES)


def _check_patched(version: str, origin: str, pristine: pyo3.PristineRelease) -> None:
    assert pristine.origin == origin
    patched = pyo3.patched(pristine, variants.select_variant("pyo3", version))
    assert patched.outcome == "patched"
    impl = (patched.directories["pyo3-build-config"] / "src" / "impl_.rs").read_text("utf-8")
    assert 'env_var("PYO3_BASE_PYTHON")' in impl
    assert impl.index('env_var("PYO3_BASE_PYTHON")') < impl.index('env_var("PYO3_PYTHON")')
    # each vendored crate loads alone, as cargo needs for a path dependency
    for name, directory in patched.directories.items():
        result = subprocess.run(
            [
                "cargo",
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--offline",
                "--manifest-path",
                str(directory / "Cargo.toml"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, (name, result.stderr)
        assert f'"version":"{version}"' in result.stdout


@pytest.mark.parametrize("version", RELEASES)
def test_git_source_from_a_repository_cloned_by_url(
    version: str, upstream_repo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, pins_dir = upstream_repo
    monkeypatch.setenv("PYO3_PATCHER_PINS_DIR", str(pins_dir))
    pin = pins.get_pin("pyo3", version)
    pristine = pyo3.pristine(pin, source="git", url=url)
    _check_patched(version, "git", pristine)


@pytest.mark.parametrize("version", RELEASES)
def test_published_crates_verified_against_the_real_pins(version: str) -> None:
    pin = pins.get_pin("pyo3", version)
    pristine = pyo3.pristine(pin, source="crates.io")
    _check_patched(version, "crates.io", pristine)


def test_auto_falls_back_to_crates_and_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cold"))
    pin = pins.get_pin("pyo3", "0.22.6")
    pristine = pyo3.pristine(pin, source="auto", url=(tmp_path / "nothing").as_uri())
    assert pristine.origin == "crates.io"
    assert "FALLING BACK" in capsys.readouterr().err


def test_a_moved_tag_is_an_error(
    tmp_path: Path, upstream_repo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, pins_dir = upstream_repo
    clone = gitpython.Repo.clone_from(url, tmp_path / "moved")
    with clone.config_writer() as cfg:
        cfg.set_value("user", "name", "t")
        cfg.set_value("user", "email", "t@example.invalid")
    clone.git.checkout("v0.22.6")
    clone.index.commit("sneaky", skip_hooks=True)
    clone.create_tag("v0.22.6", force=True)
    monkeypatch.setenv("PYO3_PATCHER_PINS_DIR", str(pins_dir))
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cache"))
    pin = pins.get_pin("pyo3", "0.22.6")
    with pytest.raises(SourceError, match="moved"):
        pyo3.pristine(pin, source="git", url=(tmp_path / "moved").as_uri())


def test_a_registry_crate_from_another_commit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pins_dir = tmp_path / "pins"
    pins_dir.mkdir()
    (pins_dir / "pyo3.toml").write_text(
        '[release."0.22.6"]\ntag = "v0.22.6"\ncommit = "' + "1" * 40 + '"\n', encoding="utf-8"
    )
    monkeypatch.setenv("PYO3_PATCHER_PINS_DIR", str(pins_dir))
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(SourceError, match="was built from"):
        pyo3.pristine(pins.get_pin("pyo3", "0.22.6"), source="crates.io")
