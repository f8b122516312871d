"""The pack format: header encode/parse, deterministic pack ids, and the limits."""

from __future__ import annotations

import struct

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncart.core.chunking import MAX_CHUNK_SIZE
from asyncart.core.manifest import ChunkRef
from asyncart.core.pack import (
    ENTRY,
    MAGIC,
    MAX_PACK_BYTES,
    MAX_PACK_CHUNKS,
    PREFIX,
    VERSION,
    PackHeader,
    build_pack_body,
)
from asyncart.errors import ConfigError


def h(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def parse(raw: bytes) -> PackHeader:
    """Parse a whole encoded header the way the server does: prefix, then the entry table."""
    n = PackHeader.prefix_size()
    count = PackHeader.parse_count(raw[:n])
    table = raw[n:]
    assert len(table) == count * ENTRY.size
    return PackHeader.parse_entries(table)


CHUNKS = [b"alpha", b"beta beta", b"g" * 1000]
HEADER = PackHeader(tuple(ChunkRef(h(c), len(c)) for c in CHUNKS))


def test_encode_layout() -> None:
    raw = HEADER.encode()
    assert raw[:4] == MAGIC == b"ACPK"
    assert raw[4] == VERSION == 1
    assert struct.unpack("<I", raw[5:9]) == (3,)
    assert len(raw) == PackHeader.prefix_size() + 3 * ENTRY.size == 9 + 3 * 36
    first_hash, first_size = ENTRY.unpack(raw[9 : 9 + 36])
    assert first_hash.hex() == h(b"alpha") and first_size == 5


def test_round_trip() -> None:
    back = parse(HEADER.encode())
    assert back == HEADER
    assert back.data_size == sum(len(c) for c in CHUNKS)
    assert back.offsets() == [0, 5, 14]


hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)
refs = st.builds(ChunkRef, hashes, st.integers(1, MAX_CHUNK_SIZE))


@given(chunks=st.lists(refs, min_size=1, max_size=40).filter(
    lambda cs: sum(c.size for c in cs) <= MAX_PACK_BYTES
))
def test_round_trip_property(chunks: list[ChunkRef]) -> None:
    header = PackHeader(tuple(chunks))
    back = parse(header.encode())
    assert back == header
    assert back.pack_id == header.pack_id
    offsets = back.offsets()
    assert offsets[0] == 0
    assert all(b - a == c.size for a, b, c in zip(offsets, offsets[1:], chunks, strict=False))


def test_pack_id_is_deterministic_and_content_named() -> None:
    again = PackHeader(tuple(ChunkRef(h(c), len(c)) for c in CHUNKS))
    assert again.pack_id == HEADER.pack_id
    assert HEADER.pack_id == h(HEADER.encode())
    assert len(HEADER.pack_id) == 64
    reordered = PackHeader(tuple(reversed(HEADER.chunks)))
    assert reordered.pack_id != HEADER.pack_id
    fewer = PackHeader(HEADER.chunks[:2])
    assert fewer.pack_id != HEADER.pack_id


def test_build_pack_body_is_header_then_chunks() -> None:
    body = build_pack_body([(ChunkRef(h(c), len(c)), c) for c in CHUNKS])
    assert body[0] == HEADER.encode()
    assert body[1:] == CHUNKS
    joined = b"".join(bytes(p) for p in body)
    assert joined == HEADER.encode() + b"".join(CHUNKS)


# -- limits ---------------------------------------------------------------------------


def test_count_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="0 chunks"):
        PackHeader.parse_count(PREFIX.pack(MAGIC, VERSION, 0))
    with pytest.raises(ConfigError):
        PackHeader.parse_count(PackHeader(()).encode())


def test_too_many_chunks_is_refused() -> None:
    assert PackHeader.parse_count(PREFIX.pack(MAGIC, VERSION, MAX_PACK_CHUNKS)) == MAX_PACK_CHUNKS
    for count in (MAX_PACK_CHUNKS + 1, 2**32 - 1):
        with pytest.raises(ConfigError, match="limit"):
            PackHeader.parse_count(PREFIX.pack(MAGIC, VERSION, count))


@pytest.mark.parametrize(
    "prefix",
    [
        PREFIX.pack(b"ACPX", VERSION, 1),
        PREFIX.pack(b"\0\0\0\0", VERSION, 1),
        PREFIX.pack(MAGIC, 2, 1),
        PREFIX.pack(MAGIC, 0, 1),
    ],
)
def test_bad_magic_or_version_is_refused(prefix: bytes) -> None:
    with pytest.raises(ConfigError, match="pack header"):
        PackHeader.parse_count(prefix)


def test_chunk_size_above_max_is_refused() -> None:
    ok = ENTRY.pack(bytes(32), MAX_CHUNK_SIZE)
    assert PackHeader.parse_entries(ok).chunks == (ChunkRef("00" * 32, MAX_CHUNK_SIZE),)
    with pytest.raises(ConfigError, match="outside"):
        PackHeader.parse_entries(ENTRY.pack(bytes(32), MAX_CHUNK_SIZE + 1))


def test_chunk_size_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="outside"):
        PackHeader.parse_entries(ENTRY.pack(bytes(32), 5) + ENTRY.pack(bytes(32), 0))


def test_total_size_above_max_is_refused() -> None:
    per = MAX_CHUNK_SIZE
    n_ok = MAX_PACK_BYTES // per
    assert PackHeader.parse_entries(ENTRY.pack(bytes(32), per) * n_ok).data_size == MAX_PACK_BYTES
    with pytest.raises(ConfigError, match="limit"):
        PackHeader.parse_entries(ENTRY.pack(bytes(32), per) * (n_ok + 1))


@pytest.mark.parametrize("cut", [1, 10, ENTRY.size - 1, ENTRY.size + 1])
def test_truncated_entry_table_is_refused(cut: int) -> None:
    raw = ENTRY.pack(bytes(32), 1) * 2
    with pytest.raises(ConfigError, match="truncated"):
        PackHeader.parse_entries(raw[:-cut])
