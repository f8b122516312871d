"""Files being assembled by a pull: a ``.asyncart-part`` file, credited region by region.

Ranges complete out of order, so a file's digest cannot be computed from the
stream. Instead each verified region is *credited*, with the received bytes
that hold it; the file's hasher takes every region contiguous with what it has
hashed so far. A region credited ahead of that point keeps its bytes in memory
(no copy: views of what the transport received), within a budget shared by
all files of the process (:data:`HOLD_BUDGET`); past the budget, or for bytes
kept from an earlier pull, the region is read back from the part file when
its turn comes. Hashing thus overlaps the download, seldom reads a byte back
(which matters when the bytes went to disk with O_DIRECT and are in no cache),
and only ever hashes bytes whose chunks were verified before they were written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from asyncart.client import journal, side_files
from asyncart.client.direct_runs import open_direct, wants_direct
from asyncart.core.direct_io import align_down, align_up
from asyncart.core.manifest import ManifestEntry
from asyncart.errors import NO_SPACE_ERRNOS, DiskFullError, IntegrityError

_READ_BACK = 1 << 20
#: Part files this large or larger get their blocks reserved when created.
PREALLOCATE_FROM = 1 << 20
_local = threading.local()

#: Bytes of regions credited ahead of their file's hashing point that may wait in
#: memory, over all files being pulled by this process (each in-flight range of
#: 8 MiB is at most one window ahead; beyond this, regions are read back; ranges wait
#: so that they end within it of their file's hashing point: download._HashWindow).
HOLD_BUDGET = 64 << 20


class _HoldBudget:
    """The bytes held for hashing, process-wide (pulls may run in several threads)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self.held -= size


_budget = _HoldBudget(HOLD_BUDGET)


def _pinned_bytes(views: list[memoryview]) -> int:
    """What keeping ``views`` holds in memory: the whole buffers they are views of (a
    256 KiB region of a 4 MiB piece keeps all 4 MiB alive)."""
    buffers = {id(v.obj): v.obj for v in views}
    return sum(memoryview(b).nbytes for b in buffers.values())


