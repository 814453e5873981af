"""`patcher verify`: is the project exactly as `apply` left it, and does cargo use our trees?"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from patcher import cargo, maturin, patches, pins, sources, trees
from patcher.apply import pyo3_outside_vendor
from patcher.errors import PatcherError
from patcher.lockfile import State, pyo3_in_lock
from patcher.patched import patched_pyo3
from patcher.project import discover


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [dataclasses.asdict(c) for c in self.checks]}

    def render(self) -> str:
        lines = [
            f"{'ok  ' if c.ok else 'FAIL'} {c.name}" + (f": {c.detail}" if c.detail else "")
            for c in self.checks
        ]
        return "\n".join(lines) + "\n"


def _expected_file_digests(state: State, crate: str, offline: bool) -> dict[str, str] | None:
    """Per-file digests of what apply vendored, re-derived from the cache (or the source)."""
    try:
        pin = pins.get_pin("pyo3", state.pyo3_version)
        pristine = sources.pristine_pyo3(pin, source=state.source, offline=offline)
        patched = patched_pyo3(pristine, patches.select_variant("pyo3", state.pyo3_version))
    except PatcherError:
        return None
    if patched.digests.get(crate) != state.digests.get(crate):
        return None
    return trees.file_digests(patched.directories[crate])


def verify(directory: Path, *, offline: bool = False) -> Report:
    project = discover(directory)
    checks: list[Check] = []
    state = State.load(project.state_file)
    if state is None:
        return Report(
            (Check("applied", False, f"no {project.state_file.name}: run `patcher apply`"),)
        )
    checks.append(Check("applied", True, f"pyo3 {state.pyo3_version}, {state.variant}"))

    # pins: the recorded pin is still ours, and the lock still wants that release
    try:
        pin = pins.get_pin("pyo3", state.pyo3_version)
        same = (pin.commit, pin.tag) == (state.commit, state.tag)
        checks.append(
            Check(
                "pin", same, "" if same else f"lock file says {state.commit}, pins say {pin.commit}"
            )
        )
    except PatcherError as exc:
        checks.append(Check("pin", False, exc.message))
    locked = pyo3_in_lock(project.cargo_lock) if project.cargo_lock.exists() else None
    if locked is not None:
        same = locked.version == state.pyo3_version
        checks.append(
            Check(
                "lock",
                same,
                ""
                if same
                else f"Cargo.lock wants pyo3 {locked.version}, vendored is {state.pyo3_version}: "
                "run `patcher refresh`",
            )
        )

    # maturin: the release isolated builds get is still the one [build-system] asks for
    try:
        wanted = maturin.wanted_version(project)
        same = wanted == state.maturin
        checks.append(
            Check(
                "maturin",
                same,
                ""
                if same
                else f"[build-system] requires now gets maturin {wanted or '(none)'}, the lock "
                f"file has {state.maturin or '(none)'}: run `patcher refresh`",
            )
        )
    except PatcherError as exc:
        checks.append(Check("maturin", False, exc.message))

    # the vendored trees: unchanged, and carrying the patch
    root = project.workspace_root
    for crate in state.crates:
        tree = root / state.vendor_dir / f"{crate}-{state.pyo3_version}"
        if not tree.is_dir():
            checks.append(Check(f"tree {crate}", False, f"{tree} is missing"))
            continue
        actual = trees.file_digests(tree)
        if trees.tree_digest(actual) == state.digests.get(crate):
            checks.append(Check(f"tree {crate}", True))
            continue
        expected = _expected_file_digests(state, crate, offline)
        if expected is None:
            checks.append(Check(f"tree {crate}", False, "content differs from what apply wrote"))
        else:
            diff = trees.diff_digests(expected, actual)
            named = "; ".join(f"{k}: {', '.join(v)}" for k, v in diff.items() if v)
            checks.append(Check(f"tree {crate}", False, named))
    build_config = (
        root / state.vendor_dir / f"pyo3-build-config-{state.pyo3_version}" / "src" / "impl_.rs"
    )
    if "pyo3-build-config" in state.crates:
        has = build_config.is_file() and "PYO3_BASE_PYTHON" in build_config.read_text("utf-8")
        checks.append(
            Check("patch applied", has, "" if has else f"{build_config} lacks the change")
        )

    # cargo: every pyo3 crate resolves to our trees (read-only: --locked)
    try:
        data, stderr = cargo.metadata(
            project.workspace_manifest, offline=offline, locked=project.cargo_lock.exists()
        )
        wrong = pyo3_outside_vendor(data, root / state.vendor_dir)
        unused = [ln.strip() for ln in stderr.splitlines() if cargo.NOT_USED_MARKER in ln]
        problems = wrong + unused
        checks.append(
            Check("cargo resolves pyo3 to the vendored trees", not problems, "; ".join(problems))
        )
    except PatcherError as exc:
        checks.append(
            Check(
                "cargo resolves pyo3 to the vendored trees",
                False,
                str(exc).splitlines()[0] + " (is Cargo.lock up to date?)",
            )
        )
    return Report(tuple(checks))
