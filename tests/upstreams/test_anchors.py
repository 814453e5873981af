"""The cache does not vouch for itself (issue 18, class 4): what it holds is used only when a
trust anchor checks it again (the commit id, the crates.io checksum, PyPI's sha256), and a
poisoned entry can neither steer git into running a program nor get its content used."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import git as gitpython
import pytest
from helpers import marker_script, maturin_entry, snapshot

from patcher import cache, git
from patcher.errors import SourceError
from patcher.upstreams import maturin, pins, sources
from patcher.upstreams.pins import Pin


def _upstream(tmp: Path) -> tuple[str, Pin]:
    """A tiny upstream repository with one tagged release, and a pin for it."""
    repo_dir = tmp / "upstream"
    repo = gitpython.Repo.init(repo_dir)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "t")
        cfg.set_value("user", "email", "t@example.invalid")
    (repo_dir / "lib.rs").write_text("// the pinned release\n", encoding="utf-8")
    repo.git.add("-A")
    repo.index.commit("release 1.0.0")
    repo.create_tag("v1.0.0")
    pin = Pin(upstream="demo", version="1.0.0", tag="v1.0.0", commit=repo.head.commit.hexsha)
    return repo_dir.as_uri(), pin


def _mirrored(tmp_path: Path) -> tuple[str, Pin, Path]:
    """The upstream, its release fetched once into `first/`, and the cache's mirror of it."""
    url, pin = _upstream(tmp_path)
    sources.git_tree(pin, url, tmp_path / "first")
    (mirror,) = (cache.root() / "git").glob(f"{pin.upstream}-*.git")
    return url, pin, mirror


def test_a_poisoned_mirror_runs_nothing_and_its_objects_are_rehashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cache"))
    url, pin, mirror = _mirrored(tmp_path)
    assert (tmp_path / "first" / "lib.rs").read_text("utf-8") == "// the pinned release\n"

    # a replace ref: the pinned id made to name another commit's tree
    repo = gitpython.Repo(tmp_path / "upstream")
    (tmp_path / "upstream" / "lib.rs").write_text("// injected\n", encoding="utf-8")
    repo.git.add("-A")
    other = repo.index.commit("not the release").hexsha
    gitpython.Git(str(mirror)).execute(
        ["git", "--git-dir", str(mirror), "fetch", "-q", url, "HEAD"]
    )
    (mirror / "refs" / "replace").mkdir(parents=True, exist_ok=True)
    (mirror / "refs" / "replace" / pin.commit).write_text(other + "\n", encoding="utf-8")

    # a cache poisoned to run a program on the next fetch: config and hooks
    script, marker = marker_script(tmp_path, status=1)
    (mirror / "config").write_text(
        "[core]\n\tbare = true\n\tsshCommand = " + str(script) + "\n"
        f'[remote "{url}"]\n\tuploadpack = {script}\n'
        f'[url "ext::{script} "]\n\tinsteadOf = {url}\n',
        encoding="utf-8",
    )
    (mirror / "hooks").mkdir(exist_ok=True)
    for hook in ("reference-transaction", "post-checkout", "pre-auto-gc"):
        (mirror / "hooks" / hook).write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
        (mirror / "hooks" / hook).chmod(0o755)
    (mirror / "info").mkdir(exist_ok=True)
    (mirror / "info" / "attributes").write_text("* export-ignore\n", encoding="utf-8")

    # a new release not in the mirror yet makes patcher fetch through it
    (tmp_path / "upstream" / "lib.rs").write_text("// release 1.0.1\n", encoding="utf-8")
    repo.git.add("-A")
    third = repo.index.commit("release 1.0.1").hexsha
    repo.create_tag("v1.0.1")
    newer = Pin(upstream="demo", version="1.0.1", tag="v1.0.1", commit=third)
    sources.git_tree(newer, url, tmp_path / "newer")
    assert (tmp_path / "newer" / "lib.rs").read_text("utf-8") == "// release 1.0.1\n"
    sources.git_tree(pin, url, tmp_path / "again")
    assert not marker.exists()
    assert (tmp_path / "again" / "lib.rs").read_text("utf-8") == "// the pinned release\n"
    assert not (mirror / "hooks").exists() and not (mirror / "info" / "attributes").exists()


