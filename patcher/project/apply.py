"""`patcher apply` (and refresh, update): vendor the patched pyo3 release a project locks.

Steps, each its own function: read the project; get the patched release (cache or network);
plan the change (pure); stage it (cargo resolves in a shadow and gives the new Cargo.lock);
commit it in a transaction, or print it for a dry run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from patcher import git, trees
from patcher.errors import ProjectError
from patcher.project import (
    builds,
    gains,
    manifest,
    plan,
    record,
    resolve,
    sdist,
    textfile,
    tooling,
    vendor,
)
from patcher.project.cargolock import LockedPyo3
from patcher.project.discovery import Project, opened
from patcher.project.manifest import Ours
from patcher.project.plan import FileChange, Plan, TreeChange
from patcher.project.record import Record, RegistryEntry
from patcher.project.resolve import Inputs
from patcher.project.textfile import TextFile
from patcher.project.vendor import VendoredRelease
from patcher.upstreams import pyo3


@dataclasses.dataclass(frozen=True)
class Options:
    dry_run: bool = False
    offline: bool = False
    force: bool = False
    source: str | None = None  # overrides [tool.pyo3-patcher] source


@dataclasses.dataclass(frozen=True)
class Release:
    """The patched pyo3 release to vendor, ready in the cache in its vendored form."""

    vendored: VendoredRelease
    maturin: str  # the patched maturin isolated builds get ("" when not a maturin build)

    @property
    def version(self) -> str:
        return self.vendored.version


@dataclasses.dataclass(frozen=True)
class Result:
    plan: Plan
    previous: Record | None
    record: Record
    manifest_text: str  # the planned root manifest (LF text), for cargo to resolve


def run_apply(directory: Path, options: Options, *, version: str | None = None) -> Result:
    """Apply (or re-apply for a new lock) to the project in `directory`; `version` moves it
    to another pyo3 release (what `patcher update` decided)."""
    with opened(directory) as project:
        inputs = resolve.read_inputs(project)
        owned = inputs.record.entries if inputs.record else {}
        manifest.refuse_foreign(inputs.manifest.text, owned, set(pyo3.CRATES), force=options.force)
        locked = resolve.locked_pyo3(project, inputs, offline=options.offline)
        release = prepare(project, inputs.record, version or locked.version, options)
        result = plan_apply(project, inputs, locked, release, options.force)
        staged = stage(result, inputs, release, offline=options.offline, force=options.force)
        if not options.dry_run:
            staged = commit(staged)
        return staged


def commit(result: Result) -> Result:
    """Carry out the staged plan; then say what git would still do to the vendored files."""
    plan.commit(result.plan)
    warnings = git_warnings(result.plan.project, result.record)
    return dataclasses.replace(
        result, plan=dataclasses.replace(result.plan, notes=(*result.plan.notes, *warnings))
    )


def git_warnings(project: Project, rec: Record) -> list[str]:
    """Where the user's git would still drop or alter a vendored file (ignore rules on the
    vendor folder itself, `.git/info/attributes`): the clone would not build the same."""
    work_tree = git.work_tree_of(project.workspace_root)
    if work_tree is None:
        return []
    base = project.workspace_root.relative_to(work_tree)
    paths = [(base / rel).as_posix() for rel in vendor.root_files(rec.vendor_dir)]
    for crate in rec.crates:
        tree = project.workspace_root / rec.tree_rel(crate)
        paths += [(base / rec.tree_rel(crate) / f).as_posix() for f in trees.file_digests(tree)]
    ignored, altered = vendor.git_problems(work_tree, paths)
    warnings = []
    if ignored:
        warnings.append(
            f"git would leave {len(ignored)} vendored files out of a commit (e.g. {ignored[0]}): "
            f"an ignore rule excludes the {rec.vendor_dir} folder itself; add "
            f"`!/{(base / rec.vendor_dir).as_posix()}/` to your .gitignore (see `git "
            f"check-ignore -v {ignored[0]}`)"
        )
    if altered:
        warnings.append(
            f"git would store or check out {len(altered)} vendored files with other bytes "
            f"(e.g. {altered[0]}): a rule overrides the {rec.vendor_dir}/.gitattributes patcher "
            "wrote (see `git check-attr -a` on it; `.git/info/attributes` wins over every "
            "file in the tree)"
        )
    return warnings


def prepare(project: Project, previous: Record | None, version: str, options: Options) -> Release:
    """Fetch (or find in the cache) and patch the pinned release; the network step."""
    # the maturin release isolated builds will get; checked first so that a requirement no
    # pinned release satisfies fails before anything is fetched or written
    maturin_version = builds.wanted_maturin(project)
    source = options.source or project.config.source
    if previous is not None and previous.pyo3_version == version and options.source is None:
        source = previous.source  # the same source reproduces the recorded trees
    patched = pyo3.patched_release(
        version,
        source=source,
        url=pyo3.UPSTREAM.url(project.config.pyo3_url),
        offline=options.offline,
    )
    return Release(vendor.vendored(patched), maturin_version)


def _registry(
    locked: LockedPyo3, version: str, previous: Record | None
) -> dict[str, RegistryEntry]:
    """What Cargo.lock said of each crate before it pointed at our trees."""
    entries: dict[str, RegistryEntry] = {}
    if previous is not None and previous.pyo3_version == version:
        entries.update(previous.registry)
    if locked.version == version:
        entries.update(locked.registry)
    return {c: e for c, e in entries.items() if c in locked.crates}


def plan_apply(
    project: Project, inputs: Inputs, locked: LockedPyo3, release: Release, force: bool
) -> Result:
    """What applying `release` changes in the project. Reads the project; writes nothing."""
    previous = inputs.record
    root = project.workspace_root
    vendor_dir = project.config.vendor_dir
    version = release.version
    wanted = {c: record.tree_rel(vendor_dir, c, version) for c in locked.crates}
    changes, edit_notes = _tree_changes(project, previous, wanted, release.vendored, force=force)
    project.fence.check(vendor_dir, what="vendor-dir")
    parts = vendor_dir.split("/")
    ancestors = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    mkdirs = tuple(rel for rel in ancestors if not (root / rel).is_dir())
    created_dirs = tuple(rel for rel in mkdirs if rel != vendor_dir)
    if previous is not None and previous.vendor_dir == vendor_dir:
        created_dirs = previous.created_dirs  # made by the first apply, still ours

    edit = manifest.plan_entries(
        inputs.manifest.text, wanted, previous.ours if previous else Ours(), force=force
    )
    pyproject_change, sdist_include, sdist_notes = _sdist_include(project, previous, vendor_dir)
    patched = release.vendored.patched
    pin = patched.pristine.pin
    new_record = Record(
        vendor_dir=vendor_dir,
        pyo3_version=version,
        tag=pin.tag,
        commit=pin.commit,
        variant=patched.variant.name,
        patch_sha256=patched.variant.digest,
        outcome=patched.outcome,
        source=patched.pristine.origin,
        crates=locked.crates,
        digests={c: release.vendored.digests[c] for c in locked.crates},
        entries=wanted,
        created_patch_table=edit.ours.created_table,
        separator=edit.ours.separator,
        maturin=release.maturin,
        registry=_registry(locked, version, previous),
        replaced=edit.ours.replaced,
        created_dirs=created_dirs,
        sdist_include=sdist_include,
    )
    vendor.refuse_foreign_root_files(root, vendor_dir)
    files = [
        change
        for rel, data in vendor.root_files(vendor_dir).items()
        if (change := _file_change(project, root / rel, data)).old != change.new
    ]
    rmdirs: tuple[str, ...] = ()
    if previous is not None and previous.vendor_dir != vendor_dir:
        files += _drop_root_files(project, previous.vendor_dir)
        rmdirs = (previous.vendor_dir, *reversed(previous.created_dirs))
    new_manifest = inputs.manifest.encode(edit.text)
    if new_manifest != inputs.manifest.raw:
        files.append(_file_change(project, project.workspace_manifest, new_manifest))
    if pyproject_change is not None:
        files.append(pyproject_change)
    record_change = _record_change(project, new_record.render())
    summary = (
        f"pyo3 {version} ({pin.tag} @ {pin.commit[:12]}), variant {new_record.variant}: "
        f"{new_record.outcome}; source: {new_record.source}"
    )
    the_plan = Plan(
        project,
        summary,
        mkdirs=mkdirs,
        trees=tuple(changes),
        files=tuple(files),
        record=record_change if record_change.old != record_change.new else None,
        rmdirs=rmdirs,
        notes=(
            *edit_notes,
            *sdist_notes,
            *(a.render() for a in tooling.advice(project, vendor_dir)),
        ),
    )
    return Result(the_plan, previous, new_record, edit.text)


def _sdist_include(
    project: Project, previous: Record | None, vendor_dir: str
) -> tuple[FileChange | None, str, list[str]]:
    """pyproject.toml's `[tool.maturin] include` of the vendor folder (see project/sdist.py):
    the change, how the record says we added it ("" where we added nothing), and notes."""
    if not sdist.is_maturin_project(project):
        return None, "", []
    assert project.pyproject is not None
    glob = sdist.pattern(project, vendor_dir)
    if project.config.sdist and glob is None:
        raise ProjectError(
            f"pyproject.toml lies below the workspace root {project.workspace_root}: maturin "
            f"puts [tool.maturin] include files beside it in the sdist, so no include can carry "
            f"{vendor_dir}/, and a wheel built from the sdist would fail",
            hint="if this project publishes no sdist, set `sdist = false` in [tool.pyo3-patcher] "
            "and run patcher again; otherwise keep the project unpatched (a pyproject.toml at the "
            "workspace root, with `manifest-path` naming the crate, can carry them)",
        )
    try:
        project.fence.check(project.pyproject)
    except ProjectError:
        # pyproject.toml above the workspace root (a crate in a subfolder): patcher writes
        # only inside the workspace root, so the user adds the line
        if not project.config.sdist or glob is None or sdist.has_include(project, glob):
            return None, "", []
        return (
            None,
            "",
            [
                f"patcher writes only inside the workspace root, so add `include = "
                f"[{sdist.line(glob)}]` to [tool.maturin] in {project.pyproject} yourself: without "
                "it the sdist leaves the vendored trees out (`patcher verify` checks it)"
            ],
        )
    text = textfile.read(project.pyproject)
    current = text.text
    how = ""
    if previous is not None and previous.sdist_include:
        old_glob = sdist.pattern(project, previous.vendor_dir)
        if old_glob is not None and (old_glob != glob or not project.config.sdist):
            current = sdist.remove_include(
                current, old_glob, previous.sdist_include, project.pyproject
            )
        else:
            how = previous.sdist_include  # still ours, still right
    if project.config.sdist and glob is not None:
        edit = sdist.plan_include(current, glob, project.pyproject)
        if edit is not None:
            current, how = edit.text, edit.how
    new = text.encode(current)
    change = _file_change(project, project.pyproject, new) if new != text.raw else None
    return change, how, []


def _drop_root_files(project: Project, vendor_dir: str) -> list[FileChange]:
    """Our files in a vendor folder we leave: those that still say what we wrote."""
    changes = []
    for rel in vendor.root_files(vendor_dir):
        path = project.fence.check(rel)
        if vendor.is_our_root_file(path):
            changes.append(FileChange(rel, path.read_bytes(), None))
    return changes


def _record_change(project: Project, text: str) -> FileChange:
    """The record as `text`, in the line endings of the one there (a clone made with
    `core.autocrlf=true` checks it out with CRLF): same content, same bytes, no rewrite."""
    path = project.record_file
    if not path.is_file():
        return _file_change(project, path, text.encode("utf-8"))
    return _file_change(project, path, textfile.read(path).encode(text))


def _file_change(project: Project, path: Path, new: bytes) -> FileChange:
    rel = project.fence.relative(path)
    old = path.read_bytes() if path.is_file() else None
    return FileChange(rel, old, new)


def _tree_changes(
    project: Project,
    previous: Record | None,
    wanted: Mapping[str, str],
    release: VendoredRelease,
    *,
    force: bool,
) -> tuple[list[TreeChange], list[str]]:
    """The trees to vendor or remove, and notes on edits of the user's that --force replaces."""
    root = project.workspace_root
    changes = []
    edited: dict[str, list[str]] = {}
    for crate, rel in sorted(wanted.items()):
        dest = project.fence.check(rel, what="vendored folder")
        if dest.exists():
            if not vendor.is_ours(dest, crate, release.version, previous):
                raise vendor.not_ours(dest, root)
            digests = trees.file_digests(dest)
            if trees.tree_digest(digests) == release.digests[crate]:
                continue  # unchanged: keep its bytes and mtimes (cargo rebuilds on a new mtime)
            edited[rel] = _edits(digests, crate, rel, previous, release)
        changes.append(TreeChange(crate, rel, release.directories[crate]))
    if previous is not None:
        for crate in previous.crates:
            rel = previous.tree_rel(crate)
            if rel in wanted.values():
                continue
            old = project.fence.check(rel, what="vendored folder")
            if not old.exists():
                continue
            if not vendor.is_ours(old, crate, previous.pyo3_version, previous):
                raise vendor.not_ours(old, root)
            edited[rel] = _edits(trees.file_digests(old), crate, rel, previous, None)
            changes.append(TreeChange(crate, rel, None))
    files = [f"{rel}/{name}" for rel, names in sorted(edited.items()) for name in names]
    if not files:
        return changes, []
    listed = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    if not force:
        raise ProjectError(
            f"{len(files)} vendored files were edited since patcher vendored them: {listed}",
            hint="patcher would replace them with the patched release: keep your changes "
            "elsewhere (or undo them with `git checkout -- <file>`), or run `patcher apply "
            "--force` to replace them (`patcher verify` lists every difference)",
        )
    return changes, [f"--force: your edits of {len(files)} vendored files are replaced: {listed}"]


