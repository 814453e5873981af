"""Where a pinned release's files come from, for any upstream, and what vouches for them.

The one source-and-cache protocol of both upstreams (`pristine`): the pinned commit from git,
else (or, by choice, only) the crates published from it on crates.io. The cache holds only
what a trust anchor can check again each time it is used, since the cache is shared between
CI runs and anyone who wrote to it could have changed an entry and its recorded digest alike:

* git: a bare mirror per URL. Before every use its config is rewritten by us and its hooks,
  alternates, grafts and attribute files are removed (git would run or follow them); `git
  fsck` re-hashes every object, so the tree exported for the pinned commit id is exactly what
  the id names. The tag must point where the pin says.
* crates.io: the `.crate` files, each checked against the crates.io checksum of the exact
  version (the pin's `crates` table, shipped with patcher; for a release pinned without one,
  the registry's sparse index read over HTTPS), whether cargo just downloaded it or it sat in
  our cache or cargo's. Each one's `.cargo_vcs_info.json` must name the pinned commit.

Everything made from those (pristine trees, patched trees, vendored trees) is derived again
in a scratch folder of this process, never taken from the cache.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from patcher import cache, cargo, git, trees, ui
from patcher.errors import ExternalError, SourceError
from patcher.upstreams.pins import Pin

_UNVERIFIED = "the registry copy cannot be shown to come from the pinned commit; use the git source"
INDEX_URL = "https://index.crates.io"
_TIMEOUT_S = 60
_scratch_root: list[Path] = []  # made on first use


def scratch(name: str) -> Path:
    """A fresh, not yet existing path in this process's own scratch folder (removed at exit)
    for what is derived from anchored sources."""
    if not _scratch_root:
        _scratch_root.append(Path(tempfile.mkdtemp(prefix="patcher-derived-")))
        atexit.register(shutil.rmtree, _scratch_root[0], True)
    return Path(tempfile.mkdtemp(prefix=f"{name}.", dir=_scratch_root[0])) / name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def https_get(url: str, *, what: str, accept: str | None = None) -> bytes:
    """GET over HTTPS (the certificate checked), or SourceError naming `what`."""
    if not url.startswith("https://"):
        raise SourceError(f"refusing to fetch {what} over {url.partition(':')[0]}", hint=url)
    # imported here: urllib.request brings http.client and ssl (60 ms), and a warm command
    # fetches nothing (the pins carry the registries' digests)
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SourceError(
            f"cannot read {what} from {url}: {exc}",
            hint="check the network (patcher checks what it downloads against it)",
        ) from exc


# --- the one fallback routine ---------------------------------------------------------------


def pristine(
    pin: Pin,
    *,
    source: str,
    url: str,
    offline: bool,
    from_git: Callable[[Path, Path], None],
    from_registry: Callable[[Path], None],
) -> tuple[Path, str]:
    """The pinned release's files, made by `from_git(exported commit, dest)` or
    `from_registry(dest)` into a scratch folder; returns it and the origin ("git" or
    "crates.io"). `source` "auto" tries git, then crates.io (saying so); "git" and
    "crates.io" try only that one."""
    what = f"{pin.upstream} {pin.version} ({pin.commit[:12]})"
    if source in ("auto", "git"):
        dest = scratch(f"{pin.upstream}-{pin.version}-git")
        try:
            with tempfile.TemporaryDirectory(prefix="patcher-checkout-") as tmp:
                git_tree(pin, url, Path(tmp) / "src", offline=offline)
                from_git(Path(tmp) / "src", dest)
            ui.say(f"{what}: source is git {url} @ {pin.commit[:12]}, objects checked")
            return dest, "git"
        except (SourceError, ExternalError) as exc:
            if source == "git":
                raise
            ui.warn(
                f"git source unavailable ({exc.message}); "
                "FALLING BACK to the published crates on crates.io"
            )
    dest = scratch(f"{pin.upstream}-{pin.version}-cratesio")
    from_registry(dest)
    ui.say(f"{what}: source is crates.io (checksums and commit {pin.commit[:12]} checked)")
    return dest, "crates.io"


# --- git -------------------------------------------------------------------------------------


def git_tree(pin: Pin, url: str, dest: Path, *, offline: bool = False) -> None:
    """The files of the pinned commit, re-read from the objects of a bare mirror of `url` in
    the cache (fetched shallowly, tag checked, when the commit is not there yet), every
    object re-hashed first."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    repo_dir = cache.root() / "git" / f"{pin.upstream}-{key}.git"
    with cache.exclusive(repo_dir), cache.tool_writing(repo_dir):
        if not git.has_commit(repo_dir, pin.commit):
            if offline:
                raise SourceError(
                    f"{pin.upstream} {pin.version} ({pin.commit[:12]}) is not in the git cache "
                    "and --offline was given",
                    hint=f"run once without --offline to fill the cache at {cache.root()}",
                )
            git.fetch_pinned(
                repo_dir,
                url,
                tag=pin.tag,
                commit=pin.commit,
                expected_tag_commit=pin.expected_tag_commit,
            )
        git.check_objects(repo_dir, pin.commit)
        git.export_tree(repo_dir, pin.commit, dest)


