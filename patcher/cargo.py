"""What we ask of cargo, through the subprocess boundary in proc.py."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from patcher import proc, ui
from patcher.errors import ExternalError, ProjectError, SourceError

NOT_USED_MARKER = "was not used in the crate graph"
_HINT = (
    "read cargo's output above; with --offline, the crates.io index and the crates must "
    "already be in cargo's cache"
)


def run(
    args: list[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    locked: bool = False,
    offline: bool = False,
    check: bool = True,
    what: str = "cargo failed",
    hint: str = _HINT,
    sealed: bool = False,
    configs: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`cargo ARGS`; with `check`, a failure is an ExternalError that keeps cargo's output.

    `sealed` (for commands that only resolve, run on a checkout we do not trust): no program
    the checkout names runs (see `_seal`); `configs` are `--config` values to pass as well
    (maturin's), which the seal overrides where they name a program."""
    cmd: list[str | Path] = ["cargo", *args]
    if locked:
        cmd.append("--locked")
    if offline:
        cmd.append("--offline")
    unset: tuple[str, ...] = ()
    if sealed:
        here = cwd or Path.cwd()
        overrides, sealed_env, unset = _seal(here, configs)
        cmd += [arg for value in (*configs, *overrides) for arg in ("--config", value)]
        env = {**(env or {}), **sealed_env}
    elif configs:
        cmd += [arg for value in configs for arg in ("--config", value)]
    return proc.run(cmd, cwd=cwd, env=env, unset=unset, check=check, what=what, hint=hint)


# Variables naming programs cargo runs even to resolve (`cargo metadata` asks rustc for the
# host's target info, through a wrapper if one is set), and flags it passes to them. They win
# over any config, so ours must not carry them: the seal names rustc itself.
_PROGRAM_VARIABLES = ("RUSTC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTDOC", "RUSTFLAGS")
TOOLCHAIN_FILES = ("rust-toolchain.toml", "rust-toolchain")


def config_files(cwd: Path) -> list[Path]:
    """The cargo config files a cargo run in `cwd` reads, nearest first (cargo's order): each
    folder upwards, then the cargo home."""
    found = []
    for folder in (cwd, *cwd.parents):
        found += [folder / ".cargo" / name for name in ("config.toml", "config")]
    home = os.environ.get("CARGO_HOME")
    found += [Path(home or Path.home() / ".cargo") / name for name in ("config.toml", "config")]
    return [path for path in dict.fromkeys(found) if path.is_file()]


def config_value(value: str, cwd: Path) -> tuple[Mapping[str, Any], Path | None]:
    """A `--config` value as cargo reads it: a TOML `KEY=VALUE`, or else the path of a config
    file (relative to `cwd`); and that file."""
    try:
        return tomlkit.parse(value).unwrap(), None
    except TOMLKitError:
        path = cwd / value
        return read_config(path), path


def read_config(path: Path) -> Mapping[str, Any]:
    """A cargo config file, parsed ({} when it is not TOML: cargo itself refuses it, before it
    runs anything)."""
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    except (OSError, UnicodeDecodeError, TOMLKitError):
        return {}


def config_docs(cwd: Path, configs: Sequence[str] = ()) -> list[tuple[str, Mapping[str, Any]]]:
    """Every cargo config a cargo run in `cwd` with `--config` values `configs` reads, parsed,
    with where each comes from."""
    docs: list[tuple[str, Mapping[str, Any]]] = [
        (str(path), read_config(path)) for path in config_files(cwd)
    ]
    for value in configs:
        doc, path = config_value(value, cwd)
        docs.append((str(path) if path else f"--config {value}", doc))
    return docs


_PROGRAM_KEYS = ("rustc", "rustc-wrapper", "rustc-workspace-wrapper", "rustdoc")