def _read_buffer() -> memoryview:
    """A page-aligned read-back buffer per worker thread (no allocation per region)."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(mmap.mmap(-1, _READ_BACK))
    return buf


@dataclass(eq=False)
class PartFile:
    """One file of the manifest on its way to ``final`` through ``part``."""

    entry: ManifestEntry
    final: Path
    part: Path
    single_range: bool = False  # all its bytes come in one range: created by that write
    created: bool = False  # the part file exists (created up front), with a journal
    resumed: set[int] = field(default_factory=set)  # chunk offsets kept from an earlier pull
    remaining: int = field(init=False)
    _hashed_upto: int = field(init=False, default=0)
    _verified: dict[int, int] = field(init=False, default_factory=dict)  # start -> end
    # start -> (the region's bytes, what they cost against the hold budget: 0 if nothing)
    _held: dict[int, tuple[list[memoryview], int]] = field(init=False, default_factory=dict)
    _hasher: blake3.blake3 | None = field(init=False, default=None)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _hashing: bool = field(init=False, default=False)  # a thread is reading back and hashing
    _announced: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.remaining = self.entry.size
        # A one-chunk file's digest is its chunk's hash, already checked on arrival.
        if not self.is_one_chunk:
            self._hasher = blake3.blake3()

    @property
    def hashed_upto(self) -> int:
        """Bytes from the file's start that its hasher has taken (the hashing point)."""
        return self._hashed_upto

    @property
    def hashes_in_order(self) -> bool:
        """Whether the file's digest is computed from its bytes (not a one-chunk file)."""
        return self._hasher is not None

    @property
    def journal(self) -> Path:
        return journal.journal_path(self.final)

    @property
    def is_one_chunk(self) -> bool:
        chunks = self.entry.chunks
        return len(chunks) == 1 and chunks[0].hash == self.entry.digest

    def create(self) -> None:
        """Create the empty part file that several ranges will write into.

        Files of 1 MiB and more get their blocks reserved up front: writing into
        reserved blocks costs less CPU here, and a full disk is reported before
        any byte is fetched.
        """
        if self.created:
            return  # resumed: its verified chunks stay
        fd = side_files.create(self.part)
        try:
            if self.entry.size >= PREALLOCATE_FROM:
                preallocate(fd, self.entry.size, self.part)
        finally:
            os.close(fd)
        journal.start(self.journal, self.entry.digest, self.entry.size)
        self.created = True

    def resume(self) -> int:
        """Keep the verified chunks an interrupted pull of this same file left; return their bytes.

        Every chunk the journal lists is read back and re-hashed; only those that
        match are kept (and credited). A part file without a matching journal is
        removed.
        """
        regions = journal.read(self.journal, self.entry.digest, self.entry.size)
        if not regions or not side_files.check(self.part):
            self.discard()
            return 0
        covered = _merge(regions)
        keep: list[tuple[int, int]] = []
        fd = side_files.open_existing(self.part, os.O_RDONLY)
        try:
            offset = 0
            for chunk in self.entry.chunks:
                end = offset + chunk.size
                if _inside(covered, offset, end):
                    data = os.pread(fd, chunk.size, offset)
                    if blake3.blake3(data).hexdigest() == chunk.hash:
                        keep.append((offset, chunk.size))
                offset = end
        finally:
            os.close(fd)
        if not keep:
            self.discard()
            return 0
        journal.start(self.journal, self.entry.digest, self.entry.size)
        journal.append(self.journal, keep)
        self.created = True
        self.resumed = {off for off, _ in keep}
        for off, size in _merge(keep):
            self._credit(off, size)
        return sum(size for _, size in keep)

    def discard(self) -> None:
        """Remove the part file and its journal."""
        self.release_held()
        self.part.unlink(missing_ok=True)
        journal.remove(self.journal)

    def credit(self, offset: int, size: int, data: list[memoryview] | None = None) -> bool:
        """Record ``size`` verified bytes written at ``offset``; ``data``: those bytes.

        Returns True exactly once per file: to the caller after whose call the
        file is whole and hashed. A thread that finds another one hashing this
        file leaves the new region to it instead of waiting. Without ``data``
        the region is read back from the part file when it is hashed.
        """
        if self.created:
            journal.append(self.journal, [(offset, size)])
        return self._credit(offset, size, data)

    def _credit(self, offset: int, size: int, data: list[memoryview] | None = None) -> bool:
        with self._lock:
            self.remaining -= size
            if self._hasher is None:
                return self.remaining == 0
            self._verified[offset] = offset + size
            if data is not None:
                if offset == self._hashed_upto and not self._hashing:
                    self._held[offset] = (data, 0)  # hashed at once, by this thread
                elif _budget.take(cost := _pinned_bytes(data)):
                    self._held[offset] = (data, cost)
            if self._hashing:
                return False
            self._hashing = True
        try:
            while True:
                with self._lock:
                    region = self._take_next()
                    if region is None:
                        self._hashing = False
                        done = self.remaining == 0 and self._hashed_upto == self.entry.size
                        if done and not self._announced:
                            self._announced = True
                            return True
                        return False
                start, end, held = region
                if held is None:
                    self._hash_region(start, end)
                else:
                    for view in held:
                        self._hasher.update(view)
                with self._lock:
                    self._hashed_upto = end
        except BaseException:
            with self._lock:
                self._hashing = False
            raise

    def _take_next(self) -> tuple[int, int, list[memoryview] | None] | None:
        """The region at the hashing point, with its bytes if they were kept."""
        start = self._hashed_upto
        end = self._verified.pop(start, None)
        if end is None:
            return None
        held = self._held.pop(start, None)
        if held is None:
            return start, end, None
        data, cost = held
        _budget.give_back(cost)
        return start, end, data

    def _hash_region(self, start: int, end: int) -> None:
        """Hash the part file's bytes ``start..end`` (read back, bypassing the cache for
        a file written with O_DIRECT: its bytes are on disk, not in memory)."""
        assert self._hasher is not None
        fd = -1
        if wants_direct(self.entry.size, self.part):
            fd = open_direct(lambda flags: side_files.open_existing(self.part, flags), os.O_RDONLY)
        if fd < 0:
            fd = side_files.open_existing(self.part, os.O_RDONLY)
            lo, skip = start, 0
        else:
            lo = align_down(start)
            skip = start - lo
        buf = _read_buffer()
        try:
            pos = lo
            while pos < end:
                n = os.preadv(fd, [buf[: min(_READ_BACK, align_up(end - pos))]], pos)
                if n <= skip:
                    raise IntegrityError(f"{self.part} is shorter than the bytes written to it")
                useful = min(n, end - pos)
                self._hasher.update(buf[skip:useful])
                pos += n
                skip = 0
        finally:
            os.close(fd)

    def release_held(self) -> None:
        """Drop the bytes kept for hashing (a pull that stops before the file is whole)."""
        with self._lock:
            held, self._held = self._held, {}
            for _, cost in held.values():
                _budget.give_back(cost)

    def finalize(self) -> None:
        """Check the digest of the whole file, then rename it into place.

        Raises:
            IntegrityError: the bytes do not hash to the manifest's digest.
        """
        if self._hasher is None:
            actual = self.entry.digest
        else:
            if self._hashed_upto != self.entry.size:
                raise AssertionError(f"{self.entry.path}: finalized before every byte was hashed")
            actual = self._hasher.hexdigest()
        if actual != self.entry.digest:
            self.discard()
            raise IntegrityError(
                f"file {self.entry.path!r} hashes to {actual} after download, expected "
                f"{self.entry.digest}; the manifest and its chunks disagree"
            )
        os.replace(self.part, self.final)
        journal.remove(self.journal)


