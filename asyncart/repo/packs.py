"""Receiving a pack: parse its header, verify every chunk against its hash while streaming."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator

import blake3

from asyncart.core.manifest import ChunkRef
from asyncart.core.pack import ENTRY, PackHeader
from asyncart.errors import ConfigError, IntegrityError


class PackReader:
    """Exact-size reads over an async iterator of byte pieces, copying each byte once."""

    def __init__(self, body: AsyncIterable[bytes | memoryview]) -> None:
        self._it = body.__aiter__()
        self._pieces: deque[memoryview] = deque()
        self._buffered = 0
        self._done = False

    async def _fill(self, n: int) -> None:
        while self._buffered < n and not self._done:
            self._keep_borrowed()
            try:
                piece = memoryview(await self._it.__anext__())
            except StopAsyncIteration:
                self._done = True
                break
            if len(piece):
                self._pieces.append(piece)
                self._buffered += len(piece)

    def _keep_borrowed(self) -> None:
        """Copy the held pieces that are borrowed (writable views of a receive buffer
        that the next piece will overwrite) before the next piece is asked for."""
        for i, piece in enumerate(self._pieces):
            if not piece.readonly:
                self._pieces[i] = memoryview(piece.tobytes())

    async def read_exact(self, n: int, what: str) -> bytes:
        await self._fill(n)
        if self._buffered < n:
            raise ConfigError(f"pack body ended early while reading {what}")
        parts: list[memoryview] = []
        pos = 0
        while pos < n:
            piece = self._pieces[0]
            take = min(len(piece), n - pos)
            parts.append(piece[:take])
            pos += take
            if take == len(piece):
                self._pieces.popleft()
            else:
                self._pieces[0] = piece[take:]
        self._buffered -= n
        # join: one copy, and unlike bytearray(n) no zero-filling first
        return parts[0].tobytes() if len(parts) == 1 else b"".join(parts)

    async def rest(self) -> AsyncIterator[memoryview]:
        """Everything after what was read: buffered pieces first, then the stream."""
        while self._pieces:
            yield self._pieces.popleft()
        self._buffered = 0
        if self._done:
            return
        async for piece in self._it:
            if len(piece):
                yield memoryview(piece)


async def read_pack_header(
    body: AsyncIterable[bytes | memoryview],
) -> tuple[PackHeader, PackReader]:
    """Read the header off the front of a pack body; the reader yields the rest."""
    reader = PackReader(body)
    count = PackHeader.parse_count(await reader.read_exact(PackHeader.prefix_size(), "header"))
    header = PackHeader.parse_entries(await reader.read_exact(count * ENTRY.size, "header"))
    return header, reader


def _mismatch(ref: ChunkRef, actual: str) -> IntegrityError:
    return IntegrityError(
        f"chunk {ref.hash} does not match its bytes (they hash to {actual}); "
        "the upload was corrupted in transit and was refused"
    )


async def verified_chunk_data(
    header: PackHeader, reader: PackReader
) -> AsyncIterator[bytes | memoryview]:
    """Yield the pack's chunk bytes as they arrive, hashing each chunk incrementally.

    Pieces are passed on without being copied or regrouped; a chunk whose bytes do
    not match its hash raises as soon as its last byte arrives, and a body shorter
    or longer than the header says raises at the end. The consumer (a blobstore
    write to a temporary name) publishes nothing unless this generator completes.
    """
    chunks = iter(header.chunks)
    first = next(chunks)
    current: ChunkRef | None = first
    remaining = first.size
    hasher = blake3.blake3()
    async for piece in reader.rest():
        view = memoryview(piece)
        pos = 0
        while pos < len(view):
            if current is None:
                raise ConfigError("pack body is longer than its header says")
            take = min(remaining, len(view) - pos)
            hasher.update(view[pos : pos + take])
            pos += take
            remaining -= take
            if remaining == 0:
                actual = hasher.hexdigest()
                if actual != current.hash:
                    raise _mismatch(current, actual)
                current = next(chunks, None)
                remaining = current.size if current is not None else 0
                hasher = blake3.blake3()
        yield view
    if current is not None:
        raise ConfigError(f"pack body ended early, inside chunk {current.hash}")
