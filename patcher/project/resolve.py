"""What a project's files say now, and what cargo makes of a planned change (in a shadow)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.version import Version

from patcher import cargo
from patcher.errors import ExternalError, PatcherError, PatchError, ProjectError
from patcher.project import cargolock, ci, manifest, record, textfile
from patcher.project.cargolock import LockedPyo3
from patcher.project.discovery import Project
from patcher.project.pep517 import CargoSettings
from patcher.project.record import Record
from patcher.project.shadow import Shadow
from patcher.project.textfile import TextFile
from patcher.upstreams import pins
from patcher.upstreams.names import PYO3_CRATES


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The project's files as they are before a command changes anything."""

    record: Record | None
    manifest: TextFile  # the workspace root Cargo.toml
    lock: TextFile | None  # Cargo.lock, if the project keeps one


def read_inputs(project: Project) -> Inputs:
    lock = project.cargo_lock
    return Inputs(
        record=record.load(project.record_file),
        manifest=textfile.read(project.workspace_manifest),
        lock=textfile.read(lock) if lock.exists() or lock.is_symlink() else None,
    )


def locked_pyo3(project: Project, inputs: Inputs, *, offline: bool) -> LockedPyo3:
    """The pyo3 release and crates the project resolves to: from Cargo.lock, or, in a project
    that keeps none, from cargo's resolution in a shadow (no Cargo.lock is left behind)."""
    if inputs.lock is not None:
        locked = cargolock.pyo3_in(inputs.lock.text, inputs.lock.path)
    else:
        current = _current_trees(project, inputs.record)
        with Shadow(project.workspace, inputs.manifest.text, None, current) as shadow:
            data, _ = shadow.metadata(locked=False, offline=offline)
        versions = {p["name"]: p["version"] for p in data["packages"] if p["name"] in PYO3_CRATES}
        if len(set(versions.values())) > 1:
            raise ProjectError(
                f"the workspace resolves several pyo3 releases: {versions}",
                hint="patcher patches one pyo3 release per workspace; align the pyo3 "
                "requirements (see `cargo tree -i pyo3`)",
            )
        locked = (
            LockedPyo3(next(iter(versions.values())), tuple(sorted(versions)), {})
            if versions
            else None
        )
    if locked is None:
        raise ProjectError(
            f"the workspace at {project.workspace_root} does not depend on pyo3",
            hint="patcher patches pyo3 for PyO3 extension projects; add pyo3 to your crate first",
        )
    return locked


def _current_trees(project: Project, rec: Record | None) -> dict[str, Path]:
    if rec is None:
        return {}
    return {c: project.fence.check(rec.tree_rel(c)) for c in rec.crates}


@dataclasses.dataclass(frozen=True)
class Resolution:
    lock: bytes | None  # the Cargo.lock cargo wrote in the shadow (None: the project keeps none)
    problems: tuple[str, ...]  # why the pyo3 crates do not all resolve to our trees
    metadata: dict[str, Any]  # what `cargo metadata` said of the graph


def resolve(
    project: Project,
    manifest_text: str,
    lock: TextFile | None,
    trees: Mapping[str, Path],
    *,
    offline: bool,
    locked: bool = False,
    as_built: CargoSettings | None = None,
) -> Resolution:
    """Resolve the workspace with `manifest_text` as its root manifest and our entries
    pointing at `trees`; say whether every pyo3 crate of the graph comes from them.

    `as_built`: resolve as the PEP 517 build will instead: the manifest's [patch] entries as
    they are (not pointed at `trees`), cargo in the build's folder with the build's `--config`
    values, and every feature (a superset of what any build asks for)."""
    rewrite = {} if as_built is not None else trees
    with Shadow(
        project.workspace, manifest_text, lock.raw if lock is not None else None, rewrite
    ) as shadow:
        data, stderr = shadow.metadata(
            locked=locked and lock is not None,
            offline=offline,
            cwd=as_built.cwd if as_built is not None else None,
            args=("--all-features",) if as_built is not None else (),
            configs=as_built.configs if as_built is not None else (),
        )
        new_lock = shadow.lock() if lock is not None else None
        for pkg in data["packages"]:  # the project's own paths, not the shadow's
            pkg["manifest_path"] = str(shadow.to_project(Path(pkg["manifest_path"])))
            for target in pkg.get("targets", []):
                target["src_path"] = str(shadow.to_project(Path(target["src_path"])))
    problems = _not_used(stderr, trees)
    problems += [
        p.replace(f"from {_CRATES_IO}", "from crates.io") for p in pyo3_outside(data, trees)
    ]
    if new_lock is not None and lock is not None:
        # cargo writes LF without a byte-order mark; keep the file's own conventions
        new_lock = lock.encode(textfile.decode(lock.path, new_lock).text)
    return Resolution(new_lock, tuple(problems), data)


