"""What the repository's CI runs, read from its GitHub workflows, and what the patch does there
(for doctor, and for apply's refusal where the patch gains nothing in CI, gains.py).

doctor reads `.github/workflows/*.yml|*.yaml` of the checkout that holds the project and names,
per workflow job, the build setups it recognises: PyO3/maturin-action, cibuildwheel, sccache,
Swatinem/rust-cache, an actions/cache of target/, nox and tox steps, `patcher env` (CI mode
unless --no-ci) and pip / uv / `python -m build` builds. From that it chooses the CI cache its
two simulated jobs use, and says which setups it cannot simulate. `noxfile.py` and `tox.ini`
are noted by name only.

Workflow files are written by whoever opens a pull request: they are data. Only regular files
up to MAX_BYTES are read, MAX_TOTAL_BYTES in all (pure-Python YAML parses about a MiB in 5 to
15 s: a pull request must not make every CI job slow), a symbolic link refused, never
followed, with `yaml.safe_load`;
shapes that are not what GitHub expects are skipped; nothing named in them is run, imported or
followed (a local action's or a reusable workflow's code is not read). A file that cannot be
read is a problem named with the file, never an error.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # a workflow file larger than this is not read
MAX_TOTAL_BYTES = 2 << 20  # all workflow files together: those past it are not read
MAX_FILES = 100  # workflow files read, in name order

# what a job runs, as doctor tells it apart
MATURIN_ACTION = "maturin-action"
CIBUILDWHEEL = "cibuildwheel"
SCCACHE = "sccache"
RUST_CACHE = "rust-cache"
TARGET_CACHE = "actions/cache of target/"
NOX = "nox"
TOX = "tox"
ENV_CI = "patcher env --ci"
ENV_PLAIN = "patcher env --no-ci"  # on a runner plain `patcher env` is CI mode
PIP = "pip"
UV = "uv"
BUILD = "python -m build"
MATURIN_CLI = "maturin build"
LOCAL_ACTION = "a local action"
REUSABLE = "a reusable workflow"

# a PEP 517 isolated build, or a step that only isolated builds need
_ISOLATED = {PIP, UV, BUILD, NOX, TOX, ENV_CI, ENV_PLAIN}
# code doctor does not read: what it builds is unknown
_UNREAD = {LOCAL_ACTION, REUSABLE}
LINUX, MACOS, WINDOWS = "linux", "macos", "windows"
_DOCS = "docs/ci.md, Other setups"


@dataclasses.dataclass(frozen=True)
class Job:
    """One job of one workflow file, as far as doctor tells its build setup apart."""

    workflow: str  # the file, relative to the checkout's top
    name: str  # the job's id
    runner: str  # LINUX, MACOS, WINDOWS, or "" when runs-on does not say (a matrix)
    setups: tuple[str, ...]  # what it runs, in the order first seen
    end_of_job: bool = False  # runs `patcher env --ci --end-of-job` (or the action's)

    @property
    def isolated(self) -> bool:
        """It runs PEP 517 isolated builds, or may (nox, tox, cibuildwheel on a host)."""
        return bool(_ISOLATED & set(self.setups)) or (
            CIBUILDWHEEL in self.setups and self.runner in (MACOS, WINDOWS)
        )

    @property
    def unread(self) -> bool:
        """What it builds, if anything, lies in code doctor does not read."""
        return bool(_UNREAD & set(self.setups)) or (
            CIBUILDWHEEL in self.setups and self.runner == ""
        )

    @property
    def fixed_interpreter(self) -> bool:
        """It builds wheels only with one fixed interpreter, where pyo3 stays warm anyway."""
        builds = {MATURIN_ACTION, MATURIN_CLI} & set(self.setups) or (
            CIBUILDWHEEL in self.setups and self.runner == LINUX
        )
        return bool(builds) and not self.isolated and not self.unread

    @property
    def cache(self) -> str:
        """The CI cache of target/ doctor can simulate for it: cicache.CACHES, or ""."""
        if RUST_CACHE in self.setups:
            return "rust-cache"
        return "tar" if TARGET_CACHE in self.setups else ""

    def where(self) -> str:
        return f"{self.workflow}, job {self.name}" + (f" on {self.runner}" if self.runner else "")

    def notes(self, pyo3: str = "") -> list[str]:
        """What the patch does with each setup of this job; `pyo3`: the project's pyo3
        release, where known."""
        said = []
        setups = set(self.setups)
        if MATURIN_ACTION in setups:
            said.append(
                "maturin-action: fixed interpreter, nothing to gain: it runs `maturin build` "
                "(not a PEP 517 build), on Linux in a manylinux container that mounts only "
                "$GITHUB_WORKSPACE and passes variables only by prefix (CARGO_, MATURIN_, "
                "PYO3_, RUST...; not CARGO_HOME, PIP_, UV_), so pyo3 stays warm without the "
                f"patch and `{ENV_CI}`'s copies are not seen there; on a patched project it "
                "builds the in-repo trees, whose cached build is kept only with `patcher verify "
                f"--pin-mtimes` before it (and the end-of-job step with rust-cache) ({_DOCS})"
            )
        if MATURIN_CLI in setups:
            said.append(
                "`maturin build` / `maturin develop` run directly: one fixed interpreter, "
                "nothing to gain (the patch serves isolated builds, a fresh venv each)"
            )
        if CIBUILDWHEEL in setups:
            linux = (
                "on Linux it copies the project into its container (/project) and passes "
                "only CIBW_ENVIRONMENT_PASS_LINUX: the patched maturin and the copies do not "
                "reach it, nothing to gain"
            )
            host = (
                f"on macOS and Windows it builds on the host with pip, one isolated build per "
                f"Python version: run `{ENV_CI}` before it there (not simulated: doctor "
                "builds with one Python)"
            )
            which = {LINUX: [linux], MACOS: [host], WINDOWS: [host]}.get(self.runner, [linux, host])
            said.append(f"cibuildwheel: {'; '.join(which)} ({_DOCS})")
        if SCCACHE in setups and not self.isolated:
            said.append("sccache: caches rustc calls by content, unaffected by mtimes")
        elif SCCACHE in setups:
            said.append(
                "sccache: caches rustc calls by content, not mtimes; `patcher env --ci`'s "
                "copies sit at one path in every job, so their compilations hit. With pyo3 "
                ">= 0.29 and no cache of target/, sccache serves every pyo3 compilation "
                "without the patch too (bench: 14 of 14 hits): the patch gains nothing there "
                "and costs its steps. Not simulated (doctor carries target/ by rust-cache or "
                f"tar): measure with `bench/bench_ci.py --setups sccache` ({_DOCS})"
            )
        if RUST_CACHE in setups:
            said.append(
                "Swatinem/rust-cache: simulated, its cleaning emulated; it drops the vendored "
                f"crates' build unless `{ENV_CI}` runs and `{ENV_CI} --end-of-job` is the "
                "job's last step (docs/ci.md)"
                + ("" if self.end_of_job or ENV_CI not in setups else ": this job has no such step")
            )
        if TARGET_CACHE in setups:
            said.append(
                "actions/cache of target/: simulated as a tar cache (mtimes kept); with "
                f"`{ENV_CI}` no end-of-job step is needed"
            )
        if self.isolated and not self.cache and SCCACHE not in setups:
            said.append(
                "no cache of target/: every job compiles every crate, and the patch gains "
                "nothing in CI until target/ is cached (docs/ci.md)"
            )
        idle = self.steps_gain_nothing(pyo3)
        if idle is not None:
            said.append(idle)
        if setups & {NOX, TOX}:
            said.append(
                "nox/tox: their sessions are not read (doctor never imports or runs "
                "noxfile.py or tox.ini); one that builds the project with pip or uv from a "
                "fresh venv is an isolated build as simulated"
            )
        if ENV_PLAIN in setups and ENV_CI not in setups:
            said.append(
                f"runs `{ENV_PLAIN}`: a fresh checkout's mtimes recompile every "
                f"vendored crate in every job; `{ENV_CI}` fixes that"
            )
        if setups & {LOCAL_ACTION, REUSABLE}:
            said.append(
                "uses a local action or a reusable workflow: its code is not read, so what it "
                "builds is unknown"
            )
        return said

    def steps_gain_nothing(self, pyo3: str = "") -> str | None:
        """Why patcher's CI steps (`patcher verify --pin-mtimes`, `patcher env --ci`, the
        end-of-job step) gain nothing in this job, where they cannot: it keeps no build between
        jobs that they could keep usable. Without them a patched project's build reads the
        in-repo trees and compiles what an unpatched build compiles, so leaving them out costs
        nothing (bench/RESULTS.md: the rows `none` and sccache with pyo3 0.29)."""
        if self.cache or self.unread:
            return None  # a restored target/: the steps keep it usable
        setups = set(self.setups)
        leave_out = "leave patcher's steps out of this job: they would only cost their run"
        if SCCACHE in setups and self.fixed_interpreter:
            return (
                "sccache and a fixed interpreter, no cache of target/: sccache serves pyo3's "
                f"crates with or without the patch; {leave_out} ({_DOCS})"
            )
        if SCCACHE in setups:
            if not _at_least(pyo3, (0, 29)):
                return None  # pyo3 < 0.29: the copies' fixed path is what makes sccache hit
            return (
                f"sccache with pyo3 {pyo3} and no cache of target/: sccache serves pyo3's "
                f"crates without the patch (14 of 14 hits unpatched); {leave_out} ({_DOCS})"
            )
        if not (self.isolated or self.fixed_interpreter):
            return None
        return (
            "no cache of target/ or compilations: nothing is kept for the next job; "
            f"{leave_out}, unless it runs several isolated builds (the patched maturin spares "
            "the later ones pyo3's compilation)"
        )

    def as_json(self, pyo3: str = "") -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "job": self.name,
            "runner": self.runner or None,
            "setups": list(self.setups),
            "notes": self.notes(pyo3),
        }


@dataclasses.dataclass(frozen=True)
class Workflows:
    """What doctor read of a repository's CI."""

    folder: bool = False  # a `.github/workflows` folder exists (and was not a link)
    jobs: tuple[Job, ...] = ()  # jobs that run a setup doctor recognises
    problems: tuple[str, ...] = ()  # files not read, and why
    tools: tuple[str, ...] = ()  # noxfile.py, tox.ini: present, by name only

    def isolated_jobs(self) -> list[Job]:
        return [j for j in self.jobs if j.isolated]

    def choose_cache(self) -> tuple[str, str]:
        """(cache, why) for doctor's simulation: rust-cache, else tar, as a job that runs
        isolated builds uses; ("", why) when none of them carries target/."""
        isolated = self.isolated_jobs()
        for cache in ("rust-cache", "tar"):
            for job in isolated:
                if job.cache == cache:
                    return cache, f"as {job.where()} uses"
        if not isolated:
            return "", ""
        where = "; ".join(j.where() for j in isolated)
        return "", f"no job that runs isolated builds caches target/ ({where})"

    def ci_mode(self) -> tuple[bool | None, str]:
        """Whether the workflows run `patcher env --ci` (None: they do not run `patcher env`)."""
        for job in self.jobs:
            if ENV_CI in job.setups:
                return True, f"as {job.workflow} runs it"
        for job in self.jobs:
            if ENV_PLAIN in job.setups:
                return False, f"{job.workflow} runs `{ENV_PLAIN}`"
        return None, ""

    def gains_nothing(self) -> str | None:
        """Why the patch gains nothing in this CI, when every job that builds the project
        builds it with a fixed interpreter (and none runs code doctor does not read)."""
        if any(j.isolated or j.unread for j in self.jobs):
            return None
        fixed = [j for j in self.jobs if j.fixed_interpreter]
        if not fixed:
            return None
        how = sorted({s for j in fixed for s in j.setups if s in (MATURIN_ACTION, MATURIN_CLI)})
        if any(CIBUILDWHEEL in j.setups for j in fixed):
            how.append("cibuildwheel on Linux")
        return (
            f"its workflows build wheels only with a fixed interpreter ({', '.join(how)}: "
            f"{', '.join(j.where() for j in fixed)}), where pyo3 stays warm without the patch "
            f"and no isolated build runs ({_DOCS})"
        )

    def as_json(self, pyo3: str = "") -> dict[str, Any]:
        return {
            "jobs": [j.as_json(pyo3) for j in self.jobs],
            "not_read": list(self.problems),
            "nox_tox_files": list(self.tools),
            "gains_nothing": self.gains_nothing(),
        }


