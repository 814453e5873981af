"""`patcher refresh --upstream pyo3@X.Y.Z` (or maturin@X.Y.Z): carry our patch to a new
upstream release.

Try each variant: exact (or line offsets: `git apply` never fuzzes), then a three-way merge
from the release the variant was made on. On success, regenerate the diff with fresh context,
extend the old variant's range when the diff is the same change, else add a variant; then
compile- and behaviour-check before pins or patches change. On failure, leave a work tree with
the conflicts and the upstream change that caused them; `--continue` picks it up.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sys
from pathlib import Path

import tomlkit
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from patcher import cache, cargo, checks, git, patches, pins, sources
from patcher.errors import PatchError, SourceError, UsageError
from patcher.patched import stage_release_files
from patcher.pins import Pin

# the published crate whose .cargo_vcs_info.json names the commit a release was made from
_PUBLISHED_CRATE = {"pyo3": "pyo3-build-config", "maturin": "maturin"}


@dataclasses.dataclass(frozen=True)
class RefreshResult:
    version: str
    variant: str
    how: str  # "exact", "three-way", "continued", "already"
    action: str  # "extended", "added", "unchanged"
    check: str


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _workdir(upstream: str, version: str) -> Path:
    return cache.root() / "refresh" / f"{upstream}-{version}"


def parse_target(target: str) -> tuple[str, str]:
    upstream, _, version = target.partition("@")
    if upstream not in ("pyo3", "maturin") or not version:
        raise UsageError(f"{target!r} is not UPSTREAM@VERSION", hint="e.g. pyo3@0.31.0")
    Version(version)
    return upstream, version


def discover_pin(upstream: str, version: str, url: str) -> Pin:
    """Tag and commit of a new release: the commit the published crate names, checked against
    the git tag where both are reachable; either alone will do."""
    existing = pins.load_pins(upstream)
    if version in existing:
        return existing[version]
    tag = f"v{version}"
    tag_commit = published = None
    try:
        repo = cache.root() / "git" / f"refresh-{upstream}.git"
        with cache.locked(repo):
            tag_commit = git.fetch_tag_commit(repo, url, tag)
    except SourceError as exc:
        _say(f"note: {exc.message}; pinning from the published crate alone")
    crate = _PUBLISHED_CRATE[upstream]
    try:
        src = cargo.download_crates({crate: version})[crate]
        published = json.loads((src / ".cargo_vcs_info.json").read_text("utf-8"))["git"]["sha1"]
    except (SourceError, OSError, ValueError, KeyError):
        _say(f"note: {crate} {version} is not published (or carries no commit); pinning the tag")
    commit = published or tag_commit
    if commit is None:
        raise SourceError(
            f"{upstream} {version}: neither the tag {tag} at {url} nor a "
            "published crate could be found",
            hint="check the version, the URL and the network",
        )
    extra = tag_commit if tag_commit and tag_commit != commit else None
    return Pin(upstream, version, tag, commit, extra)


def _write_pin(pin: Pin) -> None:
    path = pins.pins_file(pin.upstream)
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    releases = doc.setdefault("release", tomlkit.table(is_super_table=True))
    if pin.version in releases:
        return
    table = tomlkit.table()
    for key, value in pin.as_toml().items():
        table.add(key, value)
    releases.add(pin.version, table)
    _atomic_write(path, tomlkit.dumps(doc))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _normalized(diff: str) -> list[str]:
    """A diff without what moves between releases: hunk positions and blob ids."""
    return [
        re.sub(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@.*", "@@", line)
        for line in diff.splitlines()
        if not line.startswith("index ")
    ]


def _upstream_change(base_tree: Path, new_tree: Path, files: tuple[str, ...]) -> str:
    import difflib

    out: list[str] = []
    for name in files:
        old = (
            (base_tree / name).read_text("utf-8").splitlines(keepends=True)
            if (base_tree / name).exists()
            else []
        )
        new = (
            (new_tree / name).read_text("utf-8").splitlines(keepends=True)
            if (new_tree / name).exists()
            else []
        )
        out.extend(difflib.unified_diff(old, new, f"base/{name}", f"new/{name}"))
    return "".join(out)


def refresh(
    upstream: str,
    version: str,
    *,
    url: str | None = None,
    dry_run: bool = False,
) -> RefreshResult:
    url = url or sources.upstream_url(upstream)
    pin = discover_pin(upstream, version, url)
    candidates = _by_closeness(patches.load_variants(upstream), version)
    work = _workdir(upstream, version)
    with cache.locked(work):
        if work.exists():
            shutil.rmtree(work)
        for variant in candidates:
            checked = patches.check_patch(variant)
            tree = work / "tree"
            if tree.exists():
                shutil.rmtree(tree)
            stage_release_files(pin, checked.files, tree, url=url)
            if patches.carries_change(checked, tree):
                return RefreshResult(
                    version, variant.name, "already", "unchanged", "upstream carries it"
                )
            git.commit_tree(tree, f"{upstream} {version}")
            clean, _ = git.try_apply(tree, variant.file, three_way=False)
            how = "exact"
            if not clean:
                base_tree = work / "base"
                if base_tree.exists():
                    shutil.rmtree(base_tree)
                base_pin = pins.get_pin(upstream, variant.base)
                stage_release_files(base_pin, checked.files, base_tree, url=url)
                for name in checked.files:
                    git.store_blob(tree, (base_tree / name).read_bytes())
                clean, _said = git.try_apply(tree, variant.file, three_way=True)
                how = "three-way"
                if not clean and git.conflicted_files(tree):
                    (work / "UPSTREAM-CHANGE.diff").write_text(
                        _upstream_change(base_tree, tree, checked.files), encoding="utf-8"
                    )
                    state = {
                        "upstream": upstream,
                        "version": version,
                        "variant": variant.name,
                        "url": url,
                        "pin": dataclasses.asdict(pin),
                        "files": list(checked.files),
                    }
                    (work / "refresh.json").write_text(
                        json.dumps(state, indent=2) + "\n", encoding="utf-8"
                    )
                    raise PatchError(
                        f"no patch variant applies to {upstream} {version}: the three-way merge "
                        f"of {variant.name} (made on {variant.base}) conflicts in "
                        f"{', '.join(git.conflicted_files(tree))}",
                        hint=f"resolve the conflict markers in {tree} (what upstream changed is "
                        f"in {work / 'UPSTREAM-CHANGE.diff'}), then run `patcher refresh "
                        f"--continue {upstream}@{version}`; nothing in patches/ or the pins "
                        "changed",
                    )
            if clean:
                return _finish(pin, url, variant, tree, how, dry_run=dry_run)
        raise PatchError(
            f"no patch variant applies to {upstream} {version}", hint="see `git apply` output"
        )


def _by_closeness(variants: list[patches.Variant], version: str) -> list[patches.Variant]:
    """A variant that already claims the release first, then the newest base first (its
    context is the most likely to still match)."""
    return sorted(
        variants,
        key=lambda v: (not v.covers(version), [-part for part in Version(v.base).release]),
    )


def continue_refresh(upstream: str, version: str, *, dry_run: bool = False) -> RefreshResult:
    work = _workdir(upstream, version)
    state_file = work / "refresh.json"
    if not state_file.is_file():
        raise UsageError(
            f"no refresh of {upstream} {version} is waiting at {work}",
            hint=f"run `patcher refresh --upstream {upstream}@{version}` first",
        )
    state = json.loads(state_file.read_text("utf-8"))
    tree = work / "tree"
    marked = [
        f
        for f in state["files"]
        if "<<<<<<<" in (tree / f).read_text("utf-8") or ">>>>>>>" in (tree / f).read_text("utf-8")
    ]
    if marked:
        raise PatchError(
            f"conflict markers remain in {', '.join(marked)}",
            hint=f"edit {tree} until no conflict markers remain",
        )
    pin = Pin(**state["pin"])
    url = state.get("url") or sources.upstream_url(upstream)
    variant = next(v for v in patches.load_variants(upstream) if v.name == state["variant"])
    return _finish(pin, url, variant, tree, "continued", dry_run=dry_run)


def _finish(
    pin: Pin,
    url: str,
    old: patches.Variant,
    tree: Path,
    how: str,
    *,
    dry_run: bool,
) -> RefreshResult:
    """Regenerate the diff with fresh context; check; then extend or add a variant."""
    new_diff = git.diff_work_tree(tree)
    if not new_diff.strip():
        raise PatchError("the resolved tree has no changes against the release")
    same = _normalized(new_diff) == _normalized(old.file.read_text("utf-8"))
    variants_path = patches.variants_file(pin.upstream)
    doc = tomlkit.parse(variants_path.read_text("utf-8"))
    if same:
        name, action = old.name, "extended"
        new_file = None
    else:
        existing = {str(v["name"]) for v in doc["variant"]}
        n = 1
        while f"base-python-v{n}" in existing:
            n += 1
        name, action = f"base-python-v{n}", "added"
        new_file = variants_path.parent / f"{name}.patch"
    # check before anything in patches/ or the pins changes
    with cache.locked(_workdir(pin.upstream, pin.version).with_suffix(".check")):
        staged = variants_path.parent / f".{name}.patch.check"
        staged.write_text(new_diff, encoding="utf-8")
        try:
            candidate = patches.Variant(
                pin.upstream,
                name,
                staged,
                pin.version,
                SpecifierSet(f"=={pin.version}"),
                old.detect,
            )
            result = checks.check_release(pin, candidate, url=url)
        finally:
            staged.unlink(missing_ok=True)
    if dry_run:
        return RefreshResult(pin.version, name, how, f"would be {action}", result)
    _write_pin(pin)
    if new_file is None:
        for entry in doc["variant"]:
            if entry["name"] == old.name:
                entry["releases"] = _extend(str(entry["releases"]), pin.version)
    else:
        new_file.write_text(new_diff, encoding="utf-8")
        entry = tomlkit.table()
        entry.add("name", name)
        entry.add("file", new_file.name)
        entry.add("base", pin.version)
        entry.add("releases", f">={pin.version}")
        entry.add("detect", old.detect)
        doc["variant"].append(entry)
        for other in doc["variant"]:
            if other["name"] == old.name and Version(pin.version) > Version(old.base):
                other["releases"] = _cap(str(other["releases"]), pin.version)
    _atomic_write(variants_path, tomlkit.dumps(doc))
    return RefreshResult(pin.version, name, how, action, result)


def _extend(spec: str, version: str) -> str:
    parts = [p.strip() for p in spec.split(",")]
    kept = [p for p in parts if not p.startswith(("<", "<="))]
    uppers = [p for p in parts if p.startswith(("<", "<="))]
    if any(SpecifierSet(u).contains(version) for u in uppers) or not uppers:
        return spec
    return ",".join([*kept, f"<={version}"])


def _cap(spec: str, version: str) -> str:
    parts = [p.strip() for p in spec.split(",") if not p.strip().startswith(("<", "<="))]
    return ",".join([*parts, f"<{version}"])
