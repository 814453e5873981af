"""The command line itself: help that sets maintainer commands apart, -q, the settings in
[tool.pyo3-patcher], `env --format shell`, `remove --dry-run --json`, and where a bug's report
goes."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from helpers import bytes_of, copy_example, env_lines, run_patcher, snapshot, url_path

from patcher import cli, ui


def test_help_sets_the_maintainer_commands_apart() -> None:
    result = run_patcher("--help")
    assert result.returncode == 0
    assert "commands for a project: apply, update, refresh, remove, verify, env, doctor, demo" in (
        result.stdout
    )
    assert "commands for maintainers of pyo3-patcher" in result.stdout


def test_quiet_says_nothing_but_the_result(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    cold = {"PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cold")}
    loud = run_patcher("apply", "--project", project, "--dry-run", env=cold)
    assert "source is crates.io" in loud.stderr
    quiet = run_patcher("apply", "-q", "--project", project, "--dry-run", env=cold)
    assert quiet.returncode == 0 and "dry run: nothing written" in quiet.stdout
    assert quiet.stderr == "" or quiet.stderr.startswith("warning:")
    verbose = run_patcher("-v", "verify", "--project", project)
    assert "+ cargo metadata" in verbose.stderr


def _set(project: Path, settings: str) -> None:
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(f"\n[tool.pyo3-patcher]\n{settings}")


def test_vendor_dir_setting_is_where_the_trees_go_and_remove_takes_it_all(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    _set(project, 'vendor-dir = "third_party/pyo3-patched"\n')
    before = bytes_of(snapshot(project))
    result = run_patcher("apply", "--project", project)
    assert result.returncode == 0, result.stderr
    assert (project / "third_party/pyo3-patched/pyo3-ffi-0.28.3/.pyo3-patcher-tree").is_file()
    assert not (project / ".pyo3-patcher").exists()
    assert 'path = "third_party/pyo3-patched/pyo3-0.28.3"' in (project / "Cargo.toml").read_text(
        "utf-8"
    )
    assert run_patcher("verify", "--project", project).returncode == 0
    assert run_patcher("remove", "--project", project).returncode == 0
    assert bytes_of(snapshot(project)) == before  # third_party/ was ours: it goes too


def test_maturin_setting_pins_the_release_isolated_builds_get(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    _set(project, 'maturin = "1.14.1"\n')
    result = run_patcher("apply", "--project", project, "--json", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["maturin"].startswith("1.14.1+pyo3patcher.")
    outside = copy_example(tmp_path, "outside")
    _set(outside, 'maturin = "1.4.0"\n')  # the project requires maturin>=1.9
    refused = run_patcher("apply", "--project", outside)
    assert refused.returncode == 3 and "does not satisfy" in refused.stderr


def test_remove_dry_run_and_json_say_what_would_go(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    assert run_patcher("apply", "--project", project).returncode == 0
    before = snapshot(project)
    planned = run_patcher("remove", "--project", project, "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    payload = json.loads(planned.stdout)
    assert payload["dry_run"] is True and payload["changed"] is True
    assert sorted(payload["trees"]) == sorted(
        f".pyo3-patcher/{c}-0.28.3"
        for c in ("pyo3", "pyo3-build-config", "pyo3-ffi", "pyo3-macros", "pyo3-macros-backend")
    )
    actions = {f["path"]: f["action"] for f in payload["files"]}
    assert actions["pyo3-patcher.lock"] == "delete" and actions["Cargo.toml"] == "edit"
    assert snapshot(project) == before
    text = run_patcher("remove", "--project", project, "--dry-run")
    assert "remove .pyo3-patcher/pyo3-ffi-0.28.3/" in text.stdout
    assert text.stdout.rstrip().endswith("dry run: nothing written")


def test_env_prints_shell_exports_that_a_shell_can_source(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    result = run_patcher(
        "env", "--project", project, "--format", "shell", env={"PIP_FIND_LINKS": "/a b"}
    )
    assert result.returncode == 0, result.stderr
    assert all(line.startswith("export ") for line in result.stdout.splitlines())
    sourced = subprocess.run(
        ["sh", "-c", result.stdout + 'printf "%s|%s" "$PIP_FIND_LINKS" "$UV_BUILD_CONSTRAINT"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    links, constraints = sourced.split("|")
    wheels = url_path(constraints).parent
    (wheel,) = wheels.glob("maturin-*.whl")  # alone in a folder of this run's own
    assert wheel.name.startswith("maturin-1.16.0+pyo3patcher.backend.v2-py3-none-")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    # the user's own find-links kept, after ours: the wheel's own URL with its sha256
    assert links == f"{wheel.as_uri()}#sha256={digest} /a b"
    assert url_path(constraints).read_text() == (
        f"maturin==1.16.0+pyo3patcher.backend.v2 --hash=sha256:{digest}\n"
    )
    plain = env_lines(run_patcher("env", "--project", project).stdout)
    assert url_path(plain["UV_FIND_LINKS"]) != wheels  # each run hands out a folder of its own
    assert url_path(plain["PIP_BUILD_CONSTRAINT"]).read_text() == (
        "maturin==1.16.0+pyo3patcher.backend.v2\n"
    )


def test_a_bug_leaves_a_report_in_the_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cache"))

    def broken(args: object) -> int:
        raise ZeroDivisionError("a bug of ours")

    monkeypatch.setattr("patcher.commands.verify.run", broken)
    code = cli.main(["verify", "--project", str(tmp_path)])
    assert code == cli.BUG_EXIT
    said = capsys.readouterr().err
    (report,) = (tmp_path / "cache" / "crash").glob("crash-*.log")
    assert str(report) in said
    text = report.read_text(encoding="utf-8")
    assert text.startswith("pyo3-patcher ")
    assert "argv:" in text and "platform:" in text and "ZeroDivisionError" in text
    ui.set_level(ui.Level.NORMAL)


@pytest.mark.parametrize("planted", ["link", "file"])
def test_a_crash_folder_another_job_planted_carries_no_report_out(
    planted: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A `crash` entry of a shared cache that is a link (to a folder outside) or a file: the
    report of a bug goes to the system's temp dir instead, and nothing outside is written."""
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    cache.mkdir()
    outside.mkdir()
    if planted == "link":
        (cache / "crash").symlink_to(outside)
    else:
        (cache / "crash").write_text("not a folder\n", encoding="utf-8")
    before = snapshot(tmp_path)
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(cache))

    def broken(args: object) -> int:
        raise ZeroDivisionError("a bug of ours")

    monkeypatch.setattr("patcher.commands.verify.run", broken)
    assert cli.main(["verify", "--project", str(tmp_path)]) == cli.BUG_EXIT
    said = capsys.readouterr().err
    report = Path(said.split("the report is in ", 1)[1].split("\n", 1)[0])
    try:
        assert "ZeroDivisionError" in report.read_text(encoding="utf-8")
        assert not report.is_relative_to(tmp_path)
        after = snapshot(tmp_path)
        after.pop("cache/CACHEDIR.TAG", None)  # the one file the run may add
        assert after == before
    finally:
        report.unlink()
        ui.set_level(ui.Level.NORMAL)
