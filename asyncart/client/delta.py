"""Delta pulls: chunks a changed file already holds on local disk are copied, not fetched.

Pulling ``vN+1`` over a directory holding ``vN`` usually meets files that
changed only in places (a checkpoint with some tensors rewritten, a header
that grew). Such a file is cut with the chunker the manifest records, so its
chunks line up with the new version's wherever the bytes are the same; every
chunk found there is copied from the old file into the part file, re-hashed on
the way so a file changed under us can never contribute a wrong byte.
Only the remaining chunks go over the network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import blake3

from asyncart.client.assembly import PartFile, no_space
from asyncart.client.hashcache import HashedFile
from asyncart.client.scan import (
    FileIdentity,
    block_buffer_size,
    close_scan,
    open_scan,
    read_block,
    read_whole,
)
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import ChunkRef
from asyncart.errors import NO_SPACE_ERRNOS, AsyncartError

_BLOCK = 8 << 20


@dataclass(frozen=True)
class LocalChunk:
    """Where a chunk's bytes are in a file on local disk."""

    path: Path
    offset: int
    size: int


def scan_local_file(path: Path, identity: FileIdentity, spec: ChunkerSpec) -> HashedFile | None:
    """Read ``path`` once, cutting it with ``spec``: its digest and chunk list.

    Returns None if the file cannot be read or changes while read: a local
    file is an optimisation, never a reason to fail a pull.
    """
    try:
        scan = open_scan(path, identity, spec)
    except (OSError, AsyncartError):
        return None
    try:
        if identity.size <= _BLOCK:
            read_whole(scan)
        else:
            buffer = bytearray(block_buffer_size(spec, _BLOCK))
            while not scan.done:
                read_block(scan, buffer, _BLOCK)
    except (OSError, AsyncartError):
        return None
    finally:
        close_scan(scan)
    assert scan.digest is not None
    return HashedFile(path, identity, scan.digest, tuple(scan.chunks), scan.checked_ns)


def chunk_index(sources: dict[Path, Sequence[ChunkRef]]) -> dict[str, LocalChunk]:
    """Where each chunk of the given local files is (the first occurrence of each hash)."""
    index: dict[str, LocalChunk] = {}
    for path, chunks in sources.items():
        offset = 0
        for ref in chunks:
            index.setdefault(ref.hash, LocalChunk(path, offset, ref.size))
            offset += ref.size
    return index


@dataclass(eq=False)
class LocalPiece:
    """A chunk occurrence of ``file`` at ``file_offset`` to fill from ``source``."""

    file: PartFile
    file_offset: int
    hash: str
    source: LocalChunk


def copy_local_pieces(pieces: list[LocalPiece]) -> tuple[int, list[LocalPiece], list[PartFile]]:
    """Copy each piece from local disk into its part file, verifying its hash first.

    Returns the bytes copied, the pieces whose source no longer holds the chunk
    (to fetch from the store instead), and the files this made whole.
    """
    copied = 0
    stale: list[LocalPiece] = []
    completed: list[PartFile] = []
    sources: dict[Path, int] = {}
    parts: dict[PartFile, int] = {}
    try:
        for piece in pieces:
            src = piece.source
            if src.path not in sources:
                sources[src.path] = os.open(src.path, os.O_RDONLY)
            data = os.pread(sources[src.path], src.size, src.offset)
            if len(data) != src.size or blake3.blake3(data).hexdigest() != piece.hash:
                stale.append(piece)
                continue
            if piece.file not in parts:
                parts[piece.file] = os.open(piece.file.part, os.O_WRONLY)
            view = memoryview(data)
            fd, offset = parts[piece.file], piece.file_offset
            try:
                while view:
                    n = os.pwrite(fd, view, offset)
                    view, offset = view[n:], offset + n
            except OSError as exc:
                if exc.errno in NO_SPACE_ERRNOS:
                    raise no_space(piece.file.final) from exc
                raise
            copied += src.size
            if piece.file.credit(piece.file_offset, src.size):
                completed.append(piece.file)
    finally:
        for fd in [*sources.values(), *parts.values()]:
            os.close(fd)
    return copied, stale, completed
