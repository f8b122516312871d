"""The directory tree ``asyncart mount`` serves, built from manifest paths (``sdk/mount.py``):
directories implied by paths, and a manifest where a path is both a file and a directory
refused (it would otherwise hide one of them)."""

from __future__ import annotations

import pytest

from asyncart.core.manifest import ChunkRef, ManifestEntry
from asyncart.errors import ConfigError
from asyncart.sdk.mount import build_tree


def _entry(path: str, size: int = 1) -> ManifestEntry:
    return ManifestEntry(
        path=path, size=size, digest="0" * 64, chunks=(ChunkRef(hash="1" * 64, size=size),)
    )


def test_directories_come_from_the_paths() -> None:
    root = build_tree([_entry("a/b/c.txt", 3), _entry("a/d.txt"), _entry("top.bin")])
    assert set(root.children) == {"a", "top.bin"}
    a = root.children["a"]
    assert not isinstance(a, ManifestEntry)
    assert set(a.children) == {"b", "d.txt"}
    b = a.children["b"]
    assert not isinstance(b, ManifestEntry)
    leaf = b.children["c.txt"]
    assert isinstance(leaf, ManifestEntry) and leaf.size == 3


@pytest.mark.parametrize(
    "paths",
    [["a", "a/b"], ["a/b", "a"], ["x/a", "x/a/b/c"]],
    ids=["file-first", "dir-first", "deep"],
)
def test_a_path_both_file_and_directory_is_refused(paths: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"both a file and a directory|runs through the file"):
        build_tree([_entry(p) for p in paths])
