"""Benchmark: real projects from PyPI that nobody here wrote still publish once patched.

    python bench/bench_sdist.py --output bench/RESULTS.md

For each project: its published sdist, unpacked and git-initialised (as its repository would
be), then patched with `patcher apply` and committed (the unpatched control skips that). In a
fresh clone: `cargo package --list` (cargo reads the repository through gitoxide), then `uv
build` and `python -m build`, each making an sdist and a wheel from it; the wheel is installed
in a fresh venv and imported. Last, `patcher remove` must leave the repository as it was
(`git status` clean). Release builds are unoptimised (`CARGO_PROFILE_RELEASE_OPT_LEVEL=0`): the
figures compare patched with unpatched, not with users' release builds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from common import git  # noqa: E402
from results import report  # noqa: E402

# (distribution, version, module, a smoke test run in the installed wheel)
PROJECTS = (
    ("rpds-py", "2026.9.1", "rpds", "import rpds; print(rpds.HashTrieMap({1: 2})[1])"),
    ("rtoml", "0.14.0", "rtoml", "import rtoml; print(rtoml.loads('a = 2')['a'])"),
)
UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")


def sh(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> tuple[int, str, float]:
    start = time.monotonic()
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


def must(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    code, out, _ = sh(cmd, cwd, env)
    if code != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({code}):\n{out[-3000:]}")
    return out


def one(
    work: Path, name: str, version: str, smoke: str, *, patched: bool, env: dict[str, str]
) -> dict[str, str]:
    """One project, patched or the control: the row of the table."""
    label = "patched" if patched else "unpatched"
    base = work / f"{name}-{label}"
    base.mkdir()
    must([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
          "--no-build-isolation", "-d", base, f"{name}=={version}"], base, env)  # fmt: skip
    (archive,) = base.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(base / "unpacked", filter="data")
    (project,) = (base / "unpacked").iterdir()
    (project / "PKG-INFO").unlink()  # the sdist's, not the repository's: maturin writes its own
    git("init", "-q", cwd=project, env=env)
    git("add", "-A", cwd=project, env=env)
    git("commit", "-qm", "the published sdist", cwd=project, env=env)
    row: dict[str, str] = {"project": f"{name} {version}", "run": label}
    if patched:
        start = time.monotonic()
        must([sys.executable, "-m", "patcher", "apply", "-q", "--project", project], project, env)
        row["apply"] = f"{time.monotonic() - start:.1f}"
        git("add", "-A", cwd=project, env=env)
        git("commit", "-qm", "patcher apply", cwd=project, env=env)
        code, out, _ = sh([sys.executable, "-m", "patcher", "verify", "--project", project],
                          project, env)  # fmt: skip
        row["verify"] = "ok" if code == 0 else f"exit {code}"
    clone = base / "clone"
    git("clone", "-q", project, clone, cwd=base, env=env)
    code, out, _ = sh(["cargo", "package", "--list", "--allow-dirty"], clone, env)
    row["cargo package --list"] = "ok" if code == 0 else f"exit {code}: {out.splitlines()[-1]}"
    for frontend, cmd in (
        ("uv build", [UV, "build", "-o", base / "uv-dist"]),
        ("python -m build", [sys.executable, "-m", "build", "-o", base / "build-dist"]),
    ):
        code, out, seconds = sh(cmd, clone, {**env, "UV_PYTHON": sys.executable})
        if code != 0:
            (base / f"{frontend.split()[-1]}.log").write_text(out, encoding="utf-8")
            failure = [x for x in out.splitlines() if "Caused by" in x or "error" in x.lower()]
            row[frontend] = f"FAILED ({(failure or ['?'])[-1].strip()[:100]})"
            continue
        dist = base / ("uv-dist" if frontend == "uv build" else "build-dist")
        (sdist,) = dist.glob("*.tar.gz")
        with tarfile.open(sdist) as tar:
            vendored = sum(1 for m in tar.getmembers() if "/.pyo3-patcher/" in m.name)
        (wheel,) = dist.glob("*.whl")
        venv = base / f"venv-{frontend.split()[0]}"
        must([sys.executable, "-m", "virtualenv", "-q", venv], base, env)
        python = venv / "bin" / "python"
        must([python, "-m", "pip", "install", "-q", "--no-deps", wheel], base, env)
        answer = must([python, "-c", smoke], base, env).strip()
        row[frontend] = f"{seconds:.0f} s, {vendored} vendored files, imports ({answer})"
    if patched:
        must([sys.executable, "-m", "patcher", "remove", "-q", "--project", project], project, env)
        git("add", "-A", cwd=project, env=env)
        diff = git("diff", "--cached", "--stat", "HEAD~1", cwd=project, env=env)
        row["remove"] = "byte-identical" if not diff.strip() else f"DIFFERS: {diff[-200:]}"
    print(row, file=sys.stderr)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="write the table into this RESULTS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sdist-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "PYO3_PATCHER_CACHE_DIR": str(work / "cache"),
            "CARGO_PROFILE_RELEASE_OPT_LEVEL": "0",
            "UV_CACHE_DIR": str(work / "uv"),
        }
        for name, version, _module, smoke in PROJECTS:
            for patched in (False, True):
                rows.append(one(work, name, version, smoke, patched=patched, env=env))
    columns = ["project", "run", "apply", "verify", "cargo package --list", "uv build"]
    columns += ["python -m build", "remove"]
    lines = [
        "# Real projects from PyPI publish once patched (sdist, wheel from the sdist)",
        "",
        "`python bench/bench_sdist.py`: each project's published sdist, unpacked and "
        "git-initialised, patched and committed (the control is not), then in a fresh clone "
        "`cargo package --list`, `uv build` and `python -m build` (an sdist, then a wheel from "
        "it; seconds for both, unoptimised), the wheel imported in a fresh venv; `patcher remove` "
        "must leave the repository as committed before apply.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(r.get(c, "-") for c in columns) + " |" for r in rows]
    report("\n".join(lines) + "\n", args.output, "bench_sdist")


if __name__ == "__main__":
    main()
