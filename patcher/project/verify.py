"""`patcher verify`: is the project patched exactly as apply would patch it, and what will its
PEP 517 build compile: is it ours?

The build is read as it will run (pep517.py): the backend must be the plain maturin the
patched wheel satisfies, and cargo resolves the committed manifest from the pyproject.toml
folder with maturin's `--config` values, sealed so that no program of the checkout runs
(cargo.run). Every pyo3 crate must come from a vendored tree of exactly the pinned regular
files, or a copy byte for byte the same (CI mode); what redirects one is named.

A tree that has the digest this patcher's pins ship for the release and our patch passes
with that hash compare (the pins ship with patcher, like the crates.io checksums beside
them). Otherwise the expected trees are derived from the pinned release and our patch (from
the cache, or fetched, each anchored: see upstreams/sources.py), never from the digests in
pyo3-patcher.lock: the hand that edits a vendored file can edit the record too. verify fails
closed: when it cannot derive them (--offline with a cold cache, no source reachable), it
fails, saying so and how to warm the cache.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from patcher import cargo, trees
from patcher.errors import ExternalError, PatcherError
from patcher.project import (
    builds,
    cargolock,
    ci,
    manifest,
    pep517,
    record,
    resolve,
    sdist,
    tooling,
    vendor,
)
from patcher.project.discovery import Project, opened
from patcher.project.record import Record
from patcher.project.resolve import Inputs
from patcher.upstreams import pins, pyo3, variants
from patcher.upstreams.names import PYO3_CRATES


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


def verify(directory: Path, *, offline: bool = False, pin_mtimes: bool = False) -> Report:
    """The checks; with `pin_mtimes`, when every one passed, the in-repo trees' mtimes set as
    the target dir's record asks (ci.pin_in_repo: builds that read them stay warm in CI)."""
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
        checks.append(_backend(project))
        vendored = _vendored_files(project, rec)  # hashed once, for every check below
        tree_checks, notes = _trees(project, rec, vendored, offline=offline)
        checks += tree_checks
        checks.append(_git_rules(project, rec))
        if sdist.is_maturin_project(project) and project.config.sdist:
            checks.append(_sdist(project, rec, vendored))
        checks.append(_patch_entries(inputs, rec))
        built, built_notes, graph = _as_built(project, inputs, rec, offline=offline)
        checks.append(built)
        notes += built_notes
        notes += _newer(project, inputs, rec, offline=offline, graph=graph)
        if pin_mtimes and all(c.ok for c in checks):
            reused = ci.pin_in_repo(project, rec, hashed=vendored)
            kept = sorted(c for c, ok in reused.items() if ok)
            fresh = sorted(c for c, ok in reused.items() if not ok)
            notes.append(
                f"mtimes pinned in {rec.vendor_dir}: "
                + (
                    f"a cached build from this content is reused for {', '.join(kept)}"
                    if kept
                    else ""
                )
                + ("; " if kept and fresh else "")
                + (
                    f"built afresh for {', '.join(fresh)} (no stamp of this content in "
                    f"{ci.target_dir(project, os.environ)})"
                    if fresh
                    else ""
                )
            )
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


def _vendored_files(project: Project, rec: Record) -> dict[str, dict[str, str]]:
    """Per crate, the vendored tree's files and their sha256 (a missing tree: none)."""
    found = {}
    for crate in rec.crates:
        tree = project.fence.check(rec.tree_rel(crate), what="vendored folder")
        if tree.is_dir():
            found[crate] = trees.file_digests(tree)
    return found


def _sdist(project: Project, rec: Record, vendored: Mapping[str, Mapping[str, str]]) -> Check:
    """The sdist would carry every vendored file (a static check of pyproject.toml)."""
    files = [f"{rec.tree_rel(crate)}/{name}" for crate, names in vendored.items() for name in names]
    problems = sdist.problems(project, rec.vendor_dir, files)
    return Check("sdist carries the vendored trees", not problems, "; ".join(problems))


def _newer(
    project: Project,
    inputs: Inputs,
    rec: Record,
    *,
    offline: bool,
    graph: Mapping[str, Any] | None,
) -> list[str]:
    """A note (never a failure) when a newer pinned release is allowed by the requirements
    (`graph`: the build's resolved graph, whose requirements may already say there is none)."""
    try:
        view = resolve.unpatched(inputs)
        newer = resolve.newest_pinned(
            project, view, rec.crates, rec.pyo3_version, offline=offline, graph=graph
        )
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