def programs_named(cwd: Path, configs: Sequence[str] = ()) -> list[str]:
    """The settings by which cargo configs make a build run programs of their choosing
    (rustc, its wrappers, linkers and runners, and `[env]`, which reaches every one)."""
    found = []
    for where, doc in config_docs(cwd, configs):
        build = doc.get("build")
        named = [f"build.{k}" for k in _PROGRAM_KEYS if isinstance(build, Mapping) and k in build]
        targets = doc.get("target")
        for triple, table in targets.items() if isinstance(targets, Mapping) else ():
            named += [
                f"target.{triple}.{k}"
                for k in ("linker", "runner")
                if isinstance(table, Mapping) and k in table
            ]
        env = doc.get("env")
        named += [f"env.{key}" for key in (env if isinstance(env, Mapping) else ())]
        if named:
            found.append(f"{where} ({', '.join(named)})")
    return found


def _seal(cwd: Path, configs: Sequence[str]) -> tuple[list[str], dict[str, str], tuple[str, ...]]:
    """What keeps a cargo run in `cwd` from running a program the checkout names: `--config`
    overrides (they outrank every config file), variables to set, variables to unset.

    - the toolchain: a toolchain file that names a folder (rustup would run its cargo) is
      refused, and the toolchain rustup picks for `cwd` is named by RUSTUP_TOOLCHAIN;
    - rustc and its wrappers: named by us (`build.rustc`), wrappers off;
    - `[env]`: cargo sets it for the rustc it runs, so an `LD_PRELOAD` (or a RUSTUP_TOOLCHAIN
      naming a folder) there would run the checkout's code; every key any config read sets is
      given our own value;
    - rustflags: none (`CARGO_ENCODED_RUSTFLAGS` empty outranks every other source);
    - `include` (a config naming more config files) is refused rather than followed."""
    _refuse_toolchain_path(cwd)
    keys: dict[str, bool] = {}  # [env] key -> written as a table somewhere
    for where, doc in config_docs(cwd, configs):
        if "include" in doc:
            raise ProjectError(
                f"the cargo config {where} includes other config files (`include`), which "
                "patcher does not follow, so it does not run cargo with it",
                hint="move those settings into the file itself",
            )
        table = doc.get("env")
        for key, value in table.items() if isinstance(table, Mapping) else ():
            keys[key] = keys.get(key, False) or isinstance(value, Mapping)
    env = {"CARGO_ENCODED_RUSTFLAGS": ""}
    toolchain = _active_toolchain(cwd)
    if toolchain is not None:
        env["RUSTUP_TOOLCHAIN"] = toolchain
    overrides = [
        f"build.rustc={_toml_string(rustc())}",
        'build.rustc-wrapper=""',
        'build.rustc-workspace-wrapper=""',
    ]
    for key, table in keys.items():
        # --config takes no inline table, and cargo merges a table only into a table
        name, value = (
            f"env.{_toml_string(key)}",
            _toml_string(env.get(key, os.environ.get(key, ""))),
        )
        if table:
            overrides += [f"{name}.value={value}", f"{name}.force=true", f"{name}.relative=false"]
        else:
            overrides.append(f"{name}={value}")
    return overrides, env, _PROGRAM_VARIABLES


# rustup's answer per folder, for this process: verify asked twice for the same folder (each
# a rustup start); keyed by what decides the answer, so a changed toolchain file asks again
_TOOLCHAINS: dict[tuple[str, str | None, tuple[tuple[str, int, int], ...]], str | None] = {}


def _active_toolchain(cwd: Path) -> str | None:
    """The toolchain rustup runs in `cwd` (None without rustup): from RUSTUP_TOOLCHAIN, an
    override of the user's, a toolchain file (checked: not a folder), or the default."""
    try:
        rustup = proc.which("rustup")
    except ExternalError:
        return None
    files = []
    for path in _toolchain_files(cwd):
        with contextlib.suppress(OSError):
            stat = path.stat()
            files.append((str(path), stat.st_mtime_ns, stat.st_size))
    key = (str(cwd.absolute()), os.environ.get("RUSTUP_TOOLCHAIN"), tuple(files))
    if key not in _TOOLCHAINS:
        said = proc.run([rustup, "show", "active-toolchain"], cwd=cwd, check=False)
        words = said.stdout.split()
        _TOOLCHAINS[key] = words[0] if said.returncode == 0 and words else None
    return _TOOLCHAINS[key]


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def rustc() -> str:
    """The rustc beside the cargo we run (a rustup proxy when rustup manages it)."""
    try:
        return proc.which("rustc")
    except ExternalError:
        beside = Path(os.path.realpath(proc.which("cargo"))).parent / "rustc"
        if not beside.is_file():
            raise ExternalError(
                "`rustc` was not found on PATH nor beside cargo",
                hint="install Rust with rustup (https://rustup.rs) and make sure `rustc` is on "
                "PATH",
            ) from None
        return str(beside)


