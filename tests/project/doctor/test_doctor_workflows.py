"""`patcher doctor` reads the repository's GitHub workflows: which build setup each job runs,
what the patch does there, which CI cache it simulates, and which setups it cannot simulate.
Workflow files are untrusted: links, oversized and malformed files are named, never followed
or fatal. Real files in a temporary repository; the reading is tested on its own, plus CLI runs
that build nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from helpers import MATURIN_ACTION_ONLY, ffi_project, run_patcher, snapshot, write_workflow

from patcher.project import doctor, workflows
from patcher.project.workflows import (
    BUILD,
    CIBUILDWHEEL,
    ENV_CI,
    ENV_PLAIN,
    LOCAL_ACTION,
    MATURIN_ACTION,
    NOX,
    PIP,
    REUSABLE,
    RUST_CACHE,
    SCCACHE,
    TARGET_CACHE,
    TOX,
    UV,
)

RUST_CACHE_RECIPE = """jobs:
  wheels:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: Swatinem/rust-cache@v2
      - uses: OWNER/pyo3-patcher@v0.1.0
      - run: python -m pip wheel --no-deps -w dist .
      - uses: OWNER/pyo3-patcher@v0.1.0
        with:
          end-of-job: true
"""
TAR_CACHE = """jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with:
          path: |
            ~/.cargo/registry
            target
          key: cargo
      - run: |
          patcher env --ci >> "$GITHUB_ENV"
          uv build --wheel
"""
CIBUILDWHEEL_MATRIX = """jobs:
  linux:
    runs-on: ubuntu-22.04
    steps:
      - uses: pypa/cibuildwheel@v2.21
  macos:
    runs-on: [macos-14]
    steps:
      - run: pipx run cibuildwheel --output-dir wheelhouse
  any:
    runs-on: ${{ matrix.os }}
    steps:
      - run: python -m cibuildwheel
"""
SCCACHE_NO_TARGET_CACHE = """jobs:
  wheels:
    runs-on: ubuntu-latest
    env:
      SCCACHE_GHA_ENABLED: "true"
    steps:
      - uses: mozilla-actions/sccache-action@v0.0.9
      - run: echo "RUSTC_WRAPPER=sccache" >> "$GITHUB_ENV"
      - run: uv build --wheel --out-dir dist
"""


def repo_with(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    folder = tmp_path / "repo" / ".github" / "workflows"
    folder.mkdir(parents=True)
    for name, text in files.items():
        data = text.encode("utf-8") if isinstance(text, str) else text
        (folder / name).write_bytes(data)
    return tmp_path / "repo"


def doctor_json(project: Path) -> tuple[dict, str]:
    result = run_patcher("doctor", "--project", project, "--json")
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout), result.stderr


# --- reading and classifying, on files alone -------------------------------------------------


def test_maturin_action_only_gains_nothing(tmp_path: Path) -> None:
    found = workflows.read(repo_with(tmp_path, {"wheels.yml": MATURIN_ACTION_ONLY}))
    (job,) = found.jobs  # the sdist job builds no wheel
    assert (job.name, job.runner, job.setups) == ("linux", "linux", (MATURIN_ACTION,))
    assert job.fixed_interpreter and not job.isolated
    assert found.isolated_jobs() == []
    assert found.choose_cache() == ("", "")
    why = found.gains_nothing()
    assert why is not None and "maturin-action" in why and "docs/ci.md" in why
    note, idle = job.notes()
    assert note.startswith("maturin-action: fixed interpreter, nothing to gain")
    assert "$GITHUB_WORKSPACE" in note and "not CARGO_HOME, PIP_, UV_" in note
    # no cache of target/ in that job: nothing for patcher's steps to keep usable
    assert idle == job.steps_gain_nothing()
    assert idle.startswith("no cache of target/ or compilations") and "leave patcher's" in idle


def test_the_cache_is_chosen_from_the_jobs_that_run_isolated_builds(tmp_path: Path) -> None:
    found = workflows.read(repo_with(tmp_path, {"a.yml": TAR_CACHE, "b.yml": RUST_CACHE_RECIPE}))
    tar, rust = found.jobs
    assert (tar.cache, rust.cache) == ("tar", "rust-cache")
    assert tar.setups == (TARGET_CACHE, ENV_CI, UV)
    assert rust.setups == (RUST_CACHE, ENV_CI, PIP) and rust.end_of_job
    assert found.choose_cache() == (
        "rust-cache",
        "as .github/workflows/b.yml, job wheels on linux uses",
    )
    assert found.ci_mode() == (True, "as .github/workflows/a.yml runs it")
    assert found.gains_nothing() is None

    only_tar = workflows.read(repo_with(tmp_path / "t", {"a.yml": TAR_CACHE}))
    assert only_tar.choose_cache()[0] == "tar"
    assert any("no end-of-job step is needed" in n for n in only_tar.jobs[0].notes())


def test_cibuildwheel_by_runner(tmp_path: Path) -> None:
    found = workflows.read(repo_with(tmp_path, {"cibw.yml": CIBUILDWHEEL_MATRIX}))
    linux, macos, unknown = found.jobs
    assert [j.setups for j in found.jobs] == [(CIBUILDWHEEL,)] * 3
    assert (linux.runner, macos.runner, unknown.runner) == ("linux", "macos", "")
    assert linux.fixed_interpreter and "/project" in linux.notes()[0]
    assert "CIBW_ENVIRONMENT_PASS_LINUX" in linux.notes()[0]
    assert macos.isolated and "one isolated build per Python version" in macos.notes()[0]
    assert unknown.unread and not unknown.isolated  # a matrix: either may hold
    assert found.gains_nothing() is None  # the macOS job builds with pip on the host


def test_sccache_is_named_and_not_simulated(tmp_path: Path) -> None:
    found = workflows.read(repo_with(tmp_path, {"s.yml": SCCACHE_NO_TARGET_CACHE}))
    (job,) = found.jobs
    assert job.setups == (SCCACHE, UV) and job.cache == ""
    cache, why = found.choose_cache()
    assert cache == "" and "no job that runs isolated builds caches target/" in why
    (note,) = job.notes()
    assert "Not simulated" in note and "bench_ci.py --setups sccache" in note
    # pyo3 0.28: the copies' fixed path is what makes sccache hit; 0.29 hits without the patch
    assert job.notes("0.28.3") == [note]
    idle = job.steps_gain_nothing("0.29.3")
    assert job.notes("0.29.3") == [note, idle]
    assert idle is not None and "sccache with pyo3 0.29.3" in idle and "leave patcher's" in idle


def test_steps_gain_nothing_only_where_no_build_is_kept(tmp_path: Path) -> None:
    found = workflows.read(repo_with(tmp_path, {"a.yml": TAR_CACHE, "b.yml": RUST_CACHE_RECIPE}))
    assert [j.steps_gain_nothing("0.29.3") for j in found.jobs] == [None, None]
    text = """jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: patcher env --ci >> "$GITHUB_ENV"
      - run: pip wheel .
