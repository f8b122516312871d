"""Writing a pull's verified bytes into a large part file, mostly with O_DIRECT.

Writing through the page cache costs a pull a kernel copy into newly allocated
cache pages: on this project's virtual machines that copy was the largest
single cost of a pull (``docs/performance-notes.md``), and the pages push the
user's working set out of memory. For files of :data:`DIRECT_FROM` bytes and
more, each contiguous run of bytes is split at page boundaries: the whole pages
in the middle are copied into a page-aligned buffer (one per worker thread,
reused) and written with O_DIRECT; the partial pages at either end, which a
neighbouring range may be writing too, go through the page cache. A page is
thus only ever written one way, so the two paths never race on a page.

Only files on a local disk's filesystem are written so (ext4, XFS, Btrfs…:
``core.direct_io.DIRECT_FILESYSTEMS``): on NFS or Lustre O_DIRECT would make each
write wait for the server, and tmpfs or FUSE may refuse it. Where O_DIRECT is
refused all the same, the file is written through the page cache, as smaller
files are.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from asyncart.core.direct_io import ALIGNMENT, O_DIRECT, align_down, align_up, direct_io_pays

#: Files this large or larger are written with O_DIRECT where the filesystem allows.
DIRECT_FROM = 64 << 20
_BUFFER = 1 << 20
_IOV_MAX = 1024
_local = threading.local()


def _aligned_buffer() -> mmap.mmap:
    buf: mmap.mmap | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = mmap.mmap(-1, _BUFFER)
    return buf


class FileWriter:
    """The open descriptors of one part file, for one range's writes to it."""

    def __init__(self, buffered: int, direct: int = -1) -> None:
        self.buffered = buffered
        self.direct = direct
        self.direct_bytes = 0  # written with O_DIRECT (the rest went through the cache)

    def close(self) -> None:
        """Close both descriptors."""
        os.close(self.buffered)
        if self.direct >= 0:
            os.close(self.direct)

    def write(
        self,
        views: Sequence[memoryview],
        offset: int,
        length: int,
        mirror: Mirror | None = None,
    ) -> None:
        """Write ``views`` (``length`` bytes in all) at ``offset``; with ``mirror``, to its
        file too, at the same offsets.

        Where both files take O_DIRECT, each page-aligned block is copied into the aligned
        buffer once and written to both (the download cache's copy costs no second copy).
        A failure on the mirror's side is handed to ``mirror.failed`` and never raised.
        """
        if mirror is not None and mirror.writer is None:
            mirror = None
        if mirror is not None and (self.direct < 0 or mirror.direct < 0):
            self.write(views, offset, length)
            mirror.run(lambda w: w.write(views, offset, length))
            return
        if self.direct < 0:
            write_all(self.buffered, views, offset)
            return
        start, end = align_up(offset), align_down(offset + length)
        if end - start < ALIGNMENT:
            write_all(self.buffered, views, offset)
            if mirror is not None:
                mirror.run(lambda w: write_all(w.buffered, views, offset))
            return
        head, middle, tail = _split(views, start - offset, end - offset)
        if head:
            write_all(self.buffered, head, offset)
            if mirror is not None:
                mirror.run(lambda w: write_all(w.buffered, head, offset))
        self._write_direct(middle, start, mirror)
        if tail:
            write_all(self.buffered, tail, end)
            if mirror is not None:
                mirror.run(lambda w: write_all(w.buffered, tail, end))

    def _write_direct(
        self, views: list[memoryview], offset: int, mirror: Mirror | None = None
    ) -> None:
        buf = _aligned_buffer()
        with memoryview(buf) as whole:
            fill = 0
            for view in views:
                while view:
                    take = min(len(view), _BUFFER - fill)
                    whole[fill : fill + take] = view[:take]
                    fill += take
                    view = view[take:]
                    if fill == _BUFFER:
                        self._pwrite_aligned(whole, offset)
                        if mirror is not None:
                            mirror.run(
                                partial(FileWriter._pwrite_aligned, view=whole, offset=offset)
                            )
                        offset += fill
                        fill = 0
            if fill:
                self._pwrite_aligned(whole[:fill], offset)
                if mirror is not None:
                    mirror.run(
                        partial(FileWriter._pwrite_aligned, view=whole[:fill], offset=offset)
                    )

    def _pwrite_aligned(self, view: memoryview, offset: int) -> None:
        while view:
            try:
                n = os.pwrite(self.direct, view, offset)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                n = 0
            self.direct_bytes += n
            if n == 0 or n % ALIGNMENT:
                # Refused, or a short write that cannot be resumed aligned:
                # the rest goes through the page cache.
                write_all(self.buffered, [view[n:]], offset + n)
                return
            view, offset = view[n:], offset + n


class Mirror:
    """A second file that takes every write of a :class:`FileWriter` (the download
    cache's copy): ``writer`` while it works; after its first failure ``failed(exc)`` is
    called once and it is written no more."""

    def __init__(self, writer: FileWriter, failed: Callable[[Exception], None]) -> None:
        self.writer: FileWriter | None = writer
        self.direct = writer.direct
        self._failed = failed

    def run(self, write: Callable[[FileWriter], None]) -> None:
        """``write(writer)``, unless the mirror failed before; a failure is reported."""
        if self.writer is None:
            return
        try:
            write(self.writer)
        except Exception as exc:
            self.writer = None
            self._failed(exc)


def wants_direct(size: int, part: Path) -> bool:
    """Whether the part file ``part`` of ``size`` bytes is written (and read back) with
    O_DIRECT: large, on a local disk's filesystem. Blocking: call in a worker thread."""
    return bool(O_DIRECT) and size >= DIRECT_FROM and direct_io_pays(str(part.parent))


def open_direct(opener: Callable[[int], int], access: int = os.O_WRONLY) -> int:
    """A descriptor of a part file opened by ``opener(flags)`` for ``access`` with
    O_DIRECT; -1 where the platform or the filesystem refuses it."""
    if not O_DIRECT:
        return -1
    try:
        return opener(access | O_DIRECT)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return -1
        raise


def _split(
    views: Sequence[memoryview], start: int, end: int
) -> tuple[list[memoryview], list[memoryview], list[memoryview]]:
    """``views`` cut into bytes before ``start``, from ``start`` to ``end``, and after."""
    parts: tuple[list[memoryview], list[memoryview], list[memoryview]] = ([], [], [])
    pos = 0
    for view in views:
        size = len(view)
        for index, (lo, hi) in enumerate(((0, start), (start, end), (end, 1 << 62))):
            a, b = max(lo, pos), min(hi, pos + size)
            if a < b:
                parts[index].append(view[a - pos : b - pos])
        pos += size
    return parts


def write_all(fd: int, views: Sequence[memoryview], offset: int) -> None:
    """``pwritev`` every byte of ``views`` at ``offset`` (short writes continued)."""
    views = list(views)
    while views:
        group = views[:_IOV_MAX]
        expected = sum(len(v) for v in group)
        written = os.pwritev(fd, group, offset)
        if written < expected:
            _write_rest(fd, group, offset, written)
        offset += expected
        views = views[_IOV_MAX:]


def _write_rest(fd: int, views: list[memoryview], offset: int, done: int) -> None:
    for view in views:
        if done >= len(view):
            done -= len(view)
            offset += len(view)
            continue
        rest = view[done:]
        offset += done
        done = 0
        while rest:
            n = os.pwrite(fd, rest, offset)
            rest, offset = rest[n:], offset + n