def _toolchain_files(cwd: Path) -> Iterator[Path]:
    """The toolchain file rustup reads for a run in `cwd`: the nearest folder's."""
    for folder in (cwd, *cwd.parents):
        found = [folder / name for name in TOOLCHAIN_FILES if (folder / name).is_file()]
        if found:
            yield from found
            return


def toolchain_path(cwd: Path) -> Path | None:
    """The toolchain file that would make rustup run a toolchain from a folder (a `path`, or a
    channel that is a path), unless RUSTUP_TOOLCHAIN names the toolchain instead."""
    if os.environ.get("RUSTUP_TOOLCHAIN"):
        return None  # it outranks every toolchain file
    for path in _toolchain_files(cwd):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return path
        try:
            section = tomlkit.parse(text).unwrap().get("toolchain", {})
        except TOMLKitError:
            section = {"channel": text.strip()}  # the legacy form: one line, the channel
        if not isinstance(section, Mapping):
            return path
        channel = section.get("channel", "")
        if "path" in section or not isinstance(channel, str) or "/" in channel or os.sep in channel:
            return path
    return None


def _refuse_toolchain_path(cwd: Path) -> None:
    found = toolchain_path(cwd)
    if found is not None:
        raise ProjectError(
            f"{found} names a toolchain folder: rustup would run that folder's cargo and rustc, "
            "and patcher runs no program a checkout brings",
            hint='name a toolchain channel (`channel = "1.80"`) instead of a path, or set '
            "RUSTUP_TOOLCHAIN to the toolchain to use",
        )


