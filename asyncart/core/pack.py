"""The pack format: many chunks in one object, on the wire and in the store.

A pack is the unit of upload and of storage (one request, one stored object,
many chunks), so neither the wire carries one request per chunk nor the store
one file per chunk. Layout of a pack upload body::

    b"ACPK" | u8 version=1 | u32 count | count x (32-byte blake3 hash, u32 size) | chunk bytes...

The stored object is the chunk bytes only (the header lives in the chunk
index); a chunk is found by ``(pack id, offset, length)``. The pack id is the
blake3 of the header, so retrying an upload names the same object.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import blake3

from asyncart.core.chunking import MAX_CHUNK_SIZE
from asyncart.core.manifest import ChunkRef
from asyncart.errors import ConfigError

MAGIC = b"ACPK"
VERSION = 1
PREFIX = struct.Struct("<4sBI")
ENTRY = struct.Struct("<32sI")
MAX_PACK_CHUNKS = 65536
MAX_PACK_BYTES = 256 << 20


@dataclass(frozen=True)
class PackHeader:
    """The chunk list of a pack; offsets follow from the order."""

    chunks: tuple[ChunkRef, ...]

    @property
    def data_size(self) -> int:
        return sum(c.size for c in self.chunks)

    @property
    def pack_id(self) -> str:
        return blake3.blake3(self.encode()).hexdigest()

    def offsets(self) -> list[int]:
        out, pos = [], 0
        for c in self.chunks:
            out.append(pos)
            pos += c.size
        return out

    def encode(self) -> bytes:
        parts = [PREFIX.pack(MAGIC, VERSION, len(self.chunks))]
        parts.extend(ENTRY.pack(bytes.fromhex(c.hash), c.size) for c in self.chunks)
        return b"".join(parts)

    @staticmethod
    def prefix_size() -> int:
        return PREFIX.size

    @staticmethod
    def parse_count(prefix: bytes) -> int:
        """Read the chunk count from the first :func:`prefix_size` bytes; validate limits."""
        # struct returns tuple[Any, ...]; PREFIX is "<4sBI".
        magic, version, count = cast("tuple[bytes, int, int]", PREFIX.unpack(prefix))
        if magic != MAGIC or version != VERSION:
            raise ConfigError("pack body does not start with an asyncart v1 pack header")
        if not 0 < count <= MAX_PACK_CHUNKS:
            raise ConfigError(f"pack holds {count} chunks; the limit is 1..{MAX_PACK_CHUNKS}")
        return count

    @classmethod
    def parse_entries(cls, raw: bytes) -> PackHeader:
        """Parse the entry table that follows the prefix."""
        if len(raw) % ENTRY.size:
            raise ConfigError("pack header entry table is truncated")
        chunks = []
        total = 0
        for digest, size in ENTRY.iter_unpack(raw):
            if not 0 < size <= MAX_CHUNK_SIZE:
                raise ConfigError(f"pack chunk size {size} is outside 1..{MAX_CHUNK_SIZE}")
            total += size
            chunks.append(ChunkRef(digest.hex(), size))
        if total > MAX_PACK_BYTES:
            raise ConfigError(f"pack holds {total} bytes; the limit is {MAX_PACK_BYTES}")
        return cls(tuple(chunks))


def build_pack_body(
    chunks: Sequence[tuple[ChunkRef, bytes | memoryview]],
) -> list[bytes | memoryview]:
    """The body parts of a pack upload: header then chunk bytes (no copy of the chunks)."""
    header = PackHeader(tuple(ref for ref, _ in chunks))
    return [header.encode(), *(data for _, data in chunks)]


def least_data_size(body_length: int) -> int:
    """The fewest chunk bytes a pack body of ``body_length`` bytes can hold (each chunk
    is at least 1 byte and costs one entry): what a declared ``Content-Length`` commits
    an upload to store, before its header is read. 0 for a body too short to be a pack.
    """
    rest = body_length - PREFIX.size
    if rest <= 0:
        return 0
    count = min(MAX_PACK_CHUNKS, rest // (ENTRY.size + 1))
    return max(0, rest - ENTRY.size * count)
