"""Building pack upload bodies by hand, for tests that talk to the store without the client."""

from __future__ import annotations

import blake3

from asyncart.core.manifest import ChunkRef
from asyncart.core.pack import PackHeader


def h(data: bytes) -> str:
    """The blake3 hex digest of ``data``."""
    return blake3.blake3(data).hexdigest()


def ref_of(chunk: bytes) -> ChunkRef:
    """The chunk reference of ``chunk``'s bytes."""
    return ChunkRef(h(chunk), len(chunk))


def pack_body(chunks: list[bytes]) -> tuple[PackHeader, bytes]:
    """A pack header for ``chunks`` and the whole upload body (header + bytes)."""
    header = PackHeader(tuple(ref_of(c) for c in chunks))
    return header, header.encode() + b"".join(chunks)
