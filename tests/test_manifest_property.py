"""Property: on any Cargo.toml, apply then remove gives back the exact bytes, and applying
twice equals applying once. Pure text functions, so hypothesis can try many shapes."""

from __future__ import annotations

import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from patcher import manifest

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


@settings(max_examples=300, deadline=None)
@given(cargo_toml())
def test_apply_then_remove_gives_back_the_exact_bytes(text: str) -> None:
    applied, created, spacer = manifest.set_patch_entries(text, WANTED, set())
    assert manifest.patch_entries(applied).keys() >= WANTED.keys()
    assert manifest.remove_owned_entries(applied, WANTED, created, spacer) == text


@settings(max_examples=300, deadline=None)
@given(cargo_toml())
def test_apply_twice_equals_apply_once(text: str) -> None:
    once, _created, _ = manifest.set_patch_entries(text, WANTED, set())
    twice, created_again, _ = manifest.set_patch_entries(once, WANTED, set())
    assert twice == once
    assert not created_again


@settings(max_examples=200, deadline=None)
@given(cargo_toml())
def test_every_line_that_is_not_ours_survives(text: str) -> None:
    applied, _, _ = manifest.set_patch_entries(text, WANTED, set())
    remaining = applied.splitlines()
    for line in text.splitlines():
        assert line in remaining
