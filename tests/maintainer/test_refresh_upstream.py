"""`patcher refresh --upstream` (maintainers): our patches across upstream history, for both
upstreams, through real git repositories made from published releases."""

from __future__ import annotations

import shutil
from pathlib import Path

import git as gitpython
import pytest
from helpers import (
    REPO_ROOT,
    commit_release,
    make_maturin_repo,
    make_pyo3_repo,
    run_patcher,
)

IMPL = "pyo3-build-config/src/impl_.rs"


def _maintainer_checkout(tmp_path: Path, pins_dir: Path, **env: str) -> tuple[Path, dict[str, str]]:
    """A copy of this repository's patches/ and the given pins, as a maintainer's checkout
    that `refresh --upstream` may write to."""
    patches = tmp_path / "patches"
    shutil.copytree(REPO_ROOT / "patches", patches)
    env.update({"PYO3_PATCHER_PATCHES_DIR": str(patches), "PYO3_PATCHER_PINS_DIR": str(pins_dir)})
    return patches, env


def _synthetic_release(repo: gitpython.Repo, version: str, edit: tuple[str, str] | None) -> None:
    root = Path(repo.working_tree_dir or "")
    for manifest in [root / "Cargo.toml", *root.glob("pyo3-*/Cargo.toml")]:
        text = manifest.read_text("utf-8")
        manifest.write_text(
            text.replace(repo.git.describe("--tags").lstrip("v").split("-")[0], version),
            encoding="utf-8",
        )
    if edit is not None:
        impl = root / IMPL
        text = impl.read_text("utf-8")
        assert text.count(edit[0]) == 1
        impl.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    repo.git.add("-A")
    actor = gitpython.Actor("t", "t@example.invalid")
    repo.index.commit(f"release {version}", author=actor, committer=actor)
    repo.create_tag(f"v{version}")


