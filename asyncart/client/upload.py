"""The push pipeline: read → cut → hash → ask what is missing → pack → upload, overlapped.

::

    scanner (worker threads) ──batches──> dedup+pack ──packs──> uploaders (adaptive)
        one read pass per file            one 'missing' query        one request per pack
        chunk + file blake3               per batch group            (~pack_size bytes)

A file the hash cache knows (same path, size, mtime, ctime, inode and chunker)
is not read: its cached chunk hashes go straight to a 'missing' query, and
only the chunks the store lacks are read back (by offset, each checked
against its cached hash) and uploaded. See ``hashcache.py``.

Large files are read in blocks of ``pack_size``, at most 16 MiB each. The
chunks of blocks mostly new to the store fill packs of ``pack_size`` straight
from the read buffers (views, no copy); a buffer returns to the pool once the
uploads holding it are done.
Chunks from blocks that are mostly present already (a re-push after a small
edit), and from small files, are copied into shared packs, so packs stay
between half and one ``pack_size`` and the store keeps few objects per GiB.

Memory is bounded: at most ``_QUEUE_BATCHES`` read blocks wait between the
scanner and the dedup stage, and packs in flight (their number adapts, see
``concurrency.py``) hold the buffers they were filled from, all from one pool of at most
``PUSH_MEMORY_BUDGET`` bytes,
whatever the file sizes. Small files are read many to one worker call and
their chunks share packs, so 20,000 files of 4 KiB make a handful of requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from asyncart.client.concurrency import AdaptiveLimit
from asyncart.client.hashcache import CachedFile, HashCache, HashedFile
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.push_buffers import (
    PUSH_MEMORY_BUDGET,
    Buffer,
    BufferPool,
    Pack,
    Packer,
    push_buffers,
    read_block_size,
)
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
from asyncart.core import protocol as P
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import ChunkRef, ManifestEntry
from asyncart.core.pack import PackHeader

__all__ = ["PUSH_MEMORY_BUDGET", "PushPipeline", "SourceFile", "push_buffers", "push_files"]

_QUEUE_BATCHES = 2
_SMALL_FILE = 1 << 20
_SMALL_GROUP_FILES = 1024


@dataclass(frozen=True)
class SourceFile:
    """A local file to push under an entry path."""

    path: str
    local: Path
    identity: FileIdentity


_Finished = tuple[int, str, Sequence[ChunkRef]]  # file index, digest, chunks


@dataclass
class _Batch:
    chunks: list[ScannedChunk]  # laid out one after another from the start of ``buffer``
    finished: list[_Finished] = field(default_factory=list)
    buffer: Buffer | None = None
    present: list[ChunkRef] = field(default_factory=list)  # not read: the store holds them


async def push_files(
    remote: Remote,
    files: Sequence[SourceFile],
    settings: Settings,
    stats: TransferStats | None = None,
    progress: Progress | None = None,
    project: str | None = None,
) -> list[ManifestEntry]:
    """Upload every chunk of ``files`` the store lacks; return their manifest entries.

    ``project``: the push's project, whose quota is asked about before the first byte of
    new chunks is sent (docs/quotas.md); None: not asked (the commit still checks).

    Raises:
        FileChangedError: a file changed while it was read (nothing is committed).
        QuotaExceeded: the new chunks would take the project past its quota.
        RetriesExhausted / AsyncartError: the store could not take the bytes.
    """
    return await PushPipeline(remote, files, settings, stats, progress, project).run()


class PushPipeline:
    """One push, as stages (see the module doc)::

        scan (read, cut, hash; the hash cache) -> missing query -> pack -> upload

    :meth:`scan_files` feeds batches of read chunks into a bounded queue;
    :meth:`dedup_and_pack` asks the store which are missing and builds packs;
    :meth:`upload` sends one pack. Each stage is a method so one can change alone.
    """

    def __init__(
        self,
        remote: Remote,
        files: Sequence[SourceFile],
        settings: Settings,
        stats: TransferStats | None = None,
        progress: Progress | None = None,
        project: str | None = None,
    ) -> None:
        self.remote = remote
        self.project = project
        self._new_bytes = 0  # of the chunks found missing so far
        self._room: int | None = -1  # quota - usage; None: no quota; -1: not asked yet
        self.files = files
        self.settings = settings
        self.stats = stats or TransferStats()
        self.progress = progress or Progress()
        self.spec = settings.chunker
        # Packs of new data are sent straight from the buffers of the blocks they came from.
        self.block = read_block_size(settings)
        buffers, ceiling = push_buffers(settings)
        self.upload_slots = AdaptiveLimit(min(settings.concurrency, ceiling), ceiling)
        # Buffers: one being read, the queued ones, the one the dedup stage reads, and one
        # per pack in flight or being filled.
        self.pool = BufferPool(buffers, block_buffer_size(self.spec, self.block))
        self.cache: HashCache | None = None
        self.entries: dict[int, ManifestEntry] = {}
        self._send, self._receive = anyio.create_memory_object_stream[_Batch](_QUEUE_BATCHES)

    async def run(self) -> list[ManifestEntry]:
        """Run every stage to the end; the files' manifest entries, in order."""
        self.progress.on_start("push", sum(f.identity.size for f in self.files), len(self.files))
        if self.settings.hash_cache:
            self.cache = await anyio.to_thread.run_sync(
                HashCache.open, self.settings.cache_dir, self.spec
            )
        try:
            async with task_group() as tg:
                tg.start_soon(self.scan_files)
                tg.start_soon(self.dedup_and_pack, tg)
        finally:
            self.progress.on_done()
            self.stats.concurrency_levels += self.upload_slots.log.levels
            self.stats.concurrency = self.upload_slots.log.settled or self.upload_slots.limit
            if self.cache is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.cache.close)
        return [self.entries[i] for i in range(len(self.files))]

    # -- stage 1: read, cut, hash ---------------------------------------------------

    async def scan_files(self) -> None:
        """Every file, in order: small ones grouped, large ones block by block."""
        async with self._send:
            group: list[int] = []
            group_bytes = 0
            for index, source in enumerate(self.files):
                if source.identity.size <= _SMALL_FILE:
                    group.append(index)
                    group_bytes += source.identity.size
                    if group_bytes >= self.block or len(group) >= _SMALL_GROUP_FILES:
                        await self.scan_small(group)
                        group, group_bytes = [], 0
                    continue
                if group:
                    await self.scan_small(group)
                    group, group_bytes = [], 0
                (hit,) = await self._lookup([index])
                if hit is None or not await self.push_cached(index, source, hit):
                    await self.scan_large(index, source)
            if group:
                await self.scan_small(group)

    async def _lookup(self, indexes: list[int]) -> list[CachedFile | None]:
        if self.cache is None:
            return [None] * len(indexes)
        items = [(self.files[i].local, self.files[i].identity) for i in indexes]
        return await anyio.to_thread.run_sync(self.cache.lookup, items)

    async def scan_small(self, group: list[int]) -> None:
        """Small files, many per thread hop: cache hits whose chunks are stored are not opened."""
        finished: list[_Finished] = []
        present: list[ChunkRef] = []
        hits = {i: hit for i, hit in zip(group, await self._lookup(group), strict=True) if hit}
        if hits:
            missing = await self.missing_of([c.hash for hit in hits.values() for c in hit.chunks])
            for i, hit in hits.items():
                if not any(c.hash in missing for c in hit.chunks):
                    finished.append((i, hit.digest, hit.chunks))
                    present.extend(hit.chunks)
            self.stats.files_cached += len(finished)
        done = {i for i, _, _ in finished}
        to_read = [i for i in group if i not in done]
        chunks: list[ScannedChunk] = []
        if to_read:
            items = [(self.files[i].local, self.files[i].identity) for i in to_read]
            results = await anyio.to_thread.run_sync(
                _read_small_files, items, self.spec, self.cache
            )
            self.stats.bytes_read += sum(self.files[i].identity.size for i in to_read)
            chunks = [c for _, cs in results for c in cs]
            for i, (scan, _) in zip(to_read, results, strict=True):
                assert scan.digest is not None
                finished.append((i, scan.digest, scan.chunks))
        await self._send.send(_Batch(chunks, finished, present=present))

    async def scan_large(self, index: int, source: SourceFile) -> None:
        """One read pass over a large file, block by block into pooled buffers."""
        scan = await anyio.to_thread.run_sync(open_scan, source.local, source.identity, self.spec)
        try:
            while not scan.done:
                buffer = await self.pool.acquire()
                offset = scan.offset
                try:
                    chunks = await anyio.to_thread.run_sync(
                        _read_block, scan, buffer.data, self.block, self.cache
                    )
                except BaseException:
                    self.pool.release(buffer)
                    raise
                self.stats.bytes_read += scan.offset - offset
                finished: list[_Finished] = []
                if scan.done:
                    assert scan.digest is not None
                    finished.append((index, scan.digest, scan.chunks))
                await self._send.send(_Batch(chunks, finished, buffer))
        finally:
            close_scan(scan)

    async def push_cached(self, index: int, source: SourceFile, hit: CachedFile) -> bool:
        """A large file the cache knows: read only the chunks the store lacks.

        Returns False, having dropped the cache entry, when a chunk read back
        does not match its cached hash (the file changed without its stat
        changing): the caller then reads the whole file. Chunks already sent
        were verified against their hashes, so sending them did no harm.
        """
        missing = await self.missing_of([c.hash for c in hit.chunks])
        plan, present = _plan_reads(hit.chunks, missing)
        if plan:
            ranges = await anyio.to_thread.run_sync(
                open_ranges, source.local, source.identity, plan
            )
            try:
                while not ranges.done:
                    buffer = await self.pool.acquire()
                    read = ranges.bytes_read
                    try:
                        chunks = await anyio.to_thread.run_sync(read_ranges, ranges, buffer.data)
                    except BaseException:
                        self.pool.release(buffer)
                        raise
                    finally:
                        self.stats.bytes_read += ranges.bytes_read - read
                    await self._send.send(_Batch(chunks, [], buffer))
            except ChunkMismatch:
                assert self.cache is not None
                await anyio.to_thread.run_sync(self.cache.forget, source.local)
                return False
            finally:
                close_ranges(ranges)
        self.stats.files_cached += 1
        await self._send.send(_Batch([], [(index, hit.digest, hit.chunks)], present=present))
        return True

    # -- stage 2: what the store lacks ---------------------------------------------------

    async def missing_of(self, hashes: Sequence[str]) -> set[str]:
        """The hashes (deduplicated) the store does not hold."""
        unique = list(dict.fromkeys(hashes))
        return set(await self.remote.missing_chunks(unique)) if unique else set()

    async def _next_batches(self) -> list[_Batch] | None:
        """The next batch and whatever else is ready (fewer, larger queries when the
        network is slow); None at the end of the scan."""
        try:
            batches = [await self._receive.receive()]
        except anyio.EndOfStream:
            return None
        count = len(batches[0].chunks)
        while count < P.CLIENT_QUERY_HASHES:
            try:
                batches.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
            count += len(batches[-1].chunks)
        return batches

    async def check_quota(self, new_bytes: int) -> None:
        """The pre-flight: before the first new chunk is packed, ask whether the push's
        new bytes fit the project's quota; then count locally and ask again only if
        they pass what was left (the store may have freed room meanwhile).

        Raises:
            QuotaExceeded: they do not fit.
        """
        if self.project is None or new_bytes == 0:
            return
        self._new_bytes += new_bytes
        if self._room is not None and self._new_bytes > self._room:
            self._room = await self.remote.check_quota(self.project, self._new_bytes)

    # -- stage 3: packs ------------------------------------------------------------------

    async def dedup_and_pack(self, tg: anyio.abc.TaskGroup) -> None:
        """Query what is missing per group of batches, pack the new chunks, submit packs."""
        seen: set[str] = set()

        async def submit(pack: Pack) -> None:
            tg.start_soon(self.upload, pack, await self.upload_slots.acquire())

        packer = Packer(self.pool, self.settings.pack_size, submit, block=self.block)
        async with self._receive:
            while (batches := await self._next_batches()) is not None:
                candidates = list(
                    dict.fromkeys(
                        c.ref.hash for b in batches for c in b.chunks if c.ref.hash not in seen
                    )
                )
                missing = await self.missing_of(candidates)
                news = [_new_chunks(batch, missing, seen) for batch in batches]
                await self.check_quota(
                    sum(
                        b.chunks[i].ref.size
                        for b, new in zip(batches, news, strict=True)
                        for i, _ in new
                    )
                )
                for batch, new in zip(batches, news, strict=True):
                    new_bytes = await packer.pack(batch.chunks, batch.buffer, new)
                    self._account(batch, new_bytes)
        await packer.flush()

    def _account(self, batch: _Batch, new_bytes: int) -> None:
        """Progress for what a batch did not upload, its finished files, its buffer back."""
        skipped = sum(c.ref.size for c in batch.chunks) - new_bytes
        skipped += sum(ref.size for ref in batch.present)
        self.stats.bytes_skipped += skipped
        self.progress.on_skip(skipped)
        for index, digest, chunks in batch.finished:
            source = self.files[index]
            self.entries[index] = ManifestEntry.for_file(
                source.path, source.identity.size, digest, chunks
            )
        if batch.buffer is not None:
            batch.chunks.clear()
            self.pool.release(batch.buffer)

    # -- stage 4: upload -----------------------------------------------------------------

    async def upload(self, pack: Pack, token: object) -> None:
        """Send one pack; its buffers go back to the pool whatever happens."""
        moved = 0
        try:
            header = PackHeader(tuple(pack.refs))
            what = f"pack of {len(pack.refs)} chunks ({len(pack)} bytes, first {pack.refs[0].hash})"
            await self.remote.upload_pack([header.encode(), *pack.body()], what, self.project)
            moved = len(pack)
            self.stats.bytes_uploaded += len(pack)
            self.stats.packs_uploaded += 1
            self.progress.on_progress(len(pack))
        finally:
            for buffer in pack.held:
                self.pool.release(buffer)
            self.upload_slots.release(token, moved)


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
