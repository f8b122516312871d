"""``LazyFile``: one file of a stored version, read where it lies, chunk by chunk.

A read of bytes ``[pos, pos + n)`` asks the :class:`~asyncart.client.chunk_source.ChunkSource`
for the chunks covering them (the entry's chunk list gives each chunk's offset) and
returns bytes only from chunks it verified. Nothing else is fetched, so parsing a
safetensors header (8 bytes, then the JSON header) and one tensor moves those
chunks only, and ``zipfile`` reading one member moves the central directory and
that member.

Read-ahead: a read that starts where the previous one ended is sequential; each
sequential read fetches, with what it needs, the next ``read_ahead_now`` bytes,
which doubles on every sequential read up to ``read_ahead`` (like the kernel's
readahead window) and drops to nothing on a seek elsewhere. A random reader pays
for no bytes it does not read; a streaming reader gets large ranged requests.

Memory: verified chunks are kept, least recently used first out, up to
``max(2 * read_ahead, 2 * the largest chunk)`` bytes; a large read is served in
windows of that size, so memory stays bounded whatever ``n`` is (plus the bytes
returned).
"""

from __future__ import annotations

import bisect
import io
import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import anyio

from asyncart.client.chunk_source import ChunkSource
from asyncart.core.manifest import ManifestEntry

READ_AHEAD = 8 << 20  # bytes: the largest read-ahead window


class LazyFile:
    """An async, read-only, seekable view of ``entry`` (bytes from ``source``, verified).

    ``read``, ``readinto``, ``readall`` and ``aclose`` are coroutines; ``seek`` and
    ``tell`` do no I/O. ``async with`` closes it. ``on_close`` runs once at close
    (e.g. to release the connection the source uses).
    """

    def __init__(
        self,
        entry: ManifestEntry,
        source: ChunkSource,
        *,
        read_ahead: int = READ_AHEAD,
        on_close: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        if entry.ref is not None:
            raise ValueError(f"{entry.path!r} is a reference; it has no chunks to read")
        self.entry = entry
        self.name = entry.path
        self._source = source
        self._starts = [0, *itertools.accumulate(c.size for c in entry.chunks)]
        self._read_ahead = max(0, read_ahead)
        self._ahead_now = 0
        largest = max((c.size for c in entry.chunks), default=0)
        self._budget = max(2 * self._read_ahead, 2 * largest, 1)
        self._kept: OrderedDict[int, bytes] = OrderedDict()  # chunk index -> verified bytes
        self._kept_bytes = 0
        self._pos = 0
        self._last_end: int | None = None
        self._lock = anyio.Lock()
        self._on_close = on_close
        self.closed = False

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return self.entry.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        """The current position."""
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` (from the start, the position or the end); the new position.

        A position past the end is allowed (reads there return ``b""``).

        Raises:
            ValueError: a negative resulting position, an unknown ``whence``, or a closed file.
        """
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"whence must be 0, 1 or 2, got {whence!r}")
        target = base + offset
        if target < 0:
            raise ValueError(f"cannot seek to {target}: before the start of the file")
        self._pos = target
        return target

    async def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes from the position (all the rest if ``size`` is negative or
        None); fewer only at the end of the file.

        Raises:
            IntegrityError: a chunk's bytes did not match its hash (nothing returned).
            ChunkMissing: the store lacks a chunk of the file.
        """
        self._check_open()
        async with self._lock:
            start = self._pos
            end = self.size if size is None or size < 0 else min(self.size, start + size)
            if start >= end:
                return b""
            self._plan_read_ahead(start, end)
            out = bytearray()
            window = self._budget // 2
            for piece in range(start, end, window):
                out += await self._read_span(piece, min(end, piece + window), end)
            self._pos = self._last_end = end
            return bytes(out)

    async def readall(self) -> bytes:
        """The rest of the file."""
        return await self.read(-1)

    async def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer`` from the position (less only at the end); the bytes written."""
        view = memoryview(buffer).cast("B")
        data = await self.read(len(view))
        view[: len(data)] = data
        return len(data)

    async def aclose(self) -> None:
        """Close the file and release what it holds (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._kept.clear()
        self._kept_bytes = 0
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()

    async def __aenter__(self) -> LazyFile:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<LazyFile {self.name!r} size={self.size}{state}>"

    # -- inside ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.name!r}")

    def _plan_read_ahead(self, start: int, end: int) -> None:
        if start == self._last_end:
            grown = max(2 * (end - start), 2 * self._ahead_now)
            self._ahead_now = min(self._read_ahead, grown)
        else:
            self._ahead_now = 0

    def _chunks_covering(self, start: int, end: int) -> range:
        first = bisect.bisect_right(self._starts, start) - 1
        last = bisect.bisect_left(self._starts, end)  # one past the last chunk needed
        return range(first, min(last, len(self.entry.chunks)))

    async def _read_span(self, start: int, end: int, read_end: int) -> bytes:
        """Bytes ``[start, end)``; fetches what is not kept (and the read-ahead after
        ``read_end`` when this window reaches it)."""
        needed = self._chunks_covering(start, end)
        fetch_end = min(self.size, end + self._ahead_now) if end == read_end else end
        wanted = self._chunks_covering(start, fetch_end)
        if any(i not in self._kept for i in needed):
            missing = [i for i in wanted if i not in self._kept]
            data = await self._source.fetch([self.entry.chunks[i] for i in missing])
            for i, chunk in zip(missing, data, strict=True):
                self._keep(i, chunk)
        out = bytearray()
        for i in needed:
            chunk = self._kept[i]
            self._kept.move_to_end(i)
            lo = max(start, self._starts[i]) - self._starts[i]
            hi = min(end, self._starts[i + 1]) - self._starts[i]
            out += chunk[lo:hi]
        self._evict(keep=needed)
        return bytes(out)

    def _keep(self, index: int, data: bytes) -> None:
        if index in self._kept:
            return
        self._kept[index] = data
        self._kept_bytes += len(data)

    def _evict(self, keep: range) -> None:
        while self._kept_bytes > self._budget and len(self._kept) > len(keep):
            index = next(iter(self._kept))
            if index in keep:  # the oldest is still in use; later ones go first
                self._kept.move_to_end(index)
                continue
            self._kept_bytes -= len(self._kept.pop(index))
