"""Removing what an interrupted pull left (``leftovers.py``): ours only, never through a link."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncart.client.leftovers import find_leftovers, remove_leftovers
from asyncart.errors import ConfigError


def test_removes_part_files_and_journals_except_the_kept_ones(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in (
        "a.bin.asyncart-part",
        "a.bin.asyncart-journal",
        "sub/b.asyncart-part",
        "keep.bin.asyncart-part",
        "a.bin",
    ):
        (tmp_path / name).write_bytes(b"x" * 4096)
    removed = remove_leftovers(tmp_path, keep=["keep.bin"])
    assert sorted(str(f.path.relative_to(tmp_path)) for f in removed) == [
        "a.bin.asyncart-journal",
        "a.bin.asyncart-part",
        "sub/b.asyncart-part",
    ]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "a.bin",
        "keep.bin.asyncart-part",
    ]


def test_a_link_at_a_side_file_name_is_never_followed_nor_removed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "pulled"
    target.mkdir()
    (target / "x.asyncart-part").symlink_to(victim)
    assert remove_leftovers(target, strict=False) == []
    assert (target / "x.asyncart-part").is_symlink() and victim.read_text() == "precious"
    with pytest.raises(ConfigError, match="symbolic link"):
        remove_leftovers(target)
    assert [f.path.name for f in find_leftovers(target)] == ["x.asyncart-part"]
