"""Where a lazy reader gets chunk bytes: the ``ChunkSource`` seam and its store implementation.

A :class:`ChunkSource` answers one question: *the bytes of these chunks, each
verified against its BLAKE3 hash*. The lazy file (``lazy_file.py``) asks it for
the chunks covering what is read and never sees packs, ranges or retries. The
download cache slots in as another ``ChunkSource`` wrapping this one
(``cached_chunk_source.py``: chunks from a cached whole-file blob, checked, this
source once one fails): nothing else changes.

:class:`StoreChunkSource` reads them from a :class:`~asyncart.client.remote.Remote`:
it locates the chunks (locations are remembered for the file's lifetime), groups
chunks adjacent in a pack into one ranged read of at most ``range_size`` bytes, and
verifies every chunk as its bytes arrive (:class:`_MemorySink`). A chunk that
arrives corrupted makes the range be read again, up to three attempts, then
:class:`~asyncart.errors.IntegrityError`; no byte of an unverified chunk is ever
returned. Against the embedded store the remote is ``LocalRemote``: the pack
files are read in-process, with the same checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio.to_thread
import blake3

from asyncart.client.remote import RangeSink, Remote
from asyncart.core.manifest import ChunkRef
from asyncart.core.models import ChunkLocation
from asyncart.errors import ChunkMissing, IntegrityError, ProtocolError

_INTEGRITY_ATTEMPTS = 3


class ChunkSource(Protocol):
    """Verified chunk bytes by digest: the seam between the lazy reader and the network."""

    async def fetch(self, chunks: Sequence[ChunkRef]) -> list[bytes]:
        """The bytes of each of ``chunks``, in order, each verified against its hash.

        Raises:
            IntegrityError: a chunk's bytes did not match its hash (after retries).
            ChunkMissing: the store does not hold a chunk.
        """
        ...


@dataclass
class _Span:
    """Chunks contiguous in one pack: one ranged read."""

    pack: str
    offset: int
    length: int
    chunks: list[tuple[int, ChunkRef]]  # (offset in the range, chunk)


class _MemorySink(RangeSink):
    """Keeps a range's bytes; verifies every chunk (in a worker thread) once all arrived."""

    def __init__(self, span: _Span) -> None:
        self.span = span
        self.restart()

    def restart(self) -> None:
        self.buffer = bytearray()
        self.verified: list[bytes] = []
        self.failure: IntegrityError | None = None

    async def write(self, data: bytes) -> None:
        if len(self.buffer) + len(data) > self.span.length:
            raise ProtocolError(
                f"range {self.span.offset}+{self.span.length} of pack {self.span.pack} "
                "came back longer than asked"
            )
        self.buffer += data

    async def finish(self) -> None:
        if len(self.buffer) != self.span.length:
            raise ProtocolError(
                f"range {self.span.offset}+{self.span.length} of pack {self.span.pack} "
                f"ended after {len(self.buffer)} bytes"
            )
        await anyio.to_thread.run_sync(self._verify)

    def _verify(self) -> None:
        view = memoryview(self.buffer)
        for start, ref in self.span.chunks:
            data = view[start : start + ref.size]
            actual = blake3.blake3(data).hexdigest()
            if actual != ref.hash:
                self.failure = IntegrityError(
                    f"chunk {ref.hash} (pack {self.span.pack} at {self.span.offset + start}) "
                    f"arrived corrupted: its bytes hash to {actual}; if this repeats, the "
                    "store copy is damaged: run 'asyncart server fsck'"
                )
                self.verified = []
                return
            self.verified.append(bytes(data))


class StoreChunkSource:
    """A :class:`ChunkSource` reading packs of ``remote`` by range (see the module docstring)."""

    def __init__(self, remote: Remote, range_size: int) -> None:
        self.remote = remote
        self.range_size = range_size
        self._locations: dict[str, ChunkLocation] = {}

    async def fetch(self, chunks: Sequence[ChunkRef]) -> list[bytes]:
        """As :meth:`ChunkSource.fetch`."""
        await self._locate([c for c in chunks if c.hash not in self._locations])
        got: dict[str, bytes] = {}
        for span in self._spans(chunks):
            for ref, data in zip((r for _, r in span.chunks), await self._read(span), strict=True):
                got[ref.hash] = data
        return [got[c.hash] for c in chunks]

    async def _locate(self, chunks: Sequence[ChunkRef]) -> None:
        hashes = list(dict.fromkeys(c.hash for c in chunks))
        if not hashes:
            return
        found = await self.remote.locate_chunks(hashes)
        sizes = {c.hash: c.size for c in chunks}
        for h in hashes:
            loc = found.get(h)
            if loc is None:
                raise ChunkMissing(
                    f"the store lacks chunk {h} of this file; run 'asyncart server fsck'"
                )
            if loc.length != sizes[h] or loc.offset < 0:
                raise ProtocolError(
                    f"{self.remote.description} located chunk {h} as {loc.length} bytes at "
                    f"{loc.offset} of pack {loc.pack}; the manifest says it has {sizes[h]} bytes"
                )
            self._locations[h] = loc
        await self.remote.prepare_reads([self._locations[h].pack for h in hashes])

    def _spans(self, chunks: Sequence[ChunkRef]) -> list[_Span]:
        """Group chunks adjacent in a pack (the usual layout of a file pushed at once)."""
        spans: list[_Span] = []
        unique = {c.hash: c for c in chunks}.values()
        for ref in sorted(
            unique, key=lambda c: (self._locations[c.hash].pack, self._locations[c.hash].offset)
        ):
            loc = self._locations[ref.hash]
            last = spans[-1] if spans else None
            if (
                last is not None
                and last.pack == loc.pack
                and last.offset + last.length == loc.offset
                and last.length + ref.size <= self.range_size
            ):
                last.chunks.append((last.length, ref))
                last.length += ref.size
            else:
                spans.append(_Span(loc.pack, loc.offset, ref.size, [(0, ref)]))
        return spans

    async def _read(self, span: _Span) -> list[bytes]:
        sink = _MemorySink(span)
        what = f"range {span.offset}+{span.length} of pack {span.pack}"
        for attempt in range(_INTEGRITY_ATTEMPTS):
            await self.remote.read_range(span.pack, span.offset, span.length, what, sink)
            if sink.failure is None:
                return sink.verified
            if attempt == _INTEGRITY_ATTEMPTS - 1:
                raise sink.failure
        raise AssertionError("unreachable")
