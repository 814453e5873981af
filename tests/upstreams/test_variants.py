"""Patch variants: which one claims a release, and what a patch may and may not do."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from patcher.errors import PatchError, UnsupportedRelease
from patcher.upstreams import pins
from patcher.upstreams import variants as patches


def _variant(tmp_path: Path, text: str) -> patches.Variant:
    file = tmp_path / "x.patch"
    file.write_text(text, encoding="utf-8")
    return patches.Variant("pyo3", "x", file, "0.29.2", SpecifierSet(">=0"), "MARK")


GOOD_HUNK = "@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n"


def test_every_pinned_pyo3_release_has_a_variant_that_parses() -> None:
    for version in pins.load_pins("pyo3"):
        variant = patches.select_variant("pyo3", version)
        checked = patches.check_patch(variant)
        assert checked.files == ("pyo3-build-config/src/impl_.rs",)


def test_release_outside_the_variants_is_refused() -> None:
    with pytest.raises(UnsupportedRelease, match=r"no pyo3 patch variant claims release 0\.19\.2"):
        patches.select_variant("pyo3", "0.19.2")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("--- a/../etc/passwd\n+++ b/../etc/passwd\n", "outside the source tree"),
        ("--- /etc/passwd\n+++ /etc/passwd\n", "outside the source tree"),
        ("diff --git a/x b/x\nnew file mode 120000\n--- /dev/null\n+++ b/x\n", "symlink"),
    ],
)
def test_patch_paths_outside_the_tree_or_links_are_refused(
    tmp_path: Path, header: str, reason: str
) -> None:
    with pytest.raises(PatchError, match=reason):
        patches.check_patch(_variant(tmp_path, header + GOOD_HUNK))


def test_binary_patch_is_refused(tmp_path: Path) -> None:
    text = (
        "diff --git a/x.bin b/x.bin\nindex 1..2 100644\nBinary files a/x.bin and b/x.bin differ\n"
    )
    with pytest.raises(PatchError, match="binary"):
        patches.check_patch(_variant(tmp_path, text))


def test_garbage_is_not_a_patch(tmp_path: Path) -> None:
    with pytest.raises(PatchError, match=r"contains no file changes|not a valid unified diff"):
        patches.check_patch(_variant(tmp_path, "this is not a diff\n"))


def test_apply_detects_a_release_that_already_has_the_change(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f.rs").write_text("a\nMARK\nd\n", encoding="utf-8")
    variant = _variant(tmp_path, "--- a/f.rs\n+++ b/f.rs\n" + GOOD_HUNK)
    assert patches.apply(patches.check_patch(variant), tree) == "upstream"
    assert (tree / "f.rs").read_text(encoding="utf-8") == "a\nMARK\nd\n"


def test_apply_runs_in_its_own_git_context_inside_a_foreign_repo(tmp_path: Path) -> None:
    import git as gitpython

    gitpython.Repo.init(tmp_path)  # the consumer's checkout around the tree
    tree = tmp_path / "sub" / "tree"
    tree.mkdir(parents=True)
    (tree / "f.rs").write_text("a\nb\nd\n", encoding="utf-8")
    variant = _variant(tmp_path, "--- a/f.rs\n+++ b/f.rs\n" + GOOD_HUNK)
    assert patches.apply(patches.check_patch(variant), tree) == "patched"
    assert (tree / "f.rs").read_text(encoding="utf-8") == "a\nc\nd\n"