def _trees(
    project: Project,
    rec: Record,
    vendored: Mapping[str, dict[str, str]],
    *,
    offline: bool,
) -> tuple[list[Check], list[str]]:
    if _as_shipped(project, rec, vendored):
        return [Check(f"tree {crate}", True) for crate in rec.crates], []
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
        if crate not in vendored:
            checks.append(Check(f"tree {crate}", False, f"{rec.tree_rel(crate)} is missing"))
            continue
        expected = release.files[crate]
        diff = trees.diff_digests(expected, vendored[crate])
        named = "; ".join(f"{k}: {', '.join(v)}" for k, v in diff.items() if v)
        named = "; ".join(filter(None, [named, _strays(tree, expected)]))
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
    reformatted = _reformatted(project, rec, release, vendored)
    return checks + ([reformatted] if reformatted else []), []


def _as_shipped(project: Project, rec: Record, vendored: Mapping[str, dict[str, str]]) -> bool:
    """Whether every vendored tree has the digest this patcher's pins ship for the pinned
    release plus our patch in its vendored form (derived from the crates.io crates by the
    maintainer, `refresh --digests`), and holds nothing but those files: then nothing needs
    deriving. The pins ship with patcher, so they are an anchor like the crates.io checksums;
    the record's digests must say the same. Anything else (no digests shipped for this patch
    or form, a tree applied from git, a changed file): False, and the trees are derived and
    compared file by file, which names what differs."""
    try:
        pin = pins.get_pin("pyo3", rec.pyo3_version)
        variant = variants.select_variant("pyo3", rec.pyo3_version)
    except PatcherError:
        return False
    shipped = pin.derived_for(variant.name, variant.digest)
    if shipped.get("form") != vendor.VENDORED_FORM:
        return False
    for crate in rec.crates:
        files = vendored.get(crate)
        if (
            files is None
            or crate not in shipped
            or rec.digests.get(crate) != shipped[crate]
            or trees.tree_digest(files) != shipped[crate]
            or trees.strays(project.workspace_root / rec.tree_rel(crate), files)
        ):
            return False
    return True


def formatters(project: Project, *, offline: bool = False) -> Check | None:
    """The vendored files a formatter rewrote (for doctor); None where there are none, or
    where the expected trees cannot be derived (verify says that)."""
    rec = record.load(project.record_file)
    release = None if rec is None else _expected(project, rec, offline=offline)[0]
    if rec is None or release is None:
        return None
    return _reformatted(project, rec, release, _vendored_files(project, rec))


def _reformatted(
    project: Project,
    rec: Record,
    release: vendor.VendoredRelease,
    vendored: Mapping[str, dict[str, str]],
) -> Check | None:
    """Vendored files that differ from ours only in whitespace: a formatter rewrote them."""
    files = []
    for crate, actual in vendored.items():
        tree = project.workspace_root / rec.tree_rel(crate)
        diff = trees.diff_digests(release.files[crate], actual)
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


def _strays(tree: Path, expected: dict[str, str]) -> str:
    """A vendored tree holds the release's regular files and nothing else: a link (to a
    folder too), a device or an extra file (even one cargo writes, `.cargo-ok`) is named."""
    found = trees.strays(tree, expected)
    return f"not the pinned set of regular files: {', '.join(found)}" if found else ""


def _backend(project: Project) -> Check:
    """The build must run the patched maturin: only a plain maturin requirement and backend
    let `patcher env` hand it out."""
    problems = pep517.backend_problems(project)
    return Check(
        "build backend",
        not problems,
        "; ".join(problems) + ": the build would not run the patched maturin (use "
        '`build-backend = "maturin"` and a plain `maturin` version requirement)'
        if problems
        else "",
    )


def _patch_entries(inputs: Inputs, rec: Record) -> Check:
    """The manifest as committed must hold exactly the record's [patch.crates-io] entries for
    the pyo3 crates: one that points elsewhere, or none, is what a build compiles otherwise
    (or what only a config outside the checkout mends)."""
    name = f"[patch.crates-io] in {inputs.manifest.path.name}"
    try:
        present = manifest.patch_entries(inputs.manifest.text)
        foreign = manifest.foreign_entries(inputs.manifest.text, set(PYO3_CRATES), rec.entries)
    except PatcherError as exc:
        return Check(name, False, exc.message)
    wrong = [
        f"{crate} = {_inline(value)}"
        + (f" (pyo3-patcher.lock: {rec.entries[crate]!r})" if crate in rec.entries else "")
        for crate, value in sorted(foreign.items())
    ]
    wrong += [f"{crate} missing" for crate in sorted(set(rec.entries) - set(present))]
    return Check(name, not wrong, f"{'; '.join(wrong)}: run `patcher apply`" if wrong else "")


