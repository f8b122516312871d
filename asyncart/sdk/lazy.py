"""``artifact.open(path)``: a file of a stored version, read lazily (``client/lazy_file.py``).

``open_lazy`` builds the async :class:`~asyncart.client.lazy_file.LazyFile` (what
``await aio_artifact.open(path)`` returns) over a
:class:`~asyncart.client.chunk_source.StoreChunkSource`; the file keeps the
artifact's connection (or a connection of its own, when the artifact's client is
not open) until it is closed. :class:`ArtifactFile` is the sync face
(``artifact.open(path)``): an ``io.RawIOBase`` whose every read is one portal call
to the async file, so ``io.BufferedReader``, ``zipfile``, ``tarfile``,
``torch.load`` and safetensors' header parsing take it as they take a file.
"""

from __future__ import annotations

import io
import logging
import os
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio.to_thread

from asyncart.client.cache import BlobCache, is_unusable
from asyncart.client.cache_pull import cache_wanted
from asyncart.client.cached_chunk_source import CachedChunkSource, open_cached
from asyncart.client.chunk_source import ChunkSource, StoreChunkSource
from asyncart.client.lazy_file import READ_AHEAD, LazyFile
from asyncart.config import Settings
from asyncart.core.manifest import ManifestEntry
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError, EntryNotFound
from asyncart.sdk import portal
from asyncart.sdk.draft import entry_name

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from asyncart.sdk.downloading import DownloadCore

log = logging.getLogger("asyncart.client.cache")

#: Bytes of one ranged request of a lazy read: small enough to keep memory bounded.
LAZY_RANGE = 8 << 20


async def open_lazy(
    artifact: DownloadCore,
    path: str | os.PathLike[str],
    read_ahead: int = READ_AHEAD,
    skip_cache: bool = False,
) -> LazyFile:
    """The file at ``path`` of the stored ``artifact``, not yet fetched.

    From a server store, with the download cache on and not ``skip_cache``, a file
    whose whole blob the cache holds is read from it (each chunk checked;
    ``client/cached_chunk_source.py``); otherwise over the network. Lazy reads
    never fill the cache.

    Raises:
        EntryNotFound: (a ``KeyError``, ``FileNotFoundError``) the version has no such file.
        ConfigError: the entry is a reference (``download()`` it), or the artifact is a draft.
    """
    _, manifest, client = artifact._require_stored("open a file of")
    wanted = normalize_entry_path(entry_name(path))
    entry = manifest.get(wanted)
    if entry is None:
        names = ", ".join(e.path for e in list(manifest)[:10]) or "(none)"
        raise EntryNotFound(
            f"artifact {artifact.qualified_name} has no file {wanted!r}; files: {names}"
        )
    if entry.ref is not None:
        raise ConfigError(
            f"{wanted!r} of {artifact.qualified_name} is a reference to {entry.ref}; its bytes "
            "are not in the store: download() it instead"
        )
    stack = AsyncExitStack()
    remote = await stack.enter_async_context(client.use())
    try:
        source: ChunkSource = StoreChunkSource(remote, min(client.settings.range_size, LAZY_RANGE))
        if cache_wanted(client.settings, remote.is_local, not skip_cache):
            cached = await _from_cache(client.settings, entry, source)
            if cached is not None:
                stack.push_async_callback(cached.close)  # runs first: before the connection
                source = cached
        return LazyFile(entry, source, read_ahead=read_ahead, on_close=stack.aclose)
    except BaseException:
        await stack.aclose()
        raise


async def _from_cache(
    settings: Settings, entry: ManifestEntry, network: ChunkSource
) -> CachedChunkSource | None:
    """A source over the cached blob of ``entry``, or None (a miss, or an unusable cache)."""

    def attempt() -> CachedChunkSource | None:
        cache = BlobCache(settings.cache_dir, settings.cache_max_size)
        try:
            found = open_cached(cache, entry, network)
        except BaseException:
            cache.close()
            raise
        if found is None:
            cache.close()
        return found

    try:
        return await anyio.to_thread.run_sync(attempt)
    except Exception as exc:
        if not is_unusable(exc):
            raise
        log.warning(
            "download cache %s unusable (%s): reading over the network", settings.cache_dir, exc
        )
        return None


class ArtifactFile(io.RawIOBase):
    """A sync, read-only, seekable binary file over a :class:`LazyFile` (see the module
    docstring). Close it (or use ``with``) to release its connection."""

    def __init__(self, lazy: LazyFile) -> None:
        super().__init__()
        self._lazy = lazy
        self.name = lazy.name

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return self._lazy.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        return self._lazy.seek(offset, whence)

    def tell(self) -> int:
        self._checkClosed()
        return self._lazy.tell()

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill ``buffer`` from the position (less only at the end of the file)."""
        self._checkClosed()
        return portal.call(self._lazy.readinto, memoryview(buffer))

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest if negative or None); fewer only at the end."""
        self._checkClosed()
        return portal.call(self._lazy.read, size)

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        """Close the file and release its connection (idempotent)."""
        if self.closed:
            return
        try:
            if not self._lazy.closed:
                portal.call(self._lazy.aclose)
        finally:
            super().close()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<ArtifactFile {self.name!r} size={self.size}{state}>"
