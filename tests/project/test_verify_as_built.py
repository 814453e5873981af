"""verify vouches only for what the PEP 517 build will compile (issue 25).

Each case plants a decoy that a build would compile or run: a [patch] entry pointing
elsewhere, a cargo config beside a pyproject.toml in a subfolder, a `[tool.maturin] config`
entry, a toolchain folder, a rustc wrapper and a library cargo's `[env]` preloads in the
checkout, a maturin from a URL, links and extra files in a vendored tree, a CI config left
outside the checkout. The slow test builds each decoy for real (uv with `patcher env`) and
sees it compiled or run; every test sees verify fail and name the cause (or, where verify
overrides the decoy, pass with a note), run none of the checkout's programs, and change
nothing; an honest copy of the project passes in the same run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import BASE_PYTHON, env_lines, run_patcher, snapshot, url_path

VERSION = "0.28.3"
CRATE = "pyo3-build-config"
TREE = f".pyo3-patcher/{CRATE}-{VERSION}"
DECOY = f"third_party/{CRATE}-{VERSION}"

Plant = Callable[[Path, Path], str]  # (project, marker) -> the words verify must say


def _copy(template: Path, where: Path) -> Path:
    project = where / "project"
    shutil.copytree(template, project, symlinks=True)
    return project


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def _script(path: Path, marker: Path, then: str) -> Path:
    """A program of the checkout that leaves `marker` when it runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\n{then}\n', encoding="utf-8")
    path.chmod(0o755)
    return path


def _decoy_tree(project: Path, marker: Path) -> None:
    """A copy of the vendored pyo3-build-config whose build script leaves `marker` (and stops
    the build there: the marker is all a test needs)."""
    shutil.copytree(project / TREE, project / DECOY)
    (project / DECOY / "build.rs").write_text(
        f'fn main() {{ std::fs::write({json.dumps(str(marker))}, "compiled").unwrap(); '
        'panic!("the decoy was compiled"); }\n',
        encoding="utf-8",
    )


# --- the decoys -----------------------------------------------------------------------------


def manifest_patch_elsewhere(project: Path, marker: Path) -> str:
    _decoy_tree(project, marker)
    _replace(project / "Cargo.toml", f'path = "{TREE}"', f'path = "{DECOY}"')
    return f"{CRATE} = {{ path = '{DECOY}' }}"


def config_beside_a_pyproject_in_a_subfolder(project: Path, marker: Path) -> str:
    """The backend runs cargo in the pyproject.toml folder, so cargo reads its .cargo/."""
    _decoy_tree(project, marker)
    (project / "py").mkdir()
    shutil.move(str(project / "pyproject.toml"), str(project / "py" / "pyproject.toml"))
    with (project / "py" / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write('manifest-path = "../Cargo.toml"\n')
    config = project / "py" / ".cargo" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'[patch.crates-io]\n{CRATE} = {{ path = "../{DECOY}" }}\n', "utf-8")
    return "py/.cargo/config.toml ([patch.crates-io] pyo3-build-config)"


def maturin_config_setting(project: Path, marker: Path) -> str:
    """maturin passes each entry to cargo as --config, which outranks the manifest."""
    _decoy_tree(project, marker)
    value = f"patch.crates-io.{CRATE}.path='{DECOY}'"
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(f"config = [{json.dumps(value)}]\n")
    return "[tool.maturin] config"


def toolchain_folder_in_the_checkout(project: Path, marker: Path) -> str:
    """rustup runs the cargo of a toolchain folder a rust-toolchain.toml names."""
    for tool in ("cargo", "rustc"):
        _script(project / "toolchain" / "bin" / tool, marker, "exit 1")
    # absolute, as rustup wants it (CI checks out at a known path)
    folder = json.dumps(str(project / "toolchain"))
    (project / "rust-toolchain.toml").write_text(f"[toolchain]\npath = {folder}\n", "utf-8")
    return "rust-toolchain.toml names a toolchain folder"


def rustc_wrapper_in_a_cargo_config(project: Path, marker: Path) -> str:
    wrapper = _script(project / "tools" / "wrap.sh", marker, "exit 1")
    (project / ".cargo").mkdir()
    (project / ".cargo" / "config.toml").write_text(
        f"[build]\nrustc-wrapper = {json.dumps(str(wrapper))}\n", encoding="utf-8"
    )
    return ""  # wrappers are off for verify's cargo: nothing to name, nothing runs


