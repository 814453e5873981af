"""What doctor found, and how it says it: one finding per recompiled crate, the diagnosis
(verdict, advice), its text and its JSON (`--json`, schema 1)."""

from __future__ import annotations

import dataclasses
from typing import Any

from patcher.cargolog import Cause
from patcher.project.doctor.planning import ONE_CHECKOUT, Plan

SCHEMA = 1
APPLY_AND_ENV = "patcher apply + patcher env --ci"
CI_ENV = "patcher env --ci"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One crate cargo recompiled in the second build."""

    name: str
    version: str
    own: bool  # a crate of the project (a path dependency that is not pyo3)
    cause: Cause
    via: tuple[str, ...]  # when rebuilt for a dependency: the crates whose own causes it follows
    fix: str | None  # the command that fixes it, when patcher does
    advice: str | None  # what the user can do, when patcher does not
    seconds: float  # time cargo spent on this crate's units in the second build
    category: str  # "patcher", "own" or "other"

    @property
    def fixed_by_patcher(self) -> bool:
        return self.category == "patcher"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "own": self.own,
            "cause": dataclasses.asdict(self.cause),
            "via": list(self.via),
            "fixed_by_patcher": self.fixed_by_patcher,
            "fix": self.fix,
            "advice": self.advice,
            "seconds": round(self.seconds, 2),
            "category": self.category,
        }


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    plan: Plan
    build_seconds: tuple[float, float]
    findings: tuple[Finding, ...]
    dropped: tuple[str, ...] = ()  # packages whose artifacts the CI cache did not keep
    # the project's own crates, recompiled because a fresh checkout gives their files new
    # mtimes: every CI job does that, and it is not a finding
    checkout: tuple[str, ...] = ()
    nothing_to_gain: tuple[str, ...] = ()  # why the patch can gain nothing (gains.py)

    @property
    def warm(self) -> bool:
        """Job 2 of the simulation recompiled no crate."""
        return not self.findings

    @property
    def judged(self) -> bool:
        """The simulated jobs are a setup the workflows run (or no workflow says otherwise):
        only then is "warm" said of the project's CI."""
        return self.plan.simulate and self.plan.matches_ci

    def count(self, category: str) -> int:
        return sum(1 for f in self.findings if f.category == category)

    def seconds(self, category: str | None = None) -> float:
        """Cargo's time on the recompiled crates (of one category)."""
        return sum(f.seconds for f in self.findings if category in (None, f.category))

    @property
    def fix_command(self) -> str:
        if not self.plan.patched:
            return "`patcher apply` + `patcher env --ci`"
        return "`patcher verify`" if self.plan.ci_mode else "`patcher env --ci` in CI"

    def verdict(self) -> str:
        plan = self.plan
        if not plan.simulate:
            return f"nothing simulated: {plan.cache_why}"
        if not plan.matches_ci:
            found = (
                "job 2 recompiled no crate"
                if self.warm
                else f"job 2 recompiled {len(self.findings)} crates (see below)"
            )
            return f"not what your CI runs (see builds): {found}"
        if self.warm:
            return "the second build is warm: cargo recompiled no crate" + (
                " but the project's own" if self.checkout else ""
            )
        fixed = self.count("patcher")
        parts = [] if self.plan.patched else [f"{fixed} fixed by {self.fix_command}"]
        parts.append(f"{self.count('own')} in your own build scripts")
        if self.count("other"):
            parts.append(f"{self.count('other')} elsewhere")
        if self.plan.patched and fixed:
            parts.append(f"{fixed} that the patch should keep warm (run {self.fix_command})")
        n = len(self.findings)
        crates = "1 crate recompiles" if n == 1 else f"{n} crates recompile"
        return f"{crates}: {', '.join(parts)}: see below"

    def advice(self) -> list[str]:
        found = [f"the patch can gain nothing here: {why}" for why in self.nothing_to_gain]
        flows = self.plan.workflows
        in_ci = flows.gains_nothing()
        if in_ci is not None:
            found.insert(
                0,
                f"the patch can gain nothing in this CI: {in_ci}; "
                + (
                    f"keep it for the isolated builds of {' and '.join(flows.tools)}"
                    if flows.tools
                    else "`patcher apply` patches such a project only with --force (for "
                    "isolated builds elsewhere: pip, uv or tox on your machine)"
                ),
            )
        found += [f.advice for f in self.findings if f.advice]
        if self.count("patcher"):
            saved = self.seconds("patcher")
            found.insert(
                0,
                f"{self.fix_command} "
                + (
                    "should have made these crates warm; it reports what is off"
                    if self.plan.patched
                    else f"saves about {saved:.1f} s of cargo time per isolated build"
                ),
            )
        return list(dict.fromkeys(found))

    def as_json(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "schema": SCHEMA,
            "project": str(plan.project),
            "frontend": plan.frontend,
            "patched": plan.patched,
            "maturin": plan.maturin,
            "target_dir": None if plan.target_dir is None else str(plan.target_dir),
            "ci": {
                "cache": None if plan.target_dir is not None or not plan.simulate else plan.cache,
                "ci_mode": plan.ci_mode,
                "ci_mode_why": plan.ci_mode_why,
                "dropped_by_cache": list(self.dropped),
                "own_crates_of_the_checkout": list(self.checkout),
            },
            "builds": [{"seconds": round(s, 2)} for s in self.build_seconds if plan.simulate],
            # None: no job of the workflows runs the simulated setup, so nothing is said of it
            "warm": self.warm if self.judged else None,
            "crates": [f.as_json() for f in self.findings],
            "summary": {
                "recompiled": len(self.findings),
                "fixed_by_patcher": self.count("patcher"),
                "own_build_scripts": self.count("own"),
                "other": self.count("other"),
                "seconds_recompiling": round(self.seconds(), 2),
                "seconds_fixed_by_patcher": round(self.seconds("patcher"), 2),
            },
            "verdict": self.verdict(),
            "advice": self.advice(),
            "nothing_to_gain": list(self.nothing_to_gain),  # added last: earlier keys keep order
            "workflows": {
                **plan.workflows.as_json(plan.pyo3),
                "simulated": plan.simulate,
                "matches_ci": plan.matches_ci,
                "cache_why": plan.cache_why,
            },
        }

    def render(self) -> str:
        plan = self.plan
        first, second = self.build_seconds
        state = f"patched, maturin {plan.maturin}" if plan.patched else "not patched"
        target = (
            "one checkout, its target/ kept"
            if plan.cache == ONE_CHECKOUT
            else f"target/ saved and restored by {plan.cache}"
            if plan.target_dir is None
            else f"target dir {plan.target_dir} kept in place"
        )
        mode = ""
        if plan.patched:
            mode = f"; {CI_ENV} " + ("in each job" if plan.ci_mode else "not run")
            mode += f" ({plan.ci_mode_why})" if plan.ci_mode_why else ""
        lines = [f"project: {plan.project} ({state})", *self._workflow_lines()]
        if plan.simulate:
            why = f" ({plan.cache_why})" if plan.cache_why and plan.target_dir is None else ""
            lines.append(
                f"builds: two CI jobs with {plan.frontend}, each a fresh checkout at one path and "
                f"a fresh build environment, {target}{why}{mode}: "
                f"job 1 {first:.1f} s, job 2 {second:.1f} s"
            )
        else:
            lines.append("builds: none")
        lines.append("")
        if self.findings:
            rows = [("crate", "cause", "fixed by patcher", "seconds")]
            for f in self.findings:
                cause = f.cause.text if not f.via else f"rebuilt because {', '.join(f.via)} was"
                fixed = f"yes: {f.fix}" if f.fixed_by_patcher else "no"
                rows.append((f"{f.name} {f.version}", cause, fixed, f"{f.seconds:.1f}"))
            widths = [max(len(r[i]) for r in rows) for i in range(3)]
            for r in rows:
                lines.append(
                    f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>7}"
                )
            lines.append("")
        if self.checkout:
            own = ", ".join(self.checkout)
            lines.append(f"compiled in every job, as a fresh checkout's sources are: {own}")
        lines.append(f"verdict: {self.verdict()}")
        for item in self.advice():
            lines.append(f"  - {item}")
        return "\n".join(lines) + "\n"

    def _workflow_lines(self) -> list[str]:
        """What doctor read of the workflows: each job's setups and what the patch does there."""
        found = self.plan.workflows
        lines = []
        for job in found.jobs:
            lines.append(f"  {job.where()}: {', '.join(job.setups)}")
            lines += [f"    - {note}" for note in job.notes(self.plan.pyo3)]
        lines += [f"  not read: {problem}" for problem in found.problems]
        lines += [
            f"  {name}: present, not read (doctor never imports or runs it)" for name in found.tools
        ]
        if not lines:
            return []
        return ["workflows:", *lines]
