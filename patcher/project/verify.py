"""`patcher verify`: is the project patched exactly as apply would patch it, and does cargo
use our trees?

The expected trees are derived from the pinned release and our patch (from the cache, or
fetched, each anchored: see upstreams/sources.py), never from the digests in
pyo3-patcher.lock: the hand that edits a vendored file can edit the record too. verify fails
closed: when it cannot derive them (--offline with a cold cache, no source reachable), it
fails, saying so and how to warm the cache.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from patcher import trees
from patcher.errors import PatcherError
from patcher.project import builds, cargolock, record, resolve, sdist, tooling, vendor
from patcher.project.discovery import Project, opened
from patcher.project.record import Record
from patcher.project.resolve import Inputs
from patcher.upstreams import pins, pyo3, variants


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [dataclasses.asdict(c) for c in self.checks],
            "notes": list(self.notes),
        }

    def render(self) -> str:
        lines = [
            f"{'ok  ' if c.ok else 'FAIL'} {c.name}" + (f": {c.detail}" if c.detail else "")
            for c in self.checks
        ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def verify(directory: Path, *, offline: bool = False) -> Report:
    with opened(directory, recover=False) as project:
        inputs = resolve.read_inputs(project)
        rec = inputs.record
        if rec is None:
            return Report(
                (Check("applied", False, f"no {project.record_file.name}: run `patcher apply`"),)
            )
        checks = [Check("applied", True, f"pyo3 {rec.pyo3_version}, {rec.variant}")]
        checks += _pin_and_patch(rec)
        checks += _locked_release(inputs, rec)
        checks.append(_maturin(project, rec))
        tree_checks, notes = _trees(project, rec, offline=offline)
        checks += tree_checks
        checks.append(_git_rules(project, rec))
        if sdist.is_maturin_project(project) and project.config.sdist:
            checks.append(_sdist(project, rec))
        checks.append(_resolution(project, inputs, rec, offline=offline))
        notes += _newer(project, inputs, rec, offline=offline)
        return Report(tuple(checks), tuple(notes))


def _git_rules(project: Project, rec: Record) -> Check:
    """Our .gitattributes and .gitignore in the vendor folder: without them a commit and a
    clone can change or drop vendored files."""
    wrong = []
    for rel, data in vendor.root_files(rec.vendor_dir).items():
        path = project.fence.check(rel)
        if path.is_symlink() or not path.is_file() or path.read_bytes() != data:
            wrong.append(rel)
    return Check(
        f"git rules in {rec.vendor_dir}",
        not wrong,
        f"{', '.join(wrong)} missing, changed or written by an earlier patcher (whose "
        "`.gitattributes` breaks `cargo package` and maturin's sdist): run `patcher apply`"
        if wrong
        else "",
    )


def _sdist(project: Project, rec: Record) -> Check:
    """The sdist would carry every vendored file (a static check of pyproject.toml)."""
    files = [
        f"{rec.tree_rel(crate)}/{name}"
        for crate in rec.crates
        if (project.workspace_root / rec.tree_rel(crate)).is_dir()
        for name in trees.file_digests(project.workspace_root / rec.tree_rel(crate))
    ]
    problems = sdist.problems(project, rec.vendor_dir, files)
    return Check("sdist carries the vendored trees", not problems, "; ".join(problems))


def _newer(project: Project, inputs: Inputs, rec: Record, *, offline: bool) -> list[str]:
    """A note (never a failure) when a newer pinned release is allowed by the requirements."""
    try:
        view = resolve.unpatched(inputs)
        newer = resolve.newest_pinned(project, view, rec.crates, rec.pyo3_version, offline=offline)
    except PatcherError:
        return []  # e.g. offline without the index: nothing to say
    if newer is None:
        return []
    version = newer[0].version
    return [
        f"pyo3 {version} is pinned and your requirements allow it: `patcher update` moves to it"
    ]


def _pin_and_patch(rec: Record) -> list[Check]:
    try:
        pin = pins.get_pin("pyo3", rec.pyo3_version)
        variant = variants.select_variant("pyo3", rec.pyo3_version)
    except PatcherError as exc:
        return [Check("pin", False, exc.message)]
    same_pin = (pin.commit, pin.tag) == (rec.commit, rec.tag)
    same_patch = (variant.name, variant.digest) == (rec.variant, rec.patch_sha256)
    return [
        Check("pin", same_pin, "" if same_pin else f"record says {rec.commit}, pin {pin.commit}"),
        Check(
            "patch",
            same_patch,
            ""
            if same_patch
            else f"record says {rec.variant} ({rec.patch_sha256[:12]}), this patcher has "
            f"{variant.name} ({variant.digest[:12]}): run `patcher apply`",
        ),
    ]


def _locked_release(inputs: Inputs, rec: Record) -> list[Check]:
    if inputs.lock is None:
        return []
    locked = cargolock.pyo3_in(inputs.lock.text, inputs.lock.path)
    version = locked.version if locked else "(no pyo3)"
    same = version == rec.pyo3_version
    return [
        Check(
            "lock",
            same,
            ""
            if same
            else f"Cargo.lock wants pyo3 {version}, vendored is {rec.pyo3_version}: run "
            "`patcher refresh` (to move pyo3, `patcher update`)",
        )
    ]


def _maturin(project: Project, rec: Record) -> Check:
    try:
        wanted = builds.wanted_maturin(project)
    except PatcherError as exc:
        return Check("maturin", False, exc.message)
    same = wanted == rec.maturin
    return Check(
        "maturin",
        same,
        ""
        if same
        else f"[build-system] requires now gets maturin {wanted or '(none)'}, the record has "
        f"{rec.maturin or '(none)'}: run `patcher refresh`",
    )


_WARM_HINT = (
    "verify fails closed: it passes only trees it could derive from the pinned release and "
    "our patch. Warm the cache where crates.io (or the git source) is reachable: run "
    "`patcher verify` once without --offline, or `patcher apply`"
)


def _expected(
    project: Project, rec: Record, *, offline: bool
) -> tuple[vendor.VendoredRelease | None, str]:
    """Per crate, the per-file digests apply would vendor: derived from the pin and our patch,
    from a trusted source (the pinned commit, or the crates whose checksum crates.io
    publishes), never from the record or the vendored trees. The record names the source apply
    used; when that one fails the other is tried, so a record cannot pick a source that makes
    the check impossible. None (and why) when neither could be derived."""
    other = "crates.io" if rec.source == "git" else "git"
    said = []
    for source in (rec.source, other):
        try:
            patched = pyo3.patched_release(
                rec.pyo3_version,
                source=source,
                url=pyo3.UPSTREAM.url(project.config.pyo3_url),
                offline=offline,
            )
            release = vendor.vendored(patched)
        except PatcherError as exc:
            said.append(f"{source}: {exc.message}")
            continue
        return release, ""
    return None, "; ".join(said)


def _trees(project: Project, rec: Record, *, offline: bool) -> tuple[list[Check], list[str]]:
    release, why = _expected(project, rec, offline=offline)
    if release is None:
        return [
            Check(
                "trees",
                False,
                f"the pinned pyo3 {rec.pyo3_version} plus our patch could not be derived ({why}), "
                f"so nothing vouches for the vendored trees. {_WARM_HINT}",
            )
        ], []
    checks = []
    for crate in rec.crates:
        tree = project.fence.check(rec.tree_rel(crate), what="vendored folder")
        if not tree.is_dir():
            checks.append(Check(f"tree {crate}", False, f"{rec.tree_rel(crate)} is missing"))
            continue
        expected = release.files[crate]
        diff = trees.diff_digests(expected, trees.file_digests(tree))
        named = "; ".join(f"{k}: {', '.join(v)}" for k, v in diff.items() if v)
        recorded = trees.tree_digest(expected) == rec.digests[crate]
        if not recorded:
            named = "; ".join(
                filter(
                    None,
                    [
                        named,
                        "pyo3-patcher.lock's digest was edited (it does not match "
                        "the pinned release and patch)",
                    ],
                )
            )
        checks.append(Check(f"tree {crate}", not named, named))
    reformatted = _reformatted(project, rec, release)
    return checks + ([reformatted] if reformatted else []), []


def formatters(project: Project, *, offline: bool = False) -> Check | None:
    """The vendored files a formatter rewrote (for doctor); None where there are none, or
    where the expected trees cannot be derived (verify says that)."""
    rec = record.load(project.record_file)
    release = None if rec is None else _expected(project, rec, offline=offline)[0]
    if rec is None or release is None:
        return None
    return _reformatted(project, rec, release)


def _reformatted(project: Project, rec: Record, release: vendor.VendoredRelease) -> Check | None:
    """Vendored files that differ from ours only in whitespace: a formatter rewrote them."""
    files = []
    for crate in rec.crates:
        tree = project.workspace_root / rec.tree_rel(crate)
        if not tree.is_dir():
            continue
        diff = trees.diff_digests(release.files[crate], trees.file_digests(tree))
        files += [
            f"{rec.tree_rel(crate)}/{name}"
            for name in diff["changed"]
            if tooling.whitespace_only(
                (release.directories[crate] / name).read_bytes(), (tree / name).read_bytes()
            )
        ]
    if not files:
        return None
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    lines = "; ".join(a.render() for a in tooling.advice(project, rec.vendor_dir))
    return Check(
        "formatters",
        False,
        f"{shown} differ only in whitespace or line endings: a formatter rewrote them "
        f"(pre-commit's trailing-whitespace, end-of-file-fixer or mixed-line-ending, ruff, "
        f"black, an editor). Keep it off {rec.vendor_dir}/"
        + (f": {lines}" if lines else "")
        + "; then `git checkout -- "
        + f"{rec.vendor_dir}` (or `patcher apply --force`) restores the files",
    )


def _resolution(project: Project, inputs: Inputs, rec: Record, *, offline: bool) -> Check:
    name = "cargo resolves pyo3 to the vendored trees"
    dirs = {c: project.workspace_root / rec.tree_rel(c) for c in rec.crates}
    try:
        resolution = resolve.resolve(
            project, inputs.manifest.text, inputs.lock, dirs, offline=offline, locked=True
        )
    except PatcherError as exc:
        first = str(exc).splitlines()[0]
        return Check(name, False, f"{first} (is Cargo.lock up to date? run `patcher apply`)")
    return Check(name, not resolution.problems, "; ".join(resolution.problems))
