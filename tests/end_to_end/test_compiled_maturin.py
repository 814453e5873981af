"""The compiled maturin, opt-in (`maturin-patch = "compiled"`): built from source, from the
project's `maturin-url` where that holds the pinned commit (else, and here, from the crate
published from it), and used by isolated builds like the backend one. The one test of the
suite that builds maturin itself (minutes when cold)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BASE_PYTHON, copy_example, make_maturin_repo, run_patcher


@pytest.mark.slow
def test_the_compiled_maturin_keeps_isolated_builds_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a mirror whose tag v1.16.0 is not the commit the pin names: patcher must refuse it and
    # fall back to the crate published from the pin, naming the URL it tried. Mirror and
    # patcher get caches of their own, cold as a user's first run (and as no other test
    # leaves them), so that patcher has no maturin source yet.
    with monkeypatch.context() as scope:
        scope.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "mirror-cache"))
        url, _pins = make_maturin_repo(tmp_path / "mirror", "1.16.0", "1.16.0")
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cache"))
    project = copy_example(tmp_path)
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(f'\n[tool.pyo3-patcher]\nmaturin-patch = "compiled"\nmaturin-url = "{url}"\n')
    assert run_patcher("apply", "--project", project).returncode == 0
    record = (project / "pyo3-patcher.lock").read_text("utf-8")
    assert 'version = "1.16.0+pyo3patcher.compiled.v2"' in record

    made = run_patcher("env", "--project", project)
    assert made.returncode == 0, made.stderr[-3000:]
    assert f"cannot fetch tag v1.16.0 from {url}" in made.stderr or (
        "the tag was moved" in made.stderr and url in made.stderr
    )
    assert "FALLING BACK to the crate on crates.io" in made.stderr
    env = dict(line.split("=", 1) for line in made.stdout.splitlines())
    (wheel,) = Path(env["UV_FIND_LINKS"]).glob("maturin-*.whl")
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
    assert f"Setting PYO3_BASE_PYTHON to {BASE_PYTHON}" in logs[1]
    assert "maturin==1.16.0+pyo3patcher.compiled.v2" in logs[0]
    assert not set(re.findall(r"Compiling (pyo3\S*) v", logs[1]))  # nothing of pyo3 rebuilt
