"""Entry paths: normalised relative POSIX paths that never leave the artifact root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncart.core.paths import (
    MAX_PATH_LENGTH,
    RESERVED_SUFFIX,
    RESERVED_SUFFIXES,
    is_ancestor_path,
    normalize_entry_path,
    safe_join,
    sidecar_path,
)
from asyncart.errors import ConfigError

# -- normalize_entry_path ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a", "a"),
        ("a/b.txt", "a/b.txt"),
        ("./a//b", "a/b"),
        ("./a/./b/", "a/b"),
        ("a///b///c", "a/b/c"),
        ("dir with spaces/file name.txt", "dir with spaces/file name.txt"),
        ("...", "..."),
        ("..a/b..", "..a/b.."),
        ("a/.hidden", "a/.hidden"),
        ("données/fichier.csv", "données/fichier.csv"),
        ("ab:c", "ab:c"),  # a colon after the second character is not a drive
    ],
)
def test_normalisations(raw: str, expected: str) -> None:
    assert normalize_entry_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("../x", "'..'"),
        ("..", "'..'"),
        ("a/../../x", "'..'"),
        ("a/../b", "'..'"),  # even when it would stay inside: '..' is never accepted
        ("a/..", "'..'"),
        ("/etc/passwd", "absolute"),
        ("/", "absolute"),
        ("//server/share", "absolute"),
        ("C:\\x", "backslash"),
        ("C:x", "absolute"),
        ("a:b", "absolute"),  # drive-relative on Windows
        ("c:/x", "absolute"),
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\x7f", "control"),
        ("", "empty"),
        (".", "names no file"),
        ("./", "names no file"),
        ("./././", "names no file"),
        ("//", "absolute"),
    ],
)
def test_refusals(raw: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_entry_path(raw)
    assert fragment in str(info.value)


@pytest.mark.parametrize("value", [None, 3, b"a/b", Path("a/b")])
def test_non_string_paths_are_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="must be a string"):
        normalize_entry_path(value)


def test_length_limit() -> None:
    longest = "/".join(["a" * 255] * 16)[:MAX_PATH_LENGTH].rstrip("/")
    assert normalize_entry_path(longest) == longest
    with pytest.raises(ConfigError, match="limit"):
        normalize_entry_path("a" * (MAX_PATH_LENGTH + 1))
    with pytest.raises(ConfigError, match="component of 256 bytes"):
        normalize_entry_path("a" * 256)


def test_sidecars_of_the_longest_names_are_valid_distinct_file_names(tmp_path: Path) -> None:
    long_a, long_b = tmp_path / ("a" * 254 + "1"), tmp_path / ("a" * 254 + "2")
    for suffix in RESERVED_SUFFIXES:
        one, two = sidecar_path(long_a, suffix), sidecar_path(long_b, suffix)
        assert one != two and one.parent == two.parent == tmp_path
        assert one.name.endswith(suffix) and len(one.name.encode()) <= 255
        one.write_bytes(b"x")  # the filesystem takes it
    short = tmp_path / "model.pt"
    assert sidecar_path(short, RESERVED_SUFFIX) == tmp_path / f"model.pt{RESERVED_SUFFIX}"


path_text = st.lists(
    st.sampled_from(["a", "b", ".", "/", "..", "\\", ":", "C", " ", "\x00", "é"]), max_size=12
).map("".join)


@given(raw=path_text)
def test_normalised_paths_are_canonical_and_relative(raw: str) -> None:
    try:
        norm = normalize_entry_path(raw)
    except ConfigError:
        return
    assert normalize_entry_path(norm) == norm
    assert not norm.startswith("/")
    parts = norm.split("/")
    assert all(p not in ("", ".", "..") for p in parts)
    assert "\\" not in norm and "\x00" not in norm


# -- safe_join ----------------------------------------------------------------------


def test_safe_join_places_paths_under_root(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a/b.txt") == tmp_path / "a" / "b.txt"
    assert safe_join(tmp_path, "./x//y") == tmp_path / "x" / "y"
    assert safe_join(tmp_path, "top.bin") == tmp_path / "top.bin"


@pytest.mark.parametrize(
    "bad", ["../x", "a/../../x", "/etc/passwd", "C:\\x", "C:x", "a\\b", "", "."]
)
def test_safe_join_revalidates(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        safe_join(tmp_path, bad)


def test_safe_join_refuses_a_symlinked_directory_pointing_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(ConfigError, match="outside"):
        safe_join(root, "link/secret.txt")
    # also when the directories below the link do not exist yet
    with pytest.raises(ConfigError, match="outside"):
        safe_join(root, "link/new/dir/file.txt")
    assert list(outside.iterdir()) == []


def test_safe_join_refuses_a_nested_symlink_pointing_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "up").symlink_to("../../..", target_is_directory=True)
    with pytest.raises(ConfigError, match="outside"):
        safe_join(root, "a/b/up/x")


def test_safe_join_allows_a_symlink_that_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert safe_join(root, "alias/file") == root / "alias" / "file"


def test_safe_join_works_when_root_itself_is_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real-root"
    real.mkdir()
    root = tmp_path / "root-link"
    root.symlink_to(real, target_is_directory=True)
    assert safe_join(root, "a/b") == root / "a" / "b"
    (real / "out").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ConfigError, match="outside"):
        safe_join(root, "out/x")


@given(raw=path_text)
def test_safe_join_result_never_leaves_root(raw: str) -> None:
    # tmp_path is function-scoped and not reset between Hypothesis examples; use a fixed root
    # that needs no filesystem state (nothing below it exists, so nothing can be a symlink).
    root = Path(os.sep, "nonexistent-asyncart-root")
    try:
        target = safe_join(root, raw)
    except ConfigError:
        return
    assert root in target.parents


# -- is_ancestor_path ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("x", "x/y", True),
        ("x", "x/y/z", True),
        ("x/y", "x/y/z", True),
        ("x", "x", False),
        ("x", "xy/z", False),
        ("x/y", "x", False),
        ("a", "b/a", False),
    ],
)
def test_is_ancestor_path(a: str, b: str, expected: bool) -> None:
    assert is_ancestor_path(a, b) is expected


def test_the_download_part_suffix_is_reserved() -> None:
    with pytest.raises(ConfigError, match="asyncart-part"):
        normalize_entry_path("dir/model.bin.asyncart-part")
    assert normalize_entry_path("dir/model.asyncart-part.bin") == "dir/model.asyncart-part.bin"
