"""`patcher update [--precise X.Y.Z]`: move a patched project to another pinned pyo3 release.

With our `[patch]` in place, `cargo update -p pyo3 --precise X` is a silent no-op (the path
crates satisfy the lock). So update does what cargo would do to the project without us, in a
shadow: take our entries out, give Cargo.lock its registry lines back, `cargo update -p pyo3`
(`--precise X`, or the newest release the requirements allow that we pin), and then applies
the patched release to that, all or nothing. `remove` afterwards gives back the Cargo.lock
that cargo's own update would have left.
"""

from __future__ import annotations

from pathlib import Path

from patcher.errors import ProjectError
from patcher.project import apply, resolve
from patcher.project.apply import Options, Result
from patcher.project.discovery import opened
from patcher.upstreams import pins


def run_update(
    directory: Path, *, precise: str | None, dry_run: bool = False, offline: bool = False
) -> Result | None:
    """Update and return what was (or would be) done; None when pyo3 is already at the newest
    pinned release the requirements allow."""
    with opened(directory) as project:
        inputs = resolve.read_inputs(project)
        rec = inputs.record
        if rec is None:
            raise apply.no_record(project)
        view = resolve.unpatched(inputs)
        if precise is not None:
            pins.get_pin("pyo3", precise)  # not pinned: exit 8 with a hint
            moved = resolve.moved_to(project, view, rec.crates, precise, offline=offline)
            if moved is None:
                raise ProjectError(
                    f"the pyo3 requirements of the workspace do not allow pyo3 {precise}",
                    hint=f'change the requirement in Cargo.toml (e.g. pyo3 = "{precise}") '
                    "and run `patcher update` again",
                )
        else:
            moved = resolve.newest_pinned(
                project, view, rec.crates, rec.pyo3_version, offline=offline
            )
            if moved is None:
                return None
        locked, new_lock = moved
        base = resolve.lock_file(project, new_lock, inputs.lock) if inputs.lock else None
        options = Options(dry_run=dry_run, offline=offline)
        release = apply.prepare(project, rec, locked.version, options)
        result = apply.plan_apply(project, inputs, locked, release, force=False)
        staged = apply.stage(result, inputs, release, offline=offline, base=base)
        if not dry_run:
            staged = apply.commit(staged)
        return staged
