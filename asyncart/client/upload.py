"""The push pipeline: read → cut → hash → ask what is missing → pack → upload, overlapped.

::

    scanner (worker threads) ──batches──> dedup+pack ──packs──> uploaders (adaptive)
        one read pass per file            one 'missing' query        one request per pack
        chunk + file blake3               per batch group            (~pack_size bytes)

A file the hash cache knows (same path, size, mtime, ctime, inode and chunker)
is not read: its cached chunk hashes go straight to a 'missing' query, and
only the chunks the store lacks are read back (by offset, each checked
against its cached hash) and uploaded. See ``hashcache.py``.

Large files are read in blocks of ``pack_size``. A block whose chunks are
mostly new to the store becomes a pack of its own, sent straight from the read
buffer (no copy); the buffer returns to the pool once that upload is done.
Chunks from blocks that are mostly present already (a re-push after a small
edit), and from small files, are copied into shared packs, so packs stay
between half and one ``pack_size`` and the store keeps few objects per GiB.

Memory is bounded: at most ``_QUEUE_BATCHES`` read blocks wait between the
scanner and the dedup stage, and packs in flight (their number adapts, see
``concurrency.py``) hold one buffer each, all from one pool of at most
``PUSH_MEMORY_BUDGET`` bytes,
whatever the file sizes. Small files are read many to one worker call and
their chunks share packs, so 20,000 files of 4 KiB make a handful of requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread

from asyncart.client.concurrency import AdaptiveLimit
from asyncart.client.hashcache import CachedFile, HashCache, HashedFile
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.remote import Remote
from asyncart.client.scan import (
    ChunkMismatch,
    FileIdentity,
    FileScan,
    ScannedChunk,
    block_buffer_size,
    close_ranges,
    close_scan,
    open_ranges,
    open_scan,
    read_block,
    read_ranges,
    read_small_files,
)
from asyncart.client.tasks import task_group
from asyncart.config import Settings
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import ChunkRef, ManifestEntry
from asyncart.core.pack import MAX_PACK_CHUNKS, PackHeader

_QUEUE_BATCHES = 2
_SMALL_FILE = 1 << 20
_SMALL_GROUP_FILES = 1024
_MAX_QUERY_HASHES = 20_000
PUSH_MEMORY_BUDGET = 160 << 20  # all read and pack buffers of one push together
_MIN_BUFFERS = 8  # reading, queued, in the dedup stage, a pack being filled: never deadlocks


@dataclass(frozen=True)
class SourceFile:
    """A local file to push under an entry path."""

    path: str
    local: Path
    identity: FileIdentity


_Finished = tuple[int, str, Sequence[ChunkRef]]  # file index, digest, chunks


class _Buffer:
    """A pooled read buffer, and how many holders (a batch, packs) still need its bytes."""

    __slots__ = ("data", "holders")

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)
        self.holders = 0


@dataclass
class _Batch:
    chunks: list[ScannedChunk]  # laid out one after another from the start of ``buffer``
    finished: list[_Finished] = field(default_factory=list)
    buffer: _Buffer | None = None
    present: list[ChunkRef] = field(default_factory=list)  # not read: the store holds them


class _BufferPool:
    """Read buffers reused across blocks: bounded memory, no allocator churn.

    A buffer goes back to the pool when its last holder lets go: the batch that
    was read into it, and every pack that sends bytes straight from it.
    """

    def __init__(self, count: int, size: int) -> None:
        self._free: list[_Buffer] = []
        self._size = size
        self._slots = anyio.Semaphore(count)

    async def acquire(self) -> _Buffer:
        await self._slots.acquire()
        buffer = self._free.pop() if self._free else _Buffer(self._size)
        buffer.holders = 1
        return buffer

    def hold(self, buffer: _Buffer) -> None:
        buffer.holders += 1

    def release(self, buffer: _Buffer) -> None:
        buffer.holders -= 1
        if buffer.holders == 0:
            self._free.append(buffer)
            self._slots.release()


@dataclass
class _Pack:
    """The chunks of one upload: views of read buffers (held until sent) or copied bytes."""

    refs: list[ChunkRef] = field(default_factory=list)
    parts: list[memoryview] = field(default_factory=list)
    size: int = 0
    held: list[_Buffer] = field(default_factory=list)
    copy_buffer: _Buffer | None = None  # a pool buffer copied chunks go into (also held)
    _copied: int = 0
    _span: tuple[_Buffer, int, int] | None = None  # the last view: buffer, start, end

    def add_view(self, ref: ChunkRef, buffer: _Buffer, start: int) -> None:
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
    buffers, ceiling = push_buffers(settings)
    upload_slots = AdaptiveLimit(settings.concurrency, ceiling)
    spec = settings.chunker
    # A block per pack: a block of new data is sent as one pack straight from its buffer.
    block = settings.pack_size
    # Buffers: one being read, the queued ones, the one the dedup stage reads, and one
    # per pack in flight or being filled.
    pool = _BufferPool(buffers, block_buffer_size(spec, block))
    cache: HashCache | None = None
    if settings.hash_cache:
        cache = await anyio.to_thread.run_sync(HashCache.open, settings.cache_dir, spec)

    async def lookup(indexes: list[int]) -> list[CachedFile | None]:
        if cache is None:
            return [None] * len(indexes)
        items = [(files[i].local, files[i].identity) for i in indexes]
        return await anyio.to_thread.run_sync(cache.lookup, items)

    async def missing_of(hashes: Sequence[str]) -> set[str]:
        unique = list(dict.fromkeys(hashes))
        return set(await remote.missing_chunks(unique)) if unique else set()

    async def scan_small(group: list[int]) -> None:
        """Small files, many per thread hop: cache hits whose chunks are stored are not opened."""
        finished: list[_Finished] = []
        present: list[ChunkRef] = []
        hits = {i: hit for i, hit in zip(group, await lookup(group), strict=True) if hit}
        if hits:
            missing = await missing_of([c.hash for hit in hits.values() for c in hit.chunks])
            for i, hit in hits.items():
                if not any(c.hash in missing for c in hit.chunks):
                    finished.append((i, hit.digest, hit.chunks))
                    present.extend(hit.chunks)
            stats.files_cached += len(finished)
        done = {i for i, _, _ in finished}
        to_read = [i for i in group if i not in done]
        chunks: list[ScannedChunk] = []
        if to_read:
            items = [(files[i].local, files[i].identity) for i in to_read]
            results = await anyio.to_thread.run_sync(_read_small_files, items, spec, cache)
            stats.bytes_read += sum(files[i].identity.size for i in to_read)
            chunks = [c for _, cs in results for c in cs]
            for i, (scan, _) in zip(to_read, results, strict=True):
                assert scan.digest is not None
                finished.append((i, scan.digest, scan.chunks))
        await queue_send.send(_Batch(chunks, finished, present=present))

    async def scan_large(index: int, source: SourceFile) -> None:
        """One read pass over a large file, block by block into pooled buffers."""
        scan = await anyio.to_thread.run_sync(open_scan, source.local, source.identity, spec)
        try:
            while not scan.done:
                buffer = await pool.acquire()
                offset = scan.offset
                try:
                    chunks = await anyio.to_thread.run_sync(
                        _read_block, scan, buffer.data, block, cache
                    )
                except BaseException:
                    pool.release(buffer)
                    raise
                stats.bytes_read += scan.offset - offset
                finished: list[_Finished] = []
                if scan.done:
                    assert scan.digest is not None
                    finished.append((index, scan.digest, scan.chunks))
                await queue_send.send(_Batch(chunks, finished, buffer))
        finally:
            close_scan(scan)

    async def push_cached(index: int, source: SourceFile, hit: CachedFile) -> bool:
        """A large file the cache knows: read only the chunks the store lacks.

        Returns False, having dropped the cache entry, when a chunk read back
        does not match its cached hash (the file changed without its stat
        changing): the caller then reads the whole file. Chunks already sent
        were verified against their hashes, so sending them did no harm.
        """
        missing = await missing_of([c.hash for c in hit.chunks])
        plan, present = _plan_reads(hit.chunks, missing)
        if plan:
            ranges = await anyio.to_thread.run_sync(
                open_ranges, source.local, source.identity, plan
            )
            try:
                while not ranges.done:
                    buffer = await pool.acquire()
                    read = ranges.bytes_read
                    try:
                        chunks = await anyio.to_thread.run_sync(read_ranges, ranges, buffer.data)
                    except BaseException:
                        pool.release(buffer)
                        raise
                    finally:
                        stats.bytes_read += ranges.bytes_read - read
                    await queue_send.send(_Batch(chunks, [], buffer))
            except ChunkMismatch:
                assert cache is not None
                await anyio.to_thread.run_sync(cache.forget, source.local)
                return False
            finally:
                close_ranges(ranges)
        stats.files_cached += 1
        await queue_send.send(_Batch([], [(index, hit.digest, hit.chunks)], present=present))
        return True

    async def scanner() -> None:
        async with queue_send:
            group: list[int] = []
            group_bytes = 0

            async def flush_group() -> None:
                nonlocal group, group_bytes
                if group:
                    pending, group, group_bytes = group, [], 0
                    await scan_small(pending)

            for index, source in enumerate(files):
                if source.identity.size <= _SMALL_FILE:
                    group.append(index)
                    group_bytes += source.identity.size
                    if group_bytes >= block or len(group) >= _SMALL_GROUP_FILES:
                        await flush_group()
                    continue
                await flush_group()
                (hit,) = await lookup([index])
                if hit is None or not await push_cached(index, source, hit):
                    await scan_large(index, source)
            await flush_group()

    async def copy_pack() -> _Pack:
        buffer = await pool.acquire()
        return _Pack(held=[buffer], copy_buffer=buffer)

    async def upload(pack: _Pack, token: object) -> None:
        moved = 0
        try:
            header = PackHeader(tuple(pack.refs))
            what = f"pack of {len(pack.refs)} chunks ({len(pack)} bytes, first {pack.refs[0].hash})"
            await remote.upload_pack([header.encode(), *pack.body()], what)
            moved = len(pack)
            stats.bytes_uploaded += len(pack)
            stats.packs_uploaded += 1
            progress.on_progress(len(pack))
        finally:
            for buffer in pack.held:
                pool.release(buffer)
            upload_slots.release(token, moved)

    async def dedup_and_pack(tg: anyio.abc.TaskGroup) -> None:
        seen: set[str] = set()
        shared: _Pack | None = None  # sparse and small-file chunks, copied

        async def submit(p: _Pack) -> None:
            tg.start_soon(upload, p, await upload_slots.acquire())

        def full(p: _Pack) -> bool:
            return len(p) >= settings.pack_size or len(p.refs) >= MAX_PACK_CHUNKS

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
                    new = _new_chunks(batch, missing, seen)
                    new_bytes = sum(batch.chunks[i].ref.size for i, _ in new)
                    buffer = batch.buffer
                    if buffer is not None and new_bytes >= settings.pack_size // 2:
                        # Mostly new bytes: send them from the read buffer, no copy.
                        own = _Pack()
                        for i, start in new:
                            if not own.held:
                                pool.hold(buffer)
                                own.held.append(buffer)
                            own.add_view(batch.chunks[i].ref, buffer, start)
                            if full(own):
                                await submit(own)
                                own = _Pack()
                        if own.refs:
                            await submit(own)
                    else:
                        for i, _ in new:
                            if shared is None:
                                shared = await copy_pack()
                            shared.add_copy(batch.chunks[i].ref, batch.chunks[i].data)
                            if full(shared):
                                await submit(shared)
                                shared = None
                    skipped = sum(c.ref.size for c in batch.chunks) - new_bytes
                    skipped += sum(ref.size for ref in batch.present)
                    stats.bytes_skipped += skipped
                    progress.on_progress(skipped)
                    for index, digest, chunks in batch.finished:
                        source = files[index]
                        entries[index] = ManifestEntry.for_file(
                            source.path, source.identity.size, digest, chunks
                        )
                    if buffer is not None:
                        batch.chunks.clear()
                        pool.release(buffer)
        if shared is not None:
            await submit(shared)

    try:
        async with task_group() as tg:
            tg.start_soon(scanner)
            tg.start_soon(dedup_and_pack, tg)
    finally:
        progress.on_done()
        stats.concurrency_levels += upload_slots.log.levels
        stats.concurrency = upload_slots.log.settled or upload_slots.limit
        if cache is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(cache.close)
    return [entries[i] for i in range(len(files))]


def push_buffers(settings: Settings) -> tuple[int, int]:
    """How many pack-sized buffers a push may use, and the most packs in flight.

    Every buffer is about ``pack_size`` bytes; together they stay within
    ``PUSH_MEMORY_BUDGET`` (but never fewer than ``_MIN_BUFFERS``). Four are kept
    for reading, queueing and the dedup stage; each pack in flight holds one.
    """
    buffers = max(
        _MIN_BUFFERS, PUSH_MEMORY_BUDGET // (settings.pack_size + settings.chunker.max_size)
    )
    ceiling = max(settings.concurrency, min(settings.concurrency_ceiling, buffers - 4))
    return max(buffers, ceiling + 4), ceiling


def _new_chunks(batch: _Batch, missing: set[str], seen: set[str]) -> list[tuple[int, int]]:
    """``(index, offset in the buffer)`` of the batch's chunks to upload; marks all as seen."""
    new: list[tuple[int, int]] = []
    offset = 0
    for i, chunk in enumerate(batch.chunks):
        h = chunk.ref.hash
        if h in missing and h not in seen:
            new.append((i, offset))
        seen.add(h)
        offset += chunk.ref.size
    return new


