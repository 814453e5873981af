"""How the PEP 517 build of a project runs: its backend, and what reaches the cargo it runs.

verify answers what that build will compile, so it reads what the build reads: the backend
and its requirement (the build must get the patched maturin, and only that can give it), and
every setting maturin hands to cargo. maturin's backend runs cargo from the folder of
pyproject.toml (so cargo reads the cargo configs from there upwards), with `--manifest-path`,
`--config` for each `[tool.maturin] config` entry (they outrank the manifest), the features
asked for, and what `MATURIN_PEP517_ARGS` adds. A setting that could change what cargo
compiles and that verify does not reproduce is named, never skipped.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from patcher.project import textfile
from patcher.project.discovery import Project

BACKEND = "maturin"
ARGS_VARIABLE = "MATURIN_PEP517_ARGS"
# settings maturin 0.x passed to cargo as they were, and cargo's -Z flags: not reproduced
_UNFOLLOWED_SETTINGS = ("cargo-extra-args", "args", "unstable-flags", "rustc-extra-args")
# rustc arguments that name crates or libraries to link against another copy of pyo3
_RUSTC_REDIRECTS = ("--extern", "--sysroot", "-Z", "@")
# MATURIN_PEP517_ARGS options that take a value and do not change what cargo resolves
_NEUTRAL_OPTIONS = {"--compatibility", "--target", "--profile", "--auditwheel", "-j", "--jobs"}
_NEUTRAL_OPTIONS |= {"-F", "--features", "--interpreter", "-i"}
_NEUTRAL_FLAGS = {"--release", "--strip", "--locked", "--frozen", "--offline", "--all-features"}
_NEUTRAL_FLAGS |= {"--no-default-features", "--skip-auditwheel", "--zig", "-q", "--quiet", "-v"}


@dataclasses.dataclass(frozen=True)
class CargoSettings:
    """What the build's cargo gets beyond the manifest."""

    cwd: Path  # where maturin's backend runs cargo: the pyproject.toml folder
    configs: tuple[str, ...]  # `--config` values, in maturin's order
    sources: tuple[str, ...]  # where each of `configs` comes from, for messages
    unfollowed: tuple[str, ...]  # settings verify does not reproduce, named


def backend_problems(project: Project) -> list[str]:
    """Why the build would not run the patched maturin as its backend (empty: it would)."""
    if project.pyproject is None:
        return []
    doc = textfile.read_toml(project.pyproject).unwrap()
    system = doc.get("build-system")
    system = system if isinstance(system, Mapping) else {}
    problems = []
    backend = system.get("build-backend")
    if backend != BACKEND:
        shown = "none (frontends then use setuptools)" if backend is None else repr(backend)
        problems.append(f'build-backend is {shown}, not "{BACKEND}"')
    if "backend-path" in system:
        problems.append(
            f"backend-path = {system['backend-path']!r} loads the backend from the checkout"
        )
    named = []
    for text in project.build_requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            problems.append(f"requires has an invalid entry {text!r}")
            continue
        if req.url:
            problems.append(f"requires {text!r} installs from a URL or path, not the patched wheel")
        if canonicalize_name(req.name) == BACKEND:
            named.append(text)
    if not named:
        problems.append("requires names no maturin")
    elif len(named) > 1:
        problems.append(f"requires names maturin {len(named)} times ({', '.join(named)})")
    return problems


def cargo_settings(project: Project, environ: Mapping[str, str] = os.environ) -> CargoSettings:
    cwd = project.pyproject.parent if project.pyproject is not None else project.directory
    tool: Mapping[str, Any] = {}
    if project.pyproject is not None:
        doc = textfile.read_toml(project.pyproject).unwrap()
        tools = doc.get("tool")
        found = tools.get("maturin") if isinstance(tools, Mapping) else None
        tool = found if isinstance(found, Mapping) else {}
    configs: list[str] = []
    sources: list[str] = []
    unfollowed: list[str] = []
    values = tool.get("config", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        unfollowed.append("[tool.maturin] config (not a list of strings)")
        values = []
    configs += values
    sources += [f"[tool.maturin] config {v!r}" for v in values]
    unfollowed += [f"[tool.maturin] {key}" for key in _UNFOLLOWED_SETTINGS if key in tool]
    rustc_args = tool.get("rustc-args", [])
    if not isinstance(rustc_args, list):
        rustc_args = [str(rustc_args)]
    unfollowed += [
        f"[tool.maturin] rustc-args {arg!r}"
        for arg in map(str, rustc_args)
        if arg.startswith(_RUSTC_REDIRECTS) or (arg.startswith("-L") and "native=" not in arg)
    ]
    more, more_unfollowed = _pep517_args(environ.get(ARGS_VARIABLE, ""))
    configs += more
    sources += [f"{ARGS_VARIABLE} --config {v!r}" for v in more]
    unfollowed += more_unfollowed
    return CargoSettings(
        cwd=cwd, configs=tuple(configs), sources=tuple(sources), unfollowed=tuple(unfollowed)
    )


def _pep517_args(text: str) -> tuple[list[str], list[str]]:
    """The `--config` values in MATURIN_PEP517_ARGS, and the options verify does not follow."""
    try:
        words = shlex.split(text)
    except ValueError:
        return [], [f"{ARGS_VARIABLE} (not shell words)"]
    configs, unfollowed = [], []
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition("=")
        if name == "--config":
            if not eq:
                i += 1
                value = words[i] if i < len(words) else ""
            configs.append(value)
        elif name in _NEUTRAL_OPTIONS and word.startswith("--") and eq:
            pass
        elif word in _NEUTRAL_OPTIONS:
            i += 1  # its value
        elif word not in _NEUTRAL_FLAGS:
            unfollowed.append(f"{ARGS_VARIABLE} {word!r}")
        i += 1
    return configs, unfollowed