def _merge(regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping (offset, length) regions covering the same bytes."""
    out: list[tuple[int, int]] = []
    for off, length in sorted(regions):
        if out and off <= out[-1][0] + out[-1][1]:
            last_off, last_len = out[-1]
            out[-1] = (last_off, max(last_len, off + length - last_off))
        else:
            out.append((off, length))
    return out


def _inside(regions: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(off <= start and end <= off + length for off, length in regions)


def finalize_all(files: list[PartFile]) -> None:
    """Rename each completed file into place (one worker call for many small files)."""
    for f in files:
        f.finalize()


def discard_all(files: list[PartFile]) -> None:
    """Remove the part files of an abandoned pull."""
    for f in files:
        f.discard()


def keep_resumable(files: list[PartFile]) -> None:
    """After a failed pull: keep journaled part files for the next pull, remove the rest."""
    for f in files:
        f.release_held()
        if not f.created:
            f.discard()


_libc_fallocate = None
if hasattr(os, "posix_fallocate"):  # Linux: raw fallocate(2), which never emulates
    _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    _libc_fallocate = getattr(_libc, "fallocate", None)
    if _libc_fallocate is not None:
        _libc_fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        _libc_fallocate.restype = ctypes.c_int


def no_space(path: Path, size: int | None = None) -> DiskFullError:
    """The error for a pull that ran out of local disk space while writing ``path``."""
    need = f" (it needs {size} bytes)" if size is not None else ""
    return DiskFullError(
        f"no space left to write {str(path)!r}{need}: free some space or pull into another "
        "directory; chunks already verified are kept and the same pull resumes from them"
    )


def preallocate(fd: int, size: int, path: Path) -> None:
    """Reserve ``size`` bytes of blocks for ``fd`` where the filesystem supports it.

    Uses ``fallocate(2)`` directly rather than ``posix_fallocate``, whose glibc
    fallback writes zeros on filesystems without support (doubling the writes).

    Raises:
        DiskFullError: the disk has no room for the file.
    """
    if _libc_fallocate is None:
        return
    if _libc_fallocate(fd, 0, 0, size) == 0:
        return
    if ctypes.get_errno() in NO_SPACE_ERRNOS:
        raise no_space(path, size)
    # EOPNOTSUPP, EINVAL, ...: the filesystem cannot reserve; writes will allocate.
