"""Shared test helpers: real git repositories, real crates, real projects. No mocks."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import git as gitpython
import tomlkit

from patcher import cargo, proc, trees
from patcher.project import ci
from patcher.upstreams import maturin, pins
from patcher.upstreams.pyo3 import CRATES as PYO3_CRATES

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "hello-pyo3"


def run_patcher(
    *args: str | os.PathLike[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI, as users run it: `python -m patcher ...`."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "patcher", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )


def started_with_pid(cmd: list[str], env: dict[str, str]) -> tuple[int, str, int]:
    """Run `cmd` with `env` added; (its pid, stdout + stderr, exit code)."""
    with subprocess.Popen(
        cmd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as child:
        out, _ = child.communicate()
    return child.pid, out, child.returncode


def plant_pid_links(folder: Path, name_of_pid: str, target: Path, count: int = 3000) -> range:
    """Links, all to `target`, at the names the next `count` processes of this machine would
    write through if a name were made from their pid (`name_of_pid` with `{pid}`): what a job
    that shares the cache can plant. Returns the pids covered."""
    last = Path("/proc/sys/kernel/ns_last_pid")
    if not last.is_file():
        import pytest

        pytest.skip("this system does not say which pid comes next")
    first = int(last.read_text()) + 1
    pids = range(first, first + count)
    folder.mkdir(parents=True, exist_ok=True)
    for pid in pids:
        (folder / name_of_pid.format(pid=pid)).symlink_to(target)
    return pids


MATURIN_ENTRY = "1.16.0+pyo3patcher.backend.v2-"  # the example's patched maturin, by name


def maturin_cache(dest: Path) -> Path:
    """A cache of a test's own at `dest`, holding the example's patched-maturin entry (with the
    published wheel: no download), copied from the session's cache (filled first where it is
    not); the test may poison it."""
    shared = Path(os.environ["PYO3_PATCHER_CACHE_DIR"])
    ours = shutil.ignore_patterns(".*", "*.lock")  # a build under way, the locks
    if not [e for e in (shared / "maturin-wheels").glob(MATURIN_ENTRY + "*") if e.is_dir()]:
        project = copy_example(dest.parent, "maturin-cache-filler")
        assert run_patcher("env", "--project", project).returncode == 0
    dest.mkdir()
    shutil.copy2(shared / "CACHEDIR.TAG", dest / "CACHEDIR.TAG")
    for entry in (shared / "maturin-wheels").glob(MATURIN_ENTRY + "*"):
        if entry.is_dir():
            shutil.copytree(entry, dest / "maturin-wheels" / entry.name, ignore=ours)
    return dest


def maturin_entry(cache: Path) -> Path:
    """The one patched-maturin entry folder of a cache (`patcher env` made it)."""
    (entry,) = (e for e in (cache / "maturin-wheels").iterdir() if e.is_dir())
    return entry


def url_path(url: str) -> Path:
    """The local path a file:// URL that `patcher env` hands out names (its #fragment aside)."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "file", url
    return Path(urllib.parse.unquote(parts.path))


def env_lines(text: str) -> dict[str, str]:
    """The KEY=VALUE lines `patcher env` printed (or a $GITHUB_ENV file holds)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def rebuilt_since(target: Path, since: float) -> set[str]:
    """The packages cargo fingerprinted anew in `target` after `since` (where a frontend hides
    cargo's output, or its own log lines cut cargo's)."""
    found = set()
    for fingerprint in target.glob("*/.fingerprint/*"):
        if fingerprint.parent.parent.name == ci.STAMP_DIR:  # `verify --pin-mtimes`' stamps
            continue
        if any(f.stat().st_mtime > since for f in fingerprint.iterdir()):
            found.add(fingerprint.name.rsplit("-", 1)[0])
    return found


def compiled_pyo3(log: str) -> set[str]:
    """The pyo3 crates a build's log says cargo compiled."""
    import re

    return set(re.findall(r"Compiling (\S+) v", log)) & set(PYO3_CRATES)


