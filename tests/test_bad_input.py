"""Every bad input we know of: a clear error, a hint, a documented exit code, and the project
unchanged. The table in docs/bad-input.md is produced from these cases: run
`PYO3_PATCHER_UPDATE_DOCS=1 python -m pytest tests/test_bad_input.py` to regenerate it."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import EXAMPLE, REPO_ROOT, run_patcher, snapshot

DOC = REPO_ROOT / "docs" / "bad-input.md"
ROWS: dict[str, tuple[int, str]] = {}


def _example(tmp_path: Path, name: str = "example") -> Path:
    project = tmp_path / name
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", ".pyo3-patcher"))
    return project


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def _patches_with(tmp_path: Path, diff: str) -> dict[str, str]:
    patches = tmp_path / "patches"
    shutil.copytree(REPO_ROOT / "patches", patches)
    (patches / "pyo3" / "base-python-v1.patch").write_text(diff, encoding="utf-8")
    return {
        "PYO3_PATCHER_PATCHES_DIR": str(patches),
        "PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cache"),
    }


HUNK = "@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n"


def _setup_cases() -> dict[str, Callable[[Path, Path], dict[str, str]]]:
    def malformed_cargo_toml(tmp: Path, p: Path) -> dict[str, str]:
        (p / "Cargo.toml").write_text("[package\nname = 1\n", encoding="utf-8")
        return {}

    def malformed_pyproject(tmp: Path, p: Path) -> dict[str, str]:
        (p / "pyproject.toml").write_text("[build-system\n", encoding="utf-8")
        return {}

    def malformed_lock(tmp: Path, p: Path) -> dict[str, str]:
        (p / "Cargo.lock").write_text("version = 3\n[[package]\n", encoding="utf-8")
        return {}

    def pyo3_outside_range(tmp: Path, p: Path) -> dict[str, str]:
        _replace(p / "Cargo.toml", 'pyo3 = "0.28.3"', 'pyo3 = "=0.19.2"')
        (p / "Cargo.lock").unlink()
        return {}

    def maturin_outside_range(tmp: Path, p: Path) -> dict[str, str]:
        _replace(p / "pyproject.toml", '"maturin>=1.9,<2"', '"maturin>=3"')
        return {}

    def users_own_patch(tmp: Path, p: Path) -> dict[str, str]:
        with (p / "Cargo.toml").open("a", encoding="utf-8") as f:
            f.write('\n[patch.crates-io]\npyo3-ffi = { path = "../my-pyo3-ffi" }\n')
        return {}

    def unreachable_remote_no_fallback(tmp: Path, p: Path) -> dict[str, str]:
        return {
            "PYO3_PATCHER_PYO3_URL": (tmp / "no-such-repo").as_uri(),
            "PYO3_PATCHER_CACHE_DIR": str(tmp / "cache"),
            "_SOURCE": "git",
        }

    def patch_outside_tree(tmp: Path, p: Path) -> dict[str, str]:
        return _patches_with(tmp, "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n" + HUNK)

    def patch_symlink(tmp: Path, p: Path) -> dict[str, str]:
        return _patches_with(
            tmp, "diff --git a/x b/x\nnew file mode 120000\n--- /dev/null\n+++ b/x\n" + HUNK
        )

    def patch_binary(tmp: Path, p: Path) -> dict[str, str]:
        return _patches_with(
            tmp,
            "diff --git a/x.so b/x.so\nindex 1..2 100644\nBinary files a/x.so and b/x.so differ\n",
        )

    def cargo_missing(tmp: Path, p: Path) -> dict[str, str]:
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "python").symlink_to(sys.executable)
        return {"PATH": str(bin_dir)}

    def git_missing(tmp: Path, p: Path) -> dict[str, str]:
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        cargo = shutil.which("cargo")
        assert cargo
        (bin_dir / "cargo").symlink_to(cargo)
        env = {
            "PATH": str(bin_dir),
            "PYO3_PATCHER_CACHE_DIR": str(tmp / "cache"),
            "_SOURCE": "git",
            "PYO3_PATCHER_PYO3_URL": (tmp / "x").as_uri(),
            "GIT_PYTHON_REFRESH": "quiet",
        }
        rustup_home = os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup"))
        env["RUSTUP_HOME"] = rustup_home
        return env

    def read_only_project(tmp: Path, p: Path) -> dict[str, str]:
        if os.geteuid() == 0:  # root ignores modes; the immutable flag stops root too
            if subprocess.run(["chattr", "+i", str(p)], check=False).returncode != 0:
                pytest.skip("cannot make a directory read-only for root here")
        else:
            os.chmod(p, stat.S_IRUSR | stat.S_IXUSR)
        return {}

    def no_pyo3(tmp: Path, p: Path) -> dict[str, str]:
        _replace(p / "Cargo.toml", 'pyo3 = "0.28.3"', "")
        (p / "Cargo.lock").unlink()
        return {}

    def not_a_project(tmp: Path, p: Path) -> dict[str, str]:
        for item in ("Cargo.toml", "pyproject.toml"):
            (p / item).unlink()
        return {}

    return {k: v for k, v in locals().items() if callable(v)}


CASES = _setup_cases()
EXPECTED_CODES = {
    "malformed_cargo_toml": 3,
    "malformed_pyproject": 3,
    "malformed_lock": 3,
    "pyo3_outside_range": 8,
    "maturin_outside_range": 8,
    "users_own_patch": 3,
    "unreachable_remote_no_fallback": 4,
    "patch_outside_tree": 5,
    "patch_symlink": 5,
    "patch_binary": 5,
    "cargo_missing": 6,
    "git_missing": 6,
    "read_only_project": 3,
    "no_pyo3": 3,
    "not_a_project": 3,
}


def _normalize(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<tmp>").replace(str(Path.home()), "~")
    return re.sub(r"/tmp/[\w./-]+", "<tmp>", text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case: str, tmp_path: Path) -> None:
    project = _example(tmp_path)
    env = CASES[case](tmp_path, project)
    source = env.pop("_SOURCE", "crates.io")
    before = snapshot(project)
    result = run_patcher("apply", "--project", project, "--source", source, env=env)
    if case == "read_only_project":
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(project)], check=True)
        os.chmod(project, 0o755)
    assert snapshot(project) == before
    assert result.returncode == EXPECTED_CODES[case], result.stderr
    lines = result.stderr.strip().splitlines()
    error = next(line for line in lines if line.startswith("error:"))
    hint = next(line for line in lines if line.startswith("hint:"))
    ROWS[case] = (result.returncode, _normalize(f"{error} / {hint}", tmp_path))


def test_project_path_with_spaces_and_non_ascii_works(tmp_path: Path) -> None:
    project = _example(tmp_path, "my projéct ü")
    result = run_patcher("apply", "--project", project, "--source", "crates.io")
    assert result.returncode == 0, result.stderr
    assert run_patcher("verify", "--project", project).returncode == 0
    ROWS["project_path_with_spaces_and_non_ascii"] = (0, "works (apply and verify)")


def test_moved_tag(tmp_path: Path) -> None:
    import git as gitpython
    from helpers import make_pyo3_repo

    url, pins_dir = make_pyo3_repo(tmp_path / "upstream", ["0.28.3"])
    repo = gitpython.Repo(url.removeprefix("file://"))
    repo.index.commit(
        "moved",
        author=gitpython.Actor("t", "t@example.invalid"),
        committer=gitpython.Actor("t", "t@example.invalid"),
    )
    repo.create_tag("v0.28.3", force=True)
    project = _example(tmp_path)
    before = snapshot(project)
    env = {
        "PYO3_PATCHER_PYO3_URL": url,
        "PYO3_PATCHER_PINS_DIR": str(pins_dir),
        "PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = run_patcher("apply", "--project", project, "--source", "git", env=env)
    assert result.returncode == 4, result.stderr
    assert "the tag was moved" in result.stderr
    assert snapshot(project) == before
    lines = result.stderr.strip().splitlines()
    ROWS["moved_tag"] = (
        4,
        _normalize(
            " / ".join(line for line in lines if line.startswith(("error:", "hint:"))), tmp_path
        ),
    )


def test_cached_tree_with_a_wrong_digest_is_fetched_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"PYO3_PATCHER_CACHE_DIR": str(cache)}
    project = _example(tmp_path)
    assert (
        run_patcher(
            "apply", "--project", project, "--source", "crates.io", "--dry-run", env=env
        ).returncode
        == 0
    )
    (impl,) = cache.glob("pristine/pyo3-0.28.3-*/pyo3-build-config/src/impl_.rs")
    impl.write_text("// tampered\n", encoding="utf-8")
    result = run_patcher("apply", "--project", project, "--source", "crates.io", env=env)
    assert result.returncode == 0, result.stderr
    assert "does not match its digest; fetching again" in result.stderr
    vendored = project / ".pyo3-patcher" / "pyo3-build-config-0.28.3" / "src" / "impl_.rs"
    assert "PYO3_BASE_PYTHON" in vendored.read_text(encoding="utf-8")
    ROWS["cached_tree_digest_mismatch"] = (
        0,
        "warning: cached pyo3-build-config 0.28.3 does not "
        "match its digest; fetching again (then succeeds)",
    )


def test_zz_table_in_docs_is_current() -> None:
    """Runs last in this module: writes or checks docs/bad-input.md."""
    if len(ROWS) < len(CASES) + 3:
        pytest.skip("not every case ran")
    lines = [
        "# Bad input: what patcher says",
        "",
        "Produced by `tests/test_bad_input.py` (`PYO3_PATCHER_UPDATE_DOCS=1` regenerates it).",
        "Every case leaves the project byte-identical.",
        "",
        "| case | exit | message |",
        "|---|---:|---|",
    ]
    for case in sorted(ROWS):
        code, message = ROWS[case]
        lines.append(f"| {case.replace('_', ' ')} | {code} | {message.replace('|', '/')} |")
    text = "\n".join(lines) + "\n"
    if os.environ.get("PYO3_PATCHER_UPDATE_DOCS"):
        DOC.write_text(text, encoding="utf-8")

    # Messages quote library text (tomlkit's parse errors) that may change between versions;
    # the cases and exit codes may not.
    def cases_and_codes(doc: str) -> list[str]:
        return [line.rsplit("|", 2)[0] for line in doc.splitlines() if line.startswith("| ")]

    assert DOC.is_file() and cases_and_codes(DOC.read_text(encoding="utf-8")) == cases_and_codes(
        text
    ), "docs/bad-input.md is stale: regenerate with PYO3_PATCHER_UPDATE_DOCS=1"
