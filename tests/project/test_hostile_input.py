"""Generated malformed input through apply, verify and remove: never a traceback or exit 70,
nothing outside the project touched, and the project byte-identical on every refusal.

The commands run in-process through `patcher.cli.main` (the same entry point as the
`patcher` script), --offline against a warm cache, so each example costs only cargo's
resolution."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from helpers import snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patcher import cli

BUG = 70
COMMANDS = ("apply", "verify", "remove")
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _run(
    template: Path,
    where: Path,
    command: str,
    mutate: Callable[[Path], None],
) -> None:
    sandbox = where / "sandbox"
    if sandbox.exists():
        shutil.rmtree(sandbox)
    sandbox.mkdir()
    project = sandbox / "example"
    shutil.copytree(template, project, symlinks=True)
    outside = sandbox / "outside" / ".pyo3-patcher" / "pyo3-ffi-0.28.3"
    outside.mkdir(parents=True)
    (outside / "precious.rs").write_text("// not patcher's\n", encoding="utf-8")
    mutate(project)
    before = snapshot(sandbox)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([command, "--project", str(project), "--offline"])
    said = out.getvalue() + err.getvalue()
    assert code != BUG, said
    assert "Traceback" not in said
    after = snapshot(sandbox)
    outside_now = {k: v for k, v in after.items() if k.startswith("outside/")}
    assert outside_now == {k: v for k, v in before.items() if k.startswith("outside/")}
    refused = code != 0 and not (command == "verify" and code == 7)
    if refused:
        assert after == before, said
        assert "error:" in said and "hint:" in said, said


ODD_VALUES = st.one_of(
    st.integers(),
    st.booleans(),
    st.text(max_size=30),
    st.lists(st.text(max_size=10), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3),
    st.sampled_from(
        ["../outside", "/etc", "..", "a/../b", "C:\\x", ".pyo3-patcher/pyo3-0.28.3", "pyo3", ""]
    ),
)


def _paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for key, value in doc.items():
        found.append((*prefix, key))
        if isinstance(value, dict):
            found += _paths(value, (*prefix, key))
    return found


@st.composite
def record_mutation(draw: st.DrawFn) -> Callable[[Path], None]:
    kind = draw(st.sampled_from(["value", "delete", "add", "bytes"]))
    value = draw(ODD_VALUES)
    choice = draw(st.integers(min_value=0, max_value=10_000))
    cut = draw(st.floats(min_value=0, max_value=1))

    def mutate(project: Path) -> None:
        path = project / "pyo3-patcher.lock"
        raw = path.read_bytes()
        if kind == "bytes":
            variants = [
                b"\xef\xbb\xbf" + raw,
                raw.replace(b"\n", b"\r\n"),
                raw[: int(len(raw) * cut)],
                raw.replace(b"0.28.3", b"0.28.\xff"),
            ]
            path.write_bytes(variants[choice % len(variants)])
            return
        doc = tomlkit.parse(raw.decode()).unwrap()
        keys = _paths(doc)
        target = keys[choice % len(keys)]
        parent = doc
        for key in target[:-1]:
            parent = parent[key]
        if kind == "value":
            parent[target[-1]] = value
        elif kind == "delete":
            del parent[target[-1]]
        else:
            parent[f"x{choice}"] = value
        path.write_text(tomlkit.dumps(doc), encoding="utf-8")

    return mutate


SNIPPETS = [
    'patch.crates-io.pyo3 = { path = "x" }\n',
    "patch = { crates-io = {} }\n",
    "dependencies = 1\n",
    'workspace = "../.."\n',
    "[patch.crates-io]\npyo3 = 1\n",
    "[patch.crates-io]\npyo3-ffi = { path = 7 }\n",
    '[patch.crates-io]\npyo3-ffi = { path = "../../../etc" }\n',
    '[patch.crates-io]\npyo3-ffi = { path = ".pyo3-patcher/pyo3-ffi-0.28.3", x = 1 }\n',
    "[patch]\ncrates-io = 3\n",
    "[[patch]]\n",
    '[package]\nname = "again"\n',
    "[dependencies]\npyo3 = { version = 3 }\n",
    '[target."cfg(unix)".dependencies]\npyo3 = "0.28.3"\n',
]


@st.composite
def text_mutation(draw: st.DrawFn, name: str) -> Callable[[Path], None]:
    kind = draw(st.sampled_from(["prepend", "append", "bom", "crlf", "truncate", "bytes"]))
    snippet = draw(st.sampled_from(SNIPPETS))
    cut = draw(st.floats(min_value=0, max_value=1))

    def mutate(project: Path) -> None:
        path = project / name
        raw = path.read_bytes()
        new = {
            "prepend": snippet.encode() + raw,
            "append": raw + b"\n" + snippet.encode(),
            "bom": b"\xef\xbb\xbf" + raw,
            "crlf": raw.replace(b"\n", b"\r\n"),
            "truncate": raw[: int(len(raw) * cut)],
            "bytes": raw.replace(b"=", b"\xfe", 1),
        }[kind]
        path.write_bytes(new)

    return mutate


@settings(SETTINGS, max_examples=60)
@given(mutate=record_mutation(), command=st.sampled_from(COMMANDS))
def test_malformed_records(
    applied_template: Path, tmp_path: Path, mutate: Callable[[Path], None], command: str
) -> None:
    _run(applied_template, tmp_path, command, mutate)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Cargo.toml", "Cargo.lock"])
@settings(SETTINGS, max_examples=25)
@given(data=st.data(), command=st.sampled_from(COMMANDS))
def test_malformed_manifests_and_cargo_locks_of_a_patched_project(
    applied_template: Path, tmp_path: Path, name: str, data: st.DataObject, command: str
) -> None:
    _run(applied_template, tmp_path, command, data.draw(text_mutation(name)))