def patched_example(where: Path, env: dict[str, str] | None = None) -> tuple[Path, dict[str, str]]:
    """The example, applied, and the variables `patcher env` hands its isolated builds."""
    project = copy_example(where, "hello")
    result = run_patcher("apply", "--project", project, env=env)
    assert result.returncode == 0, result.stderr
    result = run_patcher("env", "--project", project, env=env)
    assert result.returncode == 0, result.stderr
    return project, env_lines(result.stdout)


def apply_refused_then_forced(project: Path) -> tuple[str, str]:
    """`patcher apply` refuses (exit 3) and changes nothing, then `apply --force` patches;
    what each said (stderr of the refusal, stdout of the forced run)."""
    before = snapshot(project)
    refused = run_patcher("apply", "--project", project)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "--force" in refused.stderr
    assert snapshot(project) == before
    forced = run_patcher("apply", "--force", "--project", project)
    assert forced.returncode == 0, forced.stderr
    return refused.stderr, forced.stdout


def make_pyo3_repo(root: Path, versions: list[str]) -> tuple[str, Path]:
    """A git repository laid out like upstream pyo3, one commit and tag per release, made
    from the published crates. Returns its file:// URL and a pins dir naming its commits."""
    repo_dir = root / "pyo3-upstream"
    repo = gitpython.Repo.init(repo_dir)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "test")
        cfg.set_value("user", "email", "test@example.invalid")
    pin_lines = ["# test pins for a repository made from published crates\n"]
    for version in versions:
        for item in repo_dir.iterdir():
            if item.name != ".git":
                subprocess.run(["rm", "-rf", str(item)], check=True)
        dirs = cargo.download_crates({name: version for name in PYO3_CRATES})
        for name in PYO3_CRATES:
            dest = repo_dir if name == "pyo3" else repo_dir / name
            subprocess.run(["cp", "-r", f"{dirs[name]}/.", str(dest)], check=True)
        for leftover in repo_dir.rglob("*"):
            if leftover.name in {".cargo_vcs_info.json", "Cargo.toml.orig", ".cargo-ok"}:
                leftover.unlink()
        _link_like_upstream(repo_dir)
        repo.git.add("-A")
        repo.index.commit(f"release {version}")
        repo.create_tag(f"v{version}")
        pin_lines.append(
            f'[release."{version}"]\ntag = "v{version}"\ncommit = "{repo.head.commit.hexsha}"\n'
        )
    pins_dir = root / "pins"
    pins_dir.mkdir()
    (pins_dir / "pyo3.toml").write_text("\n".join(pin_lines), encoding="utf-8")
    # maturin stays pinned as shipped
    for name in ("maturin.toml", "maturin-wheels.json"):
        (pins_dir / name).write_bytes((REPO_ROOT / "vendor/pins" / name).read_bytes())
    return repo_dir.as_uri(), pins_dir


def make_maturin_repo(root: Path, published: str, version: str) -> tuple[str, Path]:
    """A git repository laid out like upstream maturin, its first release `version` made from
    the published `published` source (the crate, verified against the pinned commit). Returns its
    file:// URL and a pins dir (pyo3 and maturin pinned as shipped; `version` not yet)."""
    repo_dir = root / "maturin-upstream"
    tree, _origin = maturin.pristine(pins.get_pin("maturin", published))
    trees.copy_tree(tree, repo_dir)
    for leftover in ("PKG-INFO",):
        (repo_dir / leftover).unlink(missing_ok=True)
    repo = gitpython.Repo.init(repo_dir)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "test")
        cfg.set_value("user", "email", "test@example.invalid")
    commit_release(repo, version)
    pins_dir = root / "pins"
    pins_dir.mkdir()
    for name in ("pyo3.toml", "maturin.toml", "maturin-wheels.json"):
        (pins_dir / name).write_bytes((REPO_ROOT / "vendor/pins" / name).read_bytes())
    return repo_dir.as_uri(), pins_dir


