"""The push pipeline: read → cut → hash → ask what is missing → pack → upload, overlapped.

::

    scanner (worker threads) ──batches──> dedup+pack ──packs──> uploaders (≤ concurrency)
        one read pass per file            one 'missing' query        one request per pack
        chunk + file blake3               per batch group            (~pack_size bytes)

Memory is bounded: at most ``_QUEUE_BATCHES`` read blocks wait between the
scanner and the dedup stage, and at most ``concurrency`` packs (plus the one
being filled) are held, whatever the file sizes. Small files are read many to
one worker call and their chunks share packs, so 20,000 files of 4 KiB make a
handful of requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread

from asyncart.client.progress import Progress, TransferStats
from asyncart.client.remote import Remote
from asyncart.client.scan import (
    FileIdentity,
    FileScan,
    ScannedChunk,
    block_buffer_size,
    close_scan,
    open_scan,
    read_block,
    read_small_files,
)
from asyncart.client.tasks import task_group
from asyncart.config import Settings
from asyncart.core.manifest import ChunkRef, ManifestEntry
from asyncart.core.pack import MAX_PACK_CHUNKS, PackHeader

_QUEUE_BATCHES = 2
_SMALL_FILE = 1 << 20
_SMALL_GROUP_FILES = 1024
_MAX_QUERY_HASHES = 20_000


@dataclass(frozen=True)
class SourceFile:
    """A local file to push under an entry path."""

    path: str
    local: Path
    identity: FileIdentity


@dataclass
class _Batch:
    chunks: list[ScannedChunk]
    finished: list[tuple[int, FileScan]] = field(default_factory=list)
    buffer: bytearray | None = None  # returned to the pool once the chunks are handled


class _BufferPool:
    """Read buffers reused across blocks: bounded memory, no allocator churn."""

    def __init__(self, count: int, size: int) -> None:
        self._free: list[bytearray] = []
        self._size = size
        self._slots = anyio.Semaphore(count)

    async def acquire(self) -> bytearray:
        await self._slots.acquire()
        return self._free.pop() if self._free else bytearray(self._size)

    def release(self, buffer: bytearray) -> None:
        self._free.append(buffer)
        self._slots.release()


class _PackBuilder:
    """Chunk bytes copied into one reused buffer (no regrowth copies, no zero-filling)."""

    def __init__(self, buffer: bytearray) -> None:
        self.refs: list[ChunkRef] = []
        self._buf = buffer
        self._len = 0

    def fits(self, size: int) -> bool:
        return self._len + size <= len(self._buf)

    def add(self, chunk: ScannedChunk) -> None:
        end = self._len + chunk.ref.size
        self._buf[self._len : end] = chunk.data
        self._len = end
        self.refs.append(chunk.ref)

    @property
    def data(self) -> memoryview:
        return memoryview(self._buf)[: self._len]

    def __len__(self) -> int:
        return self._len


async def push_files(
    remote: Remote,
    files: Sequence[SourceFile],
    settings: Settings,
    stats: TransferStats | None = None,
    progress: Progress | None = None,
) -> list[ManifestEntry]:
    """Upload every chunk of ``files`` the store lacks; return their manifest entries.

    Raises:
        FileChangedError: a file changed while it was read (nothing is committed).
        RetriesExhausted / AsyncartError: the store could not take the bytes.
    """
    stats = stats or TransferStats()
    progress = progress or Progress()
    progress.on_start("push", sum(f.identity.size for f in files), len(files))
    queue_send, queue_recv = anyio.create_memory_object_stream[_Batch](_QUEUE_BATCHES)
    entries: dict[int, ManifestEntry] = {}
    upload_slots = anyio.Semaphore(settings.concurrency)
    spec = settings.chunker
    block = settings.read_block_size
    # Buffers: one being read, the queued ones, and those the dedup stage holds.
    pool = _BufferPool(_QUEUE_BATCHES + 3, block_buffer_size(spec, block))
    capacity = settings.pack_size + spec.max_size

    async def scanner() -> None:
        async with queue_send:
            group: list[int] = []
            group_bytes = 0

            async def flush_group() -> None:
                nonlocal group, group_bytes
                if not group:
                    return
                items = [(files[i].local, files[i].identity) for i in group]
                results = await anyio.to_thread.run_sync(read_small_files, items, spec)
                chunks = [c for _, cs in results for c in cs]
                await queue_send.send(
                    _Batch(chunks, list(zip(group, (s for s, _ in results), strict=True)))
                )
                group, group_bytes = [], 0

            for index, source in enumerate(files):
                if source.identity.size <= _SMALL_FILE:
                    group.append(index)
                    group_bytes += source.identity.size
                    if group_bytes >= block or len(group) >= _SMALL_GROUP_FILES:
                        await flush_group()
                    continue
                await flush_group()
                scan = await anyio.to_thread.run_sync(
                    open_scan, source.local, source.identity, spec
                )
                try:
                    while not scan.done:
                        buffer = await pool.acquire()
                        try:
                            chunks = await anyio.to_thread.run_sync(read_block, scan, buffer, block)
                        except BaseException:
                            pool.release(buffer)
                            raise
                        await queue_send.send(
                            _Batch(chunks, [(index, scan)] if scan.done else [], buffer)
                        )
                finally:
                    close_scan(scan)
            await flush_group()

    spare_packs: list[bytearray] = []  # at most concurrency + 1 ever exist

    def new_pack() -> _PackBuilder:
        return _PackBuilder(spare_packs.pop() if spare_packs else bytearray(capacity))

    async def upload(pack: _PackBuilder) -> None:
        try:
            header = PackHeader(tuple(pack.refs))
            what = f"pack of {len(pack.refs)} chunks ({len(pack)} bytes, first {pack.refs[0].hash})"
            await remote.upload_pack([header.encode(), pack.data], what)
            stats.bytes_uploaded += len(pack)
            stats.packs_uploaded += 1
            progress.on_progress(len(pack))
        finally:
            spare_packs.append(pack._buf)
            upload_slots.release()

    async def dedup_and_pack(tg: anyio.abc.TaskGroup) -> None:
        seen: set[str] = set()
        pack = new_pack()

        async def submit(p: _PackBuilder) -> None:
            await upload_slots.acquire()
            tg.start_soon(upload, p)

        async with queue_recv:
            while True:
                try:
                    batches = [await queue_recv.receive()]
                except anyio.EndOfStream:
                    break
                # Take whatever else is ready: fewer, larger queries when the network is slow.
                count = len(batches[0].chunks)
                while count < _MAX_QUERY_HASHES:
                    try:
                        batches.append(queue_recv.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    count += len(batches[-1].chunks)
                candidates = list(
                    dict.fromkeys(
                        c.ref.hash for b in batches for c in b.chunks if c.ref.hash not in seen
                    )
                )
                missing = set(await remote.missing_chunks(candidates)) if candidates else set()
                for batch in batches:
                    for chunk in batch.chunks:
                        h = chunk.ref.hash
                        if h in missing and h not in seen:
                            pack.add(chunk)
                            if len(pack) >= settings.pack_size or len(pack.refs) >= MAX_PACK_CHUNKS:
                                await submit(pack)
                                pack = new_pack()
                        else:
                            stats.bytes_skipped += chunk.ref.size
                            progress.on_progress(chunk.ref.size)
                        seen.add(h)
                    for index, scan in batch.finished:
                        source = files[index]
                        assert scan.digest is not None
                        entries[index] = ManifestEntry.for_file(
                            source.path, source.identity.size, scan.digest, scan.chunks
                        )
                    if batch.buffer is not None:
                        batch.chunks.clear()
                        pool.release(batch.buffer)
        if len(pack):
            await submit(pack)

    try:
        async with task_group() as tg:
            tg.start_soon(scanner)
            tg.start_soon(dedup_and_pack, tg)
    finally:
        progress.on_done()
    return [entries[i] for i in range(len(files))]
