"""docs/ci.md's workflow, run as written in two simulated GitHub Actions jobs.

A small runner reads the workflow from the doc and runs its steps in order, as a GitHub
runner would: `actions/checkout` is a fresh `git clone` at the same path in each job;
`actions/setup-python` puts a fresh venv of this machine's Python first on PATH (the same
path in each job, as the tool cache's); `dtolnay/rust-toolchain` finds cargo installed;
`Swatinem/rust-cache` restores target/ where it stands, sets its `cache-hit` output, and after
the last step (its post step) cleans and saves it as rust-cache v2.9.2 does (patcher/cicache.py),
unless the restore was an exact match of its key ("Cache up-to-date"); our action runs the
steps of action.yml with `GITHUB_ACTION_PATH` at this checkout; `run:` steps run in
`bash -eo pipefail` with what earlier steps appended to `$GITHUB_ENV`. The install of
pyo3-patcher from git is the action's (`pip install "$GITHUB_ACTION_PATH"`): this repository
is the one place it can come from here."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import BASE_PYTHON, REPO_ROOT, copy_example, rebuilt_since, run_patcher

from patcher import cicache

PYO3_CRATES = {"pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend"}
OUR_ACTION = re.compile(r"^[\w.-]+/pyo3-patcher@")


def workflow_steps() -> list[dict]:
    """The steps of the first job of the first YAML block in docs/ci.md."""
    text = (REPO_ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    workflow = yaml.safe_load(block.group(1))
    (job,) = workflow["jobs"].values()
    return job["steps"]


class Runner:
    """One job of a GitHub Actions runner, as far as the workflow needs one."""

    def __init__(self, jobs: cicache.Jobs, origin: Path, archive: Path, *, exact: bool) -> None:
        """`exact`: the archive was saved under this job's cache key (a job of the same
        lockfile and toolchain), not found by a restore key (an earlier commit's)."""
        self.jobs, self.origin, self.archive, self.exact = jobs, origin, archive, exact
        self.outputs: dict[str, dict[str, str]] = {}
        self.env = dict(os.environ)
        self.env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_WORKSPACE": str(jobs.checkout),
                "RUNNER_TEMP": str(jobs.runner_temp),
                "UV_CACHE_DIR": str(jobs.work / "uv-cache"),
            }
        )
        self.github_env = jobs.work / "github-env"
        self.post: list[str] = []
        self.output = ""

    def run(self, steps: list[dict]) -> None:
        self.started = time.time()
        self.github_env.write_text("", encoding="utf-8")
        self.jobs.fresh(lambda dest: None, None)  # the runner's folder, new
        for step in steps:
            self.step(step, inputs={})

    def post_steps(self) -> None:
        """The end of the job: rust-cache cleans target/ and saves it, in the environment the
        job's steps left in $GITHUB_ENV."""
        if "rust-cache" in self.post and not self.exact:
            self.jobs.save("rust-cache", self.archive, env=self.env_file())

    def env_file(self) -> dict[str, str]:
        lines = self.github_env.read_text(encoding="utf-8").splitlines()
        return dict(line.partition("=")[::2] for line in lines)

    def step(self, step: dict, inputs: dict[str, str]) -> None:
        uses = step.get("uses", "")
        if "if" in step and not condition(step["if"], inputs, self.outputs):
            return
        if uses.startswith("actions/checkout@"):
            subprocess.run(
                ["git", "clone", "-q", self.origin, self.jobs.checkout], check=True, cwd="/"
            )
        elif uses.startswith("actions/setup-python@"):
            venv = self.jobs.work / "toolcache" / "python"
            subprocess.run(["rm", "-rf", venv], check=True)
            subprocess.run([BASE_PYTHON, "-m", "venv", venv], check=True)
            self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env['PATH']}"
        elif uses.startswith("dtolnay/rust-toolchain@"):
            assert subprocess.run(["cargo", "--version"], check=False).returncode == 0
        elif uses.startswith("Swatinem/rust-cache@"):
            assert not step.get("with"), "the recipe gives rust-cache its defaults"
            if self.archive.exists():
                cicache.restore(self.archive, self.jobs.checkout)
            hit = self.archive.exists() and self.exact
            self.outputs[step.get("id", "")] = {"cache-hit": str(hit).lower()}
            self.post.append("rust-cache")
        elif OUR_ACTION.match(uses):
            action = yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))
            given = {k: str(v["default"]) for k, v in action["inputs"].items()}
            given.update({k: _input(v) for k, v in (step.get("with") or {}).items()})
            for inner in action["runs"]["steps"]:
                self.step(inner, inputs=given)
        elif "run" in step:
            self.shell(step, inputs)
        else:
            raise AssertionError(f"the runner does not know the step {step}")

    def shell(self, step: dict, inputs: dict[str, str]) -> None:
        env = {**self.env, **self.env_file()}
        env["GITHUB_ENV"] = str(self.github_env)
        env["GITHUB_ACTION_PATH"] = str(REPO_ROOT)
        for key, value in (step.get("env") or {}).items():
            env[key] = re.sub(
                r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], str(value)
            )
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=self.jobs.checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        self.output += result.stdout + result.stderr
        assert result.returncode == 0, (step, result.stdout[-2000:], result.stderr[-4000:])


