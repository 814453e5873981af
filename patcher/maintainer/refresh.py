"""`patcher refresh --upstream UPSTREAM@X.Y.Z` (maintainers): carry our patches to a new
upstream release, for any upstream.

For each kind of change the upstream carries: try each variant, closest first: exact (or line
offsets: `git apply` never fuzzes), then a three-way merge from the release the variant was
made on. On success, regenerate the diff with fresh context, extend the old variant's range
when it is the same change (the old diff applied as it is, or the new one reads the same),
else add a variant; the compile and behaviour check runs before pins or patches change. On a
conflict, leave a work tree with the conflict markers and the upstream change that caused
them, and stop; `--continue` picks it up.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import shutil
from pathlib import Path

import tomlkit
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from patcher import cache, git, ui
from patcher.errors import PatchError, SourceError, UsageError
from patcher.upstreams import get, pins, sources, variants
from patcher.upstreams.base import Upstream
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import CheckedPatch, Variant


@dataclasses.dataclass(frozen=True)
class RefreshResult:
    upstream: str
    version: str
    kind: str
    variant: str
    how: str  # "exact", "three-way", "continued", "already"
    action: str  # "extended", "added", "unchanged" (or "would be ..." on a dry run)
    check: str

    def render(self) -> str:
        kind = f" ({self.kind})" if self.kind else ""
        return (
            f"{self.upstream} {self.version}{kind}: {self.how}; variant {self.variant} "
            f"{self.action}; {self.check}"
        )


def parse_target(target: str) -> tuple[Upstream, str]:
    name, _, version = target.partition("@")
    if not version:
        raise UsageError(f"{target!r} is not UPSTREAM@VERSION", hint="e.g. pyo3@0.31.0")
    try:
        Version(version)
    except InvalidVersion:
        raise UsageError(f"{version!r} is not a version", hint="e.g. pyo3@0.31.0") from None
    return get(name), version


def _workdir(upstream: str, version: str, kind: str) -> Path:
    return cache.root() / "refresh" / f"{upstream}-{version}{f'-{kind}' if kind else ''}"


# --- the pin --------------------------------------------------------------------------------


def discover_pin(upstream: Upstream, version: str, url: str) -> Pin:
    """Tag and commit of a new release: the commit the published crate names, checked against
    the git tag where both are reachable; either alone will do."""
    existing = pins.load_pins(upstream.name)
    if version in existing:
        return existing[version]
    tag = f"v{version}"
    tag_commit = None
    try:
        repo = cache.root() / "git" / f"refresh-{upstream.name}.git"
        with cache.exclusive(repo):
            tag_commit = git.fetch_tag_commit(repo, url, tag)
    except SourceError as exc:
        ui.say(f"note: {exc.message}; pinning from the published crate alone")
    published = sources.published_commit(upstream.published_crate, version)
    if published is None:
        ui.say(f"note: {upstream.published_crate} {version} is not published; pinning the tag")
    commit = published or tag_commit
    if commit is None:
        raise SourceError(
            f"{upstream.name} {version}: neither the tag {tag} at {url} nor a published crate "
            "could be found",
            hint="check the version, the URL and the network",
        )
    extra = tag_commit if tag_commit and tag_commit != commit else None
    return upstream.describe(Pin(upstream.name, version, tag, commit, extra), url=url)


# --- trying the variants ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Prepared:
    """One kind of change carried to the new release, checked, not yet written."""

    old: Variant
    how: str  # "exact", "three-way", "continued", "already"
    diff: str | None  # the regenerated diff (None: the release already carries the change)
    name: str  # the variant that will claim the release
    action: str  # "extended", "added", "unchanged"
    check: str


def refresh(
    upstream: Upstream, version: str, *, url: str | None = None, dry_run: bool = False
) -> list[RefreshResult]:
    """Every kind of change is carried and checked first; only then is anything written, so
    a conflict in one kind leaves patches/ and the pins as they were."""
    url = url or upstream.url()
    pin = discover_pin(upstream, version, url)
    prepared = [_prepare(upstream, pin, kind, url) for kind in variants.kinds(upstream.name)]
    return _write(upstream, pin, prepared, url=url, dry_run=dry_run)


def _prepare(upstream: Upstream, pin: Pin, kind: str, url: str) -> _Prepared:
    candidates = _by_closeness(
        [v for v in variants.load_variants(upstream.name) if v.kind == kind], pin.version
    )
    work = _workdir(upstream.name, pin.version, kind)
    with cache.exclusive(work):
        if work.exists():
            shutil.rmtree(work)
        for variant in candidates:
            checked = variants.check_patch(variant)
            how = _try(upstream, pin, checked, work, url)
            if how == "already":
                return _Prepared(variant, how, None, variant.name, "unchanged", "upstream has it")
            if how is not None:
                return _judge(upstream, pin, url, variant, work / "tree", how=how)
        raise PatchError(
            f"no {upstream.name} patch variant{f' ({kind})' if kind else ''} applies to "
            f"{pin.version}",
            hint="see `git apply` output; write a new variant by hand",
        )


def _by_closeness(candidates: list[Variant], version: str) -> list[Variant]:
    """A variant that already claims the release first, then the newest base first (its
    context is the most likely to still match)."""
    return sorted(
        candidates,
        key=lambda v: (not v.covers(version), [-part for part in Version(v.base).release]),
    )


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def _try(upstream: Upstream, pin: Pin, checked: CheckedPatch, work: Path, url: str) -> str | None:
    """Apply the variant to the release in `work/tree`: "exact", "three-way", "already" (the
    release carries the change), or None. A conflict leaves the tree for a person and raises."""
    tree = _fresh(work / "tree")
    upstream.stage_files(pin, checked.files, tree, url=url, source="auto")
    if variants.carries_change(checked, tree):
        return "already"
    git.commit_tree(tree, f"{upstream.name} {pin.version}")
    if git.try_apply(tree, checked.variant.file, three_way=False)[0]:
        return "exact"
    base_tree = _fresh(work / "base")
    base_pin = pins.get_pin(upstream.name, checked.variant.base)
    upstream.stage_files(base_pin, checked.files, base_tree, url=url, source="auto")
    for name in checked.files:
        git.store_blob(tree, (base_tree / name).read_bytes())
    if git.try_apply(tree, checked.variant.file, three_way=True)[0]:
        return "three-way"
    if git.conflicted_files(tree):
        _leave_conflict(upstream, pin, checked, work, url)
    return None


def _leave_conflict(
    upstream: Upstream, pin: Pin, checked: CheckedPatch, work: Path, url: str
) -> None:
    tree, base_tree = work / "tree", work / "base"
    (work / "UPSTREAM-CHANGE.diff").write_text(
        _upstream_change(base_tree, tree, checked.files), encoding="utf-8"
    )
    state = {
        "upstream": upstream.name,
        "version": pin.version,
        "kind": checked.variant.kind,
        "variant": checked.variant.name,
        "url": url,
        "pin": dataclasses.asdict(pin),
        "files": list(checked.files),
    }
    (work / "refresh.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    variant = checked.variant
    target = f"{upstream.name}@{pin.version}"
    raise PatchError(
        f"no patch variant applies to {upstream.name} {pin.version}: the three-way merge of "
        f"{variant.name} (made on {variant.base}) conflicts in "
        f"{', '.join(git.conflicted_files(tree))}",
        hint=f"resolve the conflict markers in {tree} (what upstream changed is in "
        f"{work / 'UPSTREAM-CHANGE.diff'}), then run `patcher refresh --continue {target}`; "
        "nothing in patches/ or the pins changed",
    )


def _upstream_change(base_tree: Path, new_tree: Path, files: tuple[str, ...]) -> str:
    out: list[str] = []
    for name in files:
        old, new = ((t / name) for t in (base_tree, new_tree))
        out.extend(
            difflib.unified_diff(
                old.read_text("utf-8").splitlines(keepends=True) if old.exists() else [],
                new.read_text("utf-8").splitlines(keepends=True) if new.exists() else [],
                f"base/{name}",
                f"new/{name}",
            )
        )
    return "".join(out)


def continue_refresh(
    upstream: Upstream, version: str, *, dry_run: bool = False
) -> list[RefreshResult]:
    """Finish the refresh a conflict stopped, once a person resolved it; then carry the
    upstream's other kinds of change, if any, as `refresh` would."""
    waiting = [
        k
        for k in variants.kinds(upstream.name)
        if (_workdir(upstream.name, version, k) / "refresh.json").is_file()
    ]
    if not waiting:
        raise UsageError(
            f"no refresh of {upstream.name} {version} is waiting",
            hint=f"run `patcher refresh --upstream {upstream.name}@{version}` first",
        )
    kind = waiting[0]
    work = _workdir(upstream.name, version, kind)
    state = json.loads((work / "refresh.json").read_text("utf-8"))
    tree = work / "tree"
    marked = [
        f
        for f in state["files"]
        if re.search(r"^(<<<<<<<|>>>>>>>)", (tree / f).read_text("utf-8"), re.M)
    ]
    if marked:
        raise PatchError(
            f"conflict markers remain in {', '.join(marked)}",
            hint=f"edit {tree} until no conflict markers remain",
        )
    pin = Pin(**state["pin"])
    url = state.get("url") or upstream.url()
    variant = next(v for v in variants.load_variants(upstream.name) if v.name == state["variant"])
    prepared = [
        _judge(upstream, pin, url, variant, tree, how="continued")
        if k == kind
        else _prepare(upstream, pin, k, url)
        for k in variants.kinds(upstream.name)
    ]
    return _write(upstream, pin, prepared, url=url, dry_run=dry_run)


