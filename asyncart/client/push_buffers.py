"""The read buffers of one push, and the packs built from them.

A push reads files into pooled buffers of one block (:func:`read_block_size`: at most
:data:`READ_BLOCK`, bounded memory, no allocator churn). A pack is sent either
straight from read buffers (views, no copy: blocks of mostly new bytes, one pack
filled from consecutive blocks) or from its own pool buffer that chunks are copied
into (small files, sparse chunks). A buffer returns to the pool when its last holder
lets go.

Why a pack may be larger than a read block: every pack upload costs the server a
fixed amount besides its bytes (a request, a file created, fsynced and renamed, a
directory fsynced, its index transaction: some 40 thread hand-offs), about 8 ms of CPU
on the benchmark machine, so 32 MiB packs cost it about a fifth less CPU per GiB than
16 MiB ones (``docs/performance-notes.md``), and blocks of at most 16 MiB keep such a
push within its memory budget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio

from asyncart.client.scan import ScannedChunk
from asyncart.config import Settings
from asyncart.core.manifest import ChunkRef
from asyncart.core.pack import MAX_PACK_CHUNKS

PUSH_MEMORY_BUDGET = 160 << 20  # all read and pack buffers of one push together
#: The largest read block: packs above it are filled from consecutive blocks.
READ_BLOCK = 16 << 20
# One being read, two queued, one in the dedup stage, and the blocks a pack being filled
# holds (up to three): the least that never deadlocks, since packs in flight finish on
# their own and give theirs back.
_MIN_BUFFERS = 8


class Buffer:
    """A pooled read buffer, and how many holders (a batch, packs) still need its bytes."""

    __slots__ = ("data", "holders")

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)
        self.holders = 0


class BufferPool:
    """Read buffers reused across blocks: bounded memory, no allocator churn.

    A buffer goes back to the pool when its last holder lets go: the batch that
    was read into it, and every pack that sends bytes straight from it.
    """

    def __init__(self, count: int, size: int) -> None:
        self._free: list[Buffer] = []
        self._size = size
        self._slots = anyio.Semaphore(count)

    async def acquire(self) -> Buffer:
        await self._slots.acquire()
        buffer = self._free.pop() if self._free else Buffer(self._size)
        buffer.holders = 1
        return buffer

    def hold(self, buffer: Buffer) -> None:
        buffer.holders += 1

    def release(self, buffer: Buffer) -> None:
        buffer.holders -= 1
        if buffer.holders == 0:
            self._free.append(buffer)
            self._slots.release()


@dataclass
class Pack:
    """The chunks of one upload: views of read buffers (held until sent) or copied bytes."""

    refs: list[ChunkRef] = field(default_factory=list)
    parts: list[memoryview] = field(default_factory=list)
    size: int = 0
    held: list[Buffer] = field(default_factory=list)
    copy_buffer: Buffer | None = None  # a pool buffer copied chunks go into (also held)
    _copied: int = 0
    _span: tuple[Buffer, int, int] | None = None  # the last view: buffer, start, end

    def add_view(self, ref: ChunkRef, buffer: Buffer, start: int) -> None:
        """Send ``ref``'s bytes from ``buffer`` at ``start`` (the caller holds the buffer)."""
        end = start + ref.size
        if self._span is not None and self._span[0] is buffer and self._span[2] == start:
            start = self._span[1]  # adjacent to the last view: widen it
            self.parts[-1] = memoryview(buffer.data)[start:end]
        else:
            self.parts.append(memoryview(buffer.data)[start:end])
        self._span = (buffer, start, end)
        self.refs.append(ref)
        self.size += ref.size

    def add_copy(self, ref: ChunkRef, data: memoryview) -> None:
        """Copy ``ref``'s bytes into this pack's own buffer (sparse or small-file chunks)."""
        assert self.copy_buffer is not None
        end = self._copied + ref.size
        self.copy_buffer.data[self._copied : end] = data
        self._copied = end
        self.refs.append(ref)
        self.size += ref.size

    def body(self) -> list[memoryview]:
        parts = list(self.parts)
        if self._copied:
            assert self.copy_buffer is not None
            parts.append(memoryview(self.copy_buffer.data)[: self._copied])
        return parts

    def __len__(self) -> int:
        return self.size


