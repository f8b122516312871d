"""Receiving a pack: parse its header, verify every chunk against its hash while streaming."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator

import anyio.to_thread
import blake3

from asyncart.core.manifest import ChunkRef
from asyncart.core.pack import ENTRY, PackHeader
from asyncart.errors import ConfigError, IntegrityError

_VERIFY_BLOCK = 4 << 20


class _Reader:
    """Exact-size reads over an async iterator of byte pieces, copying each byte once."""

    def __init__(self, body: AsyncIterable[bytes | memoryview]) -> None:
        self._it = body.__aiter__()
        self._pieces: deque[memoryview] = deque()
        self._buffered = 0
        self._done = False

    async def _fill(self, n: int) -> None:
        while self._buffered < n and not self._done:
            try:
                piece = memoryview(await self._it.__anext__())
            except StopAsyncIteration:
                self._done = True
                break
            if len(piece):
                self._pieces.append(piece)
                self._buffered += len(piece)

    async def read_exact(self, n: int, what: str) -> bytes:
        await self._fill(n)
        if self._buffered < n:
            raise ConfigError(f"pack body ended early while reading {what}")
        out = bytearray(n)
        pos = 0
        while pos < n:
            piece = self._pieces[0]
            take = min(len(piece), n - pos)
            out[pos : pos + take] = piece[:take]
            pos += take
            if take == len(piece):
                self._pieces.popleft()
            else:
                self._pieces[0] = piece[take:]
        self._buffered -= n
        return bytes(out) if n < 4096 else out  # type: ignore[return-value]

    async def expect_end(self) -> None:
        await self._fill(1)
        if self._buffered:
            raise ConfigError("pack body is longer than its header says")


async def read_pack_header(body: AsyncIterable[bytes | memoryview]) -> tuple[PackHeader, _Reader]:
    """Read the header off the front of a pack body; the reader yields the rest."""
    reader = _Reader(body)
    count = PackHeader.parse_count(await reader.read_exact(PackHeader.prefix_size(), "header"))
    header = PackHeader.parse_entries(await reader.read_exact(count * ENTRY.size, "header"))
    return header, reader


def _verify(chunks: list[ChunkRef], data: bytes) -> None:
    pos = 0
    view = memoryview(data)
    for ref in chunks:
        actual = blake3.blake3(view[pos : pos + ref.size]).hexdigest()
        if actual != ref.hash:
            raise IntegrityError(
                f"chunk {ref.hash} does not match its bytes (they hash to {actual}); "
                "the upload was corrupted in transit and was refused"
            )
        pos += ref.size


async def verified_chunk_data(header: PackHeader, reader: _Reader) -> AsyncIterator[bytes]:
    """Yield the pack's chunk bytes in blocks, each block verified before it is yielded."""
    group: list[ChunkRef] = []
    group_size = 0
    for i, ref in enumerate(header.chunks):
        group.append(ref)
        group_size += ref.size
        if group_size >= _VERIFY_BLOCK or i == len(header.chunks) - 1:
            data = await reader.read_exact(group_size, f"chunk {ref.hash}")
            if group_size >= 256 << 10:
                await anyio.to_thread.run_sync(_verify, group, data)
            else:
                _verify(group, data)
            yield data
            group, group_size = [], 0
    await reader.expect_end()
