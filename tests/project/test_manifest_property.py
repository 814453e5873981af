"""Property: on any Cargo.toml, apply then remove gives back the exact bytes, applying twice
equals applying once, and a re-apply for another release (refresh, update) still removes to
the user's bytes. Pure text functions, so hypothesis can try many shapes."""

from __future__ import annotations

from pathlib import Path

import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from patcher.project import manifest, textfile

WANTED = {
    "pyo3": ".pyo3-patcher/pyo3-0.22.6",
    "pyo3-build-config": ".pyo3-patcher/pyo3-build-config-0.22.6",
    "pyo3-ffi": ".pyo3-patcher/pyo3-ffi-0.22.6",
}

names = st.sampled_from(["serde", "libc", "rand", "my-crate", "indoc", "syn"])
comments = st.sampled_from(["", "  # why", "    # aligned  comment", "# é ünïcode"])
blank = st.sampled_from(["", "\n", "\n\n"])


@st.composite
def dependency_line(draw: st.DrawFn) -> str:
    name = draw(names)
    style = draw(st.sampled_from(["plain", "inline", "dotted"]))
    if style == "plain":
        line = f'{name} = "1.0"'
    elif style == "inline":
        line = f'{name} = {{ version = "1", features = ["a"] }}'
    else:
        line = f'{name}.version = "1"'
    return line + draw(comments)


@st.composite
def cargo_toml(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append("# a comment at the top" + draw(blank))
    parts.append('[package]\nname = "x"\nversion = "0.1.0"' + draw(comments) + "\n")
    parts.append(draw(blank))
    deps = draw(
        st.lists(dependency_line(), max_size=4, unique_by=lambda s: s.split()[0].split(".")[0])
    )
    parts.append('[dependencies]\npyo3 = { version = "0.22" }\n' + "".join(d + "\n" for d in deps))
    if draw(st.booleans()):
        parts.append(draw(blank) + "[patch.crates-io]" + draw(comments) + "\n")
        if draw(st.booleans()):
            parts.append("# their own patches\n")
        parts.append('libc = { git = "https://example.invalid/libc" }' + draw(comments) + "\n")
    if draw(st.booleans()):
        parts.append(draw(blank) + "[profile.release]\nlto = true\n")
    text = "".join(parts)
    if draw(st.booleans()):
        text = text.rstrip("\n")  # no final newline
    tomlkit.parse(text)  # generated input must itself be valid TOML
    return text


def _apply(text: str, wanted: dict[str, str] = WANTED) -> manifest.PatchEdit:
    return manifest.plan_entries(text, wanted, manifest.Ours(), force=False)


def _remove(edit: manifest.PatchEdit) -> str:
    return manifest.remove_entries(edit.text, edit.ours)


@settings(max_examples=300, deadline=None)
@given(cargo_toml())
def test_apply_then_remove_gives_back_the_exact_bytes(text: str) -> None:
    edit = _apply(text)
    assert manifest.patch_entries(edit.text).keys() >= WANTED.keys()
    assert _remove(edit) == text


@settings(max_examples=300, deadline=None)
@given(cargo_toml())
def test_apply_twice_equals_apply_once(text: str) -> None:
    once = _apply(text)
    twice = manifest.plan_entries(once.text, WANTED, once.ours, force=False)
    assert twice == once


NEWER = {name: path.replace("0.22.6", "0.23.5") for name, path in WANTED.items()}


@settings(max_examples=200, deadline=None)
@given(cargo_toml(), st.sampled_from([NEWER, {"pyo3-ffi": NEWER["pyo3-ffi"]}]))
def test_reapply_for_another_release_then_remove_gives_back_the_bytes(
    text: str, newer: dict[str, str]
) -> None:
    first = _apply(text)
    second = manifest.plan_entries(first.text, newer, first.ours, force=False)
    assert {k: v for k, v in manifest.patch_entries(second.text).items() if k in WANTED} == {
        name: {"path": path} for name, path in newer.items()
    }
    assert _remove(second) == text


@settings(max_examples=200, deadline=None)
@given(cargo_toml(), st.booleans(), st.booleans())
def test_crlf_and_byte_order_mark_survive_apply_and_remove(
    text: str, crlf: bool, bom: bool
) -> None:
    raw = text.replace("\n", "\r\n") if crlf else text
    data = (textfile.BOM if bom else b"") + raw.encode("utf-8")
    file = textfile.decode(Path("Cargo.toml"), data)
    edit = _apply(file.text)
    applied = file.encode(edit.text)
    assert applied.startswith(textfile.BOM) == bom
    if crlf:
        assert b"\n" not in applied.replace(b"\r\n", b"")  # no bare LF added
    again = textfile.decode(Path("Cargo.toml"), applied)
    assert again.encode(_remove(edit)) == data


@settings(max_examples=200, deadline=None)
@given(cargo_toml())
def test_every_line_that_is_not_ours_survives(text: str) -> None:
    remaining = _apply(text).text.splitlines()
    for line in text.splitlines():
        assert line in remaining