# --- writing the result -----------------------------------------------------------------------


def _normalized(diff: str) -> list[str]:
    """A diff without what moves between releases: hunk positions and blob ids."""
    return [
        re.sub(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@.*", "@@", line)
        for line in diff.splitlines()
        if not line.startswith("index ")
    ]


def _judge(
    upstream: Upstream, pin: Pin, url: str, old: Variant, tree: Path, *, how: str
) -> _Prepared:
    """Regenerate the diff with fresh context, decide extend or add, and check it."""
    new_diff = git.diff_work_tree(tree)
    if not new_diff.strip():
        raise PatchError(
            "the resolved tree has no changes against the release",
            hint="the resolution dropped our change; resolve the conflict again",
        )
    # The old diff applied as it is (every context line matched, offsets only): the same
    # change, even where the regenerated diff carries more context than the old one had (a
    # hunk whose third line of context differs between releases keeps two).
    same = how == "exact" or _normalized(new_diff) == _normalized(old.file.read_text("utf-8"))
    name = old.name if same else _new_variant_name(upstream.name, old)
    check = _check_candidate(upstream, pin, url, old, name=name, diff=new_diff)
    return _Prepared(old, how, new_diff, name, "extended" if same else "added", check)


def _write(
    upstream: Upstream, pin: Pin, prepared: list[_Prepared], *, url: str, dry_run: bool
) -> list[RefreshResult]:
    changes = [p for p in prepared if p.diff is not None]
    if changes and not dry_run:
        pins.write_pin(pin)
    results = []
    for p in prepared:
        if p.diff is not None and not dry_run:
            if p.action == "extended":
                _extend_variant(upstream.name, p.old, pin.version)
            else:
                _add_variant(upstream.name, p.old, p.name, pin.version, p.diff)
        action = f"would be {p.action}" if dry_run and p.diff is not None else p.action
        results.append(
            RefreshResult(upstream.name, pin.version, p.old.kind, p.name, p.how, action, p.check)
        )
    if changes and not dry_run:
        # what the new pin's release derives to, with the variants as now written
        from patcher.maintainer import digests

        digests.record(upstream.name, pin.version, url=url)
    return results


def _new_variant_name(upstream: str, old: Variant) -> str:
    """The next name in the old variant's line: base-python-v2 -> base-python-v3."""
    stem = re.sub(r"-v\d+$", "", old.name)
    numbers = [
        int(match.group(1))
        for v in variants.load_variants(upstream)
        if (match := re.fullmatch(rf"{re.escape(stem)}-v(\d+)", v.name))
    ]
    return f"{stem}-v{max(numbers, default=0) + 1}"


def _check_candidate(
    upstream: Upstream, pin: Pin, url: str, old: Variant, *, name: str, diff: str
) -> str:
    """The compile and behaviour check of the new diff, before anything in patches/ changes."""
    variants_path = variants.variants_file(upstream.name)
    with cache.exclusive(_workdir(upstream.name, pin.version, old.kind).with_suffix(".check")):
        staged = variants_path.parent / f".{name}.patch.check"
        staged.write_text(diff, encoding="utf-8")
        try:
            candidate = dataclasses.replace(
                old,
                name=name,
                file=staged,
                base=pin.version,
                releases=SpecifierSet(f"=={pin.version}"),
            )
            return upstream.check(pin, candidate, url=url, source="auto")
        finally:
            staged.unlink(missing_ok=True)


def _extend_variant(upstream: str, old: Variant, version: str) -> None:
    path = variants.variants_file(upstream)
    doc = tomlkit.parse(path.read_text("utf-8"))
    for entry in doc["variant"]:
        if entry["name"] == old.name:
            entry["releases"] = _extend(str(entry["releases"]), version)
    pins.atomic_write(path, tomlkit.dumps(doc))


def _add_variant(upstream: str, old: Variant, name: str, version: str, diff: str) -> None:
    path = variants.variants_file(upstream)
    doc = tomlkit.parse(path.read_text("utf-8"))
    (path.parent / f"{name}.patch").write_text(diff, encoding="utf-8")
    entry = tomlkit.table()
    entry.add("name", name)
    if old.kind:
        entry.add("kind", old.kind)
    entry.add("file", f"{name}.patch")
    entry.add("base", version)
    entry.add("releases", f">={version}")
    entry.add("detect", old.detect)
    doc["variant"].append(entry)
    for other in doc["variant"]:
        if other["name"] == old.name and Version(version) > Version(old.base):
            other["releases"] = _cap(str(other["releases"]), version)
    pins.atomic_write(path, tomlkit.dumps(doc))


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