def read(top: Path, project: Path | None = None) -> Workflows:
    """The workflows of the checkout whose top is `top`; `project`: the project's folder, also
    looked at for noxfile.py and tox.ini (by name)."""
    tools = []
    for name in ("noxfile.py", "tox.ini"):
        if any(_is_regular(folder / name) for folder in dict.fromkeys((top, project or top))):
            tools.append(name)
    folder = top / ".github" / "workflows"
    problems: list[str] = []
    for part in (top / ".github", folder):
        try:
            mode = os.lstat(part).st_mode
        except OSError:
            return Workflows(tools=tuple(tools))
        if not stat.S_ISDIR(mode):  # a link too: never followed
            rel = part.relative_to(top).as_posix()
            what = "a symbolic link" if stat.S_ISLNK(mode) else "not a folder"
            problems.append(f"{rel}: {what}, not read")
            return Workflows(problems=tuple(problems), tools=tuple(tools))
    try:
        names = sorted(
            n
            for n in (p.name for p in folder.iterdir())
            if n.endswith((".yml", ".yaml")) and not n.startswith(".")
        )
    except OSError as e:
        problems.append(f".github/workflows: cannot be listed ({e.strerror})")
        names = []
    if len(names) > MAX_FILES:
        problems.append(f".github/workflows: {len(names)} files, only the first {MAX_FILES} read")
    jobs: list[Job] = []
    total = 0
    for name in names[:MAX_FILES]:
        rel = f".github/workflows/{_printable(name)}"
        data, problem, size = _load(folder / name, MAX_TOTAL_BYTES - total)
        total += size
        if problem is not None:
            problems.append(f"{rel}: {problem}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{rel}: not a workflow (its top level is not a mapping), not read")
            continue
        jobs.extend(_jobs(rel, data))
    return Workflows(True, tuple(jobs), tuple(problems), tuple(tools))