def _plan_reads(
    chunks: Sequence[ChunkRef], missing: set[str]
) -> tuple[list[tuple[int, ChunkRef]], list[ChunkRef]]:
    """Split a cached chunk list into ``(offset, chunk)`` reads and chunks not to read.

    Offsets follow from the ordered chunk sizes. Each missing hash is read once
    (its first occurrence); every other occurrence, like every stored chunk, is
    accounted as present.
    """
    plan: list[tuple[int, ChunkRef]] = []
    present: list[ChunkRef] = []
    planned: set[str] = set()
    offset = 0
    for ref in chunks:
        if ref.hash in missing and ref.hash not in planned:
            plan.append((offset, ref))
            planned.add(ref.hash)
        else:
            present.append(ref)
        offset += ref.size
    return plan, present


def _hashed(scan: FileScan) -> HashedFile:
    assert scan.digest is not None
    return HashedFile(scan.local, scan.expected, scan.digest, scan.chunks, scan.checked_ns)


def _read_block(
    scan: FileScan, buffer: bytearray, block: int, cache: HashCache | None
) -> list[ScannedChunk]:
    """``read_block``, recording the file in the cache once it was read whole (same hop)."""
    chunks = read_block(scan, buffer, block)
    if scan.done and cache is not None:
        cache.remember([_hashed(scan)])
    return chunks


def _read_small_files(
    items: list[tuple[Path, FileIdentity]], spec: ChunkerSpec, cache: HashCache | None
) -> list[tuple[FileScan, list[ScannedChunk]]]:
    """``read_small_files``, recording them in the cache (same hop)."""
    results = read_small_files(items, spec)
    if cache is not None:
        cache.remember([_hashed(scan) for scan, _ in results])
    return results
