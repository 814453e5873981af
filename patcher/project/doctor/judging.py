"""Judging job 2's log: for every crate cargo recompiled, its first cause of its own (or the
crates it was rebuilt with), whether patcher fixes it, with which command, and what else the
user can do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patcher import cargolog
from patcher.cargolog import BuildLog, Cause, StaleUnit
from patcher.project.doctor.findings import APPLY_AND_ENV, CI_ENV, Finding
from patcher.upstreams.names import PYO3_CRATES

CACHE_DROPPED = "cache-dropped"  # our kind of cause: cargo only sees that the build is gone
CHECKOUT = "checkout"  # the category of the project's own crates rebuilt for a fresh checkout
# causes a fresh build environment gives every time, and which a patched pyo3 removes
_FIXED_BY_PATCH = {"PYO3_PYTHON"}
# set by maturin but not by plain cargo or rust-analyzer: they differ between those builds
_MATURIN_ONLY = {"PYO3_ENVIRONMENT_SIGNATURE", "PYO3_BUILD_EXTENSION_MODULE"}


def judge(
    log: BuildLog,
    graph: Mapping[str, Mapping[str, Any]],
    *,
    patched: bool,
    dropped: set[str] | frozenset[str] = frozenset(),
    fresh_checkout: bool = False,
) -> tuple[Finding, ...]:
    """A finding for every crate cargo recompiled: its first own cause, or the crates it was
    rebuilt with, whether patcher fixes it, and what it cost. `dropped`: the packages whose
    artifacts the CI cache did not keep (cargo sees only that their build is gone);
    `fresh_checkout`: the build ran in a fresh checkout, so the project's own crates are
    compiled anyway (category CHECKOUT) when nothing more than that explains it."""
    units: dict[str, list[StaleUnit]] = {}
    for unit in log.stale:
        units.setdefault(unit.package, []).append(unit)
    recompiled = [name for name, _ in log.recompiled]
    own_cause: dict[str, Cause | None] = {}
    for name in recompiled:
        causes = cargolog.root_causes(units.get(name, []))
        # a cause that is more than the fresh checkout comes first
        real = [c for c in causes if not (fresh_checkout and _checkout_only(name, c, graph))]
        own_cause[name] = next(iter(real or causes), None)
    for name in recompiled:
        cause = own_cause[name]
        own = graph.get(name, {}).get("own", False)
        if name in dropped and (cause is None or cause.kind != cargolog.ENV_CHANGED):
            if own:  # rust-cache keeps no workspace member: compiled in every job anyway
                own_cause[name] = Cause(cargolog.FILE_CHANGED, "a fresh checkout")
                continue
            own_cause[name] = Cause(
                CACHE_DROPPED, "the CI cache dropped its build: a path crate inside the workspace"
            )
        elif name not in units:  # compiled without a fingerprint at all
            own_cause[name] = Cause(cargolog.NEW_UNIT, "no earlier build of this crate here")

    def roots(name: str) -> tuple[str, ...]:
        """The recompiled crates with causes of their own that `name` depends on."""
        seen: set[str] = set()
        found: list[str] = []
        todo = list(graph.get(name, {}).get("deps", []))
        while todo:
            dep = todo.pop(0)
            if dep in seen:
                continue
            seen.add(dep)
            if own_cause.get(dep) is not None:
                found.append(dep)
            elif dep in own_cause:
                todo.extend(graph.get(dep, {}).get("deps", []))
        return tuple(found)

    verdicts = {
        name: _classify(name, cause, graph, patched=patched, fresh_checkout=fresh_checkout)
        for name, cause in own_cause.items()
        if cause is not None
    }
    findings = []
    for name, version in log.recompiled:
        own = bool(graph.get(name, {}).get("own", False))
        seconds = log.seconds.get((name, version), 0.0)
        cause = own_cause[name]
        if cause is not None:
            category, fix, advice = verdicts[name]
            findings.append(Finding(name, version, own, cause, (), fix, advice, seconds, category))
            continue
        via = roots(name)
        categories = {verdicts[v][0] for v in via}
        if via and categories == {"patcher"}:
            category = "patcher"
        elif via and categories == {CHECKOUT}:
            category = CHECKOUT
        elif "own" in categories:
            category = "own"
        else:
            category = "other"
        fix = verdicts[via[0]][1] if category == "patcher" else None
        dependency = Cause(cargolog.DEPENDENCY, "a dependency was rebuilt")
        findings.append(Finding(name, version, own, dependency, via, fix, None, seconds, category))
    return tuple(findings)


def _checkout_only(name: str, cause: Cause, graph: Mapping[str, Mapping[str, Any]]) -> bool:
    """A crate of the project recompiled because its files are newer than the cached build:
    what every fresh checkout does to the project's own sources, and not a finding."""
    if not graph.get(name, {}).get("own", False):
        return False
    return cause.kind == cargolog.FILE_CHANGED or (
        cause.kind == cargolog.OTHER and "Precalculated" in cause.text
    )