def metadata_no_deps(manifest: Path) -> dict[str, Any]:
    """`cargo metadata --no-deps` of the workspace `manifest` belongs to: its root and members.
    Resolves nothing, so it writes nothing (no Cargo.lock)."""
    result = run(
        ["metadata", "--no-deps", "--format-version", "1", "--manifest-path", manifest],
        check=False,
        sealed=True,
    )
    if result.returncode != 0:
        said = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise ProjectError(
            f"cargo cannot load {manifest}:\n{said}",
            hint="fix the manifest so that `cargo metadata --no-deps` works there",
        )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _metadata(manifest: Path, *, no_deps: bool = False, offline: bool = False) -> dict[str, Any]:
    args: list[str | Path] = ["metadata", "--format-version", "1", "--manifest-path", manifest]
    result = run(
        [*args, *(["--no-deps"] if no_deps else [])],
        offline=offline,
        sealed=True,
        what=f"cargo could not resolve {manifest}",
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def workspace_packages(root: Path) -> dict[str, tuple[str, Path]]:
    """The members of the workspace at `root`: name -> (version, manifest path)."""
    data = _metadata(root / "Cargo.toml", no_deps=True)
    return {p["name"]: (p["version"], Path(p["manifest_path"])) for p in data["packages"]}


def package(root: Path, crates: tuple[str, ...], target_dir: Path) -> dict[str, Path]:
    """`cargo package` the named workspace members; returns the .crate file of each."""
    args: list[str | Path] = ["package", "--no-verify", "--allow-dirty", "--target-dir", target_dir]
    for name in crates:
        args += ["-p", name]
    run(
        args,
        cwd=root,
        what="cargo package failed on the upstream checkout",
        hint="the pinned checkout does not package with this cargo; use the published crates "
        "(--source crates.io)",
    )
    found = {}
    for crate_file in (target_dir / "package").glob("*.crate"):
        name = crate_file.stem.rpartition("-")[0]  # <name>-<version>.crate
        if name in crates:
            found[name] = crate_file
    missing = [n for n in crates if n not in found]
    if missing:
        raise SourceError(
            f"cargo package produced no crate for {missing}",
            hint="use the published crates (--source crates.io)",
        )
    return found


_DOWNLOAD_HINT = (
    "check that crates.io is reachable (or that the crates are in cargo's cache, with --offline)"
)


def download_crates(wanted: dict[str, str], *, offline: bool = False) -> dict[str, Path]:
    """Have cargo download exact versions of crates; returns each one's extracted directory.

    cargo verifies the registry checksum of every .crate it downloads.
    """
    with tempfile.TemporaryDirectory(prefix="patcher-download-") as tmp:
        project = Path(tmp)
        manifest = project / "Cargo.toml"
        _write_download_manifest(project, {n: f"={v}" for n, v in wanted.items()})
        listed = ", ".join(f"{n} {v}" for n, v in wanted.items())
        what = f"cargo could not download {listed}"
        with ui.progress(f"downloading {listed} (crates.io, through cargo)"):
            fetched = _fetch(manifest, offline=offline)
        if fetched.returncode != 0 and "is yanked" in fetched.stderr:
            _lock_yanked(project, wanted, offline=offline, what=what)
            fetched = _fetch(manifest, offline=offline)
        if fetched.returncode != 0:
            raise ExternalError(
                what,
                hint=_DOWNLOAD_HINT,
                command=["cargo", "fetch", "--manifest-path", str(manifest)],
                returncode=fetched.returncode,
                stderr=fetched.stderr,
            )
        data = _metadata(manifest, offline=True)
        dirs = {
            pkg["name"]: Path(pkg["manifest_path"]).parent
            for pkg in data["packages"]
            if wanted.get(pkg["name"]) == pkg["version"] and pkg["source"]
        }
        missing = [n for n in wanted if n not in dirs]
        if missing:
            raise SourceError(f"cargo did not download {missing}", hint=_DOWNLOAD_HINT)
        return dirs


def _fetch(manifest: Path, *, offline: bool) -> subprocess.CompletedProcess[str]:
    return run(["fetch", "--manifest-path", manifest], offline=offline, check=False, sealed=True)


def _lock_yanked(project: Path, wanted: dict[str, str], *, offline: bool, what: str) -> None:
    """A yanked release resolves only by name: lock a sibling, then move to it precisely
    (cargo allows --precise onto a yanked version)."""
    versions = set(wanted.values())
    if len(versions) != 1:
        raise SourceError(
            f"{what}: a yanked release among crates of several versions", hint=_DOWNLOAD_HINT
        )
    manifest = project / "Cargo.toml"
    _write_download_manifest(project, {n: _tilde(v) for n, v in wanted.items()})
    (project / "Cargo.lock").unlink(missing_ok=True)
    run(["generate-lockfile", "--manifest-path", manifest], offline=offline, what=what, sealed=True)
    names = [arg for name in wanted for arg in ("-p", name)]
    run(
        ["update", "--manifest-path", manifest, *names, "--precise", versions.pop()],
        offline=offline,
        what=what,
        sealed=True,
    )


def _tilde(version: str) -> str:
    major, minor, *_ = version.split(".")
    return f"~{major}.{minor}.0"


def _write_download_manifest(project: Path, requirements: dict[str, str]) -> None:
    deps = "\n".join(
        f'{name} = {{ version = "{req}", default-features = false }}'
        for name, req in sorted(requirements.items())
    )
    (project / "Cargo.toml").write_text(
        '[package]\nname = "patcher-download"\nversion = "0.0.0"\nedition = "2021"\n'
        'publish = false\n\n[lib]\npath = "lib.rs"\n\n[dependencies]\n' + deps + "\n",
        encoding="utf-8",
    )
    (project / "lib.rs").write_text("", encoding="utf-8")