def _printable(text: str) -> str:
    """A name from the repository as it is shown: control characters (a terminal's escape
    sequences, line breaks) escaped."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _load(path: Path, budget: int) -> tuple[Any, str | None, int]:
    """A workflow file's data, or why it was not read, and the bytes read; `budget`: the bytes
    left to read."""
    raw, problem = _read_bytes(path, budget)
    if raw is None:
        return None, problem, 0
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8, not read", len(raw)
    try:
        return yaml.safe_load(text), None, len(raw)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        return None, f"not valid YAML{at}, not read", len(raw)
    except RecursionError:
        return None, "nested too deeply, not read", len(raw)


def _read_bytes(path: Path, budget: int) -> tuple[bytes | None, str | None]:
    """A regular file's bytes (never through a link), or why not."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return None, "a symbolic link, not followed"
    if not stat.S_ISREG(st.st_mode):
        return None, "not a regular file, not read"
    if st.st_size > MAX_BYTES:
        return None, f"{st.st_size} bytes, over the {MAX_BYTES >> 20} MiB doctor reads, not read"
    if st.st_size > budget:
        return None, (
            f"the files before it fill the {MAX_TOTAL_BYTES >> 20} MiB doctor reads in all, "
            "not read"
        )
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the lstat
                return None, "not a regular file, not read"
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    if len(raw) > min(MAX_BYTES, budget):  # grew since the lstat
        return None, f"over the {MAX_BYTES >> 20} MiB doctor reads, not read"
    return raw, None


