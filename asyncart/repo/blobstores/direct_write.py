"""Writing a new object file with O_DIRECT, through a reused aligned buffer.

A pack written through the page cache costs the writer a kernel copy into
freshly allocated cache pages, and the machine the writeback of those pages
later; on a virtual machine, whose host backs each new guest page on first
touch, that copy is most of an upload's CPU time (``docs/performance-notes.md``).
The pages also push out what the machine had cached: the training data, the
checkpoint still being written. O_DIRECT sends the bytes from our buffer to the
device, and the kernel keeps none of them.

O_DIRECT wants the buffer address, the file offset and each write's length
aligned to the device's logical block size. The bytes are copied into a
page-aligned buffer (reused across objects, so it costs no page faults) and
written in whole blocks; the last, partial block is padded with zeros, and the
file is then truncated to its true size.

Where the filesystem refuses O_DIRECT (it fails with EINVAL: tmpfs on older
kernels, some network and FUSE filesystems), the writer falls back to ordinary
buffered writes for that file, from the first byte, so the result is the same.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Sequence

from asyncart.core.direct_io import ALIGNMENT
from asyncart.core.direct_io import disable_direct as _disable_direct
from asyncart.core.direct_io import enable_direct as _enable_direct

#: Size of one aligned buffer and of the writes made from it.
BUFFER_SIZE = 4 << 20


class AlignedBuffers:
    """A free list of page-aligned buffers, shared by a store's concurrent writes.

    At most ``keep`` idle buffers are held; a burst of writers beyond that maps
    buffers of its own, which are unmapped when returned.
    """

    def __init__(self, size: int = BUFFER_SIZE, keep: int = 8) -> None:
        self.size = size
        self._keep = keep
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    @property
    def idle(self) -> int:
        """How many buffers wait in the pool."""
        return len(self._free)

    def take(self) -> mmap.mmap:
        """An idle buffer, or a new one (anonymous mappings are page-aligned)."""
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, self.size)

    def give_back(self, buffer: mmap.mmap) -> None:
        """Return a buffer taken from :meth:`take`; no view of it may remain."""
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buffer)
                return
        buffer.close()


class DirectWriter:
    """Writes one new, empty file from its start, bypassing the page cache if it can.

    Use from one thread at a time: :meth:`write` any number of times, then
    :meth:`finish` once, or :meth:`release` alone to give the buffer back after
    a failure. The caller owns ``fd`` (opens, fsyncs and closes it).
    """

    def __init__(self, fd: int, buffers: AlignedBuffers) -> None:
        self.fd = fd
        self.direct = _enable_direct(fd)
        self.size = 0  # bytes accepted so far
        self._buffers = buffers
        self._buffer: mmap.mmap | None = buffers.take()
        self._fill = 0  # bytes waiting in the buffer

    def write(self, parts: Sequence[bytes | memoryview]) -> None:
        """Append ``parts`` to the file (whole blocks go out as the buffer fills)."""
        buffer = self._require_buffer()
        capacity = len(buffer)
        for part in parts:
            view = memoryview(part).cast("B")
            while len(view):
                take = min(len(view), capacity - self._fill)
                buffer[self._fill : self._fill + take] = view[:take]
                self._fill += take
                self.size += take
                view = view[take:]
                if self._fill == capacity:
                    self._flush(capacity)

    def finish(self) -> int:
        """Write what is buffered, set the file's exact size, return that size."""
        buffer = self._require_buffer()
        try:
            if self._fill:
                if self.direct:
                    padded = -(-self._fill // ALIGNMENT) * ALIGNMENT
                    buffer[self._fill : padded] = bytes(padded - self._fill)
                    self._flush(padded)
                    os.ftruncate(self.fd, self.size)
                else:
                    self._flush(self._fill)
            return self.size
        finally:
            self.release()

    def release(self) -> None:
        """Give the buffer back to the pool (idempotent)."""
        if self._buffer is not None:
            self._buffers.give_back(self._buffer)
            self._buffer = None

    def _require_buffer(self) -> mmap.mmap:
        if self._buffer is None:
            raise ValueError("this DirectWriter is finished")
        return self._buffer

    def _flush(self, length: int) -> None:
        """Write the buffer's first ``length`` bytes at the end of what is written."""
        buffer = self._require_buffer()
        with memoryview(buffer) as whole:
            view = whole[:length]
            offset = self.size - self._fill
            while len(view):
                try:
                    n = os.pwrite(self.fd, view, offset)
                except OSError as exc:
                    if not (self.direct and exc.errno == errno.EINVAL and offset == 0):
                        raise
                    # Refused on the first write: this filesystem takes no O_DIRECT.
                    _disable_direct(self.fd)
                    self.direct = False
                    continue
                if self.direct and n % ALIGNMENT and n < len(view):
                    # A short direct write that is not block-aligned cannot be
                    # resumed aligned: finish this buffer without O_DIRECT.
                    _disable_direct(self.fd)
                    self.direct = False
                view = view[n:]
                offset += n
            view.release()
        self._fill = 0
