"""`patcher matrix`: one command writes every coverage matrix, a row per release, and a
release that cannot be had or patched gets a row that says so."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import tomlkit
from helpers import REPO_ROOT, run_patcher

from patcher.upstreams import variants

APPLIES = re.compile(r"^(exact|offset [+-]\d+(, [+-]\d+)*)$")


def _pins_subset(dest: Path, upstream: str, versions: list[str]) -> None:
    doc = tomlkit.parse((REPO_ROOT / "vendor/pins" / f"{upstream}.toml").read_text("utf-8"))
    subset = tomlkit.document()
    releases = tomlkit.table(is_super_table=True)
    for version in versions:
        releases.add(version, doc["release"][version])
    subset.add("release", releases)
    (dest / f"{upstream}.toml").write_text(tomlkit.dumps(subset), encoding="utf-8")


def _rows(text: str) -> dict[tuple[str, str], list[str]]:
    """(release, kind) -> the other cells; kind "" where the matrix has no kind column."""
    rows = {}
    with_kind = "| release | kind |" in text
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| release"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            kind = cells.pop(1) if with_kind else ""
            rows[(cells[0], kind)] = cells[1:]
    return rows


def test_one_command_regenerates_every_matrix(tmp_path: Path) -> None:
    pins_dir = tmp_path / "pins"
    pins_dir.mkdir()
    chosen = {"pyo3": ["0.20.0", "0.29.2"], "maturin": ["1.4.0", "1.16.0"]}
    for upstream, versions in chosen.items():
        _pins_subset(pins_dir, upstream, versions)
    out = tmp_path / "docs"
    out.mkdir()
    env = {"PYO3_PATCHER_PINS_DIR": str(pins_dir)}
    result = run_patcher("matrix", "--check", "none", "--output-dir", out, env=env)
    assert result.returncode == 0, result.stderr
    texts = {u: (out / f"coverage-{u}.md").read_text("utf-8") for u in chosen}
    assert result.stdout == texts["pyo3"] + texts["maturin"]
    for upstream, text in texts.items():
        assert f"Produced by `patcher matrix --check none --output-dir {out.as_posix()}`" in text
        rows = _rows(text)
        kinds = variants.kinds(upstream)
        # one row per release and kind of change, in order
        assert list(rows) == [(v, k) for k in kinds for v in chosen[upstream]], text
        for (version, kind), (variant, applies, checked, source) in rows.items():
            assert variant == variants.select_variant(upstream, version, kind).name
            assert APPLIES.match(applies), (version, applies)
            assert (checked, source) == ("-", "crates.io")


def test_a_release_that_cannot_be_had_or_patched_says_so(tmp_path: Path) -> None:
    pins_dir = tmp_path / "pins"
    pins_dir.mkdir()
    (pins_dir / "pyo3.toml").write_text(
        '[release."0.22.6"]\ntag = "v0.22.6"\ncommit = "' + "1" * 40 + '"\n'
        '[release."0.29.2"]\ntag = "v0.29.2"\n'
        'commit = "a70d17f898df41b3d1632ee987f624f5222d8d39"\n',
        encoding="utf-8",
    )
    patches = tmp_path / "patches"
    shutil.copytree(REPO_ROOT / "patches", patches)
    variant_file = patches / "pyo3" / "base-python-v2.patch"
    # context that no release has: the variant cannot apply
    variant_file.write_text(
        variant_file.read_text("utf-8").replace(
            '    println!("cargo:rerun-if-env-changed=PYO3_ENVIRONMENT_SIGNATURE");',
            '    println!("cargo:rerun-if-env-changed=SOMETHING_ELSE");',
        ),
        encoding="utf-8",
    )
    env = {"PYO3_PATCHER_PINS_DIR": str(pins_dir), "PYO3_PATCHER_PATCHES_DIR": str(patches)}
    result = run_patcher("matrix", "pyo3", "--check", "none", env=env)
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    refused = rows[("0.22.6", "")]
    assert refused[1].startswith("NO SOURCE: published crate") and "was built from" in refused[1]
    assert refused[3] == "refused"
    assert rows[("0.29.2", "")][1].startswith("NO"), rows[("0.29.2", "")]
