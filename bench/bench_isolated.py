"""Benchmark: first and second isolated builds of the bundled example, unpatched vs patched,
for pip and uv, against the floor (the same second build without build isolation).

    python bench/bench_isolated.py --runs 3 --output bench/RESULTS.md

Each run starts from a clean copy (cold target/). pip builds from a fresh venv per build (what
a CI job or tox session does; pip's build env is an overlay on the interpreter running pip);
uv makes a fresh build venv by itself. The floor builds with `--no-build-isolation` from one
venv that already has the patched maturin, so nothing but the crate's own sources is stale.
Results are medians; ratios compare second builds.
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

from patcher.demo import isolated_build, prepare, recompiled  # noqa: E402
from patcher.proc import base_python  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from results import report  # noqa: E402

EXAMPLE = REPO / "examples" / "hello-pyo3"


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout + result.stderr


def _venv_with(path: Path, package: str, env: dict[str, str]) -> Path:
    subprocess.run([base_python(), "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", package], env={**os.environ, **env}, check=True
    )
    return python


def one_run(frontend: str, patched: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="patcher-bench-") as tmp:
        work = Path(tmp)
        project = work / "project"
        env = prepare(EXAMPLE, project, patched=patched)
        out = work / "dist"
        times, logs = [], []
        for job in ("1", "2"):
            if frontend == "pip":
                elapsed, log = isolated_build(project, work / f"job-{job}", out, env)
            else:
                uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
                cmd = [uv, "build", "--wheel", "-v", "--out-dir", str(out), str(project)]
                elapsed, log = _run(cmd, {**env, "UV_PYTHON": base_python()}, work)
            times.append(elapsed)
            logs.append(log)
        return {"first": times[0], "second": times[1], "recompiled": len(recompiled(logs[1]))}


def floor_run() -> float:
    """Second build without isolation, from one venv holding the patched maturin."""
    with tempfile.TemporaryDirectory(prefix="patcher-bench-floor-") as tmp:
        work = Path(tmp)
        project = work / "project"
        env = prepare(EXAMPLE, project, patched=True)
        python = _venv_with(work / "venv", "maturin", env)
        cmd = [str(python), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        cmd += ["-w", str(work / "dist"), str(project)]
        _run(cmd, env, work)
        elapsed, _ = _run(cmd, env, work)
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rows = []
    floor = statistics.median(floor_run() for _ in range(args.runs))
    for frontend in ("pip", "uv"):
        results = {}
        for patched in (False, True):
            runs = [one_run(frontend, patched) for _ in range(args.runs)]
            results[patched] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for patched in (False, True):
            r = results[patched]
            rows.append(
                f"| {frontend} | {'patched' if patched else 'unpatched'} | {r['first']:.1f} | "
                f"{r['second']:.1f} | {int(r['recompiled'])} | "
                f"{r['second'] / results[False]['second']:.2f} | {r['second'] / floor:.2f} |"
            )
    command = f"python bench/bench_isolated.py --runs {args.runs}" + (
        f" --output {args.output.as_posix()}" if args.output else ""
    )
    text = "\n".join(
        [
            "# Isolated builds of examples/hello-pyo3 (pyo3 0.28.3, maturin 1.16.0)",
            "",
            f"Produced by `{command}` on a 2-core, 24 GiB machine (Python "
            f"{sys.version.split()[0]}); medians of {args.runs} runs, seconds.",
            f"Floor (second build, `pip wheel --no-build-isolation`, patched): {floor:.1f} s.",
            "",
            "| frontend | build | first | second | pyo3 crates recompiled (second) "
            "| second / unpatched | second / floor |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    report(text, args.output, "bench_isolated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
