"""A hostile server lying in the ranges and the chunk locations: wrong or short bytes,
chunks placed on top of each other, sizes and digests that do not add up. Each pull
fails with one asyncart error, leaves no torn file under a final name, and the same
target then pulls the honest version (see :mod:`tests.support.hostile_pull`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncart import aio
from asyncart.errors import (
    AsyncartError,
    ChunkMissing,
    IntegrityError,
    ProtocolError,
    ServerError,
)
from tests.support.hostile_pull import (
    Arena,
    Lie,
    assert_honest_pull_works,
    assert_only_verified_files,
    assert_untouched,
    cli_error,
    honest_hostile_server,
    pull_api,
    root_cause,
    set_fields,
)
from tests.support.hostile_server import REF, HostileServer, Served, blake3_hex


@pytest.fixture
def arena(tmp_path: Path) -> Arena:
    return Arena.around(tmp_path)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with honest_hostile_server() as server:
        yield server


# -- lies in the ranges and locations --------------------------------------------------


def _range_lie(kind: str) -> Lie:
    return lambda s: setattr(s, "range_lie", kind)


def _move_location(
    served: Served, path: str, index: int, lie: str | None = None, **change: Any
) -> None:
    """Change the location of the ``index``-th chunk of ``path`` (pack, offset or length),
    and answer ranges with ``lie`` if given."""
    served.range_lie = lie
    h = served.chunk_hashes(path)[index]
    pack, offset, length = served.locations[h]
    fields = {"pack": pack, "offset": offset, "length": length, **change}
    served.locations[h] = [fields["pack"], fields["offset"], fields["length"]]


def _locate_like(served: Served, path: str, like: str) -> None:
    """Say ``path``'s only chunk lies where ``like``'s only chunk lies."""
    served.locations[served.chunk_hashes(path)[0]] = list(
        served.locations[served.chunk_hashes(like)[0]]
    )


def _inside_first_chunk(served: Served) -> None:
    """Put big.bin's third chunk (700 B) inside its first (1000 B) in the same pack."""
    first = served.locations[served.chunk_hashes("data/big.bin")[0]]
    _move_location(served, "data/big.bin", 2, pack=first[0], offset=first[1] + 100)


def _short_one_chunk_file(served: Served) -> None:
    """small.txt is one byte shorter than its chunk; the locations agree (a consistent liar)."""
    e = served.entry("small.txt")
    e["size"] -= 1
    served.locations[e["digest"]][2] -= 1


def _shifted_chunk_sizes(served: Served) -> None:
    """big.bin's chunk sizes shifted by one byte (the sum kept), locations to match."""
    e = served.entry("data/big.bin")
    e["chunks"][0][1] -= 1
    e["chunks"][1][1] += 1
    _move_location(served, "data/big.bin", 0, length=e["chunks"][0][1])
    _move_location(served, "data/big.bin", 1, offset=999, length=e["chunks"][1][1])


def _one_chunk_digest_lie(served: Served) -> None:
    """small.txt claims other bytes; the store 'finds' that chunk where small.txt's bytes are."""
    e = served.entry("small.txt")
    real = served.locations[e["digest"]]
    e["digest"] = blake3_hex(b"something else entirely\n")
    served.locations[e["digest"]] = list(real)


def _locate_answer(answer: Any) -> Lie:
    return lambda s: setattr(s, "locate_answer", answer)


def _all_locations(value: Callable[[list[Any]], Any]) -> Lie:
    def lie(served: Served) -> None:
        for h, loc in list(served.locations.items()):
            served.locations[h] = value(loc)

    return lie