def _classify(
    name: str,
    cause: Cause,
    graph: Mapping[str, Mapping[str, Any]],
    *,
    patched: bool,
    fresh_checkout: bool = False,
) -> tuple[str, str | None, str | None]:
    """(category, fix command, advice) for a crate recompiled for a cause of its own."""
    own = bool(graph.get(name, {}).get("own", False))
    whose = f"your build script ({name})" if own else f"the build script of {name}"
    category = "own" if own else "other"
    if fresh_checkout and _checkout_only(name, cause, graph):
        return CHECKOUT, None, None
    if patched and name in PYO3_CRATES and cause.kind != cargolog.ENV_CHANGED:
        # a vendored crate that a second build in one checkout keeps warm: the CI causes
        if cause.kind == CACHE_DROPPED:
            why = (
                "rust-cache keeps only the build of crates outside the workspace root, and "
                "removed this vendored crate's before saving"
            )
        else:
            why = (
                "a fresh checkout gives the vendored files new mtimes, newer than the cached "
                f"build ({cause.text})"
            )
        advice = f"{why}: `{CI_ENV}` builds copies outside the checkout with fixed mtimes"
        return "patcher", CI_ENV, f"{advice} (docs/ci.md)"
    if cause.kind == cargolog.ENV_CHANGED:
        var = cause.variable
        if name in PYO3_CRATES and var in _FIXED_BY_PATCH:
            return "patcher", "patcher verify" if patched else APPLY_AND_ENV, None
        if var == "PYO3_PYTHON":
            return (
                category,
                None,
                f"{whose} registers `rerun-if-env-changed=PYO3_PYTHON`, which names a new venv "
                "in every isolated build: read it without registering, or watch "
                "`PYO3_BASE_PYTHON` (the same in every build once patched)",
            )
        if var in _MATURIN_ONLY:
            return (
                category,
                None,
                f"{var} is set by maturin but not by plain cargo or rust-analyzer: give those "
                "their own target dir (rust-analyzer: `rust-analyzer.cargo.targetDir`)",
            )
        return (
            category,
            None,
            f"{whose} registers `rerun-if-env-changed={var}`, which differs between isolated "
            "builds: read it without registering, or register a variable that is stable",
        )
    if cause.kind == cargolog.FILE_MISSING:
        return (
            category,
            None,
            f"{whose} registers `rerun-if-changed={cause.path}`, which does not exist, so cargo "
            "reruns it in every build: name a file that exists (cargo expands no globs)",
        )
    if cause.kind == cargolog.FILE_CHANGED:
        return (
            category,
            None,
            f"{cause.path} is newer than the last build of {name}: something rewrites it "
            "during the build; write generated files to OUT_DIR",
        )
    if cause.kind in (cargolog.NEW_UNIT, cargolog.RUSTFLAGS_CHANGED):
        return (
            category,
            None,
            f"{name} was built with other settings than in the first build (RUSTFLAGS, "
            "features, profile or compiler), or in another target dir (a frontend that "
            "builds from an unpacked sdist): make them the same, build with `--wheel`, or set "
            "`CARGO_TARGET_DIR`",
        )
    return category, None, f"cargo says {name} is stale: {cause.text}"
