"""What an upstream is to us: the one interface pins, variants, refresh and the matrix use.

An upstream is a git repository whose releases we pin (vendor/pins/<name>.toml) and patch
(patches/<name>/, one or more variants per kind of change). What differs between pyo3 and
maturin is only where a release's files come from, how the files a variant touches are laid
out for `git apply`, and how a patched release is checked; each upstream module implements
just that. Adding a third upstream is one module here plus its pins and patches.
"""

from __future__ import annotations

import abc
import dataclasses
import os
from pathlib import Path

from patcher import git
from patcher.errors import UsageError
from patcher.upstreams import sources
from patcher.upstreams.pins import Pin
from patcher.upstreams.variants import Variant


class Upstream(abc.ABC):
    name: str  # as in pins and patches: "pyo3"
    default_url: str  # its git repository
    published_crate: str  # the crate whose .cargo_vcs_info.json names a release's commit
    registry_crates: tuple[str, ...] = ()  # its crates on crates.io, anchored by checksum
    matrix_preamble: tuple[str, ...] = ()

    def default_check(self, kind: str) -> str:
        """Which releases the coverage matrix checks by default: "all", or "ends" where a
        check is expensive (the first and last release of each variant, and the newest)."""
        del kind
        return "all"

    def describe(self, pin: Pin, *, url: str) -> Pin:
        """A new pin with what else this upstream records of a release: here the crates.io
        checksum of each of its crates the registry index lists (the anchor its registry
        source is checked against, offline too)."""
        del url
        return dataclasses.replace(pin, crates=sources.listed_checksums(pin, self.registry_crates))

    def url(self, configured: str | None = None) -> str:
        """The git URL: PYO3_PATCHER_<NAME>_URL, then the project's setting (checked where
        it is read), then upstream. A URL is data: one git would read as an option or a
        program is refused (UsageError)."""
        variable = f"PYO3_PATCHER_{self.name.upper()}_URL"
        env = os.environ.get(variable)
        if env:
            problem = git.url_problem(env)
            if problem is not None:
                raise UsageError(
                    f"{variable} = {env!r} is not a git URL patcher fetches from: {problem}",
                    hint=git.URL_HINT + f"; or unset {variable}",
                )
        return env or configured or self.default_url

    @abc.abstractmethod
    def stage_files(
        self, pin: Pin, files: tuple[str, ...], dest: Path, *, url: str, source: str
    ) -> str:
        """Lay the files `files` (repository paths) of the release out under `dest` as they
        sit in its repository, so that a variant's paths resolve; return where they came
        from ("git" or "crates.io")."""

    @abc.abstractmethod
    def check(self, pin: Pin, variant: Variant, *, url: str, source: str) -> str:
        """Patch the whole release with `variant`, then compile- and behaviour-check it;
        return what was shown, or raise PatchError."""
