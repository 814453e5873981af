"""Where maturin's source comes from: the git URL first (a project's `maturin-url`, else
upstream), then the crate published from the pinned commit, said loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_maturin_repo

from patcher.upstreams import maturin, pins


@pytest.mark.slow
def test_a_url_whose_tag_is_not_the_pin_falls_back_to_the_published_crate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a mirror made from the published 1.16.0 and tagged v1.16.0: its commit is not the one
    # the pin names (the pin is upstream's), so the tag does not hold the pinned source
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "mirror-cache"))
    url, _pins = make_maturin_repo(tmp_path / "mirror", "1.16.0", "1.16.0")
    monkeypatch.setenv("PYO3_PATCHER_CACHE_DIR", str(tmp_path / "cold"))
    capsys.readouterr()

    tree, origin = maturin.pristine(pins.get_pin("maturin", "1.16.0"), url=url)

    said = capsys.readouterr().err
    assert url in said and ("the tag was moved" in said or "cannot fetch tag v1.16.0" in said)
    assert "FALLING BACK to the published crates on crates.io" in said
    assert origin == "crates.io"
    assert (tree / "src" / "compile.rs").is_file()
