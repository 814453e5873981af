"""The journaled transaction, on its own: rollback on error, recovery after kill -9 at every
step, a rollback that fails, and a staging area that is not to be trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import plant_pid_links, snapshot, started_with_pid

from patcher.project import transaction
from patcher.project.fence import Fence
from patcher.project.transaction import RecoveryError, Transaction

STEPS = ["tree", "write", "mkdir", "remove", "commit"]

# One transaction of every kind of step, with a fault point before each; run in a child
# process so that a fault of kind "kill" can kill it.
CHILD = """
import sys
from pathlib import Path
from patcher.project.fence import Fence
from patcher.project.transaction import Transaction, fault_point
root = Path(sys.argv[1])
with Transaction(Fence(root)) as tx:
    fault_point("tree")
    tx.place_tree(root / "vendor" / "crate", root.parent / "source-tree")
    fault_point("write")
    tx.write_file(root / "Cargo.toml", b"[package]\\nname = 'changed'\\n")
    fault_point("mkdir")
    tx.mkdir(root / "newdir")
    fault_point("remove")
    tx.remove(root / "old.txt")
"""


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "vendor" / "crate").mkdir(parents=True)
    (root / "vendor" / "crate" / "lib.rs").write_text("old tree\n", encoding="utf-8")
    (root / "Cargo.toml").write_text("[package]\nname = 'original'\n", encoding="utf-8")
    (root / "old.txt").write_text("keep me\n", encoding="utf-8")
    source = tmp_path / "source-tree"
    source.mkdir()
    (source / "lib.rs").write_text("new tree\n", encoding="utf-8")
    return root


def _child(root: Path, fault: str, kind: str) -> int:
    env = {**os.environ, transaction.FAULT_ENV: fault, transaction.FAULT_KIND_ENV: kind}
    return subprocess.run([sys.executable, "-c", CHILD, str(root)], env=env, check=False).returncode


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_at_any_step_is_rolled_back_by_the_next_run(tmp_path: Path, step: str) -> None:
    root = _project(tmp_path)
    before = snapshot(root)
    assert _child(root, step, "kill") == -9
    done = transaction.recover(Fence(root))
    if step == "commit":  # killed before the commit line: everything is undone
        assert done and "rolled back" in done[0]
    assert snapshot(root) == before  # bytes and mtimes
    assert list(transaction.leftovers(root)) == []


def test_a_finished_transaction_killed_during_its_clean_up_is_finished(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert _child(root, "", "error") == 0
    after = snapshot(root)
    # the state a kill between the commit line and the end of the clean-up leaves
    staging = _journal(root, {"op": "commit"})
    (staging / "001-backup-old.txt").write_text("stale backup\n", encoding="utf-8")
    assert transaction.recover(Fence(root)) == [
        "finished the clean-up of an interrupted patcher run"
    ]
    assert snapshot(root) == after


@pytest.mark.parametrize("kind", ["error", "interrupt", "enospc"])
def test_an_error_ctrl_c_or_full_disk_rolls_back_at_once(tmp_path: Path, kind: str) -> None:
    root = _project(tmp_path)
    before = snapshot(root)
    code = _child(root, "remove", kind)
    assert code != 0
    assert snapshot(root) == before
    assert list(transaction.leftovers(root)) == []


def test_a_rollback_that_fails_keeps_the_backups_and_names_them(tmp_path: Path) -> None:
    root = _project(tmp_path)
    before = snapshot(root)
    env = {
        **os.environ,
        transaction.FAULT_ENV: "remove,rollback",
        transaction.FAULT_KIND_ENV: "error",
    }
    code = (
        "from patcher.project.transaction import RecoveryError\n"
        + "try:\n"
        + "\n".join("    " + line for line in CHILD.strip().splitlines())
        + "\nexcept RecoveryError as exc:\n"
        + "    print(exc.message); print(exc.hint); raise SystemExit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    (staging,) = root.glob(transaction.STAGING_NAME + "-*")
    assert str(staging) in result.stdout and "retries" in result.stdout
    assert transaction.journal_path(root).is_file()
    backups = [p.name for p in staging.iterdir() if "backup" in p.name]
    assert backups  # the originals are still there
    assert transaction.recover(Fence(root))  # the next run, without the fault, finishes it
    assert snapshot(root) == before


def _journal(root: Path, *records: dict[str, object], link_to: Path | None = None) -> Path:
    """A journal where patcher keeps its own (the cache), naming a staging folder in `root`
    (or a link there to `link_to`)."""
    root = Path(os.path.realpath(root))
    staging = root / (transaction.STAGING_NAME + "-0123456789abcdef")
    if link_to is None:
        staging.mkdir()
    else:
        staging.symlink_to(link_to)
    st = staging.stat()
    lines = [
        {"op": "begin", "tool": "pyo3-patcher", "root": str(root), "staging": staging.name},
        {"op": "staging", "dev": st.st_dev, "ino": st.st_ino},
        *records,
    ]
    journal = transaction.journal_path(root)
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return staging


@pytest.mark.parametrize(
    "bad",
    [
        {"op": "replace", "path": "../outside.txt", "backup": None},
        {"op": "replace", "path": "/etc/passwd", "backup": None},
        {"op": "remove", "path": "old.txt", "backup": "../../etc/passwd"},
        {"op": "chmod", "path": "old.txt"},
    ],
)
def test_a_journal_that_is_not_to_be_trusted_is_left_alone(
    tmp_path: Path, bad: dict[str, object]
) -> None:
    root = _project(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("not patcher's\n", encoding="utf-8")
    staging = _journal(root, bad)
    before = snapshot(tmp_path)
    with pytest.raises(RecoveryError, match="looks like the journal of an interrupted") as caught:
        transaction.recover(Fence(root))
    assert caught.value.exit_code == 3
    assert snapshot(tmp_path) == before
    assert staging.is_dir()
    assert transaction.journal_path(root).is_file()


def test_a_staging_area_through_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _journal(root, link_to=elsewhere)
    with pytest.raises(RecoveryError, match="not a folder"):
        transaction.recover(Fence(root))


def test_a_new_transaction_refuses_to_start_over_a_leftover(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _journal(root)
    with pytest.raises(RecoveryError, match="left"), Transaction(Fence(root)):
        pass


def test_the_journal_is_not_written_through_a_planted_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared cache with links at every name a pid-named temp file of the journal could
    take, for the next few thousand processes: the transaction runs, nothing outside is
    written."""
    root = _project(tmp_path)
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(cache))
    name = transaction.journal_path(root).name
    pids = plant_pid_links(cache / "projects", f".{name}.{{pid}}.tmp", outside / "written")
    before = snapshot(outside)
    pid, said, code = started_with_pid([sys.executable, "-c", CHILD, str(root)], {})
    if pid not in pids:
        pytest.skip("the machine started more processes meanwhile than links were planted")
    assert code == 0, said
    assert snapshot(outside) == before
    assert (root / "Cargo.toml").read_text(encoding="utf-8") == "[package]\nname = 'changed'\n"
    assert list(transaction.leftovers(root)) == []
