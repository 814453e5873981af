"""Pristine upstream crates for a pin: from git (default) or from crates.io (fallback).

Both paths end in the same cache layout, one standalone crate directory per crate, as cargo
would accept it as a path dependency:

    <cache>/pristine/pyo3-<version>-<commit12>/<crate-name>/...
    <cache>/pristine/pyo3-<version>-<commit12>/source.json

From git, the pinned commit is fetched shallowly and each crate is made standalone with
`cargo package` (pyo3 0.26+ members inherit from the workspace manifest, so a member copied
alone out of a checkout does not load). From crates.io, cargo downloads the published crates
(checking the registry checksums) and each crate's `.cargo_vcs_info.json` must name the
pinned commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from patcher import cache, cargo, git, trees
from patcher.errors import PatcherError, SourceError
from patcher.pins import Pin

PYO3_CRATES = ("pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros", "pyo3-macros-backend")
DEFAULT_URLS = {
    "pyo3": "https://github.com/PyO3/pyo3.git",
    "maturin": "https://github.com/PyO3/maturin.git",
}
SOURCE_CHOICES = ("auto", "git", "crates.io")


@dataclasses.dataclass(frozen=True)
class Crate:
    name: str
    version: str
    path_in_vcs: str  # "" for the crate at the repository root
    directory: Path


@dataclasses.dataclass(frozen=True)
class PristineSource:
    pin: Pin
    origin: str  # "git" or "crates.io"
    url: str
    crates: tuple[Crate, ...]

    def crate(self, name: str) -> Crate:
        for crate in self.crates:
            if crate.name == name:
                return crate
        raise PatcherError(f"{self.pin.upstream} {self.pin.version} has no crate {name}")


def upstream_url(upstream: str, configured: str | None = None) -> str:
    """The git URL: PYO3_PATCHER_<UPSTREAM>_URL, then project config, then upstream."""
    env = os.environ.get(f"PYO3_PATCHER_{upstream.upper()}_URL")
    return env or configured or DEFAULT_URLS[upstream]


def _entry_dir(pin: Pin) -> Path:
    return cache.root() / "pristine" / f"{pin.upstream}-{pin.version}-{pin.commit[:12]}"


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def pristine_pyo3(
    pin: Pin, *, source: str = "auto", url: str | None = None, offline: bool = False
) -> PristineSource:
    """The five pyo3 crates of `pin`, from the cache or fetched now (and verified)."""
    entry = _entry_dir(pin)
    url = url or upstream_url(pin.upstream)
    with cache.locked(entry):
        cached = _load_entry(pin, entry, url)
        if cached is not None:
            return cached
        if offline:
            raise SourceError(
                f"pyo3 {pin.version} ({pin.commit[:12]}) is not in the cache and --offline "
                "was given",
                hint=f"run once without --offline to fill the cache at {cache.root()}",
            )
        errors: list[str] = []
        if source in ("auto", "git"):
            try:
                with cache.building(entry) as tmp:
                    _from_git(pin, url, tmp)
                _say(f"pyo3 {pin.version}: source is git {url} @ {pin.commit[:12]}")
                return _load_entry(pin, entry, url, must=True)  # type: ignore[return-value]
            except SourceError as exc:
                if source == "git":
                    raise
                errors.append(exc.message)
                _say(
                    f"warning: git source unavailable ({exc.message}); "
                    "FALLING BACK to the published crates on crates.io"
                )
        with cache.building(entry) as tmp:
            _from_registry(pin, tmp)
        _say(
            f"pyo3 {pin.version}: source is crates.io "
            f"(published crates, verified {pin.commit[:12]})"
        )
        return _load_entry(pin, entry, url, must=True)  # type: ignore[return-value]


def _load_entry(pin: Pin, entry: Path, url: str, must: bool = False) -> PristineSource | None:
    """The cached entry, if whole and matching its digests; a damaged one is discarded."""

    def parse(meta: Any) -> tuple[str, str, dict[str, tuple[str, str]]]:
        listed = {
            str(name): (str(info["path_in_vcs"]), str(info["digest"]))
            for name, info in meta["crates"].items()
        }
        if meta["origin"] not in ("git", "crates.io") or sorted(listed) != sorted(PYO3_CRATES):
            raise ValueError("unexpected origin or crates")
        return str(meta["origin"]), str(meta.get("url", url)), listed

    found = cache.read_entry(entry, "source.json", parse)
    if found is None:
        if must:
            raise SourceError(f"cache entry {entry} is incomplete")
        return None
    origin, meta_url, listed = found
    crates = []
    for name, (path_in_vcs, digest) in sorted(listed.items()):
        directory = entry / name
        if not directory.is_dir() or trees.digest_of(directory) != digest:
            # A cached tree that does not match what we recorded is never used.
            _say(f"warning: cached {name} {pin.version} does not match its digest; fetching again")
            cache.remove(entry)
            return None
        crates.append(Crate(name, pin.version, path_in_vcs, directory))
    return PristineSource(pin=pin, origin=origin, url=meta_url, crates=tuple(crates))


def _write_meta(dest: Path, pin: Pin, origin: str, url: str, paths: dict[str, str]) -> None:
    meta = {
        "upstream": pin.upstream,
        "version": pin.version,
        "commit": pin.commit,
        "origin": origin,
        "url": url,
        "crates": {
            name: {"path_in_vcs": paths[name], "digest": trees.digest_of(dest / name)}
            for name in sorted(paths)
        },
    }
    (dest / "source.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def export_pinned(pin: Pin, url: str, dest: Path) -> None:
    """The files of the pinned commit, from a bare mirror of `url` in the cache (fetched
    shallowly, tag checked, when the commit is not there yet)."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    repo_dir = cache.root() / "git" / f"{pin.upstream}-{key}.git"
    with cache.locked(repo_dir), cache.tool_writing(repo_dir):
        if not git.has_commit(repo_dir, pin.commit):
            git.fetch_pinned(
                repo_dir,
                url,
                tag=pin.tag,
                commit=pin.commit,
                expected_tag_commit=pin.expected_tag_commit,
            )
        git.export_tree(repo_dir, pin.commit, dest)


