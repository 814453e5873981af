"""Why is the second isolated build not warm in CI, and what does it cost? (`patcher doctor`)

We read the repository's workflows first (project/workflows.py): what each job runs, what the patch
does there, and which CI cache to simulate; where no job runs an isolated build (maturin-action
only) nothing is built. Then we build the project the way CI does: two jobs, each on a fresh copy
of the workspace at the same path (a fresh checkout: every file with the current time), each with a
fresh build environment of a PEP 517 frontend, job 2 with the target/ job 1 left, saved and
restored (mtimes kept) by a CI cache: Swatinem/rust-cache, whose cleaning before the save is
emulated (patcher/cicache.py), or a plain tar cache. A patched project runs `patcher env --ci` in
each job as docs/ci.md's recipe does, unless its workflows run `patcher env` without it (or
`--ci-mode off` says so). cargo's fingerprint log of job 2 says which crates it recompiled and the
first cause of each (cargolog.py); artifacts the cache dropped are named as such.

The jobs run in a scratch folder, so nothing of the project changes: no Cargo.lock appears in a
project that keeps none, build scripts may write where they like, and the project's target/
keeps the fingerprints of the user's own builds. Job 1 starts cold and is not judged.
`--target-dir` names a target dir the two jobs share in place instead (a self-hosted runner's),
which is then updated.

One module per job, behind the names here (which the command and the tests use):
planning.py (what doctor will build, and how), jobs.py (the two CI jobs and their builds),
judging.py (each recompiled crate's cause and what fixes it), findings.py (the diagnosis, its
text and JSON).
"""

from __future__ import annotations

from patcher.project.doctor.findings import APPLY_AND_ENV, CI_ENV, SCHEMA, Diagnosis, Finding
from patcher.project.doctor.jobs import run
from patcher.project.doctor.judging import CACHE_DROPPED, CHECKOUT, judge
from patcher.project.doctor.planning import (
    CACHE_CHOICES,
    CI_MODES,
    FRONTEND_CHOICES,
    ONE_CHECKOUT,
    Plan,
    plan,
)

__all__ = [
    "APPLY_AND_ENV",
    "CACHE_CHOICES",
    "CACHE_DROPPED",
    "CHECKOUT",
    "CI_ENV",
    "CI_MODES",
    "FRONTEND_CHOICES",
    "ONE_CHECKOUT",
    "SCHEMA",
    "Diagnosis",
    "Finding",
    "Plan",
    "judge",
    "plan",
    "run",
]