def commit_release(
    repo: gitpython.Repo, version: str, edit: tuple[str, str, str] | None = None
) -> None:
    """One upstream maturin release: version bumped, `edit` = (file, old, new) made, tagged."""
    root = Path(repo.working_tree_dir or "")
    maturin.set_version(root, version)
    if edit is not None:
        path = root / edit[0]
        text = path.read_text("utf-8")
        assert text.count(edit[1]) == 1, edit[1]
        path.write_text(text.replace(edit[1], edit[2]), encoding="utf-8")
    repo.git.add("-A")
    repo.index.commit(f"release {version}")
    repo.create_tag(f"v{version}")


def _link_like_upstream(repo_dir: Path) -> None:
    """Published manifests name their siblings by version only; upstream's add a path (and
    the root is a workspace). Put both back, as the real repository has them."""
    for name in PYO3_CRATES:
        path = repo_dir / ("Cargo.toml" if name == "pyo3" else f"{name}/Cargo.toml")
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
        for section in ("dependencies", "build-dependencies"):
            for dep, spec in doc.get(section, {}).items():
                if dep in PYO3_CRATES and isinstance(spec, dict):
                    rel = "" if name == "pyo3" else "../"
                    spec["path"] = dep if name == "pyo3" else f"{rel}{dep}"
        if name == "pyo3":
            workspace = tomlkit.table()
            workspace["members"] = [n for n in PYO3_CRATES if n != "pyo3"]
            doc["workspace"] = workspace
        path.write_text(tomlkit.dumps(doc), encoding="utf-8")


def plain_crate(directory: Path, name: str, deps: str = "") -> None:
    """A library crate of no code with the dependencies `deps` (lines of [dependencies])."""
    (directory / "src").mkdir(parents=True)
    (directory / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n\n'
        f"[dependencies]\n{deps}",
        encoding="utf-8",
    )
    (directory / "src" / "lib.rs").write_text("pub fn f() {}\n", encoding="utf-8")


def write_crate(directory: Path, name: str, deps: str, extra: str = "") -> None:
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n\n'
        f'[lib]\ncrate-type = ["cdylib", "rlib"]\n\n[dependencies]\n{deps}\n{extra}',
        encoding="utf-8",
    )
    (directory / "src" / "lib.rs").write_text(
        "use pyo3::prelude::*;\n\n#[pyfunction]\nfn answer() -> usize {\n    42\n}\n",
        encoding="utf-8",
    )