def test_a_mirror_object_that_does_not_hash_to_its_id_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cache"))
    url, pin, mirror = _mirrored(tmp_path)
    # the blob of lib.rs, replaced by a loose object with other content under the same id
    blob = gitpython.Git(str(mirror)).execute(
        ["git", "--git-dir", str(mirror), "rev-parse", f"{pin.commit}:lib.rs"]
    )
    other_repo = tmp_path / "forge"
    gitpython.Repo.init(other_repo, bare=True)
    (tmp_path / "evil.rs").write_text("// injected, same length!!\n", encoding="utf-8")
    evil = gitpython.Git(str(other_repo)).execute(
        ["git", "--git-dir", str(other_repo), "hash-object", "-w", str(tmp_path / "evil.rs")]
    )
    loose = mirror / "objects" / blob[:2] / blob[2:]
    loose.parent.mkdir(parents=True, exist_ok=True)
    if loose.exists():
        loose.chmod(0o644)
    loose.write_bytes((other_repo / "objects" / evil[:2] / evil[2:]).read_bytes())
    for pack in (mirror / "objects" / "pack").glob("*"):
        pack.chmod(0o644)
        pack.unlink()  # only the forged loose copy remains
    with pytest.raises(SourceError, match="do not match their ids"):
        sources.git_tree(pin, url, tmp_path / "again")
    assert not (tmp_path / "again").exists() or not any((tmp_path / "again").iterdir())


def test_a_crate_is_used_only_with_its_crates_io_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cache"))
    real = pins.get_pin("pyo3", "0.28.3")
    forged = Pin(
        upstream="pyo3",
        version=real.version,
        tag=real.tag,
        commit=real.commit,
        crates={"pyo3-ffi": "0" * 64},
    )
    with pytest.raises(SourceError, match=r"does not match the crates\.io checksum"):
        sources.anchored_crates(forged, ("pyo3-ffi",), offline=False)
    # a pin without a checksum: read from the index online, refused offline
    bare = Pin(upstream="pyo3", version=real.version, tag=real.tag, commit=real.commit)
    assert sources.registry_checksums(bare, ("pyo3-ffi",), offline=False) == {
        "pyo3-ffi": real.crates["pyo3-ffi"]
    }
    with pytest.raises(SourceError, match="nothing could vouch"):
        sources.registry_checksums(bare, ("pyo3-ffi",), offline=True)


@pytest.mark.slow
def test_a_poisoned_maturin_wheel_is_never_handed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cache"))
    pin = pins.get_pin("maturin", "1.16.0")
    build = maturin.backend_wheel(pin)
    entry = maturin_entry(tmp_path / "cache")
    cached = entry / build.wheel.name
    honest = {
        n: zipfile.ZipFile(build.wheel).read(n) for n in zipfile.ZipFile(build.wheel).namelist()
    }

    # the cached wheel and its recorded sha256 changed together
    with zipfile.ZipFile(cached, "a") as wheel:
        wheel.writestr("maturin/_pwned.pth", b"import os; os.system('touch /tmp/pwned')\n")
    meta = json.loads((entry / "wheel.json").read_text("utf-8"))
    meta["sha256"] = sources.sha256_of(cached)
    (entry / "wheel.json").write_text(json.dumps(meta), encoding="utf-8")
    # and the published wheel kept beside it, with its recorded sha256
    (published,) = (entry / "published").glob("*.whl")
    with zipfile.ZipFile(published, "a") as wheel:
        wheel.writestr("maturin/injected.py", b"print('pwned')\n")
    meta["published_sha256"] = sources.sha256_of(published)
    (entry / "wheel.json").write_text(json.dumps(meta), encoding="utf-8")

    again = maturin.backend_wheel(pin)
    assert again.wheel.parent != build.wheel.parent  # a folder of its own each time
    for wheel_path in (again.wheel, cached):  # handed out, and the entry's copy replaced
        with zipfile.ZipFile(wheel_path) as wheel:
            got = {n: wheel.read(n) for n in wheel.namelist()}
        assert got == honest
    (published,) = (entry / "published").glob("*.whl")
    assert "maturin/injected.py" not in zipfile.ZipFile(published).namelist()
    # offline, the pin's shipped PyPI digests vouch for the cached published wheel
    assert pin.wheels, "the pins ship PyPI's digests of maturin 1.16.0"
    offline = maturin.backend_wheel(pin, offline=True)
    with zipfile.ZipFile(offline.wheel) as wheel:
        assert {n: wheel.read(n) for n in wheel.namelist()} == honest
    # a pin without them: nothing can vouch for the cached wheel offline: refused
    before = snapshot(entry)
    with pytest.raises(SourceError, match="PyPI's sha256"):
        maturin.backend_wheel(dataclasses.replace(pin, wheels={}), offline=True)
    assert snapshot(entry) == before
    # a poisoned published wheel offline: not used, and no download to replace it: refused
    (published,) = (entry / "published").glob("*.whl")
    with zipfile.ZipFile(published, "a") as wheel:
        wheel.writestr("maturin/injected.py", b"print('pwned')\n")
    before = snapshot(entry)
    with pytest.raises(SourceError, match="not in the cache"):
        maturin.backend_wheel(pin, offline=True)
    assert snapshot(entry) == before


def test_url_checks_hold_at_the_boundary(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="refusing the git URL"):
        git.fetch_pinned(
            tmp_path / "m.git",
            "--upload-pack=x",
            tag="v1",
            commit="0" * 40,
            expected_tag_commit="0" * 40,
        )
