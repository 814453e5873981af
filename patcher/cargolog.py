"""Read why cargo recompiled what it did, from its own logs.

With `CARGO_LOG=cargo::core::compiler::fingerprint=info` cargo says, for every unit it finds
stale, which part of the unit's fingerprint no longer matches (an environment variable a build
script registered, a file, a dependency, the compiler flags); with
`cargo::core::compiler::job_queue=debug` it marks when each unit starts and ends. Both are
`Debug` renderings of cargo's internals, not a stable interface: every pattern here is
optional, and what is not understood is reported verbatim as "other" rather than guessed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

# what a build needs in its environment for `parse` to find causes and costs
LOG_ENV = {
    "CARGO_LOG": "cargo::core::compiler::fingerprint=info,cargo::core::compiler::job_queue=debug"
}

_SPAN = re.compile(
    r"prepare_target\{[^}]*?package_id=(?P<name>[^\s}]+) v(?P<version>[^\s}]+)[^}]*?"
    r'target="(?P<target>[^"]*)"[^}]*\}: cargo::core::compiler::fingerprint: (?P<msg>.*)$'
)
_MODE = re.compile(r"fingerprint (?P<what>dirty|error) for .*?/(?P<mode>[A-Za-z]+)/Target")
_TIME = re.compile(r"^\s*(?P<seconds>\d+\.\d+)s\s")
_JOB_START = re.compile(r"cargo::core::compiler::job_queue: start \d+: (?P<unit>Unit \{.*\})\s*$")
_JOB_END = re.compile(r"cargo::core::compiler::job_queue: end \((?P<unit>Unit \{.*\})\): ")
_UNIT_PACKAGE = re.compile(r'PackageId \{ name: "(?P<name>[^"]+)", version: "(?P<version>[^"]+)"')
_COMPILING = re.compile(r"^\s*Compiling (?P<name>\S+) v(?P<version>\S+)", re.M)
_RUST_STRING = r'"(?:[^"\\]|\\.)*"'
_OPTION = rf"(?:None|Some\({_RUST_STRING}\))"
_ENV_CHANGED = re.compile(
    rf"EnvVarChanged \{{ name: (?P<name>{_RUST_STRING}), old_value: (?P<old>{_OPTION}), "
    rf"new_value: (?P<new>{_OPTION}) \}}"
)
_CHANGED_ENV = re.compile(
    rf"ChangedEnv \{{ var: (?P<name>{_RUST_STRING}), previous: (?P<old>{_OPTION}), "
    rf"current: (?P<new>{_OPTION}) \}}"
)
_MISSING = re.compile(rf"MissingFile(?: \{{ path: |\()(?P<path>{_RUST_STRING})")
_CHANGED_FILE = re.compile(
    rf"ChangedFile \{{ reference: {_RUST_STRING}.*?stale: (?P<path>{_RUST_STRING})"
)
_RUSTFLAGS = re.compile(r"RustflagsChanged \{ old: (?P<old>\[.*?\]), new: (?P<new>\[.*?\]) \}")
_DEPENDENCY = ("StaleDepFingerprint", "UnitDependencyInfoChanged", "UnitDependencyNameChanged")

# Cause.kind values (stable: `patcher doctor --json` reports them)
ENV_CHANGED = "env-changed"
FILE_MISSING = "file-missing"
FILE_CHANGED = "file-changed"
RUSTFLAGS_CHANGED = "rustflags-changed"
DEPENDENCY = "dependency"
NEW_UNIT = "new-unit"  # no earlier fingerprint: first build here, or other settings (hash)
OTHER = "other"


@dataclasses.dataclass(frozen=True)
class Cause:
    kind: str
    text: str  # cargo's words, made readable
    variable: str | None = None
    old: str | None = None
    new: str | None = None
    path: str | None = None


@dataclasses.dataclass(frozen=True)
class StaleUnit:
    package: str
    version: str
    target: str  # "build-script-build", the lib's name, ...
    mode: str  # Build, RunCustomBuild, ...
    cause: Cause


@dataclasses.dataclass(frozen=True)
class BuildLog:
    recompiled: tuple[tuple[str, str], ...]  # (name, version) in the order cargo compiled them
    stale: tuple[StaleUnit, ...]  # in the order cargo checked them
    seconds: dict[tuple[str, str], float]  # time in the units of each package, summed


def _unquote(rust: str) -> str:
    """A Rust `Debug` string literal, as text."""
    body = rust[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _option(rust: str) -> str | None:
    return None if rust == "None" else _unquote(rust[len("Some(") : -1])


def cause_of(reason: str) -> Cause:
    """What cargo's `DirtyReason` (its Debug text) means."""
    for pattern in (_ENV_CHANGED, _CHANGED_ENV):
        found = pattern.search(reason)
        if found:
            name = _unquote(found["name"])
            old, new = _option(found["old"]), _option(found["new"])
            return Cause(
                ENV_CHANGED,
                f"{name} changed: {_shown(old)} -> {_shown(new)}",
                variable=name,
                old=old,
                new=new,
            )
    found = _MISSING.search(reason)
    if found:
        path = _unquote(found["path"])
        return Cause(FILE_MISSING, f"watched file is missing: {path}", path=path)
    found = _CHANGED_FILE.search(reason)
    if found:
        path = _unquote(found["path"])
        return Cause(FILE_CHANGED, f"file is newer than the last build: {path}", path=path)
    found = _RUSTFLAGS.search(reason)
    if found:
        return Cause(
            RUSTFLAGS_CHANGED,
            f"RUSTFLAGS changed: {found['old']} -> {found['new']}",
            old=found["old"],
            new=found["new"],
        )
    if any(word in reason for word in _DEPENDENCY):
        return Cause(DEPENDENCY, "a dependency was rebuilt")
    return Cause(OTHER, reason.strip())