class Packer:
    """Puts a batch's new chunks into packs of ``limit`` bytes and submits full ones.

    Mostly new bytes of a read buffer (of ``block`` bytes) go out as views of the
    buffers (no copy): one pack of views is filled across consecutive blocks. The rest
    is copied into one shared pack. Both are submitted when full and by :meth:`flush`.
    """

    def __init__(
        self,
        pool: BufferPool,
        limit: int,
        submit: Callable[[Pack], Awaitable[None]],
        *,
        block: int,
    ) -> None:
        self._pool = pool
        self._limit = limit
        self._block = block
        self._submit = submit
        self._shared: Pack | None = None
        self._viewing: Pack | None = None  # views of read buffers, not full yet

    @staticmethod
    def _full(pack: Pack, cap: int) -> bool:
        return len(pack) >= cap or len(pack.refs) >= MAX_PACK_CHUNKS

    async def pack(
        self, chunks: Sequence[ScannedChunk], buffer: Buffer | None, new: list[tuple[int, int]]
    ) -> int:
        """Pack ``new`` (``(index in chunks, offset in buffer)``); the bytes they add up to."""
        new_bytes = sum(chunks[i].ref.size for i, _ in new)
        if buffer is not None and new_bytes >= self._block // 2:
            await self._from_buffer(chunks, buffer, new)
        else:
            for i, _ in new:
                if self._shared is None:
                    copy = await self._pool.acquire()
                    self._shared = Pack(held=[copy], copy_buffer=copy)
                self._shared.add_copy(chunks[i].ref, chunks[i].data)
                # Its one buffer holds a block and one more chunk.
                if self._full(self._shared, min(self._limit, self._block)):
                    await self._submit(self._shared)
                    self._shared = None
        return new_bytes

    async def _from_buffer(
        self, chunks: Sequence[ScannedChunk], buffer: Buffer, new: list[tuple[int, int]]
    ) -> None:
        own, self._viewing = self._viewing or Pack(), None
        for i, start in new:
            if not own.held or own.held[-1] is not buffer:
                self._pool.hold(buffer)
                own.held.append(buffer)
            own.add_view(chunks[i].ref, buffer, start)
            if self._full(own, self._limit):
                await self._submit(own)
                own = Pack()
        if own.refs:
            self._viewing = own  # the next block of new bytes fills it further

    async def flush(self) -> None:
        """Submit the last, partly filled packs."""
        for pack in (self._viewing, self._shared):
            if pack is not None:
                await self._submit(pack)
        self._viewing = self._shared = None


def read_block_size(settings: Settings) -> int:
    """The bytes a push reads into one buffer: the pack size, at most :data:`READ_BLOCK`."""
    return min(settings.pack_size, READ_BLOCK)


def push_buffers(settings: Settings) -> tuple[int, int]:
    """How many read buffers a push may use, and the most packs in flight.

    Every buffer holds one block (:func:`read_block_size`) and the uncut tail of the
    one before; together they stay within ``PUSH_MEMORY_BUDGET`` (but never fewer
    than ``_MIN_BUFFERS``). Four are kept for reading, queueing and the dedup stage;
    a pack in flight holds the blocks it was filled from. ``concurrency`` packs are
    always allowed in flight, counted in blocks: at 32 MiB packs from 16 MiB blocks,
    four blocks' worth is two packs.
    """
    block = read_block_size(settings)
    per_pack = -(-settings.pack_size // block)
    buffers = max(_MIN_BUFFERS, PUSH_MEMORY_BUDGET // (block + settings.chunker.max_size))
    least = -(-settings.concurrency // per_pack)
    ceiling = max(least, min(settings.concurrency_ceiling, (buffers - 4) // per_pack))
    # The pack being filled may hold one block more than a pack's worth (it starts and
    # ends inside blocks); the reader, the queue and the dedup stage need four more.
    return max(buffers, ceiling * per_pack + 4, per_pack + 5), ceiling