@pytest.mark.slow
def test_the_workflow_of_docs_ci_md_keeps_job_2_warm(
    tmp_path: Path, example_deps_target: Path
) -> None:
    origin = copy_example(tmp_path, "origin")
    subprocess.run(["git", "init", "-q"], cwd=origin, check=True)
    result = run_patcher("apply", "--project", origin)
    assert result.returncode == 0, result.stderr
    subprocess.run(["git", "add", "-A"], cwd=origin, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e.invalid", "commit", "-qm", "patched"],
        cwd=origin,
        check=True,
    )
    steps = workflow_steps()
    jobs = cicache.Jobs(tmp_path, "project")
    archive = tmp_path / "rust-cache.tar"
    # what an earlier commit's run left in the cache: pyo3's dependencies, nothing of pyo3
    cicache.save(example_deps_target, archive)

    first = Runner(jobs, origin, archive, exact=False)
    first.run(steps)
    assert "ok   cargo resolves pyo3 to the vendored trees" in first.output  # verify passed
    assert rebuilt_since(jobs.checkout / "target", first.started) >= PYO3_CRATES
    first.post_steps()

    second = Runner(jobs, origin, archive, exact=True)
    second.run(steps)
    assert "CARGO_HOME" not in second.env_file()  # the end-of-job step skipped: nothing saves
    assert "ok   cargo resolves pyo3 to the vendored trees" in second.output
    rebuilt = rebuilt_since(jobs.checkout / "target", second.started)
    assert "hello-pyo3" in rebuilt  # the project's own crate: a fresh checkout's sources
    assert rebuilt & PYO3_CRATES == set()
    assert len(list((jobs.checkout / "dist").glob("*.whl"))) == 1  # three builds, one name


def _input(value: object) -> str:
    """An action input as the runner hands it over: a string (YAML's `true` is "true")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def condition(text: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]]) -> bool:
    """An `if:`: comparisons of an input (action.yml) or of a step's output (the workflow) with
    quoted strings, joined by `&&`."""
    result = True
    for part in text.split("&&"):
        found = re.fullmatch(
            r"\s*(?:inputs\.([\w-]+)|steps\.([\w-]+)\.outputs\.([\w-]+))"
            r"\s*(==|!=)\s*'([^']*)'\s*",
            part,
        )
        assert found, f"the runner does not know the condition {text!r}"
        name, step, output, op, value = found.groups()
        actual = inputs.get(name) if name else outputs.get(step, {}).get(output, "")
        result &= (actual == value) == (op == "==")
    return result
