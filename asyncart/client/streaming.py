"""Streaming a version's files in manifest order with bounded prefetch (for data loaders).

:func:`produce` walks the entries in order and sends them, in batches, into a memory
stream that holds **one** batch: files of at most ``batch_bytes`` are fetched whole,
several to a batch (chunks adjacent in a pack come in one ranged read, the usual
layout of many small files pushed together) and checked against their file digest;
a larger file is sent alone and unfetched, to be read lazily (``lazy_file.py``).
So while the consumer works on one batch, the next is fetched and at most one more
waits: memory stays within about three batches, whatever the dataset's size.

A failure is sent down the stream as the exception itself, so the consumer raises
it in place of the next file (and the producer's task ends cleanly).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import anyio.to_thread
import blake3
from anyio.streams.memory import MemoryObjectSendStream

from asyncart.client.chunk_source import ChunkSource
from asyncart.core.manifest import ChunkRef, ManifestEntry
from asyncart.errors import IntegrityError

PREFETCH = 64 << 20  # bytes: the default bound of a stream's buffered files


@dataclass(frozen=True)
class StreamedFile:
    """One file of a stream: its bytes (verified), or None when it is read lazily."""

    entry: ManifestEntry
    data: bytes | None


Batch = list[StreamedFile] | BaseException


async def produce(
    entries: Sequence[ManifestEntry],
    source: ChunkSource,
    send: MemoryObjectSendStream[Batch],
    batch_bytes: int,
) -> None:
    """Send ``entries`` (files, not references) down ``send`` in order, then close it."""
    async with send:
        try:
            batch: list[ManifestEntry] = []
            size = 0
            for entry in entries:
                if entry.size > batch_bytes:
                    if batch:
                        await send.send(await _fetch_whole(batch, source))
                        batch, size = [], 0
                    await send.send([StreamedFile(entry, None)])
                    continue
                if batch and size + entry.size > batch_bytes:
                    await send.send(await _fetch_whole(batch, source))
                    batch, size = [], 0
                batch.append(entry)
                size += entry.size
            if batch:
                await send.send(await _fetch_whole(batch, source))
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await send.send(exc)  # nobody listens any more: the stream was closed


async def _fetch_whole(entries: list[ManifestEntry], source: ChunkSource) -> list[StreamedFile]:
    unique: dict[str, ChunkRef] = {}
    for entry in entries:
        for chunk in entry.chunks:
            unique.setdefault(chunk.hash, chunk)
    refs = list(unique.values())
    got = dict(zip((r.hash for r in refs), await source.fetch(refs), strict=True))
    return await anyio.to_thread.run_sync(_assemble, entries, got)


def _assemble(entries: list[ManifestEntry], got: dict[str, bytes]) -> list[StreamedFile]:
    out = []
    for entry in entries:
        data = b"".join(got[c.hash] for c in entry.chunks)
        if blake3.blake3(data).hexdigest() != entry.digest:
            raise IntegrityError(
                f"{entry.path!r}: its verified chunks do not make up the file digest the "
                "manifest records; the version's manifest is inconsistent"
            )
        out.append(StreamedFile(entry, data))
    return out
