"""verify fails closed and the cache does not vouch for itself (issue 18, classes 3 and 4).

A tampered vendored tree whose digest was forged in pyo3-patcher.lock, with a cache poisoned
to match (the crate's tree and what the cache records of it changed together, in our cache
and in cargo's), fails verify online and offline; an honest copy of the same project passes
in the same run; with nothing that can vouch for the trees, verify fails and says how to warm
the cache. verify writes nothing to the project, and nothing outside it is touched."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
import tomlkit
from helpers import pins_without_derived, run_patcher, snapshot

from patcher import trees

VERSION = "0.28.3"
CRATE = "pyo3-ffi"
TREE = f".pyo3-patcher/{CRATE}-{VERSION}"
INJECTED = b"\n// injected by a pull request\n"


def _copy(template: Path, where: Path) -> Path:
    project = where / "project"
    shutil.copytree(template, project, symlinks=True)
    return project


def _tamper(project: Path) -> None:
    """Inject code into a vendored file and forge the record's digest to match."""
    with (project / TREE / "src" / "lib.rs").open("ab") as stream:
        stream.write(INJECTED)
    record_file = project / "pyo3-patcher.lock"
    record = tomlkit.parse(record_file.read_text(encoding="utf-8"))
    digests = record["pyo3"]["digests"]
    digests[CRATE] = trees.digest_of(project / TREE)
    record_file.write_text(tomlkit.dumps(record), encoding="utf-8")


def _poisoned_crate(genuine: Path, dest: Path) -> None:
    """The published .crate with the same injection in src/lib.rs."""
    work = dest.parent / "poison-work"
    with tarfile.open(genuine) as tar:
        tar.extractall(work, filter="data")
    top = work / f"{CRATE}-{VERSION}"
    with (top / "src" / "lib.rs").open("ab") as stream:
        stream.write(INJECTED)
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    shutil.rmtree(work)


def _poison(cache: Path, cargo_home: Path) -> None:
    """Poison our cache and cargo's alike: every copy of the crate carries the injection,
    and what each cache records of it (its file, cargo's unpacked tree) agrees."""
    (ours,) = cache.glob(f"crates/{CRATE}-{VERSION}/{CRATE}-{VERSION}.crate")
    genuine = ours.with_name("genuine.crate")
    shutil.copyfile(ours, genuine)
    _poisoned_crate(genuine, ours)
    genuine.unlink()
    for theirs in cargo_home.glob(f"registry/cache/*/{CRATE}-{VERSION}.crate"):
        shutil.copyfile(ours, theirs)
    for unpacked in cargo_home.glob(f"registry/src/*/{CRATE}-{VERSION}/src/lib.rs"):
        with unpacked.open("ab") as stream:
            stream.write(INJECTED)
    # what an older patcher cached, planted with digests to match: never read now
    for kind, meta in (("patched", "patched.json"), ("vendored", "vendored.json")):
        entry = cache / kind / f"pyo3-{VERSION}-planted"
        entry.mkdir(parents=True)
        (entry / meta).write_text(json.dumps({"outcome": "patched", "digests": {}}))


def _verify(project: Path, env: dict[str, str], *extra: str) -> tuple[int, dict[str, object]]:
    result = run_patcher("verify", "--project", project, "--json", *extra, env=env)
    assert result.returncode != 70, result.stderr
    return result.returncode, json.loads(result.stdout)


def _failed(report: dict[str, object]) -> str:
    checks = report["checks"]
    assert isinstance(checks, list)
    return " | ".join(f"{c['name']}: {c['detail']}" for c in checks if not c["ok"])


