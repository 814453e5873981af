"""A patched project still publishes: in a git checkout, `cargo package --list` runs, `uv build`
and `python -m build` make an sdist that carries the vendored trees, cargo resolves pyo3 to the
trees in the unpacked sdist, and `remove` gives pyproject.toml back byte for byte: each project
shape we support, as maintainers lay them out. A wheel built from the sdist compiles the patched
pyo3 and imports: the workspace layout's (the build is the same for every layout)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import (
    BASE_PYTHON,
    PYO3_CRATES,
    bytes_of,
    compiled_pyo3,
    copy_example,
    copy_target,
    git,
    make_venv,
    patched_example,
    run_patcher,
    snapshot,
    write_crate,
)

from patcher.project import sdist

UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
PYPROJECT = (
    '[build-system]\nrequires = ["maturin>=1.9,<2"]\nbuild-backend = "maturin"\n\n'
    '[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n\n'
    "[tool.maturin]\n"
    'features = ["pyo3/extension-module"]\n{maturin}'
)
LIB = (
    "use pyo3::prelude::*;\n\n#[pyfunction]\nfn answer() -> usize {{\n    42\n}}\n\n"
    "#[pymodule]\nfn {module}(m: &Bound<'_, PyModule>) -> PyResult<()> {{\n"
    "    m.add_function(wrap_pyfunction!(answer, m)?)?;\n    Ok(())\n}}\n"
)


def _root_crate(tmp: Path) -> tuple[Path, str, Path]:
    """The example: one crate at the root, Cargo.lock committed."""
    project = copy_example(tmp, "root-crate")
    return project, "hello_pyo3", project


def _workspace(tmp: Path) -> tuple[Path, str, Path]:
    """A Cargo workspace at the root, the extension a member named by `manifest-path`, pyo3 in
    `[workspace.dependencies]`, a `python-source` package, no Cargo.lock."""
    project = tmp / "workspace"
    member = project / "crates" / "ext"
    write_crate(member, "ext", "pyo3 = { workspace = true }")
    (member / "Cargo.toml").write_text(
        '[package]\nname = "ext"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[lib]\nname = "_ext"\ncrate-type = ["cdylib"]\n\n'
        "[dependencies]\npyo3 = { workspace = true }\n",
        encoding="utf-8",
    )
    (member / "src" / "lib.rs").write_text(LIB.format(module="_ext"), encoding="utf-8")
    (project / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["crates/ext"]\nresolver = "2"\n\n'
        '[workspace.dependencies]\npyo3 = "=0.28.3"\n',
        encoding="utf-8",
    )
    package = project / "python" / "ext"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from ._ext import answer\n", encoding="utf-8")
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(
            name="ext",
            maturin='manifest-path = "crates/ext/Cargo.toml"\npython-source = "python"\n'
            'module-name = "ext._ext"\n',
        ),
        encoding="utf-8",
    )
    return project, "ext", project


def _subfolder(tmp: Path) -> tuple[Path, str, Path]:
    """The crate, its own workspace, in `rust/` below pyproject.toml (`manifest-path`)."""
    project = tmp / "subfolder"
    crate = project / "rust"
    write_crate(crate, "hello-sub", 'pyo3 = "0.28.3"')
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "hello-sub"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[lib]\nname = "sub"\ncrate-type = ["cdylib"]\n\n[dependencies]\npyo3 = "0.28.3"\n',
        encoding="utf-8",
    )
    (crate / "src" / "lib.rs").write_text(LIB.format(module="sub"), encoding="utf-8")
    shutil.copy(copy_example(tmp / "lock").joinpath("Cargo.lock"), crate / "Cargo.lock")
    lock = crate / "Cargo.lock"
    # the example's lock, for a crate whose name sorts in the same place
    lock.write_text(lock.read_text("utf-8").replace("hello-pyo3", "hello-sub"), encoding="utf-8")
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(name="sub", maturin='manifest-path = "rust/Cargo.toml"\n'),
        encoding="utf-8",
    )
    return project, "sub", crate


LAYOUTS: dict[str, Callable[[Path], tuple[Path, str, Path]]] = {
    "crate at the root": _root_crate,
    "workspace, manifest-path, python-source, no Cargo.lock": _workspace,
    "crate in a subfolder": _subfolder,
}
# the one layout whose sdist is also built into a wheel and imported (about 25 s each); the
# others show that cargo resolves pyo3 to the sdist's trees
WHEEL_LAYOUT = "workspace, manifest-path, python-source, no Cargo.lock"


def _run(cmd: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout + done.stderr


def _members(sdist_file: Path) -> dict[str, bytes]:
    with tarfile.open(sdist_file) as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.mark.slow
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_sdist_and_a_wheel_from_it(tmp_path: Path, layout: str, example_deps_target: Path) -> None:
    project, module, workspace_root = LAYOUTS[layout](tmp_path)
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "the project", cwd=project)
    before = bytes_of(snapshot(project, skip=(".git",)))

    applied = run_patcher("apply", "--project", project, "--source", "crates.io")
    assert applied.returncode == 0, applied.stderr
    prefix = workspace_root.relative_to(project).as_posix().replace(".", "")
    glob = "/".join(filter(None, [prefix, ".pyo3-patcher/**/*"]))
    if workspace_root != project:
        # pyproject.toml lies above the workspace root, which is all patcher writes: it says
        # the line to add, and verify fails until it is there
        assert f"add `include = [{sdist.line(glob)}]`" in applied.stdout
        failed = run_patcher("verify", "--project", project)
        assert failed.returncode != 0
        assert "include lacks" in failed.stdout
        pyproject = project / "pyproject.toml"
        with pyproject.open("a", encoding="utf-8") as f:
            f.write(f"include = [{sdist.line(glob)}]\n")
    git("add", "-A", cwd=project)
    git("commit", "-qm", "patched", cwd=project)
    verified = run_patcher("verify", "--project", project)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ok   sdist carries the vendored trees" in verified.stdout

    # what a release job gets: a fresh clone (the builds write target/, and Cargo.lock where
    # none is committed)
    clone = tmp_path / "clone"
    git("clone", "-q", project, clone, cwd=tmp_path)
    clone_root = clone / workspace_root.relative_to(project)

    # cargo reads the repository through gitoxide: our .gitattributes must parse there
    listed = _run(["cargo", "package", "--list", "--allow-dirty"], cwd=clone_root)
    assert "Cargo.toml" in listed

    # the sdist, by both frontends, in the checkout
    uv_dist, build_dist = tmp_path / "uv-dist", tmp_path / "build-dist"
    _run([UV, "build", "--sdist", "-o", uv_dist], cwd=clone, env={"UV_PYTHON": BASE_PYTHON})
    _run([sys.executable, "-m", "build", "--sdist", "-o", build_dist, clone], cwd=tmp_path)
    (uv_sdist,) = uv_dist.glob("*.tar.gz")
    (build_sdist,) = build_dist.glob("*.tar.gz")
    carried = _members(uv_sdist)
    assert set(carried) == set(_members(build_sdist))
    vendored = [p for p in (clone_root / ".pyo3-patcher").rglob("*") if p.is_file()]
    assert len(vendored) > 400
    for path in vendored:
        rel = path.relative_to(clone).as_posix()
        assert carried.get(rel) == path.read_bytes(), rel

    unpacked = tmp_path / "unpacked"
    with tarfile.open(uv_sdist) as tar:
        tar.extractall(unpacked, filter="data")
    (source,) = unpacked.iterdir()
    # cargo resolves every pyo3 crate to the sdist's own trees (what failed to load before)
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--offline"],
        cwd=source / workspace_root.relative_to(project),
        capture_output=True,
        text=True,
        check=False,
    )
    assert metadata.returncode == 0, metadata.stderr
    resolved = {
        p["name"]: Path(p["manifest_path"])
        for p in json.loads(metadata.stdout)["packages"]
        if p["name"] in PYO3_CRATES
    }
    assert set(resolved) == set(PYO3_CRATES)
    inside = {n: m.relative_to(source).parts for n, m in resolved.items() if source in m.parents}
    assert all(".pyo3-patcher" in parts for parts in inside.values()), resolved
    assert set(inside) == set(PYO3_CRATES), resolved
    if layout != WHEEL_LAYOUT:  # the build itself, once: the layout with the most parts
        _removed_gives_back(project, workspace_root, before)
        return

    # a wheel from the unpacked sdist, with pyo3's dependencies already compiled
    target = tmp_path / "target-holder"
    copy_target(example_deps_target, target)
    log = _run(
        [UV, "build", "--wheel", "-o", tmp_path / "wheels", source],
        cwd=tmp_path,
        env={"UV_PYTHON": BASE_PYTHON, "CARGO_TARGET_DIR": str(target / "target")},
    )
    compiled = re.findall(r"Compiling (pyo3[a-z-]*) v\S+ \((\S+)\)", log)
    assert compiled and all("/.pyo3-patcher/" in where for _, where in compiled), log[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    python = make_venv(tmp_path / "venv", with_pip=True)
    _run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], cwd=tmp_path)
    answer = _run([python, "-c", f"import {module}; print({module}.answer())"], cwd=tmp_path)
    assert answer.strip() == "42"
    _removed_gives_back(project, workspace_root, before)


def _removed_gives_back(project: Path, workspace_root: Path, before: dict[str, bytes]) -> None:
    removed = run_patcher("remove", "--project", project)
    assert removed.returncode == 0, removed.stderr
    after = bytes_of(snapshot(project, skip=(".git",)))
    if workspace_root == project:
        assert after == before  # pyproject.toml included, byte for byte
    else:  # the line the user added is theirs: patcher leaves it
        assert {k: v for k, v in after.items() if k != "pyproject.toml"} == {
            k: v for k, v in before.items() if k != "pyproject.toml"
        }


@pytest.mark.slow
@pytest.mark.parametrize("patched", [True, False], ids=["patched", "unpatched"])
def test_a_second_build_from_the_unpacked_sdist_is_warm(
    tmp_path: Path, patched: bool, example_deps_target: Path
) -> None:
    """What a downstream distributor does: unpack the sdist, build it twice (uv: a fresh build
    venv each time) into one target dir. With the patched maturin the second build recompiles
    no pyo3 crate, as from the checkout; the unpatched control recompiles them all."""
    project, env = patched_example(tmp_path) if patched else (copy_example(tmp_path, "hello"), {})
    env["UV_PYTHON"] = BASE_PYTHON
    _run([UV, "build", "--sdist", "-o", tmp_path / "dist"], cwd=project, env=env)
    (sdist_file,) = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(sdist_file) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (source,) = (tmp_path / "unpacked").iterdir()
    copy_target(example_deps_target, tmp_path)
    env["CARGO_TARGET_DIR"] = str(tmp_path / "target")

    first, second = (
        _run([UV, "build", "--wheel", "-o", tmp_path / f"wheels{n}", source], tmp_path, env)
        for n in (1, 2)
    )
    everything = set(PYO3_CRATES)
    assert compiled_pyo3(first) == everything
    assert compiled_pyo3(second) == (set() if patched else everything), second[-3000:]


@pytest.mark.slow
def test_the_sdist_keeps_pyo3_029s_crlf_files_byte_for_byte(tmp_path: Path) -> None:
    """pyo3 0.29 ships files with CRLF endings beside a `* text=auto eol=lf` rule of its own:
    committed, cloned and packed into the sdist, they keep their bytes."""
    project = tmp_path / "new"
    write_crate(project, "new_029", 'pyo3 = "=0.29.3"')
    (project / "src" / "lib.rs").write_text(LIB.format(module="new_029"), encoding="utf-8")
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(name="new_029", maturin=""), encoding="utf-8"
    )
    applied = run_patcher("apply", "--project", project, "--source", "crates.io")
    assert applied.returncode == 0, applied.stderr
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "patched", cwd=project)
    clone = tmp_path / "clone"
    git("clone", "-q", "--config", "core.autocrlf=true", project, clone, cwd=tmp_path)
    _run(
        [UV, "build", "--sdist", "-o", tmp_path / "dist"], cwd=clone, env={"UV_PYTHON": BASE_PYTHON}
    )
    (sdist_file,) = (tmp_path / "dist").glob("*.tar.gz")
    carried = _members(sdist_file)
    crlf = ".pyo3-patcher/pyo3-0.29.3/src/call.rs"
    assert b"\r\n" in (project / crlf).read_bytes()
    assert carried[crlf] == (project / crlf).read_bytes()
    lf = ".pyo3-patcher/pyo3-0.29.3/src/lib.rs"
    assert b"\r\n" not in carried[lf]  # core.autocrlf=true did not reach the vendored files