_NOT_USED = re.compile(r"patch `(\S+) v(\S+) ")
_CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def _not_used(stderr: str, trees: Mapping[str, Path]) -> list[str]:
    """cargo's "patch ... was not used" warnings for our entries, as one short line: cargo's
    own name each crate with the full path of its tree (1,500 characters for five)."""
    unused: dict[str, list[str]] = {}
    for line in stderr.splitlines():
        found = _NOT_USED.search(line)
        if cargo.NOT_USED_MARKER in line and found and found.group(1) in trees:
            unused.setdefault(found.group(2), []).append(found.group(1))
    return [
        f"cargo does not use the [patch] entries for {', '.join(sorted(names))} {version}"
        for version, names in sorted(unused.items())
    ]


def pyo3_outside(metadata: dict[str, Any], trees: Mapping[str, Path]) -> list[str]:
    """The pyo3 crates of a `cargo metadata` graph that do not come from `trees`.

    A path crate elsewhere counts as coming from its tree when it is an accepted copy of it
    (`ci.is_accepted_copy`): `patcher env --ci` points the project's builds at such copies
    outside a CI checkout."""
    roots = [t.resolve() for t in trees.values()]
    wrong = []
    for pkg in metadata["packages"]:
        if pkg["name"] not in PYO3_CRATES:
            continue
        where = Path(pkg["manifest_path"]).resolve().parent
        if pkg["source"] is None and (
            where in roots or ci.is_accepted_copy(where, trees.get(pkg["name"]))
        ):
            continue
        wrong.append(f"{pkg['name']} {pkg['version']} from {pkg['source'] or where}")
    return wrong


def require_resolved(
    resolution: Resolution,
    project: Project | None = None,
    inputs: Inputs | None = None,
    *,
    offline: bool = False,
) -> None:
    """Fail when a pyo3 crate does not resolve to our trees, naming the cause where we can
    tell it (given the project and its files as they were): --force never helps with these."""
    if not resolution.problems:
        return
    if project is not None and inputs is not None:
        cause = _why_unresolved(project, inputs, offline=offline)
        if cause is not None:
            raise cause
    raise PatchError(
        "cargo does not resolve every pyo3 crate to the vendored trees: "
        + "; ".join(resolution.problems[:5]),
        hint="a requirement in the workspace excludes the vendored release; check "
        "`cargo tree -i pyo3` and your pyo3 requirements",
    )


# the crates.io index under the names cargo also accepts for it in a [patch] table
_CRATES_IO_URLS = (
    "https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
)


def _pyo3_patches(doc: Mapping[str, Any], *, skip_crates_io: bool) -> list[str]:
    """`[patch.<registry>] <pyo3 crate>` entries of a parsed manifest or cargo config."""
    found = []
    tables = doc.get("patch")
    for key, table in tables.items() if isinstance(tables, Mapping) else ():
        if skip_crates_io and key == "crates-io":
            continue
        if isinstance(table, Mapping):
            found += [f"[patch.{_key(key)}] {name}" for name in table if name in PYO3_CRATES]
    return found


def _key(key: str) -> str:
    return key if key.replace("-", "").isalnum() else f'"{key}"'


def _cargo_configs(project: Project) -> list[Path]:
    """The cargo config files a cargo run in the workspace root reads (cargo's order)."""
    return cargo.config_files(project.workspace_root)


def redirects(project: Project, settings: CargoSettings) -> list[str]:
    """What can point the build's cargo away from the manifest's pyo3 entries, named: `--config`
    values and config files (from the build's folder upwards, the cargo home) that patch pyo3
    crates, override paths or replace a source, and the manifest's [replace] and [patch] tables
    of other registries."""
    found = []
    for value, source in zip(settings.configs, settings.sources):
        doc, path = cargo.config_value(value, settings.cwd)
        if _redirecting(doc):
            found.append(source + (f" ({path})" if path else ""))
    for config in cargo.config_files(settings.cwd):
        entries = _redirecting(cargo.read_config(config))
        if entries:
            found.append(f"{config} ({'; '.join(entries)})")
    doc = textfile.read(project.workspace_manifest).parse().unwrap()
    entries = _pyo3_patches(doc, skip_crates_io=True)
    replace = doc.get("replace")
    entries += [f"[replace] {key}" for key in (replace if isinstance(replace, Mapping) else ())]
    if entries:
        found.append(f"{project.workspace_manifest} ({'; '.join(entries)})")
    return found


