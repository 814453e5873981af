"""Benchmark: what it costs to get the patched maturin, cold and warm, for both kinds of
maturin patch, against the time pip needs just to download maturin.

    python bench/bench_env.py --runs 3 --output bench/RESULTS.md

Every measurement runs `python -m patcher env` on a copy of the bundled example, as a user
would. Cold means a fresh patcher cache, a fresh pip cache and (for the compiled kind) a
fresh CARGO_HOME: a CI job with nothing restored. Warm is the next call on the same cache.
The reference is `pip download maturin==X --no-deps --only-binary=:all: --no-cache-dir`.
Peak memory is the largest resident set of any process of the measured command (the
child's rusage, which folds in the children it waited for).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from results import report  # noqa: E402

EXAMPLE = REPO / "examples" / "hello-pyo3"
# as in patcher.upstreams.maturin: these steer pip to other wheels than PyPI's
PIP_STEERING = ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_BUILD_CONSTRAINT", "PIP_NO_INDEX")


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB, and stdout of `cmd`; exits on failure."""
    base = {k: v for k, v in os.environ.items() if k not in PIP_STEERING}
    start = time.monotonic()
    child = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = child.communicate()
    elapsed = time.monotonic() - start
    if child.returncode != 0:
        raise SystemExit(f"failed ({child.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    peak_kib = int(err.rsplit("peak_kib=", 1)[1].split()[0]) if "peak_kib=" in err else 0
    return elapsed, peak_kib / 1024, out


def wrapped(cmd: list[str]) -> list[str]:
    """`cmd` under a tiny Python that reports the peak RSS of its children on stderr."""
    script = (
        "import resource, subprocess, sys\n"
        "code = subprocess.call(sys.argv[1:])\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stderr.write('peak_kib=%d\\n' % peak)\n"
        "sys.exit(code)\n"
    )
    return [sys.executable, "-c", script, *cmd]


def project_copy(work: Path, kind: str) -> Path:
    project = work / f"project-{kind}"
    shutil.copytree(EXAMPLE, project)
    if kind != "backend":
        with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
            f.write(f'\n[tool.pyo3-patcher]\nmaturin-patch = "{kind}"\n')
    return project


def env_runs(kind: str, runs: int, work: Path) -> dict[str, list[tuple[float, float]]]:
    """Cold and warm `patcher env` timings for one kind of maturin patch."""
    project = project_copy(work, kind)
    cmd = wrapped([sys.executable, "-m", "patcher", "env", "-q", "--project", str(project)])
    found: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    for run in range(runs):
        fresh = work / f"{kind}-{run}"
        env = {
            "PYO3_PATCHER_CACHE_DIR": str(fresh / "patcher-cache"),
            "PIP_CACHE_DIR": str(fresh / "pip-cache"),
        }
        if kind == "compiled":
            env["CARGO_HOME"] = str(fresh / "cargo-home")
        for state in ("cold", "warm"):
            elapsed, peak, _ = measure(cmd, env, project)
            found[state].append((elapsed, peak))
            print(f"{kind} {state} run {run + 1}: {elapsed:.1f} s, {peak:.0f} MiB", flush=True)
        shutil.rmtree(fresh, ignore_errors=True)
    return found


def download_runs(version: str, runs: int, work: Path) -> list[tuple[float, float]]:
    found = []
    for run in range(runs):
        dest = work / f"download-{run}"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--no-cache-dir", "--disable-pip-version-check", "-d", str(dest)]
        elapsed, peak, _ = measure(wrapped([*cmd, f"maturin=={version}"]), {}, work)
        found.append((elapsed, peak))
        print(f"pip download run {run + 1}: {elapsed:.1f} s, {peak:.0f} MiB", flush=True)
        shutil.rmtree(dest, ignore_errors=True)
    return found


def picked_version() -> str:
    """The maturin release patcher pins for the example (newest pinned within its range)."""
    from patcher.project.discovery import discover
    from patcher.upstreams import maturin

    project = discover(EXAMPLE)
    pin = maturin.choose_release(project.build_requires, project.config.maturin)
    if pin is None:
        raise SystemExit("no pinned maturin release fits the example's build requirement")
    return pin.version


def median(pairs: list[tuple[float, float]], index: int) -> float:
    return statistics.median(p[index] for p in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of pip download and backend")
    parser.add_argument(
        "--compiled-runs", type=int, default=1, help="runs of the compiled kind (minutes each)"
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    version = picked_version()
    with tempfile.TemporaryDirectory(prefix="patcher-bench-env-") as tmp:
        work = Path(tmp)
        download = download_runs(version, args.runs, work)
        backend = env_runs("backend", args.runs, work)
        compiled = env_runs("compiled", args.compiled_runs, work) if args.compiled_runs else None
    reference = median(download, 0)
    rows = [
        f"| `pip download maturin=={version}` (reference) | {args.runs} | {reference:.1f} | "
        f"1.0 | {median(download, 1):.0f} |"
    ]
    for kind, found, runs in (
        ("backend", backend, args.runs),
        ("compiled", compiled, args.compiled_runs),
    ):
        if found is None:
            continue
        for state in ("cold", "warm"):
            seconds = median(found[state], 0)
            rows.append(
                f"| `patcher env`, {kind}, {state} | {runs} | {seconds:.1f} | "
                f"{seconds / reference:.1f} | {median(found[state], 1):.0f} |"
            )
    command = f"python bench/bench_env.py --runs {args.runs} --compiled-runs {args.compiled_runs}"
    if args.output:
        command += f" --output {args.output.as_posix()}"
    text = "\n".join(
        [
            f"# Getting the patched maturin {version}: `patcher env`, cold and warm",
            "",
            f"Produced by `{command}` on a 2-core, 24 GiB machine (Python "
            f"{sys.version.split()[0]}, {os.cpu_count()} CPUs seen); medians, seconds. Cold: "
            "fresh patcher cache, pip cache and (compiled) CARGO_HOME; warm: the next call.",
            "",
            "| what | runs | seconds | x pip download | peak RSS MiB |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    report(text, args.output, "bench_env")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
