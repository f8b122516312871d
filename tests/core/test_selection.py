"""Partial-pull selections: paths by whole components, globs by name or whole path, ``**``."""

from __future__ import annotations

import pytest

from asyncart.core.selection import Selection, glob_matches
from asyncart.errors import ConfigError

FILES = [
    "config.json",
    "model.safetensors",
    "shards/part-1.safetensors",
    "shards/deep/part-2.safetensors",
    "data/a.csv",
    "data/x/y/b.csv",
    "database.csv",
]


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.safetensors", "shards/deep/part-2.safetensors", True),  # no '/': the name
        ("shards/*.safetensors", "shards/part-1.safetensors", True),
        ("shards/*.safetensors", "shards/deep/part-2.safetensors", False),  # '*' stops at '/'
        ("shards/**/*.safetensors", "shards/part-1.safetensors", True),  # '**': zero dirs too
        ("shards/**/*.safetensors", "shards/deep/part-2.safetensors", True),
        ("**", "data/x/y/b.csv", True),
        ("data/**", "data/x/y/b.csv", True),
        ("data/**", "database.csv", False),
        ("part-?.safetensors", "shards/part-1.safetensors", True),
        ("part-[!1].safetensors", "shards/part-1.safetensors", False),
        ("part-[12].safetensors", "shards/deep/part-2.safetensors", True),
        ("*.SAFETENSORS", "model.safetensors", False),  # case matters
        ("a.c?v", "data/a.csv", True),
        ("a.c+v", "data/a.c+v", True),  # regex characters are literal
        ("a.c+v", "data/a.ccv", False),
    ],
)
def test_glob_rules(pattern: str, path: str, expected: bool) -> None:
    assert glob_matches(pattern, path) is expected


def test_a_path_selects_a_file_or_a_directory_by_whole_components() -> None:
    chosen = Selection(paths=["data", "config.json"]).choose(FILES)
    assert chosen == ["config.json", "data/a.csv", "data/x/y/b.csv"]  # not database.csv
    assert Selection(paths=["data/"]).choose(FILES) == ["data/a.csv", "data/x/y/b.csv"]


def test_paths_and_includes_add_up_and_excludes_subtract() -> None:
    chosen = Selection(
        paths=["config.json"], include=["*.safetensors"], exclude=["shards/deep/**"]
    ).choose(FILES)
    assert chosen == ["config.json", "model.safetensors", "shards/part-1.safetensors"]
    assert Selection(exclude=["*.csv"]).choose(FILES) == [
        "config.json",
        "model.safetensors",
        "shards/part-1.safetensors",
        "shards/deep/part-2.safetensors",
    ]


@pytest.mark.parametrize(
    ("selection", "named"),
    [
        (Selection(include=["*.safetensor"]), "--include '*.safetensor'"),
        (Selection(paths=["dat"]), "path 'dat'"),
        (Selection(include=["*.csv"], exclude=["*.tmp"]), "--exclude '*.tmp'"),
    ],
)
def test_a_pattern_matching_nothing_is_an_error_naming_it(selection: Selection, named: str) -> None:
    with pytest.raises(ConfigError, match="matched no file") as caught:
        selection.choose(FILES)
    assert named in str(caught.value)
    assert "'config.json'" in str(caught.value)  # says what there is


def test_excluding_everything_selected_is_an_error() -> None:
    with pytest.raises(ConfigError, match="left no file"):
        Selection(include=["*.csv"], exclude=["**"]).choose(FILES)


def test_malformed_patterns_are_refused() -> None:
    with pytest.raises(ConfigError, match="no closing"):
        Selection(include=["part-[1.bin"]).choose(FILES)
    with pytest.raises(ConfigError, match="empty glob"):
        glob_matches("", "a")
    with pytest.raises(ConfigError, match="names no file"):
        Selection(paths=["/"]).choose(FILES)
    with pytest.raises(ConfigError):
        Selection(paths=["../etc"]).choose(FILES)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("[[]x", "[x", True),  # a bracket inside a set is a character, not a nested set
        ("[a&&b]", "&", True),  # no set operations
        ("[a-c].bin", "b.bin", True),
        ("[a-c].bin", "d.bin", False),
        ("[^]", "^", True),
    ],
)
def test_sets_hold_characters_and_ranges_only(pattern: str, path: str, expected: bool) -> None:
    assert glob_matches(pattern, path) is expected