def _redirecting(doc: Mapping[str, Any]) -> list[str]:
    """The entries of a cargo config that can change where a pyo3 crate comes from."""
    found = _pyo3_patches(doc, skip_crates_io=False)
    if doc.get("paths"):
        found.append("paths")
    sources = doc.get("source")
    for key, table in sources.items() if isinstance(sources, Mapping) else ():
        if isinstance(table, Mapping) and "replace-with" in table:
            found.append(f"[source.{_key(key)}] replace-with")
    return found


def _why_unresolved(project: Project, inputs: Inputs, *, offline: bool) -> PatcherError | None:
    """The causes patcher recognizes for pyo3 crates that do not resolve to its trees: a
    [patch] of the user's that patcher does not replace, or a Cargo.lock that no longer
    matches Cargo.toml."""
    elsewhere = [
        entry
        for entry in _pyo3_patches(inputs.manifest.parse().unwrap(), skip_crates_io=True)
        if any(url in entry for url in _CRATES_IO_URLS)
    ]
    if elsewhere:
        return ProjectError(
            f"{project.workspace_manifest} patches pyo3 under the crates.io index URL "
            f"({'; '.join(elsewhere)}): cargo applies it as well as patcher's "
            "[patch.crates-io] entries",
            hint="remove that entry (patcher vendors pyo3 for you), or move it into "
            "[patch.crates-io] and run `patcher apply --force` to let patcher replace it",
        )
    for config in _cargo_configs(project):
        try:
            doc = textfile.read_toml(config).unwrap()
        except ProjectError:
            continue  # cargo itself says what is wrong with it
        entries = _pyo3_patches(doc, skip_crates_io=False)
        if entries:
            return ProjectError(
                f"the cargo config {config} patches pyo3 ({'; '.join(entries)}), and cargo "
                "lets that win over the [patch] in Cargo.toml",
                hint=f"remove those entries from {config} (patcher vendors pyo3 for you), or "
                "keep them and do not use patcher in this project",
            )
    if inputs.lock is not None:
        view = unpatched(inputs)
        try:
            resolve(project, view.manifest_text, view.lock, {}, offline=offline, locked=True)
        except ExternalError as exc:
            if "--locked" not in exc.stderr:  # cargo failed for another reason
                return None
            return ProjectError(
                f"{inputs.lock.path} is out of date: Cargo.toml no longer allows what it locks "
                "(cargo would have to update it before building)",
                hint="bring Cargo.lock up to date first (`cargo update -p pyo3`, or any "
                "`cargo build`), then run `patcher apply` again",
            )
    return None


@dataclasses.dataclass(frozen=True)
class Unpatched:
    """The project as it would be without us: our entries taken out (a user's entry that
    apply --force replaced put back), and Cargo.lock given back its registry lines."""

    manifest_text: str
    lock: TextFile | None


def unpatched(inputs: Inputs) -> Unpatched:
    rec = inputs.record
    if rec is None:
        return Unpatched(inputs.manifest.text, inputs.lock)
    text = manifest.remove_entries(inputs.manifest.text, rec.ours)
    lock = inputs.lock
    if lock is not None:
        restored = cargolock.restore_registry(lock.text, rec.pyo3_version, rec.registry)
        lock = dataclasses.replace(lock, raw=lock.encode(restored), text=restored)
    return Unpatched(text, lock)


def _top_crate(crates: tuple[str, ...]) -> str:
    """The crate to name to `cargo update -p`: the others move with it (exact pins)."""
    return next(c for c in ("pyo3", "pyo3-ffi", "pyo3-macros", "pyo3-build-config") if c in crates)


def moved_to(
    project: Project,
    view: Unpatched,
    crates: tuple[str, ...],
    version: str | None,
    *,
    offline: bool,
) -> tuple[LockedPyo3, bytes] | None:
    """Where `cargo update -p pyo3 [--precise VERSION]` takes the unpatched project (in a
    shadow): the release with the registry lines of its crates, and the Cargo.lock cargo
    wrote. None: the requirements of the workspace exclude VERSION."""
    lock = view.lock.raw if view.lock is not None else None
    with Shadow(project.workspace, view.manifest_text, lock, {}) as shadow:
        if lock is None:
            shadow.update([], offline=offline)  # a lock to move from
        args = ["-p", _top_crate(crates)]
        if version is not None:
            args += ["--precise", version]
        code, said = shadow.update(args, offline=offline, check=False)
        if code != 0:
            if version is None:
                raise ExternalError(
                    "cargo could not update pyo3 in a scratch copy of the workspace",
                    hint="see cargo's message above",
                    command=("cargo", "update", *args),
                    returncode=code,
                    stderr=said,
                )
            return None
        new_lock = shadow.lock()
    assert new_lock is not None
    locked = cargolock.pyo3_in(new_lock.decode("utf-8"), project.cargo_lock)
    return (locked, new_lock) if locked is not None else None