def library_preloaded_through_cargo_env(project: Path, marker: Path) -> str:
    """cargo sets `[env]` for the rustc it runs even to resolve: an LD_PRELOAD there loads a
    library of the checkout into it (its constructor leaves the marker, and stops that program)."""
    source = project / "tools" / "mark.c"
    source.parent.mkdir()
    source.write_text(
        "#include <stdio.h>\n#include <unistd.h>\n"
        "__attribute__((constructor)) static void mark(void) {\n"
        f'  FILE *f = fopen({json.dumps(str(marker))}, "a"); if (f) fclose(f);\n'
        "  _exit(1);\n}\n",  # the first program it is loaded into stops the build
        encoding="utf-8",
    )
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler to make the library with")
    library = project / "tools" / "mark.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    (project / ".cargo").mkdir()
    (project / ".cargo" / "config.toml").write_text(
        f"[env]\nLD_PRELOAD = {{ value = {json.dumps(str(library))}, force = true }}\n",
        encoding="utf-8",
    )
    return ""


def maturin_from_a_url(project: Path, marker: Path) -> str:
    """A backend wheel of the checkout's: it leaves the marker and stops the build."""
    (ours,) = url_path(os.environ["UV_FIND_LINKS"]).glob("maturin-*.whl")
    wheel = project / "wheels" / ours.name  # the version the constraint asks for
    wheel.parent.mkdir()
    version = ours.name.split("-")[1]
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(
            "maturin/__init__.py",
            "def _mark(*a, **k):\n"
            f"    open({json.dumps(str(marker))}, 'w').write('ran')\n"
            "    raise SystemExit('the decoy backend ran')\n"
            "build_wheel = get_requires_for_build_wheel = _mark\n"
            "prepare_metadata_for_build_wheel = _mark\n",
        )
        info = f"maturin-{version}.dist-info"
        zf.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: maturin\nVersion: {version}\n"
        )
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
    _replace(
        project / "pyproject.toml",
        '"maturin>=1.9,<2"',
        json.dumps(f"maturin @ {wheel.as_uri()}"),
    )
    return "installs from a URL or path"


DECOYS: dict[str, Plant] = {
    "a [patch] entry pointing elsewhere": manifest_patch_elsewhere,
    "a cargo config beside a pyproject in a subfolder": config_beside_a_pyproject_in_a_subfolder,
    "a [tool.maturin] config entry": maturin_config_setting,
    "a toolchain folder in the checkout": toolchain_folder_in_the_checkout,
    "a rustc wrapper in a cargo config": rustc_wrapper_in_a_cargo_config,
    "maturin from a URL": maturin_from_a_url,
    "a library preloaded through cargo's [env]": library_preloaded_through_cargo_env,
}
# decoys verify refuses to run cargo with, or fails on with a name; a wrapper and [env] it
# overrides (they change no source the build compiles, as the project's own build script could
# not either), so verify passes, runs nothing of the checkout, and notes that the build runs it
_PASSES = {
    "a rustc wrapper in a cargo config": "build.rustc-wrapper",
    "a library preloaded through cargo's [env]": "env.LD_PRELOAD",
}


def _verify(project: Path, env: dict[str, str] | None = None) -> tuple[int, str, list[str]]:
    """verify's exit code, its failed checks (or its error) in one line, and its notes."""
    directory = project / "py" if (project / "py" / "pyproject.toml").is_file() else project
    result = run_patcher("verify", "--project", directory, "--json", env=env)
    assert result.returncode != 70, result.stderr
    if result.returncode not in (0, 7):
        return result.returncode, result.stderr, []
    report = json.loads(result.stdout)
    failed = " | ".join(f"{c['name']}: {c['detail']}" for c in report["checks"] if not c["ok"])
    return result.returncode, failed, report["notes"]