def _from_git(pin: Pin, url: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="patcher-checkout-") as tmp:
        checkout = Path(tmp) / "src"
        export_pinned(pin, url, checkout)
        members = cargo.workspace_packages(checkout)
        missing = [c for c in PYO3_CRATES if c not in members]
        if missing:
            raise SourceError(f"{url} @ {pin.commit[:12]} has no crates {missing}")
        for name in PYO3_CRATES:
            version = members[name][0]
            if version != pin.version:
                raise SourceError(
                    f"{url} @ {pin.commit[:12]}: {name} has version {version}, "
                    f"the pin says {pin.version}"
                )
        crate_files = cargo.package(checkout, PYO3_CRATES, Path(tmp) / "target")
        paths = {}
        for name, crate_file in crate_files.items():
            trees.safe_extract(crate_file, Path(tmp) / "unpack", allow_links=False)
            shutil.move(str(Path(tmp) / "unpack" / f"{name}-{pin.version}"), str(dest / name))
            manifest_dir = members[name][1].parent
            rel = manifest_dir.relative_to(checkout).as_posix()
            paths[name] = "" if rel == "." else rel
    _write_meta(dest, pin, "git", url, paths)


def _from_registry(pin: Pin, dest: Path) -> None:
    dirs = cargo.download_crates({name: pin.version for name in PYO3_CRATES})
    paths = {}
    for name, src in dirs.items():
        info_file = src / ".cargo_vcs_info.json"
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
            sha = info["git"]["sha1"]
        except (OSError, ValueError, KeyError) as exc:
            raise SourceError(
                f"published crate {name} {pin.version} carries no readable .cargo_vcs_info.json",
                hint="it cannot be verified against the pin; use the git source",
            ) from exc
        # pyo3 0.23.0's crates were published from two commits: the release and the docs
        # fix-up its tag points at; both are pinned.
        if sha not in {pin.commit, pin.tag_commit}:
            raise SourceError(
                f"published crate {name} {pin.version} was built from {sha}, "
                f"but the pin says {pin.commit}",
                hint="the registry copy does not match the pinned commit; refusing to use it",
            )
        trees.copy_tree(src, dest / name)
        paths[name] = str(info.get("path_in_vcs", name))
    _write_meta(dest, pin, "crates.io", "crates.io", paths)