@pytest.mark.slow
def test_tampered_tree_forged_record_and_poisoned_cache_fail_online_and_offline(
    tmp_path: Path, applied_template: Path
) -> None:
    cache, cargo_home = tmp_path / "cache", tmp_path / "cargo-home"
    env = {"PYO3_PATCHER_CACHE_DIR": str(cache), "CARGO_HOME": str(cargo_home)}
    honest = _copy(applied_template, tmp_path / "honest")
    tampered = _copy(applied_template, tmp_path / "tampered")
    _tamper(tampered)

    # both caches filled honestly: the honest project passes, the tampered one fails
    code, report = _verify(honest, env)
    assert (code, report["ok"]) == (0, True), _failed(report)
    code, report = _verify(tampered, env)
    assert code == 7 and report["ok"] is False
    assert "changed: src/lib.rs" in _failed(report)

    _poison(cache, cargo_home)
    decoy = snapshot(tmp_path / "honest")
    before = snapshot(tampered)
    for extra in ((), ("--offline",)):
        code, report = _verify(tampered, env, *extra)
        assert code == 7 and report["ok"] is False, (extra, report)
        said = _failed(report)
        assert "src/lib.rs" in said or "could not be derived" in said, said
        assert snapshot(tampered) == before  # verify writes nothing
    assert snapshot(tmp_path / "honest") == decoy

    # the poisoned copies are refused, not used: the honest project passes (its trees have
    # the digests the pins ship), and online the crate comes from crates.io again (after
    # cargo's poisoned copy is gone), so the tampered one fails naming the file, offline too
    for poisoned in cargo_home.glob(f"registry/*/*/{CRATE}-{VERSION}*"):
        shutil.rmtree(poisoned) if poisoned.is_dir() else poisoned.unlink()
    code, report = _verify(honest, env)
    assert (code, report["ok"]) == (0, True), _failed(report)
    for extra in ((), ("--offline",)):
        code, report = _verify(tampered, env, *extra)
        assert code == 7 and "changed: src/lib.rs" in _failed(report), extra


@pytest.mark.slow
def test_nothing_to_vouch_offline_fails_and_says_how_to_warm_the_cache(
    tmp_path: Path, applied_template: Path
) -> None:
    project = _copy(applied_template, tmp_path)
    before = snapshot(project)
    cold = {
        "PYO3_PATCHER_CACHE_DIR": str(tmp_path / "cold-cache"),
        "CARGO_HOME": str(tmp_path / "cold-cargo-home"),
    }
    # the pins ship the digests of the vendored trees: they vouch for them with no cache at
    # all (what fails offline here is cargo, with nothing to resolve from)
    code, report = _verify(project, cold, "--offline")
    assert code == 7 and report["ok"] is False
    assert all(c["ok"] for c in report["checks"] if str(c["name"]).startswith("tree "))
    # pins without them: nothing can vouch for the trees
    cold["PYO3_PATCHER_PINS_DIR"] = str(pins_without_derived(tmp_path / "pins"))
    result = run_patcher("verify", "--project", project, "--offline", env=cold)
    assert result.returncode == 7, result.stdout
    assert "could not be derived" in result.stdout
    assert "`patcher verify` once without --offline" in result.stdout
    code, report = _verify(project, cold, "--offline")
    assert (code, report["ok"]) == (7, False)
    assert snapshot(project) == before
    # warmed once online, the same offline check passes
    assert run_patcher("verify", "--project", project, env=cold).returncode == 0
    code, report = _verify(project, cold, "--offline")
    assert (code, report["ok"]) == (0, True), _failed(report)


@pytest.mark.slow
def test_a_record_saying_git_cannot_make_verification_impossible(
    tmp_path: Path, applied_template: Path
) -> None:
    """The record names the source apply used; an unreachable one is not a way out."""
    honest = _copy(applied_template, tmp_path / "honest")
    tampered = _copy(applied_template, tmp_path / "tampered")
    _tamper(tampered)
    for project in (honest, tampered):
        record_file = project / "pyo3-patcher.lock"
        text = record_file.read_text(encoding="utf-8")
        record_file.write_text(text.replace('source = "crates.io"', 'source = "git"'), "utf-8")
    unreachable = {"PYO3_PATCHER_PYO3_URL": (tmp_path / "nowhere").as_uri()}
    code, report = _verify(honest, unreachable)
    assert (code, report["ok"]) == (0, True), _failed(report)
    code, report = _verify(tampered, unreachable)
    assert code == 7 and "changed: src/lib.rs" in _failed(report)
    # and with no source at all, it fails rather than trusting the record
    code, report = _verify(
        tampered,
        {
            **unreachable,
            "CARGO_HOME": str(tmp_path / "cold"),
            "PYO3_PATCHER_CACHE_DIR": str(tmp_path / "c"),
        },
        "--offline",
    )
    assert code == 7 and "could not be derived" in _failed(report)


def test_old_style_cache_entries_are_not_trusted(tmp_path: Path) -> None:
    """Derived trees are never read from the cache (the scratch folder is per process)."""
    from patcher.upstreams import sources

    one, two = sources.scratch("x"), sources.scratch("x")
    assert one != two and not one.exists()
    assert os.path.commonpath([one, two]) == str(one.parent.parent)
