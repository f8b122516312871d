"""A hostile server lying in the manifest: hostile entry paths, odd but safe ones, and
lies about the version and the manifest as a whole. Each is refused before any byte is
written, and nothing outside the target changes (see :mod:`tests.support.hostile_pull`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart.errors import AsyncartError, ConfigError, IntegrityError, ProtocolError
from tests.support.hostile_paths import HOSTILE_PATHS, ODD_BUT_SAFE_PATHS, hostile_ids
from tests.support.hostile_pull import (
    CONTENT,
    FILES,
    Arena,
    Lie,
    assert_untouched,
    cli_error,
    honest_hostile_server,
    pull_api,
    set_fields,
)
from tests.support.hostile_server import REF, HostileServer, Served


@pytest.fixture
def arena(tmp_path: Path) -> Arena:
    return Arena.around(tmp_path)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with honest_hostile_server() as server:
        yield server


# -- sanity: the honest server serves a correct pull --------------------------------------


def test_the_honest_server_serves_a_correct_pull(hostile: HostileServer, arena: Arena) -> None:
    before, listing = arena.snapshot(), arena.listing()
    asyncart.Api(url=hostile.url).artifact(REF).download(arena.target)
    for path, data in CONTENT.items():
        assert (arena.target / path).read_bytes() == data
    assert_untouched(arena, before, listing)
    assert ("POST", "/v1/chunks/locate") in hostile.served.requests


# -- (a) hostile entry paths in the manifest -----------------------------------------------


def _path_fragment(path: str) -> str:
    """What an error about ``path`` must show of it: its repr (the start, for long ones)."""
    return repr(path)[:40]


@pytest.mark.parametrize(("case", "path"), HOSTILE_PATHS, ids=hostile_ids())
def test_hostile_entry_path_is_refused_and_nothing_leaves_the_target(
    hostile: HostileServer, arena: Arena, case: str, path: str
) -> None:
    hostile.served.entry("small.txt")["path"] = path
    assert hostile.served.digest() != Served.honest(FILES).digest()  # the digest follows the lie
    before, listing = arena.snapshot(), arena.listing()

    exc = pull_api(hostile, arena.target)

    assert isinstance(exc, ConfigError), repr(exc)
    assert _path_fragment(path) in str(exc), str(exc)
    assert "manifest" in str(exc)
    assert_untouched(arena, before, listing)
    assert not arena.target.exists()  # refused before anything was written


@pytest.mark.parametrize(
    "case", ["dotdot-to-sentinel", "dotdot-deep", "abs-file", "backslash-dotdot", "drive-relative"]
)
def test_cli_pull_of_a_hostile_entry_path_is_one_error_line(
    hostile: HostileServer, arena: Arena, case: str
) -> None:
    path = dict(HOSTILE_PATHS)[case]
    hostile.served.entry("small.txt")["path"] = path
    before, listing = arena.snapshot(), arena.listing()

    line = cli_error(hostile, arena.target)

    assert "manifest" in line
    assert_untouched(arena, before, listing)
    assert not arena.target.exists()


@pytest.mark.parametrize(
    ("case", "path", "normalised"), ODD_BUT_SAFE_PATHS, ids=[c for c, _, _ in ODD_BUT_SAFE_PATHS]
)
def test_odd_but_safe_entry_paths_land_inside_the_target(
    hostile: HostileServer, arena: Arena, case: str, path: str, normalised: str
) -> None:
    hostile.served.entry("small.txt")["path"] = path
    before, listing = arena.snapshot(), arena.listing()

    asyncart.Api(url=hostile.url).artifact(REF).download(arena.target)

    landed = arena.target.joinpath(*normalised.split("/"))
    assert landed.read_bytes() == CONTENT["small.txt"]
    assert arena.target in landed.resolve().parents
    assert_untouched(arena, before, listing)


# -- lies in the manifest as a whole ------------------------------------------------------


def _add_entry(served: Served, **entry: Any) -> None:
    served.entries().append(entry)


MANIFEST_LIES: list[tuple[str, Lie, type[AsyncartError], str]] = [
    (
        "version-info-only-unknown-fields",
        lambda s: setattr(s, "version_answer", {"surprise": 1}),
        ProtocolError,
        "malformed version",
    ),
    (
        "version-info-not-an-object",
        lambda s: setattr(s, "version_answer", ["v0"]),
        ProtocolError,
        "malformed version",
    ),
    (
        "digest-mismatch",
        lambda s: setattr(s, "manifest_digest", "0" * 64),
        IntegrityError,
        "does not match",
    ),
    (
        "version-header-not-json",
        lambda s: setattr(s, "version_header", "not json {"),
        ProtocolError,
        "X-Asyncart-Version",
    ),
    (
        "version-header-not-object",
        lambda s: setattr(s, "version_header", "[1, 2]"),
        ProtocolError,
        "X-Asyncart-Version",
    ),
    (
        "version-header-missing-digest",
        lambda s: setattr(s, "version_header", '{"index": 0}'),
        ProtocolError,
        "missing required field `digest`",
    ),
    (
        "manifest-not-gzip-json",
        lambda s: setattr(s, "manifest_blob", b"\x1f\x8b\x08\x00garbage"),
        ConfigError,
        "could not be decoded",
    ),
    (
        "manifest-not-an-object",
        lambda s: setattr(s, "manifest_blob", b"[1, 2, 3]"),
        ConfigError,
        "entries",
    ),
    (
        "entries-not-a-list",
        lambda s: set_fields(s.manifest_doc, entries={"small.txt": 1}),
        ConfigError,
        "entries",
    ),
    (
        "entry-not-an-object",
        lambda s: s.entries().append("small.txt"),
        ConfigError,
        "malformed",
    ),
    (
        "path-not-a-string",
        lambda s: set_fields(s.entry("small.txt"), path=["..", "x"]),
        ConfigError,
        "must be a string",
    ),
    (
        "same-path-twice",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="small.txt")),
        ConfigError,
        "collide",
    ),
    (
        "same-path-after-normalising",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="./small.txt")),
        ConfigError,
        "collide",
    ),
    (
        "file-and-directory",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="small.txt/inner")),
        ConfigError,
        "collide",
    ),
    (
        "directory-named-like-a-part-file",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="small.txt.asyncart-part/x")),
        ConfigError,
        "asyncart-part",
    ),
    (
        "directory-named-like-a-journal",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="small.txt.asyncart-journal/x")),
        ConfigError,
        "asyncart-journal",
    ),
    # (f) sizes that do not match the chunks
    (
        "size-not-the-sum-of-chunks",
        lambda s: set_fields(s.entry("data/big.bin"), size=3201),
        ConfigError,
        "add up",
    ),
    (
        "size-of-one-chunk-file-too-large",
        lambda s: set_fields(s.entry("small.txt"), size=1 << 40),
        ConfigError,
        "small.txt",
    ),
    (
        "size-negative",
        lambda s: set_fields(s.entry("small.txt"), size=-1),
        ConfigError,
        "-1",
    ),
    (
        "size-absurd",
        lambda s: set_fields(s.entry("small.txt"), size=1 << 70),
        ConfigError,
        "small.txt",
    ),
    (
        "size-not-an-integer",
        lambda s: set_fields(s.entry("small.txt"), size="24"),
        ConfigError,
        "24",
    ),
    (
        "chunk-size-zero",
        lambda s: set_fields(s.entry("data/big.bin"), chunks=[[s.chunk_hashes("small.txt")[0], 0]]),
        ConfigError,
        "data/big.bin",
    ),
]


@pytest.mark.parametrize(
    ("case", "lie", "error", "fragment"), MANIFEST_LIES, ids=[c[0] for c in MANIFEST_LIES]
)
def test_manifest_lies_are_refused_before_any_byte_is_written(
    hostile: HostileServer,
    arena: Arena,
    case: str,
    lie: Lie,
    error: type[AsyncartError],
    fragment: str,
) -> None:
    lie(hostile.served)
    before, listing = arena.snapshot(), arena.listing()

    exc = pull_api(hostile, arena.target)

    assert isinstance(exc, error), repr(exc)
    assert fragment in str(exc), str(exc)
    assert_untouched(arena, before, listing)
    assert not arena.target.exists()
    assert not any(p.startswith("/v1/packs/") for _, p in hostile.served.requests)