@pytest.mark.slow
def test_patch_refresh_through_exact_three_way_and_conflict(tmp_path: Path) -> None:
    url, pins_dir = make_pyo3_repo(tmp_path / "upstream", ["0.29.2"])
    repo = gitpython.Repo(url.removeprefix("file://"))
    # 0.90.0: the code around the patch is unchanged (applies as is)
    _synthetic_release(repo, "0.90.0", None)
    # 0.91.0: a context line of the hunk changed: only a three-way merge works
    _synthetic_release(
        repo,
        "0.91.0",
        ("        Ok(env_interpreter)\n", "        Ok(env_interpreter) // from the venv\n"),
    )
    # 0.92.0: the very line the patch replaces changed: nothing works
    _synthetic_release(
        repo,
        "0.92.0",
        (
            '    if let Some(exe) = env_var("PYO3_PYTHON") {\n',
            '    if let Some(exe) = env_var("PYO3_PYTHON").filter(|e| !e.is_empty()) {\n',
        ),
    )
    patches, env = _maintainer_checkout(
        tmp_path,
        pins_dir,
        PYO3_PATCHER_PYO3_URL=url,
        PYO3_PATCHER_CACHE_DIR=str(tmp_path / "cache"),
    )

    before = {p.name: p.read_bytes() for p in (patches / "pyo3").iterdir()}
    pins_before = (pins_dir / "pyo3.toml").read_bytes()
    result = run_patcher("refresh", "--upstream", "pyo3@0.90.0", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "exact; variant base-python-v2 would be extended; compiles;" in result.stdout
    assert {p.name: p.read_bytes() for p in (patches / "pyo3").iterdir()} == before
    assert (pins_dir / "pyo3.toml").read_bytes() == pins_before

    result = run_patcher("refresh", "--upstream", "pyo3@0.90.0", env=env)
    assert result.returncode == 0, result.stderr
    assert "exact; variant base-python-v2 extended" in result.stdout
    assert "<=0.90.0" in (patches / "pyo3" / "variants.toml").read_text("utf-8")
    assert '[release."0.90.0"]' in (pins_dir / "pyo3.toml").read_text("utf-8")

    result = run_patcher("refresh", "--upstream", "pyo3@0.91.0", env=env)
    assert result.returncode == 0, result.stderr
    assert "three-way; variant base-python-v3 added" in result.stdout
    v3 = (patches / "pyo3" / "base-python-v3.patch").read_text("utf-8")
    assert "Ok(env_interpreter) // from the venv" in v3  # fresh context from the new release
    assert "PYO3_BASE_PYTHON" in v3

    before = {p.name: p.read_bytes() for p in (patches / "pyo3").iterdir()}
    pins_before = (pins_dir / "pyo3.toml").read_bytes()
    result = run_patcher("refresh", "--upstream", "pyo3@0.92.0", env=env)
    assert result.returncode == 5
    assert "conflicts in pyo3-build-config/src/impl_.rs" in result.stderr
    assert "--continue pyo3@0.92.0" in result.stderr
    assert {p.name: p.read_bytes() for p in (patches / "pyo3").iterdir()} == before
    assert (pins_dir / "pyo3.toml").read_bytes() == pins_before
    work = tmp_path / "cache" / "refresh" / "pyo3-0.92.0"
    assert "filter(|e| !e.is_empty())" in (work / "UPSTREAM-CHANGE.diff").read_text("utf-8")

    # a person resolves the conflict: keep both intents
    impl = work / "tree" / IMPL
    text = impl.read_text("utf-8")
    start, end = text.index("<<<<<<<"), text.index(">>>>>>>")
    end = text.index("\n", end) + 1
    resolved = (
        "    if let Some(exe) = base_interpreter()? {\n"
        "        Ok(exe)\n"
        '    } else if let Some(exe) = env_var("PYO3_PYTHON").filter(|e| !e.is_empty()) {\n'
    )
    impl.write_text(text[:start] + resolved + text[end:], encoding="utf-8")
    result = run_patcher("refresh", "--continue", "pyo3@0.92.0", env=env)
    assert result.returncode == 0, result.stderr
    assert "continued; variant base-python-v4 added" in result.stdout
    assert '[release."0.92.0"]' in (pins_dir / "pyo3.toml").read_text("utf-8")


COMPILE_RS = "src/compile.rs"


@pytest.mark.slow
def test_maturin_patches_of_both_kinds_through_three_way_and_conflict(
    tmp_path: Path, shared_cache: Path
) -> None:
    """maturin's history made from the published 1.16.0 source, with a repository of its own
    (tagged v1.90.0...). Both kinds of change are carried at once: the backend patch applies
    as it is; the compiled one (src/compile.rs) needs a three-way merge in 1.90.0 and a person
    in 1.91.0, and then nothing of either kind may be written until it is resolved. The session
    cache keeps cargo's maturin target dir: the first compiled check builds maturin, the next
    rebuild only maturin itself."""
    url, pins_dir = make_maturin_repo(tmp_path, "1.16.0", "1.89.0")
    repo = gitpython.Repo(url.removeprefix("file://"))
    # 1.90.0: a context line of the compiled hunk changed: only a three-way merge works
    commit_release(
        repo,
        "1.90.0",
        (COMPILE_RS, '"Setting PYO3_PYTHON to {}",', '"Setting PYO3_PYTHON to {} (venv)",'),
    )
    # 1.91.0: upstream added a line exactly where the compiled hunk inserts: nothing works
    commit_release(
        repo,
        "1.91.0",
        (
            COMPILE_RS,
            "                );\n                build_command\n",
            "                );\n                // the interpreter of the build venv\n"
            "                build_command\n",
        ),
    )
    patches, env = _maintainer_checkout(tmp_path, pins_dir, PYO3_PATCHER_MATURIN_URL=url)
    backend = "the backend hands maturin PYO3_BASE_PYTHON = the base interpreter"
    compiled = "builds; cargo gets PYO3_BASE_PYTHON (base) and PYO3_PYTHON (venv)"

    # the three-way base of the compiled variant is its own release, 1.16.0: from crates.io,
    # verified, as this repository has no such tag
    result = run_patcher("refresh", "--upstream", "maturin@1.90.0", env=env)
    assert result.returncode == 0, result.stderr
    assert "maturin 1.90.0 (backend): exact; variant backend-v2 extended; " + backend in (
        result.stdout
    )
    assert "maturin 1.90.0 (compiled): three-way; variant compiled-v3 added; " + compiled in (
        result.stdout
    )
    v3 = (patches / "maturin" / "compiled-v3.patch").read_text("utf-8")
    assert '"Setting PYO3_PYTHON to {} (venv)",' in v3  # fresh context from the new release
    variants = (patches / "maturin" / "variants.toml").read_text("utf-8")
    assert 'releases = ">=1.4.0,<1.90.0"' in variants  # compiled-v2, capped
    assert 'releases = ">=1.90.0"' in variants  # compiled-v3
    pinned = (pins_dir / "maturin.toml").read_text("utf-8")
    assert '[release."1.90.0"]' in pinned and '"maturin/__init__.py" = ' in pinned

    before = {p.name: p.read_bytes() for p in (patches / "maturin").iterdir()}
    pins_before = (pins_dir / "maturin.toml").read_bytes()
    result = run_patcher("refresh", "--upstream", "maturin@1.91.0", env=env)
    assert result.returncode == 5, result.stderr
    assert "conflicts in src/compile.rs" in result.stderr
    assert "--continue maturin@1.91.0" in result.stderr
    # the backend kind applied, but nothing of it was written either
    assert {p.name: p.read_bytes() for p in (patches / "maturin").iterdir()} == before
    assert (pins_dir / "maturin.toml").read_bytes() == pins_before
    work = shared_cache / "refresh" / "maturin-1.91.0-compiled"
    assert "+                // the interpreter of the build venv" in (
        work / "UPSTREAM-CHANGE.diff"
    ).read_text("utf-8")

    # a person resolves the conflict: our block, then upstream's new line
    compile_rs = work / "tree" / COMPILE_RS
    text = compile_rs.read_text("utf-8")
    start, middle, end = text.index("<<<<<<<"), text.index("======="), text.index(">>>>>>>")
    release_side = text[text.index("\n", start) + 1 : middle]
    patch_side = text[text.index("\n", middle) + 1 : end]
    end = text.index("\n", end) + 1
    compile_rs.write_text(text[:start] + patch_side + release_side + text[end:], "utf-8")
    result = run_patcher("refresh", "--continue", "maturin@1.91.0", env=env)
    assert result.returncode == 0, result.stderr
    assert "maturin 1.91.0 (backend): exact; variant backend-v2 extended" in result.stdout
    assert f"maturin 1.91.0 (compiled): continued; variant compiled-v4 added; {compiled}" in (
        result.stdout
    )
    assert '[release."1.91.0"]' in (pins_dir / "maturin.toml").read_text("utf-8")


def test_refresh_options_that_do_not_go_together(tmp_path: Path) -> None:
    offline = run_patcher("refresh", "--upstream", "pyo3@0.90.0", "--offline")
    assert offline.returncode == 2 and "pinning a new release needs the network" in offline.stderr
    url = run_patcher("refresh", "--project", tmp_path, "--url", "file:///x")
    assert url.returncode == 2 and "--url is for --upstream" in url.stderr
    waiting = run_patcher("refresh", "--continue", "maturin@9.9.9")
    assert waiting.returncode == 2 and "no refresh of maturin 9.9.9 is waiting" in waiting.stderr
    unknown = run_patcher("refresh", "--upstream", "numpy@1.0.0")
    assert unknown.returncode == 2 and "unknown upstream 'numpy'" in unknown.stderr
