"""What a newcomer trips on (issue 19): a typo, help without a description, running in `src/`,
a relative cache dir, the leftovers of a killed run, and errors that name the real cause."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from helpers import apply_refused_then_forced, copy_example, git, run_patcher, snapshot

from patcher import cli, demo


def test_a_typo_gets_did_you_mean() -> None:
    result = run_patcher("aply")
    assert result.returncode == 2
    assert "hint: did you mean `apply`?" in result.stderr
    result = run_patcher("apply", "--source", "crate.io")
    assert result.returncode == 2
    assert "hint: did you mean `crates.io`?" in result.stderr
    nothing_close = run_patcher("xyzzy")
    assert "did you mean" not in nothing_close.stderr
    assert "hint: see `patcher --help`" in nothing_close.stderr


def test_every_command_says_what_it_does() -> None:
    parser = cli.build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [verb for verb, p in sub.choices.items() if not p.description]
    assert missing == []
    said = run_patcher("remove", "--help").stdout
    assert "Undo `patcher apply`" in said
    source = run_patcher("apply", "--help").stdout
    assert "auto (git, falling back to crates.io)" in " ".join(source.split())
    assert "else auto" in " ".join(source.split())


def test_commands_find_the_project_above_the_folder_they_run_in(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    result = run_patcher("remove", "--dry-run", cwd=project / "src")
    assert result.returncode == 0, result.stderr
    assert "nothing to undo" in result.stderr


def test_the_search_for_the_project_stops_at_the_top_of_the_git_work_tree(tmp_path: Path) -> None:
    copy_example(tmp_path, "outer")
    repo = tmp_path / "outer" / "repo"
    (repo / "deeper").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    result = run_patcher("remove", "--dry-run", cwd=repo / "deeper")
    assert result.returncode == 3
    assert f"no Cargo.toml at {repo / 'deeper' / 'Cargo.toml'}" in result.stderr


def test_a_relative_cache_dir_is_where_patcher_was_started(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    before = snapshot(project)
    result = run_patcher(
        "apply",
        "--dry-run",
        "--project",
        project,
        cwd=tmp_path,
        env={"PYO3_PATCHER_CACHE_DIR": "relative-cache"},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "relative-cache" / "CACHEDIR.TAG").is_file()
    assert snapshot(project) == before


def _owned_by(folder: Path, pid: int) -> None:
    folder.mkdir()
    (folder / "pyo3-patcher-owner.json").write_text(
        f'{{"tool": "pyo3-patcher", "pid": {pid}}}', encoding="utf-8"
    )


def test_the_temp_folders_of_killed_runs_are_cleaned_up(tmp_path: Path) -> None:
    """kill -9 leaves the run's temp folder (shadows, derived trees): the next run deletes
    it, and only folders with our marker naming a process that is gone."""
    temp = tmp_path / "temp"
    temp.mkdir()
    in_temp = {"TMPDIR": str(temp)}
    killed = run_patcher(
        "apply",
        "--project",
        copy_example(tmp_path, "killed"),
        env={
            **in_temp,
            "PYO3_PATCHER_FAULT": "write:Cargo.toml",
            "PYO3_PATCHER_FAULT_KIND": "kill",
        },
    )
    assert killed.returncode == -9
    (left,) = temp.iterdir()
    assert left.name.startswith("pyo3-patcher-run-") and any(left.rglob("Cargo.toml"))
    _owned_by(temp / "pyo3-patcher-run-running", os.getpid())
    (temp / "pyo3-patcher-run-unmarked").mkdir()
    project = copy_example(tmp_path)
    result = run_patcher("apply", "--dry-run", "--project", project, env=in_temp)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in temp.iterdir()) == [
        "pyo3-patcher-run-running",
        "pyo3-patcher-run-unmarked",
    ]


def test_too_long_paths_get_one_short_error(tmp_path: Path) -> None:
    # the project fits in PATH_MAX (4096); its staged pyo3 files do not
    deep = tmp_path.joinpath(*["d" * 200] * 19)
    deep = deep / ("e" * (3975 - len(str(deep))))
    deep.mkdir(parents=True)
    project = copy_example(deep, "p")
    before = snapshot(project)
    result = run_patcher("apply", "--project", project)
    assert result.returncode == 3, result.stderr
    assert "File name too long" in result.stderr
    assert "move the project (or PYO3_PATCHER_CACHE_DIR) to a shorter path" in result.stderr
    # one path and a count, not copytree's list of every file
    said = [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert len(said) == 2 and len(said[0]) < 4096 + 200
    assert result.stderr.count("File name too long") == 1
    assert snapshot(project) == before
    shutil.rmtree(tmp_path / ("d" * 200))


def test_a_reapply_in_a_clone_with_autocrlf_writes_nothing(
    tmp_path: Path, applied_template: Path
) -> None:
    origin = tmp_path / "origin"
    shutil.copytree(applied_template, origin, symlinks=True)
    git("init", "-q", cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-q", "-m", "patched", cwd=origin)
    clone = tmp_path / "clone"
    git("clone", "-q", "-c", "core.autocrlf=true", origin, clone, cwd=tmp_path)
    assert b"\r\n" in (clone / "pyo3-patcher.lock").read_bytes()
    before = snapshot(clone, skip=("target", ".git"))
    result = run_patcher("apply", "--project", clone)
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert snapshot(clone, skip=("target", ".git")) == before


def test_apply_refuses_to_discard_edits_in_vendored_trees_without_force(
    tmp_path: Path, applied_template: Path
) -> None:
    project = tmp_path / "p"
    shutil.copytree(applied_template, project, symlinks=True)
    edited = project / ".pyo3-patcher" / "pyo3-ffi-0.28.3" / "src" / "lib.rs"
    with edited.open("a", encoding="utf-8") as f:
        f.write("// my fix\n")
    refused, forced = apply_refused_then_forced(project)
    assert "1 vendored files were edited" in refused
    assert ".pyo3-patcher/pyo3-ffi-0.28.3/src/lib.rs" in refused
    assert "patcher apply --force" in refused
    assert "your edits of 1 vendored files are replaced" in forced
    original = applied_template / ".pyo3-patcher" / "pyo3-ffi-0.28.3" / "src" / "lib.rs"
    assert edited.read_bytes() == original.read_bytes()


def test_verify_says_in_one_short_line_why_cargo_does_not_use_the_trees(
    tmp_path: Path, applied_template: Path
) -> None:
    project = tmp_path / "p"
    shutil.copytree(applied_template, project, symlinks=True)
    manifest = project / "Cargo.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace('pyo3 = "0.28.3"', 'pyo3 = "=0.28.2"'), encoding="utf-8")
    # what the user's next cargo command does: the lock moves to the registry's 0.28.2
    subprocess.run(["cargo", "update", "-p", "pyo3"], cwd=project, check=True, capture_output=True)
    result = run_patcher("verify", "--project", project)
    assert result.returncode == 7, result.stdout
    (line,) = (x for x in result.stdout.splitlines() if x.startswith("FAIL cargo resolves"))
    assert "does not use the [patch] entries for pyo3, pyo3-build-config, pyo3-ffi" in line
    assert "pyo3 0.28.2 from crates.io" in line
    assert str(project) not in line and len(line) < 400


def test_the_demo_ends_with_a_sentence_that_says_what_the_table_means() -> None:
    results = [
        demo.BuildResult("unpatched", 25.1, 23.7, ("pyo3", "pyo3-ffi")),
        demo.BuildResult("patched", 25.3, 4.4, ()),
    ]
    assert demo.render(results).endswith(
        "\n\nThe second isolated build took 23.7 s unpatched (2 pyo3 crates recompiled) and "
        "4.4 s patched (none): patcher saved 19.3 s per build.\n"
    )
    worse = [results[0], demo.BuildResult("patched", 25.3, 23.0, ("pyo3",))]
    assert "patcher saved nothing here: see `patcher doctor`" in demo.render(worse)
