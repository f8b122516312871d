"""One ranged read of a pack, streamed to disk: verify each chunk, then write it where it belongs.

Bytes arrive as the transport receives them: either on the event loop, handed to a
worker thread in batches of about ``BATCH_BYTES``, or already in a worker thread
(:meth:`RangeWriter.take`, from ``blocking_reads.py``); there each chunk is hashed as its
bytes go by and, once complete and verified, written with ``pwritev`` to every
place the manifest puts it (a chunk may occur in several files). A chunk is
never written before it is verified, so a part file only ever holds verified
bytes, and a retried range rewrites the same bytes. With a download cache, each
run is written to the cache's temp file of that file too (``cache_tee.py``), and
the tee is told of each credit (which follows the writes).

A chunk that arrives corrupted stops the attempt: :attr:`RangeWriter.failure`
is set and the caller reads the range again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio.to_thread
import blake3

from asyncart.client import side_files
from asyncart.client.assembly import PartFile, no_space
from asyncart.client.cache_tee import CacheTee
from asyncart.client.direct_runs import FileWriter, open_direct, wants_direct
from asyncart.client.remote import BlockingRangeSink
from asyncart.core.models import ChunkLocation
from asyncart.errors import NO_SPACE_ERRNOS, IntegrityError

BATCH_BYTES = 4 << 20


@dataclass(eq=False)
class Piece:
    """One chunk occurrence: where it goes in which file, and where it is in the store."""

    file: PartFile
    file_offset: int
    hash: str
    size: int
    loc: ChunkLocation


@dataclass
class PackRange:
    """Pieces contiguous in one pack, fetched with one ranged read."""

    pack: str
    offset: int
    length: int
    pieces: list[Piece]


@dataclass(eq=False)
class _RangeChunk:
    start: int  # offset in the range
    size: int
    hash: str
    dests: list[int]  # indexes into the range's pieces


@dataclass(eq=False)
class _Credit:
    """Verified bytes of one file, ready to be credited (with the bytes, for its hasher)."""

    file: PartFile
    offset: int
    size: int
    views: list[memoryview]


@dataclass
class _Run:
    """Bytes for one contiguous region of one file: a single ``pwritev``."""

    file: PartFile
    offset: int
    views: list[memoryview] = field(default_factory=list)
    length: int = 0
    pieces: int = 0


class RangeWriter(BlockingRangeSink):
    """Receives one range's bytes; verifies each chunk, then writes and credits it."""

    def __init__(self, rng: PackRange, tee: CacheTee | None = None) -> None:
        self.rng = rng
        self.tee = tee
        self.chunks: list[_RangeChunk] = []
        for index, piece in enumerate(rng.pieces):
            start = piece.loc.offset - rng.offset
            if self.chunks and self.chunks[-1].start == start:
                self.chunks[-1].dests.append(index)  # the same chunk, wanted again
            else:
                self.chunks.append(_RangeChunk(start, piece.size, piece.hash, [index]))
        self._credited = [False] * len(rng.pieces)  # kept across attempts
        self.completed: list[PartFile] = []  # files made whole by this range
        self.failure: IntegrityError | None = None
        self._fds: dict[PartFile, FileWriter] = {}
        self.restart()

    def restart(self) -> None:
        """A new attempt: bytes come again from the range's first byte."""
        self._close_files()
        self.failure = None
        self._index = 0  # the chunk being received
        self._received = 0  # bytes of the range received in this attempt
        self._hasher = blake3.blake3()
        self._views: list[memoryview] = []  # the current chunk's bytes so far
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._writes_left: dict[PartFile, int] = {}
        for piece in self.rng.pieces:
            self._writes_left[piece.file] = self._writes_left.get(piece.file, 0) + 1

    async def write(self, data: bytes) -> None:
        """Take the next bytes of the range (processed in a worker thread per batch)."""
        if self.failure is not None:
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= BATCH_BYTES:
            batch, self._pending, self._pending_bytes = self._pending, [], 0
            await anyio.to_thread.run_sync(self._process, batch)

    async def finish(self) -> None:
        """The range's last byte arrived: process what is left and close the files."""
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        await anyio.to_thread.run_sync(self._process_last, batch)

    def take(self, data: memoryview, *, last: bool) -> bool:
        """Verify and write ``data`` here, in the caller's worker thread."""
        if self.failure is None:
            if last:
                self._process_last([data])
            else:
                self._process([data])
        return self.failure is None

    def close(self) -> None:
        """Release open files (after success, failure or cancellation)."""
        self._close_files()

    def _process_last(self, batch: Sequence[bytes | memoryview]) -> None:
        try:
            if batch and self.failure is None:
                self._process(batch)
            if self.failure is None and self._index != len(self.chunks):
                raise AssertionError("range ended before its last chunk")  # transport checks length
        finally:
            self._close_files()

    def _process(self, batch: Sequence[bytes | memoryview]) -> None:
        runs: list[_Run] = []
        credits: list[_Credit] = []
        pieces = self.rng.pieces
        for data in batch:
            view = memoryview(data)
            while view and self.failure is None:
                chunk = self.chunks[self._index]
                take = view[: chunk.start + chunk.size - self._received]
                view = view[len(take) :]
                self._hasher.update(take)
                self._views.append(take)
                self._received += len(take)
                if self._received < chunk.start + chunk.size:
                    continue
                actual = self._hasher.hexdigest()
                if actual != chunk.hash:
                    self.failure = IntegrityError(
                        f"chunk {chunk.hash} (pack {self.rng.pack} at "
                        f"{self.rng.offset + chunk.start}) arrived corrupted: its bytes hash to "
                        f"{actual}; if this repeats, the store copy is damaged: "
                        "run 'asyncart server fsck'"
                    )
                    break
                views = self._views
                for index in chunk.dests:
                    piece = pieces[index]
                    _add_to_runs(runs, piece.file, piece.file_offset, self._views, chunk.size)
                    if not self._credited[index]:
                        self._credited[index] = True
                        credits.append(_Credit(piece.file, piece.file_offset, piece.size, views))
                self._views = []
                self._hasher = blake3.blake3()
                self._index += 1
        for run in runs:
            try:
                self._write_run(run)
            except OSError as exc:
                if exc.errno in NO_SPACE_ERRNOS:
                    raise no_space(run.file.final) from exc
                raise
        for credit in _merge_credits(credits):
            if self.tee is not None:
                self.tee.credited(credit.file, credit.size)
            if credit.file.credit(credit.offset, credit.size, credit.views):
                self.completed.append(credit.file)

    def _write_run(self, run: _Run) -> None:
        writer = self._fds.get(run.file)
        if writer is None:
            part = run.file.part
            if run.file.single_range:  # created by this write (afresh on a retried attempt)
                writer = FileWriter(side_files.create(part))
            else:
                fd = side_files.open_existing(part, os.O_WRONLY)
                direct = -1
                if wants_direct(run.file.entry.size, part):
                    direct = open_direct(lambda flags: side_files.open_existing(part, flags))
                writer = FileWriter(fd, direct)
            self._fds[run.file] = writer
        if self.tee is not None:
            self.tee.write(writer, run.file, run.views, run.offset, run.length)
        else:
            writer.write(run.views, run.offset, run.length)
        self._writes_left[run.file] -= run.pieces
        if self._writes_left[run.file] == 0:  # no more pieces of this file in this range
            self._fds.pop(run.file).close()

    def _close_files(self) -> None:
        writers, self._fds = self._fds, {}
        for writer in writers.values():
            writer.close()


def _add_to_runs(
    runs: list[_Run], file: PartFile, offset: int, views: list[memoryview], size: int
) -> None:
    last = runs[-1] if runs else None
    if last is None or last.file is not file or last.offset + last.length != offset:
        last = _Run(file, offset)
        runs.append(last)
    last.views.extend(views)
    last.length += size
    last.pieces += 1


def _merge_credits(credits: list[_Credit]) -> list[_Credit]:
    merged: list[_Credit] = []
    for credit in credits:
        last = merged[-1] if merged else None
        if last and last.file is credit.file and last.offset + last.size == credit.offset:
            last.size += credit.size
            last.views = last.views + credit.views
        else:
            merged.append(credit)
    return merged
