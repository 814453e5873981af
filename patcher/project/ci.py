"""CI mode (`patcher env --ci`): the vendored trees where a CI cache keeps their build, seen by
the project's own builds and by nothing else.

In a CI job the vendored trees of a fresh checkout defeat a restored target/: cargo judges a
path package by its files' mtimes, and a fresh checkout gives every file the current time, so
each vendored crate looks newer than its cached build.

So CI mode copies each vendored tree, after checking it against pyo3-patcher.lock, into a
folder the CI runner owns outside the checkout (`<ci-dir>/pyo3-patcher-ci/<crate>-<version>-
<digest>`; `<ci-dir>` is `$RUNNER_TEMP` on GitHub Actions, the same path in every job), gives
every file one fixed mtime, and hands the project's builds cargo `--config` values naming the
copies, through `MATURIN_PEP517_ARGS`: maturin's PEP 517 backend appends that variable to its
build command and passes `--config` on to cargo, where a config `[patch]` entry outranks the
manifest's for the same crate (cargo #9839). It works with `--locked` and leaves Cargo.lock as
it is (a path source carries no path in the lock).

No file that cargo reads as configuration is written anywhere. An earlier design wrote the
`[patch]` table into `<parent>/.cargo/config.toml`, which cargo applies to every workspace
below `<parent>`: another workspace of the checkout got `[[patch.unused]]` in its Cargo.lock
and failed `--locked`, and a sibling project silently compiled our copies. Here only builds
through maturin's PEP 517 backend that carry the exported environment see the copies.

The copies' folder names carry their content digest: a tree whose content changes at the same
version (a new patch variant, an edit) is a new path, so a new package to cargo, never a stale
build. Two projects whose trees are the same share the copies.

Swatinem/rust-cache keeps, before it saves target/, only the artifacts of packages that its own
`cargo metadata` (run in the workspace root, with the job's environment) finds outside the
workspace root, by name. That run sees the manifest's `[patch]`, the in-repo trees, and so drops
the copies' build. `patcher env --ci --end-of-job`, the job's last step, hands rust-cache's post
step a cargo home of our own (`CARGO_HOME` in $GITHUB_ENV): links to every entry of the real
one, and a config that adds the `[patch]` table naming the copies. No build runs after it, and
$GITHUB_ENV ends with the job, so no other build ever reads that table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from patcher import git, trees, ui
from patcher.errors import ProjectError
from patcher.project import vendor
from patcher.project.discovery import Project
from patcher.project.record import Record
from patcher.upstreams.names import PYO3_CRATES

MIRROR_DIR = "pyo3-patcher-ci"
CACHE_HOME = "cargo-home"  # the end-of-job cargo home, inside MIRROR_DIR
# not linked into it: its own config replaces the first two; rust-cache deletes the credentials
# before saving, which through a link would leave the real file in place
_NOT_LINKED = frozenset({"config", "config.toml", "credentials", "credentials.toml"})
MIRROR_MARKER = ".pyo3-patcher-ci-dir"
ARGS_VAR = "MATURIN_PEP517_ARGS"
# Any fixed time older than every build will do; the same in every job is what matters. One
# file per crate (its Cargo.toml) is a second newer, so that "the newest file of the package",
# which cargo records for a build script without rerun-if-changed lines, is one file whatever
# order the file system lists them in.
FIXED_MTIME = 946_684_800  # 2000-01-01T00:00:00Z
_NEWEST = "Cargo.toml"
_HINT_DIR = (
    "CI mode copies the vendored trees into a folder the CI runner owns, outside the checkout "
    "($RUNNER_TEMP on GitHub Actions); name one with --ci-dir DIR, or build from the "
    "checkout's trees with --no-ci"
)


@dataclasses.dataclass(frozen=True)
class Mirror:
    """Where CI mode puts the copies, and which crate is where."""

    folder: Path  # <ci-dir>/pyo3-patcher-ci
    trees: dict[str, Path]  # crate -> its copy

    def cargo_configs(self) -> list[str]:
        """cargo `--config` values that point the crates at the copies."""
        return [
            f"patch.crates-io.{crate}.path={_toml_string(str(path))}"
            for crate, path in sorted(self.trees.items())
        ]


def checkout_top(project: Project) -> Path:
    """The top of what CI checks out: the git work tree, else the workspace root."""
    return git.work_tree_of(project.workspace_root) or project.workspace_root


def _checkouts(project: Project, checkout: Path | None, environ: Mapping[str, str]) -> list[Path]:
    """Every folder the copies must stay out of: the workspace, its git work tree and those of
    superprojects (a submodule's checkout lies in another), and the runner's workspace."""
    found = [project.workspace_root, project.directory]
    if checkout is not None:
        found.append(checkout)
    else:
        top = git.work_tree_of(project.workspace_root)
        while top is not None:
            found.append(top)
            top = git.work_tree_of(top.parent) if top.parent != top else None
    if environ.get("GITHUB_WORKSPACE"):
        found.append(Path(environ["GITHUB_WORKSPACE"]))
    return found


def choose_dir(
    project: Project,
    *,
    explicit: Path | None,
    environ: Mapping[str, str],
    checkout: Path | None = None,
) -> Path:
    """The folder CI mode writes into (its `pyo3-patcher-ci/` subfolder only): the one named,
    else the runner's temporary folder on GitHub Actions. Refuses, saying which and why, a
    machine that is not a CI runner when none is named, and always the file system's root,
    the home folder, the cargo home, a folder inside the checkout, and links."""
    if explicit is None:
        if environ.get("GITHUB_ACTIONS") != "true":
            raise ProjectError(
                "CI mode refused: this is not a CI runner (GITHUB_ACTIONS is not `true`), and "
                "writing outside the project on a developer's machine would outlive the build",
                hint=_HINT_DIR,
            )
        temp = environ.get("RUNNER_TEMP", "")
        if not temp:
            raise ProjectError(
                "CI mode refused: GITHUB_ACTIONS is set but RUNNER_TEMP is not, so there is no "
                "runner-owned folder to write into",
                hint=_HINT_DIR,
            )
        folder, named = Path(temp), "$RUNNER_TEMP"
    else:
        folder, named = Path(explicit), "--ci-dir"
    folder = Path.cwd() / folder  # absolute, links not followed: they are checked below

    def refuse(why: str) -> ProjectError:
        return ProjectError(f"CI mode refused {named} {folder}: {why}", hint=_HINT_DIR)

    for part in (folder, *folder.parents):
        if part.is_symlink():
            raise refuse(f"{part} is a symbolic link (a write through it lands elsewhere)")
    if not folder.is_dir():
        raise refuse("it is not an existing folder")
    real = Path(os.path.realpath(folder))
    if real == Path(real.anchor):
        raise refuse("it is the file system's root")
    if real == Path(os.path.realpath(Path.home())):
        raise refuse("it is the home folder")
    cargo_home = Path(os.path.realpath(environ.get("CARGO_HOME") or Path.home() / ".cargo"))
    if real == cargo_home or cargo_home in real.parents:
        raise refuse("it is in the cargo home")
    for top in _checkouts(project, checkout, environ):
        top_real = Path(os.path.realpath(top))
        if real == top_real or top_real in real.parents:
            raise refuse(f"it lies inside the checkout {top}, whose files CI mode never touches")
    return folder


def plan(rec: Record, ci_dir: Path) -> Mirror:
    folder = ci_dir / MIRROR_DIR
    copies = {
        crate: folder / f"{crate}-{rec.pyo3_version}-{rec.digests[crate][:16]}"
        for crate in rec.crates
    }
    return Mirror(folder, copies)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_accepted_copy(path: Path, tree: Path | None) -> bool:
    """Whether the package cargo found at `path` counts as the vendored `tree`: CI mode's copies
    are byte for byte the tree's regular files, and nothing else (a link or an extra file in
    the copy, which file_digests does not see or does not read, is a difference)."""
    if tree is None or path.is_symlink() or not path.is_dir() or not tree.is_dir():
        return False
    files = trees.file_digests(tree)
    return trees.file_digests(path) == files and not trees.strays(path, files)


def _ours(token: str) -> bool:
    """A `--config` value CI mode wrote (on an earlier call of this job)."""
    key, _, value = token.partition("=")
    parts = key.split(".")
    return (
        len(parts) == 4
        and parts[:2] == ["patch", "crates-io"]
        and parts[2] in PYO3_CRATES
        and parts[3] == "path"
        and MIRROR_DIR in value
    )


def named_copies(configs: Iterable[str]) -> set[Path]:
    """The copies that `--config` values of CI mode's (as `patcher env --ci` printed them into
    MATURIN_PEP517_ARGS) name."""
    named = set()
    for token in configs:
        if _ours(token):
            value = token.partition("=")[2].strip()
            try:
                path = tomlkit.parse(f"v = {value}\n")["v"]
            except (TOMLKitError, ValueError):
                continue
            if isinstance(path, str):
                named.add(Path(path).resolve())
    return named


def environment(mirror: Mirror, environ: Mapping[str, str]) -> dict[str, str]:
    """`MATURIN_PEP517_ARGS` with the copies' `--config` values after the user's own arguments
    (the ones an earlier `patcher env --ci` added are replaced, not repeated). Refuses when the
    environment already points the crates at other copies: one variable cannot serve two
    projects whose trees differ."""
    kept: list[str] = []
    theirs: list[str] = []
    tokens = shlex.split(environ.get(ARGS_VAR, ""))
    i = 0
    while i < len(tokens):
        if tokens[i] == "--config" and i + 1 < len(tokens) and _ours(tokens[i + 1]):
            theirs.append(tokens[i + 1])
            i += 2
            continue
        kept.append(tokens[i])
        i += 1
    mine = mirror.cargo_configs()
    crates = {value.split(".")[2] for value in mine}
    if any(v.split(".")[2] in crates and v not in mine for v in theirs):
        raise ProjectError(
            f"{ARGS_VAR} already points pyo3's crates at other copies (another project's "
            "`patcher env --ci` in this job, with other trees)",
            hint="run `patcher env --ci --format shell` in each project's build step rather "
            "than exporting both to $GITHUB_ENV, or patch both projects alike",
        )
    for value in mine:
        kept += ["--config", value]
    return {ARGS_VAR: shlex.join(kept)}


def end_of_job_home(mirror: Mirror, environ: Mapping[str, str]) -> dict[str, str]:
    """The cargo home for rust-cache's post step (see the module's docstring): made afresh in
    the CI folder; returns `CARGO_HOME` naming it."""
    real = Path(environ.get("CARGO_HOME") or Path.home() / ".cargo")
    real = Path.cwd() / real
    config = tomlkit.document()
    for name in ("config.toml", "config"):  # cargo reads `config` when there is no .toml
        if (real / name).is_file():
            config = tomlkit.parse((real / name).read_text(encoding="utf-8"))
            break
    patch = config.setdefault("patch", tomlkit.table(is_super_table=True))
    crates_io = patch.setdefault("crates-io", tomlkit.table())
    for crate, path in sorted(mirror.trees.items()):
        value = tomlkit.inline_table()
        value["path"] = str(path)
        crates_io[crate] = value
    home = mirror.folder / CACHE_HOME
    tmp = mirror.folder / f".tmp-{CACHE_HOME}-{os.getpid()}"
    for old in (tmp, home):
        if old.is_symlink() or old.is_file():
            old.unlink()
        elif old.exists():
            shutil.rmtree(old)  # only links and our config: rmtree does not follow links
    tmp.mkdir()
    try:
        for entry in sorted(real.iterdir()) if real.is_dir() else []:
            if entry.name not in _NOT_LINKED:
                (tmp / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    except OSError as exc:  # Windows without the right to make links
        shutil.rmtree(tmp)
        raise ProjectError(
            f"cannot link {real}'s entries into {home}: {exc}",
            hint="leave out the end-of-job step here: rust-cache then drops the copies' build "
            "(a plain actions/cache of target/ keeps it)",
        ) from exc
    (tmp / "config.toml").write_text(
        "# Written by pyo3-patcher (`patcher env --ci --end-of-job`) for rust-cache's post "
        "step: the job's builds are over.\n" + tomlkit.dumps(config),
        encoding="utf-8",
    )
    os.replace(tmp, home)
    return {"CARGO_HOME": str(home)}


# What CI mode wrote beside the checkout before it was confined: a `[patch]` table in
# `<parent>/.cargo/config.toml` that every later cargo run below `<parent>` would still apply
# on a runner that keeps its folders. Removed where found, only with this first line.
_OLD_CONFIG_HEAD = "# Written by pyo3-patcher (`patcher env --ci`)."
_OLD_MIRROR = (".pyo3-patcher-ci", ".pyo3-patcher-ci-dir")  # the folder and its marker file


def _remove_old_layout(top: Path) -> None:
    config = top.parent / ".cargo" / "config.toml"
    try:
        ours = not config.is_symlink() and config.read_bytes().startswith(_OLD_CONFIG_HEAD.encode())
    except OSError:
        ours = False
    if ours:
        config.unlink()
        ui.warn(f"removed {config}: an earlier patcher's CI mode wrote it (it patched every build)")
        with contextlib.suppress(OSError):
            config.parent.rmdir()  # only when empty
    folder = top.parent / _OLD_MIRROR[0]
    if not folder.is_symlink() and (folder / _OLD_MIRROR[1]).is_file():
        shutil.rmtree(folder)


def _refuse_foreign(mirror: Mirror) -> None:
    """Refuse, before writing anything, what is not ours in our own subfolder."""
    if mirror.folder.is_symlink():
        raise ProjectError(f"{mirror.folder} is a symbolic link: not ours to write", hint=_HINT_DIR)
    if mirror.folder.exists() and not (mirror.folder / MIRROR_MARKER).is_file():
        raise ProjectError(
            f"{mirror.folder} exists and patcher did not make it",
            hint=f"move it away; {_HINT_DIR}",
        )


def materialize(
    project: Project,
    rec: Record,
    *,
    explicit: Path | None = None,
    environ: Mapping[str, str] | None = None,
    checkout: Path | None = None,
) -> Mirror:
    """Copy the vendored trees into the CI folder with fixed mtimes (a copy already there with
    the right content and mtimes is kept as it is). `checkout` names the checkout's top where
    the caller knows it (doctor's scratch layout); otherwise it is the git work tree."""
    env = os.environ if environ is None else environ
    checked = {}
    for crate in rec.crates:
        tree = project.fence.check(rec.tree_rel(crate), what="vendored folder")
        found = trees.file_digests(tree) if tree.is_dir() else None
        if found is None or trees.tree_digest(found) != rec.digests[crate]:
            raise ProjectError(
                f"{rec.tree_rel(crate)} is not the tree pyo3-patcher.lock records",
                hint="run `patcher verify` to see what differs, then `patcher apply`",
            )
        # links (to folders too) and files the digest leaves out: never copied out
        files = {k: v for k, v in found.items() if not v.startswith("symlink:")}
        strays = trees.strays(tree, files)
        if strays:
            raise ProjectError(
                f"{rec.tree_rel(crate)} holds more than regular files: {', '.join(strays)}",
                hint="run `patcher verify` to see what differs, then `patcher apply`",
            )
        checked[crate] = tree
    mirror = plan(rec, choose_dir(project, explicit=explicit, environ=env, checkout=checkout))
    _refuse_foreign(mirror)
    _remove_old_layout(checkout or checkout_top(project))
    mirror.folder.mkdir(exist_ok=True)
    (mirror.folder / MIRROR_MARKER).write_text(
        "pyo3-patcher: copies of vendored trees made by `patcher env --ci`\n", encoding="utf-8"
    )
    for crate, copy in mirror.trees.items():
        if copy.is_dir() and not copy.is_symlink() and _fixed(copy, rec.digests[crate]):
            continue
        tmp = mirror.folder / f".tmp-{copy.name}-{os.getpid()}"
        _remove_ours(tmp)
        _remove_ours(copy)
        trees.copy_tree(checked[crate], tmp)
        pin_mtimes(tmp)
        os.replace(tmp, copy)
    ui.say(
        f"CI mode: the project's maturin builds use {len(mirror.trees)} copies of the vendored "
        f"trees in {mirror.folder} ({ARGS_VAR})"
    )
    return mirror


def _pinned_files(root: Path, base: int = FIXED_MTIME) -> Iterator[tuple[str, int]]:
    """Every file below `root` (links aside) with the mtime CI mode gives it: `base`, and the
    crate's manifest a second later."""
    folders = [os.fspath(root)]
    while folders:
        folder = folders.pop()
        with os.scandir(folder) as listing:
            for entry in listing:
                if entry.is_symlink():
                    continue
                if entry.is_dir():
                    folders.append(entry.path)
                else:
                    top = entry.name == _NEWEST and folder == os.fspath(root)
                    yield entry.path, base + (1 if top else 0)


def pin_mtimes(root: Path, base: int = FIXED_MTIME) -> None:
    """Every file and folder below `root` to its pinned mtime."""
    for path, stamp in _pinned_files(root, base):
        os.utime(path, (stamp, stamp), follow_symlinks=False)
    for dirpath, _dirnames, _filenames in os.walk(root):
        os.utime(dirpath, (base, base))


def _fixed(copy: Path, digest: str) -> bool:
    """The copy has the recorded content and pinned mtimes (checked on every file)."""
    if any(int(Path(path).stat().st_mtime) != stamp for path, stamp in _pinned_files(copy)):
        return False
    return trees.digest_of(copy) == digest


def _remove_ours(path: Path) -> None:
    """Delete a tree copy we made (it carries the vendored-tree marker); anything else stays,
    and is an error."""
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir() or not (path / vendor.MARKER).is_file():
        raise ProjectError(
            f"{path} is in the way and patcher did not make it",
            hint=f"move it out of {path.parent}, then run `patcher env --ci` again",
        )
    shutil.rmtree(path)


# The in-repo trees, for builds that read them (maturin-action's `maturin build`, `cargo test`): a
# fresh checkout gives them the current time, newer than any cached build, so cargo rebuilds them
# in every job. One fixed time would keep them fresh, but cargo compares mtimes only: a tree whose
# content changed at the same path and version (a new variant, an edit) would look fresh too and
# the stale build would be used. A time derived from the content does not help either: any time
# older than the cached build is "fresh", and only the build-script units (compared for equality)
# would notice; pyo3-build-config, -macros and -macros-backend 0.29 have no build script.
#
# So the target dir holds a stamp per crate: which content its build was made from, and the time
# the tree was given then: `<target>/pyo3-patcher/.fingerprint/<crate>-<digest16>/stamp` holds that
# time (a folder, as cargo's own fingerprints are, for tools that walk them). Same digest: the tree
# gets that time again, older than every build made from it since, so they are fresh. Another
# digest (or no stamp): the tree gets the time of now, newer than every build the target dir holds,
# which cargo therefore rebuilds; the stamp is replaced. Whatever the target dir holds that was
# built before the stamp's time is thus older than the tree, and rebuilt. The folder has the shape
# rust-cache's cleaning treats as a profile (`.fingerprint/` entries named `<package>-<hash>`), so
# it keeps a crate's stamp exactly when it keeps that crate's build (the end-of-job step), and a
# plain cache of target/ keeps it all.
STAMP_DIR = "pyo3-patcher"
STAMP_FILE = "stamp"


def target_dir(project: Project, environ: Mapping[str, str]) -> Path:
    """The target dir cargo uses for the workspace: CARGO_TARGET_DIR (relative to the current
    folder, as cargo reads it), else `<workspace root>/target` (a `build.target-dir` in a
    config file is not read here)."""
    named = environ.get("CARGO_TARGET_DIR")
    return Path.cwd() / named if named else project.workspace_root / "target"


def pin_in_repo(
    project: Project,
    rec: Record,
    *,
    environ: Mapping[str, str] | None = None,
    hashed: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, bool]:
    """Give the in-repo vendored trees the mtimes their stamp in the target dir asks for (see
    above); returns, per crate, whether its cached build (if any) is reused (True) or is to be
    rebuilt (False). Refuses a tree that is not the one pyo3-patcher.lock records. `hashed`:
    each tree's file digests where the caller (verify) has just computed them."""
    env = os.environ if environ is None else environ
    target = target_dir(project, env)
    stamps = target / STAMP_DIR / ".fingerprint"
    for part in (stamps, *stamps.parents):
        if part.is_symlink():
            raise ProjectError(
                f"the stamp folder {stamps} lies through a symbolic link ({part})",
                hint="build without --pin-mtimes here, or name the real folder in CARGO_TARGET_DIR",
            )
    # Whole seconds (tar may keep no more of the dep-info's mtime, which cargo sets to when the
    # compilation started), not after now: a later build's dep-info is not older. The manifest
    # a second later may lie in the future: it is in no dep-info of pyo3's crates, and counts
    # only in the build scripts' fingerprint, compared for equality.
    now = int(time.time())
    reused = {}
    for crate in rec.crates:
        tree = project.fence.check(rec.tree_rel(crate), what="vendored folder")
        files = hashed.get(crate) if hashed is not None else None
        if tree.is_symlink() or not tree.is_dir():
            digest = None
        else:
            digest = trees.tree_digest(dict(files)) if files is not None else trees.digest_of(tree)
        if digest != rec.digests[crate]:
            raise ProjectError(
                f"{rec.tree_rel(crate)} is not the tree pyo3-patcher.lock records",
                hint="run `patcher verify` to see what differs, then `patcher apply`",
            )
        mine = stamps / f"{crate}-{rec.digests[crate][:16]}"
        base = _stamped_time(mine)
        reused[crate] = base is not None
        if base is None:
            base = now
            stamps.mkdir(parents=True, exist_ok=True)
            for old in stamps.iterdir():
                if re.fullmatch(re.escape(crate) + r"-[0-9a-f]{16}", old.name):
                    _remove_stamp(old)
            tmp = stamps / f".tmp-{mine.name}-{os.getpid()}"
            _remove_stamp(tmp)
            tmp.mkdir()
            (tmp / STAMP_FILE).write_text(f"{base}\n", encoding="ascii")
            os.replace(tmp, mine)
        pin_mtimes(tree, base)
    return reused


def _stamped_time(stamp: Path) -> int | None:
    file = stamp / STAMP_FILE
    if stamp.is_symlink() or file.is_symlink() or not file.is_file():
        return None
    text = file.read_text(encoding="ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


def _remove_stamp(path: Path) -> None:
    """A stamp folder (an older stamp's file, or anything else by that name, goes too)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
