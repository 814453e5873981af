"""Every bad input we know of: a clear error, a hint, a documented exit code, the project
byte-identical on every refusal, and nothing outside the project touched.

docs/bad-input.md lists every case with its exit code (checked by a test on its own) and the
message it gets (written by each case when `PYO3_PATCHER_UPDATE_DOCS=1`: run
`PYO3_PATCHER_UPDATE_DOCS=1 python -m pytest tests/test_bad_input.py` to refresh them)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import (
    REPO_ROOT,
    copy_example,
    maturin_cache,
    maturin_entry,
    run_patcher,
    snapshot,
)

DOC = REPO_ROOT / "docs" / "bad-input.md"
DOC_HEAD = """# Bad input: what patcher says

Produced by `tests/test_bad_input.py` (`PYO3_PATCHER_UPDATE_DOCS=1` refreshes the messages).
Every refusal leaves the project byte-identical (bytes and mtimes) and touches nothing
outside it; no input ends in exit 70 (a bug). `tests/project/test_hostile_input.py`
feeds generated malformed records, manifests and lock files through apply, verify and remove.

| case | command | exit | message |
|---|---|---:|---|
"""
HUNK = "@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n"
TREE = ".pyo3-patcher/pyo3-ffi-0.28.3"

Setup = Callable[[Path, Path], dict[str, str]]


@dataclasses.dataclass(frozen=True)
class Case:
    setup: Setup
    code: int
    needle: str  # in stderr (or, for a working case, stdout + stderr)
    command: str = "apply"
    applied: bool = False  # the project is patched before `setup` breaks something
    extra: tuple[str, ...] = ()


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def _patches_with(tmp: Path, diff: str) -> dict[str, str]:
    patches = tmp / "patches"
    shutil.copytree(REPO_ROOT / "patches", patches)
    (patches / "pyo3" / "base-python-v2.patch").write_text(diff, encoding="utf-8")
    return {"PYO3_PATCHER_PATCHES_DIR": str(patches), "PYO3_PATCHER_CACHE_DIR": str(tmp / "c")}


def _outside(tmp: Path) -> Path:
    """A folder beside the project that no command may touch (the sandbox checks it)."""
    return tmp / "sandbox" / "outside"


def _immutable(path: Path) -> None:
    if os.geteuid() == 0:  # root ignores modes; the immutable flag stops root too
        if subprocess.run(["chattr", "+i", str(path)], check=False).returncode != 0:
            pytest.skip("cannot make a directory read-only for root here")
    else:
        os.chmod(path, 0o555)


def _mutable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=False)
    os.chmod(path, 0o755)


# --- the cases: each sets up one bad input ------------------------------------------------


def malformed_cargo_toml(tmp: Path, p: Path) -> dict[str, str]:
    (p / "Cargo.toml").write_text("[package\nname = 1\n", encoding="utf-8")
    return {}


def malformed_pyproject(tmp: Path, p: Path) -> dict[str, str]:
    (p / "pyproject.toml").write_text("[build-system\n", encoding="utf-8")
    return {}


def malformed_lock(tmp: Path, p: Path) -> dict[str, str]:
    (p / "Cargo.lock").write_text("version = 3\n[[package]\n", encoding="utf-8")
    return {}


def lock_values_of_the_wrong_type(tmp: Path, p: Path) -> dict[str, str]:
    (p / "Cargo.lock").write_text('version = 3\npackage = "pyo3"\n', encoding="utf-8")
    return {}


def pyproject_values_of_the_wrong_type(tmp: Path, p: Path) -> dict[str, str]:
    _replace(p / "pyproject.toml", 'requires = ["maturin>=1.9,<2"]', 'requires = "maturin"')
    return {}


def settings_of_the_wrong_type(tmp: Path, p: Path) -> dict[str, str]:
    _append(p / "pyproject.toml", "\n[tool.pyo3-patcher]\nvendor-dir = 7\n")
    return {}


def url_setting_that_git_reads_as_an_option(tmp: Path, p: Path) -> dict[str, str]:
    marker = _outside(tmp) / "RAN"
    _append(
        p / "pyproject.toml", f'\n[tool.pyo3-patcher]\npyo3-url = "--upload-pack=touch {marker}"\n'
    )
    return {}


def url_variable_naming_a_remote_helper(tmp: Path, p: Path) -> dict[str, str]:
    return {"PYO3_PATCHER_PYO3_URL": f"ext::touch%{_outside(tmp) / 'RAN'}"}


def pyo3_outside_range(tmp: Path, p: Path) -> dict[str, str]:
    _replace(p / "Cargo.toml", 'pyo3 = "0.28.3"', 'pyo3 = "=0.19.2"')
    (p / "Cargo.lock").unlink()
    return {}


def maturin_outside_range(tmp: Path, p: Path) -> dict[str, str]:
    _replace(p / "pyproject.toml", '"maturin>=1.9,<2"', '"maturin>=3"')
    return {}


def users_own_patch(tmp: Path, p: Path) -> dict[str, str]:
    _append(p / "Cargo.toml", '\n[patch.crates-io]\npyo3-ffi = { path = "../my-pyo3-ffi" }\n')
    return {}


def _prepend(path: Path, text: str) -> None:
    path.write_text(text + path.read_text(encoding="utf-8"), encoding="utf-8")


def dotted_patch_keys(tmp: Path, p: Path) -> dict[str, str]:
    _prepend(p / "Cargo.toml", 'patch.crates-io.indoc = { git = "https://example.invalid/i" }\n')
    return {}


def inline_patch_table(tmp: Path, p: Path) -> dict[str, str]:
    _prepend(p / "Cargo.toml", 'patch = { crates-io = { indoc = { path = "../indoc" } } }\n')
    return {}


def cargo_toml_with_a_byte_order_mark(tmp: Path, p: Path) -> dict[str, str]:
    manifest = p / "Cargo.toml"
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes())
    return {}


def cargo_toml_with_crlf_line_endings(tmp: Path, p: Path) -> dict[str, str]:
    manifest = p / "Cargo.toml"
    manifest.write_bytes(manifest.read_bytes().replace(b"\n", b"\r\n"))
    return {}


def unrelated_unused_patch_of_the_user(tmp: Path, p: Path) -> dict[str, str]:
    crate = _outside(tmp) / "unused-crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "unused-crate"\nversion = "1.0.0"\nedition = "2021"\n',
        encoding="utf-8",
    )
    (crate / "src" / "lib.rs").write_text("", encoding="utf-8")
    _replace(
        p / "Cargo.toml",
        "[patch.crates-io]\n",
        '[patch.crates-io]\nunused-crate = { path = "../outside/unused-crate" }\n',
    )
    # as the user's next cargo command would, cargo notes the unused patch in Cargo.lock
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1"], cwd=p, capture_output=True, check=True
    )
    return {}


def _users_pyo3(tmp: Path) -> Path:
    """A copy of the published pyo3 0.28.3 (cargo's download), for a [patch] of the user's."""
    (published,) = Path(os.environ["CARGO_HOME"]).glob("registry/src/*/pyo3-0.28.3")
    copy = _outside(tmp) / "my-pyo3"
    shutil.copytree(published, copy)
    return copy


def patch_under_the_index_url(tmp: Path, p: Path) -> dict[str, str]:
    _users_pyo3(tmp)
    _append(
        p / "Cargo.toml",
        '\n[patch."https://github.com/rust-lang/crates.io-index"]\n'
        'pyo3 = { path = "../outside/my-pyo3" }\n',
    )
    return {}


def patch_in_cargo_config(tmp: Path, p: Path) -> dict[str, str]:
    (p / ".cargo").mkdir()
    (p / ".cargo" / "config.toml").write_text(
        f"[patch.crates-io]\npyo3 = {{ path = {str(_users_pyo3(tmp))!r} }}\n", encoding="utf-8"
    )
    return {}


def stale_cargo_lock(tmp: Path, p: Path) -> dict[str, str]:
    _replace(p / "Cargo.toml", 'pyo3 = "0.28.3"', 'pyo3 = "0.27"')
    return {}


def unreachable_remote_no_fallback(tmp: Path, p: Path) -> dict[str, str]:
    return {
        "PYO3_PATCHER_PYO3_URL": (tmp / "no-such-repo").as_uri(),
        "PYO3_PATCHER_CACHE_DIR": str(tmp / "c"),
    }


def patch_outside_tree(tmp: Path, p: Path) -> dict[str, str]:
    return _patches_with(tmp, "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n" + HUNK)


def patch_symlink(tmp: Path, p: Path) -> dict[str, str]:
    return _patches_with(
        tmp, "diff --git a/x b/x\nnew file mode 120000\n--- /dev/null\n+++ b/x\n" + HUNK
    )


def patch_binary(tmp: Path, p: Path) -> dict[str, str]:
    return _patches_with(
        tmp, "diff --git a/x.so b/x.so\nindex 1..2 100644\nBinary files a/x.so and b/x.so differ\n"
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
    return {
        "PATH": str(bin_dir),
        "PYO3_PATCHER_CACHE_DIR": str(tmp / "c"),
        "PYO3_PATCHER_PYO3_URL": (tmp / "x").as_uri(),
        "GIT_PYTHON_REFRESH": "quiet",
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
    }


def read_only_project(tmp: Path, p: Path) -> dict[str, str]:
    _immutable(p)
    return {}


def no_pyo3(tmp: Path, p: Path) -> dict[str, str]:
    _replace(p / "Cargo.toml", 'pyo3 = "0.28.3"', "")
    (p / "Cargo.lock").unlink()
    return {}


def not_a_project(tmp: Path, p: Path) -> dict[str, str]:
    for item in ("Cargo.toml", "pyproject.toml"):
        (p / item).unlink()
    return {}


def record_of_a_newer_format(tmp: Path, p: Path) -> dict[str, str]:
    _replace(p / "pyo3-patcher.lock", "format = 2", "format = 9")
    return {}


def record_values_of_the_wrong_type(tmp: Path, p: Path) -> dict[str, str]:
    _replace(p / "pyo3-patcher.lock", 'outcome = "patched"', "outcome = 1")
    return {}


def record_vendor_dir_leaves_the_project(tmp: Path, p: Path) -> dict[str, str]:
    # a hand-edited record that names a folder outside, holding folders of the same names
    decoy = _outside(tmp) / TREE
    decoy.mkdir(parents=True)
    (decoy / "precious.txt").write_text("not patcher's\n", encoding="utf-8")
    _replace(p / "pyo3-patcher.lock", 'vendor-dir = ".pyo3-patcher"', 'vendor-dir = "../outside"')
    return {}


def record_entry_names_a_users_folder(tmp: Path, p: Path) -> dict[str, str]:
    _replace(
        p / "pyo3-patcher.lock",
        'pyo3-ffi = ".pyo3-patcher/pyo3-ffi-0.28.3"',
        'pyo3-ffi = "src"',
    )
    return {}


def vendor_dir_is_a_symbolic_link(tmp: Path, p: Path) -> dict[str, str]:
    target = _outside(tmp) / "vendor"
    target.mkdir(parents=True)
    (p / ".pyo3-patcher").symlink_to(target)
    return {}


def vendored_tree_is_a_symbolic_link(tmp: Path, p: Path) -> dict[str, str]:
    target = _outside(tmp) / "pyo3-ffi"
    shutil.move(str(p / TREE), str(target))
    (p / TREE).symlink_to(target)
    return {}


def cargo_toml_is_a_link_out_of_the_project(tmp: Path, p: Path) -> dict[str, str]:
    target = _outside(tmp) / "Cargo.toml"
    target.parent.mkdir(parents=True)
    shutil.move(str(p / "Cargo.toml"), str(target))
    (p / "Cargo.toml").symlink_to(target)
    return {}


def cargo_lock_is_a_link_out_of_the_project(tmp: Path, p: Path) -> dict[str, str]:
    target = _outside(tmp) / "Cargo.lock"
    target.parent.mkdir(parents=True)
    shutil.move(str(p / "Cargo.lock"), str(target))
    (p / "Cargo.lock").symlink_to(target)
    return {}


def vendor_dir_setting_leaves_the_project(tmp: Path, p: Path) -> dict[str, str]:
    _append(p / "pyproject.toml", '\n[tool.pyo3-patcher]\nvendor-dir = "../outside"\n')
    return {}


def manifest_path_leaves_the_project(tmp: Path, p: Path) -> dict[str, str]:
    other = _outside(tmp) / "other"
    shutil.copytree(p, other, ignore=shutil.ignore_patterns("pyproject.toml"))
    _append(p / "pyproject.toml", 'manifest-path = "../outside/other/Cargo.toml"\n')
    return {}


def users_folder_in_the_vendor_path(tmp: Path, p: Path) -> dict[str, str]:
    (p / TREE).mkdir(parents=True)
    (p / TREE / "mine.rs").write_text("// the user's own work\n", encoding="utf-8")
    return {}


def users_folder_in_place_of_ours(tmp: Path, p: Path) -> dict[str, str]:
    shutil.rmtree(p / TREE)
    (p / TREE).mkdir()
    (p / TREE / "mine.rs").write_text("// the user's own work\n", encoding="utf-8")
    return {}


def damaged_crate_in_the_cache(tmp: Path, p: Path) -> dict[str, str]:
    cache = tmp / "c"
    result = run_patcher(
        "apply", "--project", p, "--dry-run", env={"PYO3_PATCHER_CACHE_DIR": str(cache)}
    )
    assert result.returncode == 0, result.stderr
    (crate,) = cache.glob("crates/pyo3-0.28.3/pyo3-0.28.3.crate")
    crate.write_bytes(b"not a crate")
    return {"PYO3_PATCHER_CACHE_DIR": str(cache)}


def cache_path_is_a_file(tmp: Path, p: Path) -> dict[str, str]:
    (tmp / "c").write_text("", encoding="utf-8")
    return {"PYO3_PATCHER_CACHE_DIR": str(tmp / "c")}


def read_only_cache(tmp: Path, p: Path) -> dict[str, str]:
    (tmp / "c").mkdir()
    _immutable(tmp / "c")
    return {"PYO3_PATCHER_CACHE_DIR": str(tmp / "c")}


def full_cache(tmp: Path, p: Path) -> dict[str, str]:
    cache = tmp / "c"
    cache.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(cache)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr!r}")
    (cache / "filler").write_bytes(b"\0" * 60_000)
    return {"PYO3_PATCHER_CACHE_DIR": str(cache)}


def leftover_of_a_killed_run(tmp: Path, p: Path) -> dict[str, str]:
    # what kill -9 in the middle of `apply` leaves (see test_crash_recovery.py for the loop)
    env = {"PYO3_PATCHER_FAULT": "write:Cargo.toml", "PYO3_PATCHER_FAULT_KIND": "kill"}
    assert run_patcher("apply", "--project", p, env=env).returncode == -9
    assert list(p.glob(".pyo3-patcher-txn-*"))
    return {}


def journal_committed_in_the_repository(tmp: Path, p: Path) -> dict[str, str]:
    # what an older patcher's staging area looked like: a journal in the checkout
    staging = p / ".pyo3-patcher-txn"
    staging.mkdir()
    (staging / "journal.jsonl").write_text(
        '{"op": "begin", "tool": "pyo3-patcher"}\n'
        '{"op": "replace", "path": "../outside/victim.txt", "backup": null}\n',
        encoding="utf-8",
    )
    victim = _outside(tmp) / "victim.txt"
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_text("not patcher's\n", encoding="utf-8")
    return {}


def pyproject_below_the_workspace_root(tmp: Path, p: Path) -> dict[str, str]:
    (p.parent / "Cargo.toml").write_text(f'[workspace]\nmembers = ["{p.name}"]\n', encoding="utf-8")
    shutil.move(p / "Cargo.lock", p.parent / "Cargo.lock")
    return {}


def sdist_setting_is_not_a_boolean(tmp: Path, p: Path) -> dict[str, str]:
    _append(p / "pyproject.toml", '\n[tool.pyo3-patcher]\nsdist = "no"\n')
    return {}


def maturin_include_is_not_an_array(tmp: Path, p: Path) -> dict[str, str]:
    _append(p / "pyproject.toml", 'include = "LICENSE"\n')  # in [tool.maturin]
    return {}


def inherited_find_links_with_a_line_break(tmp: Path, p: Path) -> dict[str, str]:
    return {"PIP_FIND_LINKS": "/wheels\nBASH_ENV=/tmp/evil"}


def cache_dir_with_a_line_break(tmp: Path, p: Path) -> dict[str, str]:
    return {"PYO3_PATCHER_CACHE_DIR": f"{tmp}/c\nLD_PRELOAD=/tmp/evil.so"}


def poisoned_maturin_entry(tmp: Path, p: Path) -> dict[str, str]:
    # what another job can leave in a shared cache: a second wheel of our version (a better
    # tag would win with pip and uv), a constraints file sending pip elsewhere, dangling links
    cache = maturin_cache(tmp / "c")
    entry = maturin_entry(cache)
    (ours,) = entry.glob("maturin-*.whl")
    shutil.copy2(ours, entry / ours.name.replace("-py3-none-", "-cp39.cp310.cp311.cp312-none-"))
    elsewhere = _outside(tmp) / "wheels"
    elsewhere.mkdir(parents=True)
    (entry / "constraints.txt").write_text(f"--find-links {elsewhere}\n", encoding="utf-8")
    (entry / "pip-constraints.txt").symlink_to(_outside(tmp) / "missing" / "c.txt")
    return {"PYO3_PATCHER_CACHE_DIR": str(cache)}


def lock_file_is_a_link_out_of_the_cache(tmp: Path, p: Path) -> dict[str, str]:
    cache = maturin_cache(tmp / "c")
    entry = maturin_entry(cache)
    victim = _outside(tmp) / "victim.txt"
    victim.parent.mkdir(parents=True)
    victim.write_text("not patcher's\n", encoding="utf-8")
    lock = entry.with_name(entry.name + ".lock")
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)
    return {"PYO3_PATCHER_CACHE_DIR": str(cache)}


def cache_folder_is_a_link_out_of_the_cache(tmp: Path, p: Path) -> dict[str, str]:
    cache = maturin_cache(tmp / "c")
    (_outside(tmp) / "env").mkdir(parents=True)
    (cache / "env").symlink_to(_outside(tmp) / "env")
    return {"PYO3_PATCHER_CACHE_DIR": str(cache)}


def _decoy_of(p: Path, crate: str = "pyo3-build-config") -> str:
    """A copy of a vendored tree with code added, in the checkout: where a redirect points."""
    rel = f"third_party/{crate}-0.28.3"
    shutil.copytree(p / f".pyo3-patcher/{crate}-0.28.3", p / rel)
    _append(p / rel / "build.rs", "\n// added by a pull request\n")
    return rel


def manifest_patch_pointing_elsewhere(tmp: Path, p: Path) -> dict[str, str]:
    rel = _decoy_of(p)
    _replace(p / "Cargo.toml", 'path = ".pyo3-patcher/pyo3-build-config-0.28.3"', f'path = "{rel}"')
    return {}


def maturin_config_redirecting_pyo3(tmp: Path, p: Path) -> dict[str, str]:
    rel = _decoy_of(p)
    _append(
        p / "pyproject.toml", f"config = [\"patch.crates-io.pyo3-build-config.path='{rel}'\"]\n"
    )
    return {}


def toolchain_file_naming_a_folder(tmp: Path, p: Path) -> dict[str, str]:
    folder = json.dumps(str(p / "toolchain"))  # absolute, as rustup wants it
    (p / "rust-toolchain.toml").write_text(f"[toolchain]\npath = {folder}\n", encoding="utf-8")
    return {}


def _edited(file: str, old: str, new: str) -> Setup:
    """A setup that makes one edit of a project file."""

    def setup(tmp: Path, p: Path) -> dict[str, str]:
        _replace(p / file, old, new)
        return {}

    return setup


def link_to_a_folder_in_a_vendored_tree(tmp: Path, p: Path) -> dict[str, str]:
    target = _outside(tmp) / "code"
    target.mkdir(parents=True)
    (p / TREE / "src" / "extra").symlink_to(target)
    return {}


def cargo_ok_in_a_vendored_tree(tmp: Path, p: Path) -> dict[str, str]:
    (p / TREE / ".cargo-ok").write_text('{"v":1}', encoding="utf-8")
    return {}


def _fails_verify(setup: Setup, needle: str) -> Case:
    """verify on the patched project reports a failed check (exit 7) that says `needle`."""
    return Case(setup, 7, needle, "verify", applied=True)


CASES: dict[str, Case] = {
    "malformed Cargo.toml": Case(malformed_cargo_toml, 3, "not valid TOML"),
    "malformed pyproject.toml": Case(malformed_pyproject, 3, "not valid TOML"),
    "malformed Cargo.lock": Case(malformed_lock, 3, "not valid TOML"),
    "Cargo.lock values of the wrong type": Case(lock_values_of_the_wrong_type, 3, "Cargo.lock"),
    "pyproject.toml values of the wrong type": Case(
        pyproject_values_of_the_wrong_type, 3, "requires must be a list"
    ),
    "settings of the wrong type": Case(settings_of_the_wrong_type, 3, "vendor-dir must be"),
    "a URL setting git would read as an option": Case(
        url_setting_that_git_reads_as_an_option, 3, "would read it as an option"
    ),
    "a URL variable naming a remote helper (ext::)": Case(
        url_variable_naming_a_remote_helper, 2, "remote helper"
    ),
    "pyo3 outside the pinned range": Case(pyo3_outside_range, 8, "not pinned"),
    "maturin outside the pinned range": Case(maturin_outside_range, 8, "no maturin release"),
    "a patch of the user's for a pyo3 crate": Case(users_own_patch, 3, "--force"),
    "dotted keys in [patch]": Case(dotted_patch_keys, 3, "dotted keys"),
    "an inline [patch] table": Case(inline_patch_table, 3, "inline table"),
    "Cargo.toml with a byte-order mark": Case(cargo_toml_with_a_byte_order_mark, 0, "vendored"),
    "Cargo.toml with CRLF line endings": Case(cargo_toml_with_crlf_line_endings, 0, "vendored"),
    "an unused [patch] entry of the user's (verify)": Case(
        unrelated_unused_patch_of_the_user, 0, "ok   cargo resolves", "verify", applied=True
    ),
    "a [patch] of the user's under the crates.io index URL": Case(
        patch_under_the_index_url, 3, "under the crates.io index URL"
    ),
    "a [patch] for pyo3 in .cargo/config.toml": Case(patch_in_cargo_config, 3, "cargo config"),
    "a Cargo.lock older than Cargo.toml": Case(stale_cargo_lock, 3, "is out of date"),
    "git remote unreachable, no fallback": Case(
        unreachable_remote_no_fallback, 4, "cannot fetch", extra=("--source", "git")
    ),
    "patch with a path outside the tree": Case(patch_outside_tree, 5, "outside the source"),
    "patch creating a symbolic link": Case(patch_symlink, 5, "symlinks are not allowed"),
    "patch with a binary change": Case(patch_binary, 5, "binary changes"),
    "cargo missing": Case(cargo_missing, 6, "`cargo` was not found"),
    "git missing": Case(git_missing, 6, "git", extra=("--source", "git")),
    "read-only project": Case(read_only_project, 3, "cannot write"),
    "no pyo3 in the graph": Case(no_pyo3, 3, "does not depend on pyo3"),
    "not a project": Case(not_a_project, 3, "no Cargo.toml"),
    "record of a newer format": Case(record_of_a_newer_format, 3, "newer", applied=True),
    "record values of the wrong type (verify)": Case(
        record_values_of_the_wrong_type, 3, "outcome", "verify", applied=True
    ),
    "record whose vendor-dir leaves the project (remove)": Case(
        record_vendor_dir_leaves_the_project, 3, "vendor-dir", "remove", applied=True
    ),
    "record whose entry names a user's folder (remove)": Case(
        record_entry_names_a_users_folder, 3, "entries.pyo3-ffi", "remove", applied=True
    ),
    "vendor folder is a symbolic link": Case(vendor_dir_is_a_symbolic_link, 3, "symbolic link"),
    "vendored tree is a symbolic link (remove)": Case(
        vendored_tree_is_a_symbolic_link, 3, "symbolic link", "remove", applied=True
    ),
    "Cargo.toml is a link out of the project": Case(
        cargo_toml_is_a_link_out_of_the_project, 3, "symbolic link"
    ),
    "Cargo.lock is a link out of the project": Case(
        cargo_lock_is_a_link_out_of_the_project, 3, "symbolic link"
    ),
    "vendor-dir setting leaves the project": Case(
        vendor_dir_setting_leaves_the_project, 3, "vendor-dir"
    ),
    "manifest-path leaves the project": Case(
        manifest_path_leaves_the_project, 3, "outside the project"
    ),
    "a folder of the user's where a tree goes": Case(
        users_folder_in_the_vendor_path, 3, "did not make it"
    ),
    "a folder of the user's in place of ours (remove)": Case(
        users_folder_in_place_of_ours, 3, "did not make it", "remove", applied=True
    ),
    "a damaged crate in the cache": Case(
        damaged_crate_in_the_cache, 0, "does not match the crates.io checksum"
    ),
    "cache path is a file": Case(cache_path_is_a_file, 10, "not a directory"),
    "read-only cache": Case(read_only_cache, 10, "cannot write the cache"),
    "full cache disk": Case(full_cache, 10, "No space left"),
    "leftover of a killed run": Case(leftover_of_a_killed_run, 0, "rolled back"),
    "a journal committed in the repository": Case(
        journal_committed_in_the_repository, 0, "leaves it alone"
    ),
    "pyproject.toml below the workspace root (no sdist can carry the trees)": Case(
        pyproject_below_the_workspace_root, 3, "no include can carry"
    ),
    "[tool.pyo3-patcher] sdist is not true or false": Case(
        sdist_setting_is_not_a_boolean, 3, "is not true or false"
    ),
    "[tool.maturin] include is not an array": Case(
        maturin_include_is_not_an_array, 3, "include is not an array"
    ),
    "an inherited PIP_FIND_LINKS with a line break": Case(
        inherited_find_links_with_a_line_break, 2, "line break", "env"
    ),
    "a cache dir with a line break": Case(cache_dir_with_a_line_break, 2, "line break", "env"),
    # -q: the note on PIP_CONSTRAINT depends on the pip of the machine, not on the case
    "a second wheel and poisoned constraints in the cache": Case(
        poisoned_maturin_entry, 0, "PIP_FIND_LINKS=file://", "env", applied=True, extra=("-q",)
    ),
    "a lock file in the cache that is a link out of it": Case(
        lock_file_is_a_link_out_of_the_cache, 0, "is not a lock file", "env", True, ("-q",)
    ),
    "a cache folder that is a link out of the cache": Case(
        cache_folder_is_a_link_out_of_the_cache, 10, "is a symbolic link", "env"
    ),
    "a [patch] entry of the manifest pointing elsewhere (verify)": _fails_verify(
        manifest_patch_pointing_elsewhere, "third_party/"
    ),
    "a [tool.maturin] config entry redirecting pyo3 (verify)": _fails_verify(
        maturin_config_redirecting_pyo3, "[tool.maturin] config"
    ),
    "a rust-toolchain.toml naming a folder (verify)": _fails_verify(
        toolchain_file_naming_a_folder, "names a toolchain folder"
    ),
    "a maturin requirement from a URL (verify)": _fails_verify(
        _edited("pyproject.toml", '"maturin>=1.9,<2"', '"maturin @ file:///tmp/maturin.whl"'),
        "URL or path",
    ),
    "a backend-path (verify)": _fails_verify(
        _edited("pyproject.toml", "[build-system]\n", '[build-system]\nbackend-path = ["."]\n'),
        "backend-path",
    ),
    "a link to a folder in a vendored tree (verify)": _fails_verify(
        link_to_a_folder_in_a_vendored_tree, "src/extra (a link)"
    ),
    "a link to a folder in a vendored tree (env --ci)": Case(
        link_to_a_folder_in_a_vendored_tree, 3, "src/extra (a link)", "env", True, ("--ci",)
    ),
    "a .cargo-ok file in a vendored tree (verify)": _fails_verify(
        cargo_ok_in_a_vendored_tree, ".cargo-ok (not in the release)"
    ),
}


def _normalize(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<tmp>").replace(str(Path.home()), "~")
    return re.sub(r"/tmp/[\w./-]+", "<tmp>", text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, tmp_path: Path, applied_template: Path) -> None:
    case = CASES[name]
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    if case.applied:
        project = sandbox / "example"
        shutil.copytree(applied_template, project, symlinks=True)
    else:
        project = copy_example(sandbox)
    try:
        env = case.setup(tmp_path, project)
        before = snapshot(sandbox)
        result = run_patcher(case.command, "--project", project, *case.extra, env=env)
    finally:
        for path in (project, tmp_path / "c"):
            if path.is_dir():
                _mutable(path)
        if (tmp_path / "c").is_dir():
            subprocess.run(["umount", str(tmp_path / "c")], capture_output=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == case.code, output
    assert "Traceback" not in output
    if case.code == 0:
        assert case.needle in output
        outside = {k: v for k, v in snapshot(sandbox).items() if not k.startswith("example/")}
        assert outside == {k: v for k, v in before.items() if not k.startswith("example/")}
        said = [line for line in output.splitlines() if line.startswith(("warning:", "note:"))]
        # the tests' upstream is unreachable on purpose: its fallback is not about the case
        message = next((line for line in said if "FALLING BACK" not in line), "works")
    elif case.code == 7:  # verify's report: what it failed, on stdout
        assert snapshot(sandbox) == before
        assert case.needle in result.stdout, result.stdout
        message = " / ".join(line for line in result.stdout.splitlines() if line.startswith("FAIL"))
    else:
        assert snapshot(sandbox) == before  # the project and all around it, byte for byte
        lines = result.stderr.strip().splitlines()
        error = next(line for line in lines if line.startswith("error:"))
        hint = next(line for line in lines if line.startswith("hint:"))
        assert case.needle in result.stderr, result.stderr
        message = f"{error} / {hint}"
    _record(name, case.command, result.returncode, _normalize(message, tmp_path))


def test_project_path_with_spaces_and_non_ascii_works(tmp_path: Path) -> None:
    project = copy_example(tmp_path, "my projéct ü")
    result = run_patcher("apply", "--project", project)
    assert result.returncode == 0, result.stderr
    assert run_patcher("verify", "--project", project).returncode == 0
    _record("project path with spaces and non-ASCII", "apply", 0, "works (apply and verify)")


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
    project = copy_example(tmp_path)
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
    said = " / ".join(line for line in lines if line.startswith(("error:", "hint:")))
    _record("a moved upstream tag", "apply", 4, _normalize(said, tmp_path))


def test_a_cached_crate_changed_with_its_record_is_fetched_again(tmp_path: Path) -> None:
    """The cache does not vouch for itself: a crate's content is checked against the
    crates.io checksum the pin ships, not against anything the cache holds."""
    import tarfile

    cache = tmp_path / "cache"
    env = {"PYO3_PATCHER_CACHE_DIR": str(cache)}
    project = copy_example(tmp_path)
    assert run_patcher("apply", "--project", project, "--dry-run", env=env).returncode == 0
    (crate,) = cache.glob("crates/pyo3-build-config-0.28.3/*.crate")
    work = tmp_path / "work"
    with tarfile.open(crate) as tar:
        tar.extractall(work, filter="data")
    top = work / "pyo3-build-config-0.28.3"
    (top / "src" / "impl_.rs").write_text("// tampered\n", encoding="utf-8")
    with tarfile.open(crate, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    result = run_patcher("apply", "--project", project, env=env)
    assert result.returncode == 0, result.stderr
    assert "does not match the crates.io checksum; fetching it again" in result.stderr
    vendored = project / ".pyo3-patcher" / "pyo3-build-config-0.28.3" / "src" / "impl_.rs"
    assert "PYO3_BASE_PYTHON" in vendored.read_text(encoding="utf-8")
    _record(
        "a cached crate changed",
        "apply",
        0,
        "warning: cache entry pyo3-build-config-0.28.3 does not match the crates.io checksum; "
        "fetching it again",
    )


EXTRAS = {
    "project path with spaces and non-ASCII": ("apply", 0),
    "a moved upstream tag": ("apply", 4),
    "a cached crate changed": ("apply", 0),
}


def _doc_rows() -> dict[str, tuple[str, str, str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith(("| case |", "|---")):
            case, command, code, message = (c.strip() for c in line[2:-2].split(" | ", 3))
            rows[case] = (command, code, message)
    return rows


def _record(case: str, command: str, code: int, message: str) -> None:
    """With PYO3_PATCHER_UPDATE_DOCS=1, write this case's row into docs/bad-input.md."""
    if not os.environ.get("PYO3_PATCHER_UPDATE_DOCS"):
        return
    rows = _doc_rows() if DOC.is_file() else {}
    rows[case] = (command, str(code), message.replace("|", "/"))
    body = "".join(f"| {c} | {m} | {k} | {t} |\n" for c, (m, k, t) in sorted(rows.items()))
    DOC.write_text(DOC_HEAD + body, encoding="utf-8")


def test_the_docs_list_every_case_with_its_exit_code() -> None:
    expected = {name: (c.command, str(c.code)) for name, c in CASES.items()}
    expected.update({name: (command, str(code)) for name, (command, code) in EXTRAS.items()})
    found = {case: (command, code) for case, (command, code, _) in _doc_rows().items()}
    assert found == expected, "docs/bad-input.md is stale: PYO3_PATCHER_UPDATE_DOCS=1 pytest"
