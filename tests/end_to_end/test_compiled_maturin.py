"""The compiled maturin, opt-in (`maturin-patch = "compiled"`): built from source and used by
isolated builds like the backend one. The one test of the suite that builds maturin for a
project (minutes when cold; the suite builds it unoptimised). Where its source comes from is
tests/upstreams/test_maturin_sources.py's part."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BASE_PYTHON, copy_example, copy_target, env_lines, run_patcher, url_path


@pytest.mark.slow
def test_the_compiled_maturin_keeps_isolated_builds_warm(
    tmp_path: Path, example_deps_target: Path
) -> None:
    project = copy_example(tmp_path)
    copy_target(example_deps_target, project)  # pyo3's dependencies compiled; pyo3 cold
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write('\n[tool.pyo3-patcher]\nmaturin-patch = "compiled"\n')
    assert run_patcher("apply", "--project", project).returncode == 0
    record = (project / "pyo3-patcher.lock").read_text("utf-8")
    assert 'version = "1.16.0+pyo3patcher.compiled.v2"' in record

    made = run_patcher("env", "--project", project)
    assert made.returncode == 0, made.stderr[-3000:]
    env = env_lines(made.stdout)
    (wheel,) = url_path(env["UV_FIND_LINKS"]).glob("maturin-*.whl")
    assert wheel.name.startswith("maturin-1.16.0+pyo3patcher.compiled.v2-py3-none-")

    uv = str(Path(sys.executable).parent / "uv")
    logs = []
    for _ in range(2):
        done = subprocess.run(
            [uv, "build", "--wheel", "-v", "--out-dir", str(tmp_path / "dist"), str(project)],
            env={
                **os.environ,
                **env,
                "UV_PYTHON": BASE_PYTHON,
                "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
                "RUST_LOG": "maturin::compile=debug",  # the compiled maturin logs what it sets
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        logs.append(done.stdout + done.stderr)
    # only our compiled maturin says this (the backend patch prints "pyo3-patcher: ...")
    assert all(f"Setting PYO3_BASE_PYTHON to {BASE_PYTHON}" in log for log in logs)
    assert not set(re.findall(r"Compiling (pyo3\S*) v", logs[1]))  # nothing of pyo3 rebuilt