def _jobs(rel: str, data: Mapping[Any, Any]) -> Iterator[Job]:
    jobs = data.get("jobs")
    if not isinstance(jobs, dict):
        return
    top_env = data.get("env")
    for name, job in jobs.items():
        if not isinstance(job, dict):
            continue
        setups: dict[str, None] = {}
        end_of_job = False
        if isinstance(job.get("uses"), str):
            setups[REUSABLE] = None
        for env in (top_env, job.get("env")):
            setups.update(dict.fromkeys(_env_setups(env)))
        steps = job.get("steps")
        for step in steps if isinstance(steps, list) else []:
            if not isinstance(step, dict):
                continue
            setups.update(dict.fromkeys(_env_setups(step.get("env"))))
            uses, run = step.get("uses"), step.get("run")
            if isinstance(uses, str):
                found, end = _uses(uses, step.get("with"))
                setups.update(dict.fromkeys(found))
                end_of_job |= end
            if isinstance(run, str):
                found, end = _run(run)
                setups.update(dict.fromkeys(found))
                end_of_job |= end
        if setups:
            yield Job(
                workflow=rel,
                name=_printable(str(name)[:100]),
                runner=_runner(job.get("runs-on")),
                setups=tuple(setups),
                end_of_job=end_of_job,
            )


