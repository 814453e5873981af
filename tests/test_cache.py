"""The cache as another job left it (CI shares it between runs): links planted where patcher
writes, a lock file that is a link, a link where one of our folders belongs. Nothing outside
the cache is written, no link is followed, no command ends in exit 70."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from helpers import copy_example, plant_pid_links, run_patcher, snapshot, started_with_pid

from patcher.project import transaction


def _sandbox(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A project, an empty cache beside it, and a folder outside both that holds a file of
    someone else's."""
    project = copy_example(tmp_path)
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    cache.mkdir()
    outside.mkdir()
    (outside / "victim.txt").write_text("not patcher's\n", encoding="utf-8")
    return project, cache, outside


def test_the_cache_tag_is_not_written_through_a_planted_link(tmp_path: Path) -> None:
    """Links at every name a pid-named temp file of CACHEDIR.TAG could take, for the next few
    thousand processes: the tag is written, and nothing outside."""
    project, cache, outside = _sandbox(tmp_path)
    pids = plant_pid_links(cache, ".CACHEDIR.TAG.{pid}", outside / "written")
    before = snapshot(outside)
    env = {"PYO3_PATCHER_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "patcher", "verify", "-q", "--project", str(project)]
    pid, said, code = started_with_pid(cmd, env)
    if pid not in pids:
        pytest.skip("the machine started more processes meanwhile than links were planted")
    assert code == 7, said  # verify of an unpatched project: FAIL, and no bug
    assert "Traceback" not in said
    assert snapshot(outside) == before
    tag = cache / "CACHEDIR.TAG"
    assert not tag.is_symlink() and tag.read_text().startswith("Signature: 8a477f597d28d172")


def test_a_lock_file_that_is_a_link_is_replaced_and_its_target_kept(tmp_path: Path) -> None:
    """filelock before 3.20.1 truncated the target of a link at a lock file's name."""
    project, cache, outside = _sandbox(tmp_path)
    assert run_patcher("verify", "--project", project, env={"PYO3_PATCHER_CACHE_DIR": str(cache)})
    key = transaction.project_key(Path(os.path.realpath(project)))
    lock = cache / "projects" / f"{key}.lock"
    lock.unlink()
    lock.symlink_to(outside / "victim.txt")
    before = snapshot(outside)
    result = run_patcher("verify", "--project", project, env={"PYO3_PATCHER_CACHE_DIR": str(cache)})
    assert result.returncode == 7, result.stderr
    assert f"cache entry {lock.name} is not a lock file; making it again" in result.stderr
    assert snapshot(outside) == before
    assert lock.is_file() and not lock.is_symlink()


@pytest.mark.parametrize("planted", ["link", "file"])
def test_a_link_or_file_where_a_cache_folder_belongs_is_refused(
    tmp_path: Path, planted: str
) -> None:
    project, cache, outside = _sandbox(tmp_path)
    if planted == "link":
        (cache / "projects").symlink_to(outside)
    else:
        (cache / "projects").write_text("", encoding="utf-8")
    before = snapshot(tmp_path)
    result = run_patcher("verify", "--project", project, env={"PYO3_PATCHER_CACHE_DIR": str(cache)})
    assert result.returncode == 10, result.stderr  # the cache's own error, with a hint
    assert "hint: " in result.stderr and "Traceback" not in result.stderr
    after = snapshot(tmp_path)
    after.pop("cache/CACHEDIR.TAG")
    assert after == before


def test_a_cache_dir_with_a_line_break_is_refused(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    before = snapshot(tmp_path)
    cache = f"{tmp_path}/c\nBASH_ENV=/tmp/x"
    result = run_patcher("env", "--project", project, env={"PYO3_PATCHER_CACHE_DIR": cache})
    assert result.returncode == 2, result.stderr
    assert "error: PYO3_PATCHER_CACHE_DIR holds a line break" in result.stderr
    assert result.stdout == ""
    assert snapshot(tmp_path) == before
