"""How the hash cache packs a file into a row: its stat columns, its chunk list as
fixed-size records, and the seal (a keyed BLAKE3 over the row) that catches a damaged
one."""

from __future__ import annotations

from collections.abc import Sequence

import blake3

from asyncart.client.scan import FileIdentity
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import HASH_ALGORITHM, ChunkRef

_CHUNK_RECORD = 40  # 32-byte hash + 8-byte big-endian size


def chunker_key(spec: ChunkerSpec) -> str:
    """The text a row's chunker column holds: hash algorithm and every cut parameter."""
    return f"{HASH_ALGORITHM}/{spec.kind}:{spec.min_size}:{spec.avg_size}:{spec.max_size}"


def stat_columns(identity: FileIdentity) -> tuple[int, int, int, int]:
    """The row's check columns: size, mtime_ns, ctime_ns, inode."""
    # SQLite integers are signed 64-bit; some file systems hand out inodes above 2**63.
    inode = identity.inode - (1 << 64) if identity.inode >= 1 << 63 else identity.inode
    return identity.size, identity.mtime_ns, identity.ctime_ns, inode


def row_seal(
    key: bytes, chunker: str, identity: FileIdentity, digest: bytes, chunks: bytes
) -> bytes:
    """The row's seal: a BLAKE3 over its key, stat and value, so a damaged row is a miss."""
    h = blake3.blake3(b"asyncart.hash-cache.v1\n")
    h.update(key + b"\0" + chunker.encode() + b"\0")
    h.update(",".join(map(str, stat_columns(identity))).encode() + b"\0")
    h.update(digest + chunks)
    return h.digest(16)


def encode_chunks(digest: str, chunks: Sequence[ChunkRef], size: int) -> bytes:
    """Packed ``hash || size`` records; empty when the file is one chunk (or none)."""
    if size == 0 or (len(chunks) == 1 and chunks[0].hash == digest):
        return b""
    return b"".join(bytes.fromhex(c.hash) + c.size.to_bytes(8, "big") for c in chunks)


def decode_chunks(digest: bytes, blob: bytes, size: int) -> tuple[ChunkRef, ...]:
    """The chunks :func:`encode_chunks` packed; ValueError if they cannot be the file's."""
    if len(digest) != 32:
        raise ValueError("digest is not 32 bytes")
    if not blob:
        return (ChunkRef(digest.hex(), size),) if size else ()
    if len(blob) % _CHUNK_RECORD:
        raise ValueError("chunk list length is not a whole number of records")
    view = memoryview(blob)
    chunks = tuple(
        ChunkRef(
            view[i : i + 32].hex(),
            int.from_bytes(view[i + 32 : i + _CHUNK_RECORD], "big"),
        )
        for i in range(0, len(blob), _CHUNK_RECORD)
    )
    if sum(c.size for c in chunks) != size or any(c.size <= 0 for c in chunks):
        raise ValueError("chunk sizes do not add up to the file size")
    return chunks