def _runner(runs_on: Any) -> str:
    """The runner's system, when runs-on names it plainly."""
    if isinstance(runs_on, dict):
        runs_on = runs_on.get("labels")
    labels = [runs_on] if isinstance(runs_on, str) else runs_on
    if not isinstance(labels, list):
        return ""
    text = " ".join(label.lower() for label in labels if isinstance(label, str))
    if "${{" in text:
        return ""
    for system, words in (
        (LINUX, ("ubuntu", "linux")),
        (MACOS, ("macos",)),
        (WINDOWS, ("windows",)),
    ):
        if any(w in text for w in words):
            return system
    return ""


def _env_setups(env: Any) -> list[str]:
    if isinstance(env, dict):
        wrapper = env.get("RUSTC_WRAPPER")
        if isinstance(wrapper, str) and "sccache" in wrapper:
            return [SCCACHE]
    return []


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _uses(uses: str, with_: Any) -> tuple[list[str], bool]:
    """What a `uses:` step runs, from its name alone: the action's code is never read."""
    args = with_ if isinstance(with_, dict) else {}
    name = uses.split("@", 1)[0].strip().lower().rstrip("/")
    if name.startswith(("./", "../")) or name in (".", ".."):
        return [LOCAL_ACTION], False
    if name == "pyo3/maturin-action":
        command = args.get("command", "build")
        if isinstance(command, str) and command.strip() in ("sdist", "upload", "check"):
            return [], False  # builds no wheel
        return [MATURIN_ACTION], False
    if name.startswith("pypa/cibuildwheel"):
        return [CIBUILDWHEEL], False
    if name == "mozilla-actions/sccache-action":
        return [SCCACHE], False
    if name == "swatinem/rust-cache":
        return [RUST_CACHE], False
    if name in ("actions/cache", "actions/cache/restore", "actions/cache/save"):
        path = args.get("path")
        if isinstance(path, str) and re.search(r"(^|[/\s])target(/|\s|$)", path):
            return [TARGET_CACHE], False
        return [], False
    if name.endswith("/pyo3-patcher"):  # our composite action: `patcher env --ci` (action.yml)
        return [ENV_CI], _truthy(args.get("end-of-job"))
    return [], False


_COMMAND_BREAK = re.compile(r"[;&|\n()`]")
_NOX_BEFORE = {None, "-m", "uvx", "run", "exec", "sudo", "pipx"}


def _run(script: str) -> tuple[list[str], bool]:
    """What a `run:` script runs, from its words (never run; linear in its length)."""
    found: list[str] = []
    end_of_job = False
    for command in _COMMAND_BREAK.split(script):
        words = [w.strip("\"'") for w in command.split()]
        for i, word in enumerate(words):
            before = words[i - 1] if i else None
            after = words[i + 1 :]
            nxt = after[0] if after else None
            if word.startswith("RUSTC_WRAPPER=") and "sccache" in word:
                found.append(SCCACHE)
            elif word == "patcher" and nxt == "env":
                plain = "--no-ci" in after
                found.append(ENV_PLAIN if plain else ENV_CI)
                end_of_job |= not plain and "--end-of-job" in after
            elif word in ("cibuildwheel", "cibuildwheel.exe"):
                found.append(CIBUILDWHEEL)
            elif word in ("nox", "tox") and before in _NOX_BEFORE:
                found.append(NOX if word == "nox" else TOX)
            elif word == "maturin" and nxt in ("build", "develop"):
                found.append(MATURIN_CLI)
            elif word == "uv" and (nxt in ("build", "sync") or _installs_local(after, "pip")):
                found.append(UV)
            elif word in ("pip", "pip3") and before != "uv":
                if nxt == "wheel" or (nxt == "install" and _installs_local(after[1:], None)):
                    found.append(PIP)
            elif word == "pyproject-build" or (word == "build" and before == "-m"):
                found.append(BUILD)
    return found, end_of_job


def _installs_local(words: list[str], first: str | None) -> bool:
    """`[first] install ... <a local path>`: an isolated build of a folder (not a wheel)."""
    if first is not None:
        if words[:2] != [first, "install"]:
            return False
        words = words[2:]
    return any(_local_path(w) for w in words)


def _local_path(word: str) -> bool:
    return (word.startswith(".") and not word.endswith(".whl")) or word.startswith("-e.")


def _at_least(version: str, release: tuple[int, int]) -> bool:
    parts = version.split(".")[:2]
    return all(p.isdigit() for p in parts) and tuple(int(p) for p in parts) >= release


def describe(jobs: Iterable[Job]) -> list[str]:
    """One line per job: where, and what it runs."""
    return [f"{j.where()}: {', '.join(j.setups)}" for j in jobs]
