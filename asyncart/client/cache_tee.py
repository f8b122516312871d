"""The download cache's copy of each fetched file, written from the pull's verified buffers.

Filling the cache by copying a pulled file afterwards reads the whole file back
(large files are written with O_DIRECT, so their bytes are on disk, not in
memory): that copy doubled a 1 GiB pull. Instead the range writer writes each
verified chunk to the cache's temp file too (``blobs/tmp/`` of the cache
directory, same file system as the blobs), right after the part file: the same
buffers, the same offsets, the same O_DIRECT split where the cache's file system
wants it (``direct_runs.py``; where both files take O_DIRECT, each block is
copied into the aligned buffer once and written to both), preallocated where the
part file is. At the end of
a successful pull :meth:`CacheTee.finish` hands over the temp files that got every
byte, to be made durable and renamed into ``blobs/`` (``BlobCache.commit_temps``):
no second read, no second hash (the bytes are those verified chunk by chunk, and
the pull checks the file's digest before it renames the part file).

A file counts only if every one of its bytes reached its temp file: bytes are
counted when they are credited (once per piece, after its write), so a file
with bytes from elsewhere (copied from a local file by a delta pull, kept from an
interrupted pull's part file) falls short and is stored the old way, by copy
(:meth:`CacheTee.finish` names those). A write that fails on the cache's side
(disk full, I/O error, anything) never fails the pull: that file's temp is
closed and removed, one warning is logged, and the file is not stored this
time. :meth:`CacheTee.discard` removes every temp left (a failed or cancelled
pull, or what was not committed); a crash leaves temps that ``prune`` and
``clear`` remove once they are an hour old.

Every method blocks; range writers call them from worker threads, several at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asyncart.client.assembly import PREALLOCATE_FROM, PartFile, preallocate
from asyncart.client.cache import BlobCache
from asyncart.client.direct_runs import FileWriter, Mirror, open_direct, wants_direct

log = logging.getLogger("asyncart.client.cache")

_OPEN = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(eq=False)
class _Temp:
    """One file's copy in ``blobs/tmp/``: created at its first write."""

    name: str  # the file's path in the manifest, for the log
    digest: str
    size: int
    path: Path
    teed: int = 0  # bytes credited after they were written here
    created: bool = False
    direct: bool = False
    failed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class CacheTee:
    """The cache's temp files of a pull's misses, one per digest."""

    def __init__(self, cache: BlobCache, misses: Sequence[PartFile]) -> None:
        cache.tmp.mkdir(parents=True, exist_ok=True)
        self._temps: dict[PartFile, _Temp] = {}
        self._digests: set[str] = set()  # one temp per digest: duplicates need no second
        self._closed = False
        self._warned = False
        self._warn_lock = threading.Lock()
        for target in misses:
            entry = target.entry
            if entry.size == 0 or entry.size > cache.max_size or entry.digest in self._digests:
                continue
            if target.resumed:  # bytes kept from an interrupted pull: stored by copy
                continue
            self._digests.add(entry.digest)
            self._temps[target] = _Temp(
                entry.path, entry.digest, entry.size, cache.temp_path(entry.digest)
            )

    def write(
        self,
        part: FileWriter,
        file: PartFile,
        views: Sequence[memoryview],
        offset: int,
        length: int,
    ) -> None:
        """Write ``length`` verified bytes of ``file`` at ``offset`` to its part file
        (``part``: a failure there raises) and to its temp (a failure there drops this
        file's temp, never the pull). Both from one copy into the aligned buffer where
        both take O_DIRECT (``direct_runs.Mirror``)."""
        temp = self._temps.get(file)
        writer = None
        if temp is not None and not temp.failed:
            try:
                writer = self._open(file, temp)
            except Exception as exc:
                self._fail(temp, exc)
        if writer is None:
            part.write(views, offset, length)
            return
        assert temp is not None
        try:
            part.write(views, offset, length, Mirror(writer, lambda exc: self._fail(temp, exc)))
        finally:
            try:
                writer.close()
            except OSError as exc:
                self._fail(temp, exc)

    def credited(self, file: PartFile, size: int) -> None:
        """``size`` bytes of ``file``, written by :meth:`write` before, were credited."""
        temp = self._temps.get(file)
        if temp is not None:
            with temp.lock:
                temp.teed += size

    def finish(self) -> tuple[list[tuple[str, int, Path]], set[str]]:
        """After a successful pull: the temps that hold their whole file (digest, size,
        path), handed over to the caller (:meth:`discard` leaves them), and the digests
        whose temps fell short (store those by copy). Temps that failed are in neither:
        those files are not stored this time."""
        whole: list[tuple[str, int, Path]] = []
        short: set[str] = set()
        for temp in self._temps.values():
            with temp.lock:
                if temp.failed:
                    continue
                if temp.created and temp.teed == temp.size:
                    whole.append((temp.digest, temp.size, temp.path))
                    temp.created = False  # the caller's now
                else:
                    short.add(temp.digest)
                temp.failed = True  # written no more
        return whole, short

    def covers(self, digest: str) -> bool:
        """Whether ``digest`` has a temp here (whole, short or failed)."""
        return digest in self._digests

    def discard(self) -> None:
        """Remove every temp file this tee still owns (a failed or cancelled pull's, the
        short ones after a successful pull)."""
        self._closed = True
        for temp in self._temps.values():
            with temp.lock:
                temp.failed = True
                if temp.created:
                    with contextlib.suppress(OSError):
                        temp.path.unlink(missing_ok=True)

    def _open(self, file: PartFile, temp: _Temp) -> FileWriter | None:
        with temp.lock:
            if temp.failed or self._closed:
                return None
            if temp.created:
                fd = os.open(temp.path, _OPEN)
            else:  # its first write (for most small files, the only one)
                fd = os.open(temp.path, _OPEN | os.O_CREAT | os.O_EXCL, 0o600)
                temp.created = True
                try:
                    if file.created and temp.size >= PREALLOCATE_FROM:  # as its part file
                        preallocate(fd, temp.size, temp.path)
                    temp.direct = wants_direct(temp.size, temp.path)
                except BaseException:
                    os.close(fd)
                    raise
        direct = -1
        if temp.direct:
            try:
                direct = open_direct(lambda flags: os.open(temp.path, flags | _OPEN))
            except BaseException:
                os.close(fd)
                raise
        return FileWriter(fd, direct)

    def _fail(self, temp: _Temp, exc: Exception) -> None:
        with temp.lock:
            if temp.failed:
                return
            temp.failed = True
            if temp.created:
                with contextlib.suppress(OSError):
                    temp.path.unlink(missing_ok=True)
        with self._warn_lock:
            first, self._warned = not self._warned, True
        (log.warning if first else log.debug)(
            "cannot write the download cache's copy of %s (%s): not cached this time",
            temp.name, exc,
        )  # fmt: skip