# --- crates.io -------------------------------------------------------------------------------


def _index_path(name: str) -> str:
    name = name.lower()
    if len(name) <= 2:
        return f"{len(name)}/{name}"
    if len(name) == 3:
        return f"3/{name[0]}/{name}"
    return f"{name[:2]}/{name[2:4]}/{name}"


def registry_checksums(pin: Pin, names: Iterable[str], *, offline: bool) -> dict[str, str]:
    """The crates.io checksum of each crate `names` at `pin.version`: from the pin (shipped
    with patcher), else from the registry's sparse index over HTTPS (as cargo reads it)."""
    found = {}
    for name in names:
        if name in pin.crates:
            found[name] = pin.crates[name]
            continue
        if offline:
            raise SourceError(
                f"the pin of {pin.upstream} {pin.version} records no crates.io checksum for "
                f"{name}, and --offline was given: nothing could vouch for the crate",
                hint="run without --offline (the checksum is read from index.crates.io), or "
                "let maintainers record it with `patcher refresh --upstream`",
            )
        entries = https_get(f"{INDEX_URL}/{_index_path(name)}", what=f"the index entry of {name}")
        for line in entries.decode("utf-8", "replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("vers") == pin.version:
                found[name] = str(entry.get("cksum", ""))
        if name not in found:
            raise SourceError(
                f"crates.io's index lists no {name} {pin.version}",
                hint="check the release; patcher uses only published crates it can check",
            )
    return found


def listed_checksums(pin: Pin, names: Iterable[str]) -> dict[str, str]:
    """For pinning a release: the checksums the registry index lists of the crates `names`
    (those it does not list, or cannot be read, are left out: their registry source is then
    checked against the index when it is used)."""
    found = {}
    for name in names:
        try:
            found.update(registry_checksums(pin, (name,), offline=False))
        except SourceError as exc:
            ui.say(f"note: no crates.io checksum recorded for {name} {pin.version}: {exc.message}")
    return found


def _crate_entry(name: str, version: str) -> Path:
    return cache.root() / "crates" / f"{name}-{version}"


def _cached_crate(entry: Path, file_name: str, checksum: str) -> Path | None:
    crate = entry / file_name
    if entry.is_symlink() or crate.is_symlink() or not crate.is_file():
        return None
    return crate if sha256_of(crate) == checksum else None


def anchored_crates(pin: Pin, names: Iterable[str], *, offline: bool) -> dict[str, Path]:
    """The `.crate` file of each crate `names` of `pin` in our cache, each hashing to its
    crates.io checksum; fetched through cargo (which may take it from its own cache, checked
    here all the same) when ours is missing or does not match."""
    names = tuple(names)
    sums = registry_checksums(pin, names, offline=offline)
    found: dict[str, Path] = {}
    for name in names:
        entry = _crate_entry(name, pin.version)
        with cache.exclusive(entry):
            crate = _cached_crate(entry, f"{name}-{pin.version}.crate", sums[name])
            if crate is None:
                if os.path.lexists(entry):
                    cache.discard(entry, "does not match the crates.io checksum")
                crate = _download(pin, name, sums[name], entry, offline=offline)
        found[name] = crate
    return found


def _download(pin: Pin, name: str, checksum: str, entry: Path, *, offline: bool) -> Path:
    file_name = f"{name}-{pin.version}.crate"
    try:
        extracted = cargo.download_crates({name: pin.version}, offline=offline)[name]
    except ExternalError as exc:
        if not offline:
            raise
        raise SourceError(
            f"{name} {pin.version} is not in the cache (patcher's or cargo's) and --offline "
            "was given",
            hint=f"run once without --offline to fill the cache at {cache.root()}",
        ) from exc
    # cargo's own layout: registry/src/<index>/<crate>, registry/cache/<index>/<crate>.crate
    downloaded = extracted.parent.parent.parent / "cache" / extracted.parent.name / file_name
    if not downloaded.is_file() or sha256_of(downloaded) != checksum:
        raise SourceError(
            f"{file_name} in cargo's cache ({downloaded}) does not match the crates.io "
            f"checksum {checksum[:16]}...",
            hint="cargo's cache (CARGO_HOME) holds a crate that is not the published one: "
            "delete that file (cargo fetches it again), then run patcher again",
        )
    with cache.building(entry) as tmp:
        shutil.copyfile(downloaded, tmp / file_name)
    crate = _cached_crate(entry, file_name, checksum)
    return cache.made(crate, entry)


def vcs_info(crate_dir: Path) -> dict[str, object]:
    """What a published crate says of where it came from (its `.cargo_vcs_info.json`)."""
    try:
        info = json.loads((crate_dir / ".cargo_vcs_info.json").read_text(encoding="utf-8"))
        git_info = info["git"]
        return {
            "sha1": str(git_info["sha1"]),
            "dirty": bool(git_info.get("dirty", False)),
            "path_in_vcs": str(info.get("path_in_vcs", "")),
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(
            f"published crate {crate_dir.name} carries no readable .cargo_vcs_info.json",
            hint=_UNVERIFIED,
        ) from exc


def published_crates(
    pin: Pin, names: Iterable[str], dest: Path, *, offline: bool = False
) -> dict[str, tuple[Path, str]]:
    """The crates `names` of release `pin`, unpacked from their checked `.crate` files into
    `dest/<name>`, each verified to be published from the pinned commit: name -> (its
    directory, its path in the repository).

    pyo3 0.23.0's crates were published from two commits (the release, and the docs fix-up
    its tag points at); both are pinned, and either is accepted."""
    found = {}
    for name, crate in anchored_crates(pin, names, offline=offline).items():
        with tempfile.TemporaryDirectory(prefix="patcher-unpack-") as tmp:
            trees.safe_extract(crate, Path(tmp), allow_links=False)
            unpacked = Path(tmp) / f"{name}-{pin.version}"
            if not unpacked.is_dir():
                raise SourceError(f"{crate.name} does not hold {unpacked.name}/", hint=_UNVERIFIED)
            dest.mkdir(parents=True, exist_ok=True)
            shutil.move(str(unpacked), str(dest / name))
        info = vcs_info(dest / name)
        if info["sha1"] not in {pin.commit, pin.tag_commit} or info["dirty"]:
            dirty = " (dirty)" if info["dirty"] else ""
            raise SourceError(
                f"published crate {name} {pin.version} was built from {info['sha1']}{dirty}, "
                f"but the pin says {pin.commit}",
                hint="the registry copy does not match the pinned commit; refusing to use it",
            )
        found[name] = (dest / name, str(info["path_in_vcs"]))
    return found


def published_commit(crate: str, version: str) -> str | None:
    """The commit the crate `crate` `version` was published from; None if it is not
    published (or says nothing). For pinning a new release: what the pin will then anchor."""
    try:
        directory = cargo.download_crates({crate: version})[crate]
        return str(vcs_info(directory)["sha1"])
    except (SourceError, ExternalError):
        return None