def _shown(value: str | None) -> str:
    return "(unset)" if value is None else repr(value)


def parse(log: str) -> BuildLog:
    """The recompiled packages of one cargo build, why, and what each cost."""
    recompiled = tuple(dict.fromkeys((m["name"], m["version"]) for m in _COMPILING.finditer(log)))
    stale: list[StaleUnit] = []
    modes: dict[tuple[str, str, str], tuple[str, str]] = {}
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for line in log.splitlines():
        span = _SPAN.search(line)
        if span is not None:
            key = (span["name"], span["version"], span["target"])
            message = span["msg"]
            head = _MODE.search(message)
            if head is not None:
                modes[key] = (head["what"], head["mode"])
                continue
            what, mode = modes.get(key, ("dirty", "?"))
            stripped = message.strip()
            if stripped.startswith("dirty: ") and what == "dirty":
                stale.append(StaleUnit(*key, mode, cause_of(stripped[len("dirty: ") :])))
            elif stripped.startswith("err: ") and what == "error":
                cause = Cause(NEW_UNIT, "no earlier build of this unit with these settings")
                stale.append(StaleUnit(*key, mode, cause))
            continue
        stamp = _TIME.match(line)
        if stamp is None:
            continue
        start = _JOB_START.search(line)
        if start is not None:
            starts.setdefault(start["unit"], float(stamp["seconds"]))
            continue
        end = _JOB_END.search(line)
        if end is not None:
            ends[end["unit"]] = float(stamp["seconds"])  # the last end: after pipelining
    seconds: dict[tuple[str, str], float] = {}
    for unit, began in starts.items():
        package = _UNIT_PACKAGE.search(unit)
        if package is None or unit not in ends:
            continue
        owner = (package["name"], package["version"])
        seconds[owner] = seconds.get(owner, 0.0) + max(0.0, ends[unit] - began)
    return BuildLog(recompiled, tuple(stale), seconds)


def root_causes(units: Iterable[StaleUnit]) -> list[Cause]:
    """The causes of a package's stale units that are its own (not a dependency's)."""
    return [u.cause for u in units if u.cause.kind != DEPENDENCY]
