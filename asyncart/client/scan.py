"""Reading source files: one pass that cuts chunks, hashes each chunk and the whole file.

These functions run in worker threads (blake3 and the FastCDC cut release the
GIL); the upload pipeline calls them through ``anyio.to_thread``.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from asyncart.core.chunking import ChunkerSpec, Cutter
from asyncart.core.manifest import ChunkRef
from asyncart.errors import ConfigError, FileChangedError

_HASH_BUFFER = 16 << 20
#: Files this large have their whole-file digest hashed on every core.
_THREADED_HASH_FROM = 16 << 20


@dataclass(frozen=True)
class FileIdentity:
    """What must not change while a file is read (and, later, the hash-cache key)."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def stat_source(path: Path) -> FileIdentity:
    """Check that ``path`` is a readable regular file, before any byte moves.

    Raises:
        ConfigError: missing, not a regular file, or unreadable — naming the path.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot access {str(path)!r}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{str(path)!r} is not a regular file; use add_dir for directories")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"file {str(path)!r} is not readable (permission denied)")
    return FileIdentity.of(st)


@dataclass
class ScannedChunk:
    """A chunk cut from a source file; ``data`` may view a shared read block."""

    ref: ChunkRef
    data: memoryview


@dataclass
class FileScan:
    """Per-file state carried across blocks."""

    local: Path
    expected: FileIdentity
    cutter: Cutter
    carry: bytes = b""
    hasher: blake3.blake3 = field(default_factory=blake3.blake3)
    fd: int = -1
    offset: int = 0
    chunks: list[ChunkRef] = field(default_factory=list)
    digest: str | None = None
    checked_ns: int = 0  # wall clock just before the final identity check (for the hash cache)

    @property
    def done(self) -> bool:
        return self.digest is not None


def _changed(local: Path, why: str) -> FileChangedError:
    return FileChangedError(
        f"file {str(local)!r} changed while it was being uploaded ({why}); "
        "nothing was committed: log it again once it is no longer being written"
    )


def open_checked(local: Path, expected: FileIdentity) -> int:
    """Open ``local`` for reading; FileChangedError unless it still is ``expected``."""
    try:
        fd = os.open(local, os.O_RDONLY)
    except FileNotFoundError:
        raise _changed(local, "it was deleted") from None
    except OSError as exc:
        raise ConfigError(f"cannot open {str(local)!r}: {exc.strerror}") from None
    if FileIdentity.of(os.fstat(fd)) != expected:
        os.close(fd)
        raise _changed(local, "it differs from when it was added")
    return fd


def file_hasher(size: int) -> blake3.blake3:
    """The whole-file hasher for a file of ``size`` bytes.

    A large file's digest is the critical path of its scan (one thread reads, cuts
    and hashes it in order), so its blocks are hashed on every core: the same CPU,
    about half the wall time on two cores. Small files stay single-threaded.
    """
    return blake3.blake3(max_threads=blake3.blake3.AUTO if size >= _THREADED_HASH_FROM else 1)


def open_scan(local: Path, expected: FileIdentity, spec: ChunkerSpec) -> FileScan:
    scan = FileScan(
        local=local, expected=expected, cutter=Cutter(spec), hasher=file_hasher(expected.size)
    )
    scan.fd = open_checked(local, expected)
    return scan


def close_scan(scan: FileScan) -> None:
    if scan.fd >= 0:
        os.close(scan.fd)
        scan.fd = -1


def block_buffer_size(spec: ChunkerSpec, block_size: int) -> int:
    """Size of a read buffer: one block plus room for the uncut tail of the previous one."""
    return block_size + spec.max_size


def read_block(scan: FileScan, buffer: bytearray, block_size: int) -> list[ScannedChunk]:
    """Read the next block of ``scan`` into ``buffer``; return the chunks it completed.

    The returned chunks view ``buffer``: the caller keeps it untouched until it is
    done with them. At end of file, checks the file did not change while being
    read, closes it and sets ``scan.digest``.
    """
    carry = len(scan.carry)
    view = memoryview(buffer)
    view[:carry] = scan.carry
    try:
        n = os.preadv(scan.fd, [view[carry : carry + block_size]], scan.offset)
    except OSError as exc:
        close_scan(scan)
        if exc.errno == errno.EIO:
            raise ConfigError(f"I/O error reading {str(scan.local)!r}") from None
        raise
    scan.offset += n
    final = n < block_size or scan.offset >= scan.expected.size
    if final and n == block_size and os.pread(scan.fd, 1, scan.offset):
        close_scan(scan)
        raise _changed(scan.local, "it grew")
    scan.hasher.update(view[carry : carry + n])
    data = view[: carry + n]
    pieces, consumed = scan.cutter.cut(data, final)
    scan.carry = bytes(data[consumed:])
    out = _refs(scan, pieces)
    if final:
        _finish(scan)
    return out


def _refs(scan: FileScan, pieces: list[memoryview]) -> list[ScannedChunk]:
    out = []
    for view in pieces:
        ref = ChunkRef(blake3.blake3(view).hexdigest(), len(view))
        scan.chunks.append(ref)
        out.append(ScannedChunk(ref, view))
    return out


def _finish(scan: FileScan) -> None:
    scan.checked_ns = time.time_ns()
    now = FileIdentity.of(os.fstat(scan.fd))
    close_scan(scan)
    if scan.offset != scan.expected.size or now != scan.expected:
        raise _changed(scan.local, "its size or modification time changed")
    scan.digest = scan.hasher.hexdigest()


def read_whole(scan: FileScan) -> list[ScannedChunk]:
    """Read a small file in one go (its own buffer, sized to the file)."""
    data = os.pread(scan.fd, scan.expected.size + 1, 0)
    scan.offset = len(data)
    scan.hasher.update(data)
    pieces, _ = scan.cutter.cut(memoryview(data), True)
    out = _refs(scan, pieces)
    _finish(scan)
    return out


def read_small_files(
    items: list[tuple[Path, FileIdentity]], spec: ChunkerSpec
) -> list[tuple[FileScan, list[ScannedChunk]]]:
    """Read several small files in one worker call (one thread hop for many files)."""
    results = []
    for local, expected in items:
        scan = open_scan(local, expected, spec)
        try:
            results.append((scan, read_whole(scan)))
        finally:
            close_scan(scan)
    return results


class ChunkMismatch(Exception):
    """A chunk read back from a file does not have the hash it was recorded with."""


@dataclass
class RangeRead:
    """Reading chosen chunks of a file whose chunk list is known (a hash-cache hit).

    ``plan`` holds ``(offset, chunk)`` pairs in file order; each chunk read is
    checked against its recorded hash.
    """

    local: Path
    expected: FileIdentity
    plan: Sequence[tuple[int, ChunkRef]]
    fd: int = -1
    next: int = 0
    bytes_read: int = 0

    @property
    def done(self) -> bool:
        return self.next >= len(self.plan) and self.fd < 0


def open_ranges(
    local: Path, expected: FileIdentity, plan: Sequence[tuple[int, ChunkRef]]
) -> RangeRead:
    """Open ``local`` to read the chunks of ``plan``; FileChangedError if it changed."""
    return RangeRead(local, expected, plan, fd=open_checked(local, expected))


def close_ranges(ranges: RangeRead) -> None:
    if ranges.fd >= 0:
        os.close(ranges.fd)
        ranges.fd = -1


def read_ranges(ranges: RangeRead, buffer: bytearray) -> list[ScannedChunk]:
    """Read the next planned chunks that fit in ``buffer``; return them, each verified.

    The returned chunks view ``buffer``. After the last chunk, checks the file
    did not change while being read (FileChangedError) and closes it.

    Raises:
        ChunkMismatch: a chunk's bytes do not hash to its recorded hash, or the
            file ended early: the recorded chunk list does not describe the file.
    """
    view = memoryview(buffer)
    out: list[ScannedChunk] = []
    pos = 0
    try:
        while ranges.next < len(ranges.plan):
            offset, ref = ranges.plan[ranges.next]
            if pos + ref.size > len(buffer):
                if not out:
                    raise ChunkMismatch(f"chunk {ref.hash} of {ref.size} bytes is too large")
                return out
            piece = view[pos : pos + ref.size]
            try:
                n = os.preadv(ranges.fd, [piece], offset)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    raise ConfigError(f"I/O error reading {str(ranges.local)!r}") from None
                raise
            ranges.bytes_read += n
            if n != ref.size or blake3.blake3(piece).hexdigest() != ref.hash:
                end = offset + ref.size
                raise ChunkMismatch(f"bytes {offset}..{end} do not hash to {ref.hash}")
            out.append(ScannedChunk(ref, piece))
            pos += ref.size
            ranges.next += 1
        now = FileIdentity.of(os.fstat(ranges.fd))
        if now != ranges.expected:
            raise _changed(ranges.local, "its size or modification time changed")
    except BaseException:
        close_ranges(ranges)
        raise
    close_ranges(ranges)
    return out


def hash_file(path: Path, size_hint: int | None = None) -> str:
    """blake3 of a whole file: small files in one read, large ones through a 16 MiB buffer.

    Not ``update_mmap``: mapping the file would count every page of it in the
    process's resident memory. The buffer is sized to the file, so hashing
    thousands of small files never allocates (and zero-fills) 16 MiB each.
    """
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size if size_hint is None else size_hint
        if size < _HASH_BUFFER:
            data = f.read(size + 1)
            tail = f.read()
            return blake3.blake3(data + tail).hexdigest()
        h = file_hasher(size)
        buf = bytearray(_HASH_BUFFER)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
        return h.hexdigest()