def _check_decoy(tmp_path: Path, template: Path, name: str) -> tuple[Path, Path]:
    """Plant the decoy, run verify: it fails naming the cause (or passes, where it overrides
    the decoy, with a note), runs nothing of the checkout, changes nothing."""
    project = _copy(template, tmp_path / "hostile")
    marker = tmp_path / "decoy-ran"
    said = DECOYS[name](project, marker)
    before, around = snapshot(project), snapshot(tmp_path, skip=("hostile", "dist"))
    code, failed, notes = _verify(project)
    if name in _PASSES:
        assert code == 0, failed
        assert any(_PASSES[name] in note for note in notes), notes
    else:
        assert code == 7 and said in failed, failed
    assert not marker.exists(), marker.read_text()
    assert snapshot(project) == before
    assert snapshot(tmp_path, skip=("hostile", "dist")) == around
    return project, marker


@pytest.fixture(scope="module")
def _honest_and_patched(
    applied_template: Path, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Once for the module: an honest copy of the example passes verify, and `patcher env`
    gives the environment the builds use (with one uv cache for them)."""
    where = tmp_path_factory.mktemp("honest")
    cache = {"PYO3_PATCHER_CACHE_DIR": str(shared_cache)}  # before the autouse fixture runs
    code, failed, _ = _verify(_copy(applied_template, where), cache)
    assert code == 0, failed
    result = run_patcher("env", "--project", applied_template, env=cache)
    assert result.returncode == 0, result.stderr
    env = dict(line.partition("=")[::2] for line in result.stdout.splitlines())
    return {**env, "UV_PYTHON": BASE_PYTHON, "UV_CACHE_DIR": str(where / "uv-cache")}


@pytest.fixture
def _patched_env(monkeypatch: pytest.MonkeyPatch, _honest_and_patched: dict[str, str]) -> None:
    for key, value in _honest_and_patched.items():
        monkeypatch.setenv(key, value)


@pytest.mark.slow
@pytest.mark.usefixtures("_patched_env")
@pytest.mark.parametrize("name", sorted(DECOYS))
def test_each_decoy_is_what_the_build_compiles_or_runs(
    tmp_path: Path, applied_template: Path, name: str
) -> None:
    """verify fails naming the decoy (a wrapper: passes, with a note), runs none of it and
    changes nothing (an honest copy passed in the same run: _honest_and_patched); then uv
    with `patcher env` builds the project, and the build compiles or runs the decoy (its
    marker appears): verify's verdict is about what the build does. (Each decoy stops the
    build as soon as it has run.)"""
    project, marker = _check_decoy(tmp_path, applied_template, name)
    directory = project / "py" if (project / "py").is_dir() else project
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    done = subprocess.run(
        [uv, "build", "--wheel", "-v", "--out-dir", str(tmp_path / "dist"), str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert marker.exists(), (done.stdout + done.stderr)[-3000:]


# --- quick cases without a build --------------------------------------------------------------


def test_a_vendored_tree_holds_the_pinned_regular_files_only(
    tmp_path: Path, applied_template: Path
) -> None:
    """A link to a folder (which the digests never entered), `.cargo-ok` (which they leave
    out) and a pipe (which verify used to wait on forever) are named, and `env --ci` copies
    none of them out of the checkout."""
    project = _copy(applied_template, tmp_path / "runner")
    tree = project / ".pyo3-patcher" / f"pyo3-ffi-{VERSION}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "code.rs").write_text("// not pyo3's\n", encoding="utf-8")
    (tree / "src" / "extra").symlink_to(elsewhere)
    (tree / ".cargo-ok").write_text('{"v":1}', encoding="utf-8")
    around = snapshot(tmp_path / "runner", skip=("project",))
    result = run_patcher("env", "--ci", "--project", project)
    assert result.returncode == 3 and "src/extra (a link)" in result.stderr, result.stderr
    assert ".cargo-ok" in result.stderr, result.stderr
    assert snapshot(tmp_path / "runner", skip=("project",)) == around  # nothing beside it
    os.mkfifo(tree / "src" / "pipe")
    before = snapshot(project)
    code, failed, _ = _verify(project)
    assert code == 7
    for named in ("src/extra (a link)", ".cargo-ok (not in the release)", "src/pipe (a device"):
        assert named in failed, failed
    assert snapshot(project) == before


def test_state_outside_the_checkout_cannot_make_verify_pass(
    tmp_path: Path, applied_template: Path
) -> None:
    """CI mode's MATURIN_PEP517_ARGS (naming identical copies in the runner's folder) makes
    the build compile those copies: verify says so, and it still fails a manifest without our
    [patch] (a build without those variables would build crates.io's pyo3). A config above the
    checkout that points a crate at other code fails, and is named."""
    runner = tmp_path / "runner"
    project = _copy(applied_template, runner)
    (tmp_path / "runner-temp").mkdir()
    on_runner = {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(tmp_path / "runner-temp")}
    handed = run_patcher("env", "--ci", "--project", project, env=on_runner)
    assert handed.returncode == 0, handed.stderr
    job = {**on_runner, **env_lines(handed.stdout)}
    code, failed, notes = _verify(project, env=job)
    assert code == 0, failed
    assert any("copies `patcher env --ci` made" in note for note in notes), notes
    # the same copies named by a hand-written --config, outside CI mode's printed values'
    # shape, are not ours
    copies = tmp_path / "runner-temp" / "pyo3-patcher-ci"
    mimic = tmp_path / "elsewhere"
    shutil.copytree(copies, mimic, symlinks=True)
    args = job["MATURIN_PEP517_ARGS"].replace(str(copies), str(mimic))
    code, failed, _ = _verify(project, env={**job, "MATURIN_PEP517_ARGS": args})
    assert code == 7, failed

    # the next commit drops the [patch] table and Cargo.lock's path entries
    pristine = Path(__file__).resolve().parents[2] / "examples" / "hello-pyo3"
    for name in ("Cargo.toml", "Cargo.lock"):
        shutil.copyfile(pristine / name, project / name)
    before = snapshot(project)
    code, failed, _ = _verify(project, env=job)
    assert code == 7 and "pyo3-build-config missing" in failed, failed
    assert snapshot(project) == before

    # a config above the checkout that sends a crate elsewhere (not a copy of ours)
    honest = _copy(applied_template, tmp_path / "above")
    _decoy_tree(honest, tmp_path / "decoy-ran")
    decoy = honest / DECOY
    above = tmp_path / "above" / ".cargo" / "config.toml"
    above.parent.mkdir()
    above.write_text(f"[patch.crates-io]\n{CRATE} = {{ path = {json.dumps(str(decoy))} }}\n")
    code, failed, _ = _verify(honest)
    assert code == 7, failed
    assert f"{CRATE} {VERSION} from {decoy}" in failed and str(above) in failed, failed


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('build-backend = "maturin"', 'build-backend = "setuptools.build_meta"', 'not "maturin"'),
        (
            'build-backend = "maturin"',
            'build-backend = "maturin"\nbackend-path = ["."]',
            "backend-path",
        ),
        ('"maturin>=1.9,<2"', '"maturin>=1.9,<2", "maturin<1.15"', "maturin 2 times"),
    ],
)
def test_the_build_must_run_the_patched_maturin(
    tmp_path: Path, applied_template: Path, old: str, new: str, said: str
) -> None:
    project = _copy(applied_template, tmp_path)
    _replace(project / "pyproject.toml", old, new)
    code, failed, _ = _verify(project)
    assert code == 7 and "build backend" in failed and said in failed, failed


def test_settings_that_reach_cargo_from_elsewhere_are_followed_or_named(
    tmp_path: Path, applied_template: Path
) -> None:
    """MATURIN_PEP517_ARGS reaches the backend's cargo as the build's environment does:
    its --config is followed; a rustc argument that links another crate is not reproduced,
    so it is named."""
    project = _copy(applied_template, tmp_path)
    _decoy_tree(project, tmp_path / "decoy-ran")
    args = f"--release --config \"patch.crates-io.{CRATE}.path='{DECOY}'\""  # maturin: shlex
    code, failed, _ = _verify(project, {"MATURIN_PEP517_ARGS": args})
    assert code == 7 and "MATURIN_PEP517_ARGS --config" in failed, failed
    # a copy byte for byte the vendored tree, but not CI mode's: not ours to accept
    shutil.rmtree(project / DECOY)
    shutil.copytree(project / TREE, project / DECOY)
    code, failed, _ = _verify(project, {"MATURIN_PEP517_ARGS": args})
    assert code == 7 and "not where `patcher env --ci` puts its copies" in failed, failed
    shutil.rmtree(project / DECOY)
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write('rustc-args = ["--extern", "pyo3=/elsewhere/libpyo3.rlib"]\n')
    code, failed, _ = _verify(project)
    assert code == 7 and "rustc-args '--extern'" in failed, failed
