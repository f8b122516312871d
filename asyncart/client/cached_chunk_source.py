"""A lazy file's chunks from the download cache's whole-file blob, checked chunk by chunk.

When the download cache (``cache.py``) holds the blob of a file that
``artifact.open(path)`` reads, :func:`open_cached` returns a
:class:`CachedChunkSource` over it: each chunk is read from the blob at its
offset in the file and hashed (BLAKE3) before it is returned, so the cache is
never trusted without a check. A chunk that does not match (the blob was
damaged, truncated or replaced) discards the entry through the cache's discard
path, and that read and every later one come from the network source instead.

The source holds the digest's lock *shared* from :func:`open_cached` until
:meth:`CachedChunkSource.close` (the lazy file's close): eviction and
``asyncart cache clear`` take the lock exclusively and skip an entry they cannot
lock, so an open file's blob is never removed under it. Reads that miss the
cache never fill it: only a pull stores whole, verified files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Sequence

import anyio.to_thread
import blake3

from asyncart.client.cache import BlobCache, is_unusable
from asyncart.client.chunk_source import ChunkSource
from asyncart.core.manifest import ChunkRef, ManifestEntry

log = logging.getLogger("asyncart.client.cache")


class CachedChunkSource:
    """A :class:`~asyncart.client.chunk_source.ChunkSource` reading ``entry``'s chunks
    from the open cache blob ``blob_fd`` (see the module docstring); ``fallback``
    serves every read once a chunk failed its check."""

    def __init__(
        self,
        cache: BlobCache,
        entry: ManifestEntry,
        blob_fd: int,
        lock_fd: int,
        fallback: ChunkSource,
    ) -> None:
        self.cache = cache
        self.entry = entry
        self.fallback = fallback
        self._blob_fd: int | None = blob_fd
        self._lock_fd: int | None = lock_fd
        self._offsets: dict[str, int] = {}
        pos = 0
        for ref in entry.chunks:
            self._offsets.setdefault(ref.hash, pos)
            pos += ref.size
        self.failed = False

    @property
    def from_cache(self) -> bool:
        """Whether reads are still served from the cache blob."""
        return self._blob_fd is not None and not self.failed

    async def fetch(self, chunks: Sequence[ChunkRef]) -> list[bytes]:
        """As :meth:`ChunkSource.fetch`: from the blob while it checks out, else the network."""
        if self.from_cache:
            got = await anyio.to_thread.run_sync(self._read, chunks)
            if got is not None:
                return got
        return await self.fallback.fetch(chunks)

    def _read(self, chunks: Sequence[ChunkRef]) -> list[bytes] | None:
        """The chunks' verified bytes from the blob; None (the entry discarded) if one fails."""
        fd = self._blob_fd
        assert fd is not None
        out: list[bytes] = []
        for ref in chunks:
            offset = self._offsets.get(ref.hash)
            try:
                data = os.pread(fd, ref.size, offset) if offset is not None else b""
            except OSError as exc:
                log.warning("cannot read the cache blob of %s: %s", self.entry.path, exc)
                data = b""
            if (
                offset is None
                or len(data) != ref.size
                or blake3.blake3(data).hexdigest() != ref.hash
            ):
                self._give_up(f"chunk {ref.hash} at {offset} does not match its hash")
                return None
            out.append(data)
        return out

    def _give_up(self, why: str) -> None:
        self.failed = True
        try:
            self.cache.discard(self.entry.digest, why)
        except Exception as exc:
            if not is_unusable(exc):
                raise
            log.warning("cannot discard cache entry %s: %s", self.entry.digest, exc)

    async def close(self) -> None:
        """Close the blob, release the shared lock, close the cache (idempotent)."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close)

    def _close(self) -> None:
        blob, self._blob_fd = self._blob_fd, None
        lock, self._lock_fd = self._lock_fd, None
        try:
            if blob is not None:
                os.close(blob)
            if lock is not None:
                self.cache.unshare(self.entry.digest, lock)
        finally:
            if blob is not None or lock is not None:
                self.cache.close()


def open_cached(
    cache: BlobCache, entry: ManifestEntry, fallback: ChunkSource
) -> CachedChunkSource | None:
    """A source over the cached blob of ``entry`` holding its lock shared, or None (a
    miss: not indexed at this size, gone, of the wrong size, or locked by a pull or an
    eviction right now). Blocks: call it off the loop. ``cache`` is the source's to
    close on a hit; the caller's on a miss."""
    if entry.size == 0 or cache.index.size_of(entry.digest) != entry.size:
        return None
    lock = cache.try_share(entry.digest)
    if lock is None:
        return None
    try:
        blob = os.open(cache.blob_path(entry.digest), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        cache.unshare(entry.digest, lock)
        return None
    try:
        fits = os.fstat(blob).st_size == entry.size
        if fits:
            with contextlib.suppress(sqlite3.Error):  # the LRU note only; the read goes on
                cache.index.used([(entry.digest, entry.size)], [])
        else:
            cache.discard(entry.digest, "its size is not the indexed size")
    except BaseException:
        os.close(blob)
        cache.unshare(entry.digest, lock)
        raise
    if not fits:
        os.close(blob)
        cache.unshare(entry.digest, lock)
        return None
    return CachedChunkSource(cache, entry, blob, lock, fallback)
