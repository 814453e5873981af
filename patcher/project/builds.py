"""The patched maturin a project's isolated builds get, as its settings ask."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from patcher import frontends
from patcher.project.discovery import Project

if TYPE_CHECKING:
    from patcher.upstreams.maturin import MaturinBuild

# upstreams.maturin (packaging's requirements, zip and wheel code) is imported by the functions
# that use it: `patcher env --ci --end-of-job` imports this module and builds no maturin.


def wanted_maturin(project: Project) -> str:
    """The local version of the patched maturin for the project ("" if it does not build with
    maturin); raises when no pinned release satisfies its build requirement."""
    from patcher.upstreams import maturin

    config = project.config
    return maturin.wanted_version(project.build_requires, config.maturin, config.maturin_patch)


def patched_maturin(project: Project, *, offline: bool = False) -> MaturinBuild:
    """The patched maturin wheel for the project, made once (cached)."""
    from patcher.upstreams import maturin

    config = project.config
    return maturin.build_for_project(
        project.build_requires,
        config.maturin,
        kind=config.maturin_patch,
        url=config.maturin_url,
        offline=offline,
    )


def frontend_environment(build: MaturinBuild) -> dict[str, str]:
    """What `patcher env` prints: the variables that make pip, build and uv install `build`
    into their isolated build environments (a PIP_FIND_LINKS of the user's kept)."""
    from patcher.upstreams import sources

    return frontends.environment(
        wheel=build.wheel,
        version=build.local_version,
        digest=sources.sha256_of(build.wheel),
        existing=os.environ,
        pip_build_constraints=frontends.pip_has_build_constraints(),
    )