def _edits(
    digests: dict[str, str],
    crate: str,
    rel: str,
    previous: Record | None,
    release: VendoredRelease | None,
) -> list[str]:
    """The files of a vendored tree the user changed, added or deleted: none when the tree is
    as the record says patcher left it (a new variant or release replaces it silently)."""
    if previous is None or previous.tree_rel(crate) != rel:
        return []
    recorded = previous.digests.get(crate)
    if recorded is None or trees.tree_digest(digests) == recorded:
        return []
    if release is not None and release.digests[crate] == recorded:
        expected = release.files[crate]
        found = trees.diff_digests(expected, digests)
        return sorted(found["changed"] + found["added"] + found["deleted"])
    return [""]  # which files, only `patcher verify` can tell: the tree is named whole


def stage(
    result: Result,
    inputs: Inputs,
    release: Release,
    *,
    offline: bool,
    base: TextFile | None = None,
    force: bool | None = None,
) -> Result:
    """Let cargo resolve the planned manifest in a shadow, from the project's Cargo.lock (or
    `base`, where update moved it); add the Cargo.lock cargo writes, and what the patch saves.
    With `force` given (apply, not update), refuse a project where the patch can gain nothing
    unless it is true."""
    the_plan = result.plan
    dirs = {c: release.vendored.directories[c] for c in result.record.crates}
    resolution = resolve.resolve(
        the_plan.project,
        result.manifest_text,
        base if base is not None else inputs.lock,
        dirs,
        offline=offline,
    )
    resolve.require_resolved(resolution, the_plan.project, inputs, offline=offline)
    said = gains.notes(the_plan.project, resolution.metadata)
    if force is not None:
        project = the_plan.project
        reasons = gains.nothing_to_gain(
            workspace_root=project.workspace_root,
            maturin_features=project.maturin_features,
            metadata=resolution.metadata,
            maturin=release.maturin,
        )
        in_ci = gains.nothing_to_gain_in_ci(project)
        reasons += [] if in_ci is None else [in_ci]
        if reasons and not force:
            raise ProjectError(
                f"the patch can gain nothing in {project.workspace_root}: {'; and '.join(reasons)}",
                hint="nothing was changed; `patcher apply --force` patches it anyway (its CI "
                "steps then cost time and save none)",
            )
        said += [f"--force: patched although {reason}" for reason in reasons]
    the_plan = dataclasses.replace(the_plan, notes=(*the_plan.notes, *said))
    if inputs.lock is not None and resolution.lock is not None:
        the_plan = the_plan.with_file(
            FileChange(
                the_plan.project.fence.relative(inputs.lock.path),
                inputs.lock.raw,
                resolution.lock,
            )
        )
    return dataclasses.replace(result, plan=the_plan)


def no_record(project: Project) -> ProjectError:
    return ProjectError(
        f"patcher has not been applied to {project.workspace_root}",
        hint="run `patcher apply` first",
    )
