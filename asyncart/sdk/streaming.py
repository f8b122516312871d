"""``artifact.iter_files(prefix=None)``: a version's files in manifest order, as they arrive.

The producer (``client/streaming.py``) runs as a task on the event loop (the
portal's, for the sync face; the caller's task group, for the async face) and
fetches the next batch while the loop body works on this one. Each file object is
valid until the loop takes the next file (it is closed then): read it, or copy
it, in the loop body. Small files come as ``io.BytesIO`` (fetched whole, digest
checked); files larger than a third of ``prefetch`` come as lazy files
(``artifact.open``), fetched as they are read.

Sync::

    for name, f in artifact.iter_files("train/"):
        sample = decode(f.read())

Async (the stream owns a task, so it lives in an ``async with``)::

    async with art.iter_files("train/") as files:
        async for name, f in files:
            ...
"""

from __future__ import annotations

import io
import os
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream

from asyncart.client.chunk_source import StoreChunkSource
from asyncart.client.lazy_file import LazyFile
from asyncart.client.streaming import PREFETCH, Batch, StreamedFile, produce
from asyncart.core.humanize import count
from asyncart.core.manifest import ManifestEntry
from asyncart.errors import ConfigError
from asyncart.sdk import portal
from asyncart.sdk.draft import entry_name
from asyncart.sdk.lazy import LAZY_RANGE, ArtifactFile, open_lazy

if TYPE_CHECKING:
    from asyncart.sdk.downloading import DownloadCore


def selected_entries(
    artifact: DownloadCore, prefix: str | os.PathLike[str] | None, prefetch: int
) -> list[ManifestEntry]:
    """The stored files under ``prefix`` (a plain string prefix, as ``path_prefix``).

    Raises:
        ConfigError: ``prefetch`` is below 1 MiB, or a selected entry is a reference.
    """
    if not isinstance(prefetch, int) or prefetch < 1 << 20:
        raise ConfigError(f"prefetch must be at least 1 MiB (1048576), got {prefetch!r}")
    manifest = artifact._require_stored("stream the files of")[1]
    start = "" if prefix is None else entry_name(prefix)
    entries = [e for e in manifest if e.path.startswith(start)]
    refs = [e.path for e in entries if e.ref is not None]
    if refs:
        raise ConfigError(
            f"{count(len(refs), 'entry')} under {start!r} of {artifact.qualified_name} are "
            f"references (first: {refs[0]!r}), whose bytes are not in the store; "
            "download() them, or give a prefix that leaves them out"
        )
    return entries


async def _run(
    artifact: DownloadCore,
    entries: list[ManifestEntry],
    prefetch: int,
    *,
    task_status: TaskStatus[MemoryObjectReceiveStream[Batch]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    client = artifact._require_stored("stream the files of")[2]
    send, receive = anyio.create_memory_object_stream[Batch](1)
    task_status.started(receive)
    async with client.use() as remote:
        source = StoreChunkSource(remote, min(client.settings.range_size, LAZY_RANGE))
        await produce(entries, source, send, prefetch // 3)


async def _next_batch(receive: MemoryObjectReceiveStream[Batch]) -> list[StreamedFile] | None:
    try:
        batch = await receive.receive()
    except anyio.EndOfStream:
        return None
    if isinstance(batch, BaseException):
        raise batch
    return batch


def iter_files_sync(
    artifact: DownloadCore, prefix: str | os.PathLike[str] | None, prefetch: int = PREFETCH
) -> Generator[tuple[str, io.BytesIO | ArtifactFile], None, None]:
    """The sync stream (see the module docstring); the arguments are checked at once."""
    return _stream(artifact, selected_entries(artifact, prefix, prefetch), prefetch)


def _stream(
    artifact: DownloadCore, entries: list[ManifestEntry], prefetch: int
) -> Generator[tuple[str, io.BytesIO | ArtifactFile], None, None]:
    future, receive = portal.start_task(_run, artifact, entries, prefetch)
    current: io.BytesIO | ArtifactFile | None = None
    try:
        while (batch := portal.call(_next_batch, receive)) is not None:
            for item in batch:
                if current is not None:
                    current.close()
                if item.data is not None:
                    current = io.BytesIO(item.data)
                else:
                    current = ArtifactFile(portal.call(open_lazy, artifact, item.entry.path))
                yield item.entry.path, current
    finally:
        if current is not None:
            current.close()
        future.cancel()  # the producer, if still fetching
        portal.call(receive.aclose)


class AsyncFileStream:
    """The async stream: ``async with`` it, then ``async for name, f in stream``."""

    def __init__(self, artifact: DownloadCore, entries: list[ManifestEntry], prefetch: int):
        self._artifact = artifact
        self._entries = entries
        self._prefetch = prefetch
        self._tg: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[Batch] | None = None
        self._batch: list[StreamedFile] = []
        self._current: io.BytesIO | LazyFile | None = None

    async def __aenter__(self) -> AsyncFileStream:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._receive = await self._tg.start(_run, self._artifact, self._entries, self._prefetch)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        await self._close_current()
        assert self._tg is not None and self._receive is not None
        self._tg.cancel_scope.cancel()
        await self._receive.aclose()
        return await self._tg.__aexit__(*exc_info)

    def __aiter__(self) -> AsyncFileStream:
        return self

    async def __anext__(self) -> tuple[str, io.BytesIO | LazyFile]:
        if self._receive is None:
            raise RuntimeError(
                "iterate the stream inside 'async with art.iter_files(...) as files'"
            )
        await self._close_current()
        if not self._batch:
            batch = await _next_batch(self._receive)
            if batch is None:
                raise StopAsyncIteration
            self._batch = batch
        item = self._batch.pop(0)
        if item.data is not None:
            self._current = io.BytesIO(item.data)
        else:
            self._current = await open_lazy(self._artifact, item.entry.path)
        return item.entry.path, self._current

    async def _close_current(self) -> None:
        current, self._current = self._current, None
        if isinstance(current, LazyFile):
            await current.aclose()
        elif current is not None:
            current.close()