def _inline(value: Any) -> str:
    plain = value.unwrap() if hasattr(value, "unwrap") else value
    if isinstance(plain, dict):
        return "{ " + ", ".join(f"{k} = {v!r}" for k, v in plain.items()) + " }"
    return repr(plain)


def _as_built(
    project: Project, inputs: Inputs, rec: Record, *, offline: bool
) -> tuple[Check, list[str], dict[str, Any] | None]:
    """Resolve the graph as the PEP 517 build will (see resolve.resolve, `as_built`): every
    pyo3 crate must come from a vendored tree, or from a copy byte for byte the same (CI
    mode). Otherwise name what redirects it."""
    name = "cargo resolves pyo3 to the vendored trees"
    settings = pep517.cargo_settings(project)
    if settings.unfollowed:
        return (
            Check(
                name,
                False,
                f"verify does not reproduce {'; '.join(settings.unfollowed)}, which can change "
                "what cargo compiles: remove it",
            ),
            [],
            None,
        )
    dirs = {c: project.workspace_root / rec.tree_rel(c) for c in rec.crates}
    try:
        resolution = resolve.resolve(
            project,
            inputs.manifest.text,
            inputs.lock,
            dirs,
            offline=offline,
            locked=True,
            as_built=settings,
        )
    except ExternalError as exc:
        first = str(exc).splitlines()[0]
        return (
            Check(name, False, f"{first} (is Cargo.lock up to date? run `patcher apply`)"),
            [],
            None,
        )
    except PatcherError as exc:  # what verify refuses to run cargo with
        return Check(name, False, exc.message), [], None
    notes = _programs(settings)
    if resolution.problems:
        causes = resolve.redirects(project, settings)
        said = "; ".join(resolution.problems)
        said += f" (redirected by {'; '.join(causes)})" if causes else ""
        return Check(name, False, said), notes, resolution.metadata
    copies = _copies(resolution, dirs)
    foreign = [str(c) for c in copies if not _ours_copy(c, settings)]
    if foreign:
        return (
            Check(
                name,
                False,
                f"the build compiles {', '.join(foreign)}: byte for byte the vendored trees, "
                "but not where `patcher env --ci` puts its copies or not named by the "
                "MATURIN_PEP517_ARGS it printed",
            ),
            notes,
            resolution.metadata,
        )
    if copies:
        notes.insert(
            0,
            "the build compiles the copies `patcher env --ci` made, byte for byte the vendored "
            f"trees (named by MATURIN_PEP517_ARGS): {', '.join(map(str, copies))}",
        )
    return Check(name, True), notes, resolution.metadata


def _programs(settings: pep517.CargoSettings) -> list[str]:
    """Programs the build's cargo configs name (verify's cargo ran none of them): like the
    project's own build scripts they run in the build, so say so."""
    named = cargo.programs_named(settings.cwd, settings.configs)
    if not named:
        return []
    return [
        f"the build runs programs these cargo settings name (verify ran none): {'; '.join(named)}"
    ]


def _copies(resolution: resolve.Resolution, dirs: dict[str, Path]) -> list[Path]:
    """The folders of pyo3 crates the build compiles other than the vendored trees (copies
    the resolution proved identical)."""
    ours = {d.resolve() for d in dirs.values()}
    return sorted(
        Path(pkg["manifest_path"]).parent
        for pkg in resolution.metadata["packages"]
        if pkg["name"] in PYO3_CRATES and Path(pkg["manifest_path"]).resolve().parent not in ours
    )


def _ours_copy(copy: Path, settings: pep517.CargoSettings) -> bool:
    """A copy CI mode made (in its folder, which carries its marker) and named by the
    `--config` values it printed into MATURIN_PEP517_ARGS: identical content alone could be a
    folder anyone placed."""
    if not (copy.parent / ci.MIRROR_MARKER).is_file():
        return False
    return copy.resolve() in ci.named_copies(settings.configs)