"""
    (job,) = workflows.read(repo_with(tmp_path / "n", {"t.yml": text})).jobs
    idle = job.steps_gain_nothing()
    assert idle is not None and "several isolated builds" in idle
    assert idle in job.notes()


def test_run_steps_are_read_by_their_words(tmp_path: Path) -> None:
    text = """jobs:
  many:
    env: {RUSTC_WRAPPER: /usr/bin/sccache}
    steps:
      - run: |
          python -m pip install --upgrade pip build nox tox
          python -m build --wheel
          nox -s tests && tox -e py312
          patcher env --no-ci >> "$GITHUB_ENV"
          pip install dist/*.whl ./other.whl
      - uses: ./.github/actions/build
  called:
    uses: org/repo/.github/workflows/wheels.yml@main
  lint:
    steps:
      - run: cargo clippy; pip install ruff
"""
    found = workflows.read(repo_with(tmp_path, {"m.yml": text}))
    many, called = found.jobs  # lint runs no build
    assert many.setups == (SCCACHE, BUILD, NOX, TOX, ENV_PLAIN, LOCAL_ACTION)
    assert called.setups == (REUSABLE,) and called.unread
    assert found.ci_mode() == (False, ".github/workflows/m.yml runs `patcher env --no-ci`")
    assert any("patcher env --no-ci" in n for n in many.notes())
    assert any("its code is not read" in n for n in called.notes())


def test_noxfile_and_tox_ini_by_name_only(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, {})
    # never imported or run: this one would leave a marker behind
    (repo / "noxfile.py").write_text(
        "open('imported', 'w').close()\nraise SystemExit(3)\n", encoding="utf-8"
    )
    (repo / "tox.ini").mkdir()  # not a file: not counted
    found = workflows.read(repo)
    assert (found.folder, found.jobs, found.tools) == (True, (), ("noxfile.py",))
    assert not (repo / "imported").exists()


# --- untrusted files ---------------------------------------------------------------------------


def test_malformed_and_odd_shapes_are_named_not_fatal(tmp_path: Path) -> None:
    deep = "jobs: " + "[" * 20000 + "]" * 20000 + "\n"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi")
    )
    bomb += "jobs:\n  j:\n    runs-on: *i\n    env: *i\n    steps: *i\n"
    files: dict[str, str | bytes] = {
        "bad.yml": "jobs:\n  wheels:\n    steps: [\n",
        "list.yml": "- a\n- b\n",
        "empty.yaml": "",
        "latin1.yml": b"name: caf\xe9\n",
        "deep.yml": deep,
        "bomb.yml": bomb,
        "shapes.yml": "jobs:\n  a: 1\n  b: {steps: {x: 1}}\n  c: {steps: [1, [2], null]}\n"
        "  d: {runs-on: {labels: 3}, steps: [{uses: 5, run: [1]}, {uses: PyO3/maturin-action@v1, "
        "with: [1]}]}\n",
        "notes.txt": "jobs: {}",  # not a workflow's name
        "esc\x1b[2J.yml": 'jobs: {"x\\e]0;t\\a": {steps: [{uses: PyO3/maturin-action@v1}]}}\n',
    }
    start = time.monotonic()
    found = workflows.read(repo_with(tmp_path, files))
    assert time.monotonic() - start < 10
    problems = "\n".join(found.problems)
    assert ".github/workflows/bad.yml: not valid YAML at line 4, not read" in problems
    assert ".github/workflows/list.yml: not a workflow" in problems
    assert ".github/workflows/empty.yaml: not a workflow" in problems
    assert ".github/workflows/latin1.yml: not UTF-8, not read" in problems
    assert ".github/workflows/deep.yml: " in problems
    assert "notes.txt" not in problems
    escaped, job = found.jobs  # the well-shaped step of shapes.yml, nothing of the bomb
    assert (job.workflow, job.name, job.setups) == (
        ".github/workflows/shapes.yml",
        "d",
        (MATURIN_ACTION,),
    )
    # names are shown with their control characters escaped, never sent to a terminal raw
    assert (escaped.workflow, escaped.name) == (
        ".github/workflows/esc\\x1b[2J.yml",
        "x\\x1b]0;t\\x07",
    )


def test_a_linked_workflow_or_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.yml"
    elsewhere.write_text(MATURIN_ACTION_ONLY, encoding="utf-8")
    repo = repo_with(tmp_path, {"real.yml": SCCACHE_NO_TARGET_CACHE})
    (repo / ".github" / "workflows" / "linked.yml").symlink_to(elsewhere)
    found = workflows.read(repo)
    assert found.problems == (".github/workflows/linked.yml: a symbolic link, not followed",)
    assert [j.workflow for j in found.jobs] == [".github/workflows/real.yml"]

    other = tmp_path / "other"
    other.mkdir()
    (other / ".github").symlink_to(repo / ".github")
    found = workflows.read(other)
    assert (found.folder, found.jobs) == (False, ())
    assert found.problems == (".github: a symbolic link, not read",)


def test_an_oversized_workflow_is_not_read(tmp_path: Path) -> None:
    big = MATURIN_ACTION_ONLY + "#" * (workflows.MAX_BYTES + 1) + "\n"
    repo = repo_with(tmp_path, {"big.yml": big})
    os.mkfifo(repo / ".github" / "workflows" / "fifo.yml")  # a plain open would block
    found = workflows.read(repo)
    assert found.jobs == ()
    assert found.problems[0].startswith(".github/workflows/big.yml: ")
    assert "over the 1 MiB doctor reads, not read" in found.problems[0]
    assert found.problems[1] == ".github/workflows/fifo.yml: not a regular file, not read"


def test_workflows_past_the_total_bound_are_not_read(tmp_path: Path) -> None:
    """Two files of 0.8 MiB are read, the third would pass 2 MiB in all: named, not read
    (pure-Python YAML takes seconds per MiB, and a pull request can add files)."""
    padding = "#" + "x" * (800 * 1024) + "\n"
    files: dict[str, str | bytes] = {
        f"{n}.yml": MATURIN_ACTION_ONLY.replace("linux:", f"linux{n}:") + padding for n in (1, 2, 3)
    }
    found = workflows.read(repo_with(tmp_path, files))
    assert [j.name for j in found.jobs] == ["linux1", "linux2"]
    assert found.problems == (
        ".github/workflows/3.yml: the files before it fill the 2 MiB doctor reads in all, not read",
    )


# --- the command, with nothing to build ------------------------------------------------------


def test_a_maturin_action_ci_is_never_called_warm(tmp_path: Path) -> None:
    """The only workflow builds with maturin-action: doctor builds nothing, says why and that
    the patch gains nothing there, and names a malformed workflow file beside it."""
    project = ffi_project(tmp_path)
    write_workflow(project, "wheels.yml", MATURIN_ACTION_ONLY)
    write_workflow(project, "broken.yaml", "jobs: {wheels: [\n")
    before = snapshot(project)
    found, said = doctor_json(project)
    assert snapshot(project) == before
    assert found["warm"] is None and found["builds"] == [] and found["crates"] == []
    assert found["ci"]["cache"] is None
    assert "warm" not in found["verdict"]
    assert found["verdict"].startswith("nothing simulated: no workflow job runs an isolated build")
    assert "maturin-action" in found["verdict"]
    assert found["advice"][0].startswith("the patch can gain nothing in this CI: ")
    assert "`patcher apply` patches such a project only with --force" in found["advice"][0]
    flow = found["workflows"]
    assert (flow["simulated"], flow["matches_ci"]) == (False, False)
    assert flow["not_read"] == [".github/workflows/broken.yaml: not valid YAML at line 2, not read"]
    (job,) = flow["jobs"]
    assert (job["workflow"], job["job"], job["setups"]) == (
        ".github/workflows/wheels.yml",
        "linux",
        ["maturin-action"],
    )
    assert "nothing to build" in said

    text = run_patcher("doctor", "--project", project)
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "maturin-action: fixed interpreter, nothing to gain" in out and "docs/ci.md" in out
    assert "not read: .github/workflows/broken.yaml" in out
    assert "builds: none" in out and "warm" not in out.replace("stays warm", "")


def test_the_plan_follows_the_workflows_cache(tmp_path: Path) -> None:
    """The plan (no build): rust-cache where a job with isolated builds uses it, tar for an
    actions/cache of target/, docs/ci.md's recipe, not judged, where only sccache carries
    anything; an explicit --cache that no job uses is not judged either."""
    project = ffi_project(tmp_path)
    write_workflow(project, "w.yml", RUST_CACHE_RECIPE)
    plan = doctor.plan(project, "pip", None)
    assert (plan.cache, plan.simulate, plan.matches_ci) == ("rust-cache", True, True)
    assert plan.cache_why == "as .github/workflows/w.yml, job wheels on linux uses"
    assert (plan.ci_mode, plan.ci_mode_why) == (True, "as .github/workflows/w.yml runs it")
    assert doctor.plan(project, "pip", None, cache="tar").matches_ci is False
    assert doctor.plan(project, "pip", None, cache="none").matches_ci is True

    write_workflow(project, "w.yml", TAR_CACHE)
    assert doctor.plan(project, "uv", None).cache == "tar"

    write_workflow(project, "w.yml", SCCACHE_NO_TARGET_CACHE)
    plan = doctor.plan(project, "uv", None)
    assert (plan.cache, plan.simulate, plan.matches_ci) == ("rust-cache", True, False)
    assert "which your workflows do not run" in plan.cache_why
    # a target dir kept between jobs, named by the user (a self-hosted runner's): judged
    kept = doctor.plan(project, "uv", tmp_path / "kept-target")
    assert (kept.simulate, kept.matches_ci) == (True, True)
    diagnosis = doctor.Diagnosis(plan, (10.0, 1.0), ())
    assert diagnosis.as_json()["warm"] is None
    assert diagnosis.verdict() == "not what your CI runs (see builds): job 2 recompiled no crate"

    # a local action's code is never read, even where it would say maturin-action
    action = project / ".github" / "actions" / "wheels"
    action.mkdir(parents=True)
    (action / "action.yml").write_text(
        "runs:\n  using: composite\n  steps:\n    - uses: PyO3/maturin-action@v1\n",
        encoding="utf-8",
    )
    write_workflow(
        project, "w.yml", "jobs:\n  w:\n    steps:\n      - uses: ./.github/actions/wheels\n"
    )
    plan = doctor.plan(project, "uv", None)
    assert (plan.cache, plan.simulate, plan.matches_ci) == ("rust-cache", True, False)
    assert plan.cache_why.startswith("what .github/workflows/w.yml, job w builds lies in code")
    assert plan.workflows.gains_nothing() is None
    diagnosis = doctor.Diagnosis(plan, (10.0, 1.0), ())
    assert diagnosis.as_json()["warm"] is None
    assert diagnosis.verdict() == "not what your CI runs (see builds): job 2 recompiled no crate"
    assert "warm" not in diagnosis.verdict()


@pytest.mark.slow
def test_a_rust_cache_workflow_is_simulated_with_rust_cache(tmp_path: Path) -> None:
    """An unpatched project whose workflow builds with pip under rust-cache: doctor's default
    simulates rust-cache and judges the CI (warm is said, here false)."""
    project = ffi_project(tmp_path)
    write_workflow(project, "wheels.yml", RUST_CACHE_RECIPE)
    found, _ = doctor_json(project)
    assert (found["ci"]["cache"], found["warm"]) == ("rust-cache", False)
    assert (
        found["workflows"]["cache_why"]
        == "as .github/workflows/wheels.yml, job wheels on linux uses"
    )
    config = {c["name"]: c for c in found["crates"]}["pyo3-build-config"]
    assert config["cause"]["variable"] == "PYO3_PYTHON" and config["fixed_by_patcher"]