def newest_pinned(
    project: Project,
    view: Unpatched,
    crates: tuple[str, ...],
    current: str,
    *,
    offline: bool,
    graph: Mapping[str, Any] | None = None,
) -> tuple[LockedPyo3, bytes] | None:
    """The newest pinned, not yanked pyo3 release after `current` that the workspace's
    requirements allow (cargo decides, in a shadow); None when there is none. `graph`, a
    `cargo metadata` of the workspace already at hand: when its requirements on the pyo3
    crates exclude every such release (`pyo3 = "=0.29.3"`, `"0.28"` with no 0.28 pin newer),
    cargo is not asked (one or two `cargo update` runs, with the registry's index)."""
    later = [
        version
        for version, pin in pins.load_pins("pyo3").items()
        if not pin.yanked and Version(version) > Version(current)
    ]
    if not later or (graph is not None and not _any_allowed(graph, later)):
        return None
    newest = moved_to(project, view, crates, None, offline=offline)
    if newest is None:
        return None
    top = Version(newest[0].version)
    candidates = sorted(
        (
            version
            for version, pin in pins.load_pins("pyo3").items()
            if not pin.yanked and Version(current) < Version(version) <= top
        ),
        key=Version,
        reverse=True,
    )
    for version in candidates:
        found = newest if version == newest[0].version else None
        found = found or moved_to(project, view, crates, version, offline=offline)
        if found is not None:
            return found
    return None


def _any_allowed(graph: Mapping[str, Any], versions: list[str]) -> bool:
    """Whether any of `versions` satisfies every requirement that a package other than the
    pyo3 crates themselves (whose own are exact pins among them) puts on a pyo3 crate. True
    whenever a requirement is not understood: then cargo decides."""
    reqs = [
        str(dep.get("req", ""))
        for pkg in graph.get("packages", [])
        if pkg.get("name") not in PYO3_CRATES
        for dep in pkg.get("dependencies", [])
        if dep.get("name") in PYO3_CRATES
    ]
    for version in versions:
        verdicts = [semver_allows(req, version) for req in reqs]
        if all(v is not False for v in verdicts):
            return True
    return False


_PARTIAL = re.compile(r"^(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?$")


def semver_allows(req: str, version: str) -> bool | None:
    """Whether cargo's version requirement `req` (`^0.28`, `=0.29.3`, `>=0.20, <0.30`, `~0.28`,
    `0.28.*`, `*`) allows the release `version`; None when `req` is not understood."""
    target = tuple(int(p) for p in version.split("."))
    if len(target) != 3:
        return None
    for part in (p.strip() for p in req.split(",")):
        op = next((o for o in (">=", "<=", "=", ">", "<", "~", "^") if part.startswith(o)), "")
        found = _PARTIAL.match(part[len(op) :].strip())
        if part == "*":
            continue
        if found is None:
            return None
        nums = [int(g) for g in found.groups() if g is not None and g != "*"]
        if "*" in part:
            if op:
                return None
            op = "="  # 0.28.* is =0.28, 1.* is =1
        low, high = _bounds(op or "^", nums)
        if low is None and high is None:
            return None
        if (low is not None and target < low) or (high is not None and target >= high):
            return False
    return True


def _bounds(op: str, nums: list[int]) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """[low, high) of a comparator as cargo reads it (partial versions filled as cargo
    fills them); (None, None) when it cannot say."""
    full = tuple(nums + [0] * (3 - len(nums)))
    # just above everything the (partial) version names: 0.28 -> 0.29.0, 1 -> 2.0.0, and
    # 0.28.3 -> 0.28.4 (releases only: pre-release requirements are not understood above)
    above = tuple(nums[:-1] + [nums[-1] + 1] + [0] * (3 - len(nums)))
    if op == "=":
        return full, above
    if op == ">=":
        return full, None
    if op == ">":
        return above, None
    if op == "<":
        return None, full
    if op == "<=":
        return None, above
    if op == "~":
        if len(nums) == 1:
            return full, (nums[0] + 1, 0, 0)
        return full, (full[0], full[1] + 1, 0)
    if op == "^":
        first = next((i for i, n in enumerate(nums) if n != 0), None)
        if first is None:  # ^0, ^0.0, ^0.0.0
            return full, above
        bump = [0, 0, 0]
        bump[:first] = full[:first]
        bump[first] = full[first] + 1
        return full, tuple(bump)
    return None, None


def lock_file(project: Project, raw: bytes, like: TextFile | None) -> TextFile:
    """Cargo.lock bytes cargo wrote, as a TextFile in the conventions of the project's."""
    text = textfile.decode(project.cargo_lock, raw).text
    if like is None:
        return textfile.decode(project.cargo_lock, raw)
    return dataclasses.replace(like, raw=like.encode(text), text=text)
