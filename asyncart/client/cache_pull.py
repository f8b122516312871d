"""The download cache in a pull: lock the files' digests, place hits, store what was fetched.

``cached_pull`` wraps the fetch of a pull's files (``download.py``): it locks the
digests of the files about to be fetched (``cache.py``: the largest
:data:`~asyncart.client.cache.MAX_LOCKS`, in digest order; waiting without
blocking the loop while another process holds one, i.e. fetches that file, or
sharing it when only lazy readers hold it), puts
every file the cache holds in place, verified, and leaves the rest as
``misses`` to fetch, with a :class:`~asyncart.client.cache_tee.CacheTee` through
which the range writers write each miss's verified bytes into the cache's temp
files as they arrive. When the body succeeds, the temps that hold their whole
file are renamed into the cache; the misses the tee did not get whole (bytes from
a local file or an interrupted pull) are copied in from their final paths; then
the cache is trimmed to its budget. Temps left are removed, and the locks are
released last, so a process waiting on a digest finds it cached.

The cache never fails a pull: a cache that cannot be opened or written (disk
full, read-only, a busy index) is logged and the pull goes on over the network.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread

from asyncart.client import journal
from asyncart.client.assembly import PartFile
from asyncart.client.cache import MAX_LOCKS, BlobCache, is_unusable
from asyncart.client.cache_tee import CacheTee
from asyncart.client.progress import Progress, TransferStats
from asyncart.config import Settings

log = logging.getLogger("asyncart.client.cache")

_FIRST_POLL = 0.005
_MAX_POLL = 0.1


@dataclass
class CachedPull:
    """The files still to fetch once the cache served what it holds."""

    misses: list[PartFile]
    cache: BlobCache | None = None
    tee: CacheTee | None = None  # where range writers copy the misses' bytes
    locks: dict[str, int] = field(default_factory=dict)
    shared: set[str] = field(default_factory=set)  # digests held shared (a reader has them)


def cache_wanted(settings: Settings, is_local: bool, use_cache: bool) -> bool:
    """Whether a pull consults the cache: not for the embedded store (its chunks are on
    this disk already), not when bypassed, not with a budget of 0."""
    return use_cache and not is_local and settings.cache_max_size != 0


@contextlib.asynccontextmanager
async def cached_pull(
    settings: Settings, targets: list[PartFile], stats: TransferStats, progress: Progress
) -> AsyncIterator[CachedPull]:
    """Serve ``targets`` from the cache where it can; yield what is left to fetch."""
    try:
        cache = await anyio.to_thread.run_sync(
            BlobCache, settings.cache_dir, settings.cache_max_size
        )
    except Exception as exc:
        if not is_unusable(exc):
            raise
        log.warning("download cache %s unusable (%s): pulling without it", settings.cache_dir, exc)
        yield CachedPull(targets)
        return
    state = CachedPull(targets, cache)
    try:
        await _lock(state, targets)
        state.misses = await anyio.to_thread.run_sync(_place, cache, targets, stats)
        progress.on_skip(stats.bytes_from_cache)
        state.tee = await anyio.to_thread.run_sync(_tee, cache, state.misses)
        yield state
        await anyio.to_thread.run_sync(_store, cache, state.misses, state.tee)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_unlock_and_close, state)


async def _lock(state: CachedPull, targets: list[PartFile]) -> None:
    """Lock the digests of the largest files, in digest order (no cycles between pulls)."""
    assert state.cache is not None
    largest = sorted(targets, key=lambda t: t.entry.size, reverse=True)[:MAX_LOCKS]
    cache = state.cache
    for digest in sorted({t.entry.digest for t in largest if t.entry.size}):
        wait = _FIRST_POLL
        while (fd := await anyio.to_thread.run_sync(cache.try_lock, digest)) is None:
            # Held shared: only lazy readers of a cached blob, which may stay open for
            # long (even in this process); share it rather than wait for them.
            if (fd := await anyio.to_thread.run_sync(cache.try_share, digest)) is not None:
                state.shared.add(digest)
                break
            await anyio.sleep(wait)  # another process is fetching or placing this file
            wait = min(wait * 2, _MAX_POLL)
        state.locks[digest] = fd


def _place(cache: BlobCache, targets: list[PartFile], stats: TransferStats) -> list[PartFile]:
    misses: list[PartFile] = []
    hits: list[tuple[str, int]] = []
    for target in targets:
        entry = target.entry
        try:
            placed = entry.size > 0 and cache.place(entry.digest, entry.size, target.part,
                                                    target.final)  # fmt: skip
        except Exception as exc:
            if not is_unusable(exc):
                raise
            log.warning("cannot use the download cache for %s: %s", entry.path, exc)
            placed = False
        if placed:
            target.release_held()
            journal.remove(target.journal)  # a resumed part file's journal: now moot
            hits.append((entry.digest, entry.size))
        else:
            misses.append(target)
    stats.cache_hits += len(hits)
    stats.bytes_from_cache += sum(size for _, size in hits)
    with contextlib.suppress(Exception):
        cache.index.used(hits, [t.entry.size for t in misses])
    return misses


def _tee(cache: BlobCache, misses: list[PartFile]) -> CacheTee | None:
    """The tee for the misses, but for those a reflink will store (``_store``): on a
    file system that clones, the cache entry then shares the pulled file's extents
    (no second copy on disk, nothing written twice)."""
    try:
        return CacheTee(cache, [t for t in misses if not _clonable(cache, t)])
    except Exception as exc:  # whatever the cache side raises, as for the tee's writes
        log.warning("cannot write into the download cache %s: %s", cache.dir, exc)
        return None


def _store(cache: BlobCache, fetched: list[PartFile], tee: CacheTee | None) -> None:
    """Store the fetched files: the tee's whole temps as they are, the rest by copy
    (one per digest). Nothing for a digest whose temp failed, nor at all without a
    tee (``blobs/tmp`` could not be made): the cache side is failing."""
    if tee is None:
        return
    try:
        whole, short = tee.finish()
        clones: dict[str, tuple[str, int, Path]] = {}
        copies: dict[str, tuple[str, int, Path]] = {}
        for t in fetched:
            digest = t.entry.digest
            if t.entry.size and (not tee.covers(digest) or digest in short):
                into = clones if _clonable(cache, t) else copies
                into.setdefault(digest, (digest, t.entry.size, t.final))
        stored = cache.commit_temps(whole)
        stored += cache.store_many(list(clones.values()), trust_clones=True)
        if stored + cache.store_many([c for d, c in copies.items() if d not in clones]):
            cache.evict()
    except Exception as exc:
        if not is_unusable(exc):
            raise
        log.warning("cannot store into the download cache %s: %s", cache.dir, exc)


def _clonable(cache: BlobCache, target: PartFile) -> bool:
    return target.entry.size > 0 and cache.reflinks_with(target.final.parent)


def _unlock_and_close(state: CachedPull) -> None:
    assert state.cache is not None
    if state.tee is not None:
        state.tee.discard()  # what was not committed: a failed pull's, a failed store's
    for digest, fd in state.locks.items():
        if digest in state.shared:
            state.cache.unshare(digest, fd)
        else:
            state.cache.unlock(digest, fd)
    state.locks.clear()
    state.cache.close()