DOWNLOAD_LIES: list[tuple[str, Lie, type[AsyncartError], str]] = [
    # (b) wrong bytes
    ("wrong-bytes", _range_lie("wrong_bytes"), IntegrityError, "arrived corrupted"),
    # (c) short ranges
    ("short-range", _range_lie("short"), ProtocolError, "expected 206"),
    ("truncated-range", _range_lie("truncated"), ProtocolError, "broke"),
    # (d) bytes beyond the range
    ("extra-bytes", _range_lie("extra"), ProtocolError, "expected 206"),
    ("extra-bytes-chunked", _range_lie("chunked_extra"), ProtocolError, "expected 206"),
    ("whole-pack-for-a-range", _range_lie("whole_pack"), ProtocolError, "status 200"),
    # (e) absurd chunk locations
    (
        "offset-beyond-the-pack",
        lambda s: _move_location(s, "data/big.bin", 1, offset=1 << 40),
        ServerError,
        "416",
    ),
    (
        "offset-beyond-the-pack-served-anyway",
        lambda s: _move_location(s, "data/big.bin", 1, offset=1 << 40, lie="any_range"),
        IntegrityError,
        "arrived corrupted",
    ),
    (
        "offset-negative",
        lambda s: _move_location(s, "data/big.bin", 1, offset=-500),
        ProtocolError,
        "location",
    ),
    (
        "offset-absurd",
        lambda s: _move_location(s, "data/big.bin", 1, offset=1 << 80),
        ProtocolError,
        "location",
    ),
    (
        "length-not-the-chunk-size",
        lambda s: _move_location(s, "data/big.bin", 1, length=1),
        ProtocolError,
        "the manifest says it has 1500 bytes",
    ),
    (
        "length-absurd",
        lambda s: _move_location(s, "data/big.bin", 1, length=1 << 62),
        ProtocolError,
        "location",
    ),
    (
        "pack-id-a-path",
        lambda s: _move_location(s, "data/big.bin", 1, pack="../../../etc/passwd"),
        ProtocolError,
        "location",
    ),
    (
        "pack-id-dotdot",
        lambda s: _move_location(s, "data/big.bin", 1, pack=".."),
        ProtocolError,
        "location",
    ),
    (
        "offset-not-an-integer",
        lambda s: _move_location(s, "data/big.bin", 1, offset="0"),
        ProtocolError,
        "location",
    ),
    (
        "offset-a-boolean",
        lambda s: _move_location(s, "data/big.bin", 1, offset=True),
        ProtocolError,
        "location",
    ),
    (
        "location-not-a-list",
        _all_locations(lambda loc: {"pack": loc[0]}),
        ProtocolError,
        "location",
    ),
    (
        "location-too-short",
        _all_locations(lambda loc: loc[:2]),
        ProtocolError,
        "location",
    ),
    ("locations-not-an-object", _locate_answer({"locations": []}), ProtocolError, "locations"),
    ("locate-answer-empty", _locate_answer({"nothing": 1}), ProtocolError, "locations"),
    (
        "two-chunks-at-one-place",
        lambda s: _locate_like(s, "twin.txt", "small.txt"),
        ProtocolError,
        "overlap",
    ),
    ("chunk-inside-another", _inside_first_chunk, ProtocolError, "overlap"),
    (
        "chunk-not-held",
        lambda s: s.locations.pop(s.chunk_hashes("data/big.bin")[1]),
        ChunkMissing,
        "lacks",
    ),
    # (f) sizes and digests that do not match the chunks
    ("one-chunk-file-shorter-than-its-chunk", _short_one_chunk_file, IntegrityError, "corrupted"),
    ("chunk-sizes-shifted", _shifted_chunk_sizes, IntegrityError, "corrupted"),
    (
        "file-digest-lie",
        lambda s: set_fields(s.entry("data/big.bin"), digest=blake3_hex(b"not big.bin")),
        IntegrityError,
        "data/big.bin",
    ),
    ("one-chunk-file-digest-lie", _one_chunk_digest_lie, IntegrityError, "corrupted"),
]


@pytest.mark.parametrize(
    ("case", "lie", "error", "fragment"), DOWNLOAD_LIES, ids=[c[0] for c in DOWNLOAD_LIES]
)
def test_download_lies_fail_cleanly_and_leave_no_torn_file(
    hostile: HostileServer,
    arena: Arena,
    case: str,
    lie: Lie,
    error: type[AsyncartError],
    fragment: str,
) -> None:
    lie(hostile.served)
    told = hostile.served
    before, listing = arena.snapshot(), arena.listing()

    exc = pull_api(hostile, arena.target)

    assert isinstance(root_cause(exc), error), repr(exc)
    assert fragment in str(exc), str(exc)
    assert_untouched(arena, before, listing)
    assert_only_verified_files(arena.target, told)
    assert_honest_pull_works(hostile, arena.target)
    assert_untouched(arena, before, listing)


@pytest.mark.parametrize(
    "case", ["wrong-bytes", "truncated-range", "two-chunks-at-one-place", "file-digest-lie"]
)
def test_cli_pull_of_a_lie_is_one_error_line(
    hostile: HostileServer, arena: Arena, case: str
) -> None:
    _, lie, _, fragment = next(c for c in DOWNLOAD_LIES if c[0] == case)
    lie(hostile.served)
    told = hostile.served
    before, listing = arena.snapshot(), arena.listing()

    line = cli_error(hostile, arena.target)

    assert fragment in line
    assert_untouched(arena, before, listing)
    assert_only_verified_files(arena.target, told)


async def test_async_api_pull_of_a_lie_fails_cleanly(hostile: HostileServer, arena: Arena) -> None:
    hostile.served.range_lie = "wrong_bytes"
    before, listing = arena.snapshot(), arena.listing()

    client: aio.Api[aio.Artifact] = aio.Api(url=hostile.url)
    async with client as api:
        artifact = await api.artifact(REF)
        with pytest.raises(IntegrityError, match="arrived corrupted"):
            await artifact.download(arena.target)

    assert_untouched(arena, before, listing)
    assert_only_verified_files(arena.target, hostile.served)