def snapshot(
    root: Path, skip: tuple[str, ...] = ("target",)
) -> dict[str, tuple[bytes, int] | tuple[str, str]]:
    """Every file under root with its bytes and mtime (ns), and every symbolic link with its
    target (never followed), by relative path; top-level names in `skip` are left out."""
    found: dict[str, tuple[bytes, int] | tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        if base == root:
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in sorted(dirnames + filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_file():
                found[rel] = (path.read_bytes(), path.stat().st_mtime_ns)
    return dict(sorted(found.items()))


def make_venv(where: Path, *, with_pip: bool = False) -> Path:
    """A fresh venv of the base interpreter of this Python; returns its python."""
    return proc.make_venv(where, with_pip=with_pip)


BASE_PYTHON = proc.base_python()


def copy_example(where: Path, name: str = "example") -> Path:
    """A fresh copy of the bundled example project (without build output or vendored trees)."""
    project = where / name
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", ".pyo3-patcher"))
    return project


def bytes_of(snap: dict[str, tuple[bytes, int] | tuple[str, str]]) -> dict[str, object]:
    """A snapshot without mtimes: what `remove` must give back."""
    return {k: v[0] for k, v in snap.items()}


def added_lines(patch_file: Path) -> list[str]:
    """The lines a one-file patch adds, without the leading `+`."""
    import unidiff

    (patched,) = unidiff.PatchSet(patch_file.read_text(encoding="utf-8"))
    return [line.value for hunk in patched for line in hunk if line.is_added]


def base_lookup_script(patch: str) -> str:
    """The script that finds the base interpreter, as a maturin patch carries it: plain Python
    in the backend patch, Rust string literals in the compiled one."""
    import json
    import re

    lines = added_lines(REPO_ROOT / "patches" / "maturin" / patch)
    if patch.startswith("backend"):
        start = next(i for i, line in enumerate(lines) if line.startswith("def _pyo3_patcher_base"))
        end = next(i for i, line in enumerate(lines) if line.startswith("def _pyo3_patcher_export"))
        return "".join(lines[start:end]).rstrip() + "\n"
    literals = [
        json.loads(m) for m in re.findall(r'^\s*("(?:[^"\\]|\\.)*"),\s*$', "".join(lines), re.M)
    ]
    script = "".join(literals)
    return script[: script.index("\n\n\nprint(")].rstrip() + "\n"


def pythons() -> dict[str, str]:
    """The CPython interpreters 3.9 to 3.13 this machine has (by pyenv, where it is the
    installer, or on PATH): minor version -> path."""
    found: dict[str, str] = {}
    env = dict(os.environ)
    pyenv = shutil.which("pyenv")
    if pyenv:
        versions = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
        ).stdout.split()
        env["PYENV_VERSION"] = ":".join(versions)
    for minor in range(9, 14):
        name = f"python3.{minor}"
        program = shutil.which(name)
        if program is None:
            continue
        real = subprocess.run(
            [program, "-c", "import os, sys; print(os.path.realpath(sys.executable))"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if real.returncode == 0:
            found[f"3.{minor}"] = real.stdout.strip()
    return found


def strip_crates(target: Path, prefixes: tuple[str, ...]) -> None:
    """Remove from a cargo target dir every artifact of the crates whose names start with one
    of `prefixes` (fingerprints, build-script runs, compiled crates, in every profile), so
    that cargo compiles exactly those again, from nothing, and finds the rest fresh."""
    for profile in [d for d in target.iterdir() if (d / ".fingerprint").is_dir()]:
        for folder in (profile, profile / ".fingerprint", profile / "build", profile / "deps"):
            for entry in list(folder.iterdir()):
                # deps/libpyo3_macros-<hash>.so, .fingerprint/pyo3-macros-<hash>, ...
                name = entry.name.removeprefix("lib").replace("_", "-")
                if name.startswith(prefixes):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
    shutil.rmtree(target / "wheels", ignore_errors=True)


def copy_target(target: Path, project: Path) -> None:
    """`target` as `project`'s target dir, with mtimes kept (cargo compares them)."""
    shutil.copytree(target, project / "target", symlinks=True)


def git(*args: str | Path, cwd: Path) -> None:
    """The git command line, as a user types it (with a committer, whatever the machine's
    configuration)."""
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *map(str, args)],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def change_vendored_tree(project: Path, crate: str = "pyo3-ffi", version: str = "0.28.3") -> None:
    """Change a vendored tree's content at the same version, and record its new digest, as a
    re-apply with a new patch variant (or a hand edit made consistent) would."""
    from patcher.project import record

    tree = project / ".pyo3-patcher" / f"{crate}-{version}"
    with (tree / "src" / "lib.rs").open("a", encoding="utf-8") as f:
        f.write("\n// a new patch variant at the same version\n")
    lock = project / record.FILE_NAME
    old = record.load(lock)
    assert old is not None
    lock.write_text(
        lock.read_text("utf-8").replace(old.digests[crate], trees.digest_of(tree)),
        encoding="utf-8",
    )


def marker_script(where: Path, *, status: int = 0) -> tuple[Path, Path]:
    """A program that leaves a marker file when it runs (then exits with `status`): what a
    hostile input would make git run. Returns (the program, its marker)."""
    marker = where / "decoy" / "RAN"
    script = where / "decoy" / "evil.sh"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit {status}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, marker


MATURIN_NEW_LIB = """use pyo3::prelude::*;

#[pymodule]
mod mnew {
    use pyo3::prelude::*;

    #[pyfunction]
    fn sum_as_string(a: usize, b: usize) -> PyResult<String> {
        Ok((a + b).to_string())
    }
}
"""


def extension_project(where: Path, name: str, dependency: str, lib_rs: str, project: str) -> Path:
    """A one-crate maturin project in `where/name`: a cdylib with `dependency` (a line of
    [dependencies]) and `lib_rs`, and a pyproject whose [project] table holds `project`."""
    folder = where / name
    (folder / "src").mkdir(parents=True)
    (folder / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n\n'
        f'[lib]\nname = "{name.replace("-", "_")}"\ncrate-type = ["cdylib"]\n\n'
        f"[dependencies]\n{dependency}\n",
        encoding="utf-8",
    )
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["maturin>=1.9,<2.0"]\nbuild-backend = "maturin"\n\n'
        f'[project]\nname = "{name}"\n{project}\n',
        encoding="utf-8",
    )
    (folder / "src" / "lib.rs").write_text(lib_rs, encoding="utf-8")
    return folder


def maturin_new_project(where: Path) -> Path:
    """What `maturin new --bindings pyo3` makes, with pyo3 0.29 (no Cargo.lock)."""
    project = extension_project(
        where,
        "mnew",
        'pyo3 = "=0.29.3"',
        MATURIN_NEW_LIB,
        'requires-python = ">=3.8"\ndynamic = ["version"]',
    )
    (project / ".gitignore").write_text("/target\n", encoding="utf-8")
    return project


# --- `patcher doctor`: a quick pyo3-ffi project and its diagnosis ----------------------

FFI_LIB_RS = """use pyo3_ffi::*;

static mut MODULE: PyModuleDef = PyModuleDef {
    m_base: PyModuleDef_HEAD_INIT,
    m_name: c"ffi_probe".as_ptr(),
    m_doc: std::ptr::null(),
    m_size: 0,
    m_methods: std::ptr::null_mut(),
    m_slots: std::ptr::null_mut(),
    m_traverse: None,
    m_clear: None,
    m_free: None,
};

#[no_mangle]
pub unsafe extern "C" fn PyInit_ffi_probe() -> *mut PyObject {
    PyModule_Create(std::ptr::addr_of_mut!(MODULE))
}
"""


def ffi_project(where: Path, *, build_rs: str | None = None, patched: bool = False) -> Path:
    """A one-crate extension on pyo3-ffi alone (the quickest pyo3 build), no Cargo.lock."""
    project = extension_project(
        where, "ffi-probe", 'pyo3-ffi = "=0.28.3"', FFI_LIB_RS, 'version = "0.1.0"'
    )
    if build_rs is not None:
        (project / "build.rs").write_text(build_rs, encoding="utf-8")
    if patched:
        result = run_patcher("apply", "--project", project)
        assert result.returncode == 0, result.stderr
    return project


def diagnose(project: Path, *args: str | Path) -> dict:
    """`patcher doctor --json` of `project`: its diagnosis."""
    result = run_patcher(
        "doctor",
        "--project",
        project,
        "--json",
        *args,
        env={"UV_CACHE_DIR": str(project.parent / "uv")},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def crates(found: dict) -> dict[str, dict]:
    """A diagnosis's recompiled crates by name."""
    return {c["name"]: c for c in found["crates"]}


# PyO3/maturin-action on Linux, emulated from its source (src/index.ts at 6df80d7, `dockerBuild`
# and `isDockerEnv`): `maturin build` in a manylinux container started with `--workdir
# $GITHUB_WORKSPACE`, the workspace mounted at the same path (nothing else of the runner: no
# $RUNNER_TEMP), and of the runner's variables only those named by prefix below (CARGO_HOME is
# forbidden), plus three it names. Docker cannot run here: maturin runs directly, with that
# environment, the fixed interpreter a manylinux image has, and this process's PATH, HOME and
# CARGO_HOME standing in for the image's (its cargo, rustc and cargo home, one path in every
# job); a CARGO_HOME a step of the job exports does not reach the build.
MATURIN_ACTION_PREFIXES = (
    "ACTIONS_", "CARGO_", "CC", "CFLAGS", "CMAKE_", "CPPFLAGS", "CXX", "CXXFLAGS", "GITHUB_",
    "JEMALLOC_", "LDFLAGS", "LD_", "MATURIN_", "PYO3_", "RUST", "SCCACHE_", "TARGET_",
)  # fmt: skip
MATURIN_ACTION_FORBIDDEN = ("CARGO_HOME",)
MATURIN_ACTION_NAMED = ("DEBIAN_FRONTEND", "ARCHFLAGS", "_PYTHON_SYSCONFIGDATA_NAME")
MATURIN_ACTION_VERSION = "1.16.0"  # the action downloads a release binary of maturin


def maturin_binary(where: Path, version: str = MATURIN_ACTION_VERSION) -> Path:
    """maturin's release binary, from its PyPI wheel (unpatched), unpacked once into `where`."""
    import zipfile

    binary = where / f"maturin-{version}" / "maturin"
    if binary.is_file():
        return binary
    wheels = where / f"wheels-{version}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(wheels),
            f"maturin=={version}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = wheels.glob("maturin-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(f"maturin-{version}.data/scripts/maturin")
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, binary)
    return binary


def maturin_action_env(environ: dict[str, str]) -> dict[str, str]:
    """What reaches `maturin build` in maturin-action's container, from the step's `environ`."""
    passed = {
        k: v
        for k, v in environ.items()
        if (k.startswith(MATURIN_ACTION_PREFIXES) and k not in MATURIN_ACTION_FORBIDDEN)
        or k in MATURIN_ACTION_NAMED
    }
    image = {"PATH": environ["PATH"], "HOME": environ.get("HOME", "/root")}
    if os.environ.get("CARGO_HOME"):
        image["CARGO_HOME"] = os.environ["CARGO_HOME"]
    return {**image, **passed}


def maturin_action_build(
    maturin: Path, workspace: Path, environ: dict[str, str], out: Path
) -> subprocess.CompletedProcess[str]:
    """maturin-action's Linux build step (`command: build`, `args: --release --out <out>`):
    its clean-up of build scripts' output (it removes target/release/build only when
    target/debug/build exists: its check tests the debug path twice), then `maturin build`
    with the container's environment and a fixed interpreter."""
    target = workspace / "target"
    if (target / "debug" / "build").exists():
        for profile in ("debug", "release"):
            shutil.rmtree(target / profile / "build", ignore_errors=True)
    return subprocess.run(
        [str(maturin), "build", "--release", "--out", str(out), "-i", BASE_PYTHON],
        cwd=workspace,
        env=maturin_action_env(environ),
        capture_output=True,
        text=True,
        check=False,
    )


def pins_without_derived(dest: Path) -> Path:
    """A copy of the shipped pins with no digests of what patcher derives (`refresh
    --digests`): commands derive the trees and the maturin wheel again, as an older patcher
    did; returns its folder, for PYO3_PATCHER_PINS_DIR."""
    import tomlkit

    from patcher import resources

    shutil.copytree(resources.pins_dir(), dest)
    for pins_file in dest.glob("*.toml"):
        doc = tomlkit.parse(pins_file.read_text(encoding="utf-8"))
        for table in doc["release"].values():
            table.pop("derived", None)
        pins_file.write_text(tomlkit.dumps(doc), encoding="utf-8")
    for wheels_file in dest.glob("*-wheels.json"):
        wheels_file.unlink()
    return dest


# --- GitHub workflows, as doctor and apply read them -------------------------------

# every job that builds does so with maturin-action: the patch can gain nothing there
MATURIN_ACTION_ONLY = """name: wheels
on: [push, pull_request]
jobs:
  linux:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: PyO3/maturin-action@v1
        with:
          command: build
          args: --release --out dist
          sccache: true
  sdist:
    runs-on: ubuntu-latest
    steps:
      - uses: PyO3/maturin-action@v1
        with:
          command: sdist
"""


def write_workflow(project: Path, name: str, text: str) -> None:
    """`text` as `.github/workflows/<name>` of `project`."""
    folder = project / ".github" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
