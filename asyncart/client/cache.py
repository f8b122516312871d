"""The download cache: whole files by BLAKE3 digest, shared by every pull of this user.

Layout (``$ASYNCART_CACHE_DIR``, default ``$XDG_CACHE_HOME/asyncart``, else
``~/.cache/asyncart``)::

    <cache dir>/
      blobs-v1.sqlite3            index: digest -> size, last use; totals, hits, misses
      blobs/
        3f/
          3fa9…c2                 one file's bytes, named by its digest (the manifest's
                                  ``digest``); mode 0444
        tmp/
          3fa9…c2.<pid>.<rand>    an entry being written (temp + fsync + rename)
      locks/blobs/
        3f/3fa9…c2.lock           flock(2) of one digest: held while a pull fetches the
                                  file (others wait, then reuse it), places it, or while
                                  eviction removes it (exclusive); held shared
                                  while a lazy file reads the blob
      hashes-v1.sqlite3, locks/pull-*.lock, staging/   (the hash cache, pull locks and
                                  add_file snapshots: other modules)

**Whole-file blobs, not chunks.** A hit puts the whole file in place with one
``FICLONE`` (a reflink: no data copied, no extra disk on btrfs/XFS) or one
``copy_file_range``; a chunk cache would have to reassemble every file from
pieces (one write per chunk, never a reflink) and keep an index 1000x larger.
What a pull fetches is whole files too, so nothing is lost.

**Copy, never hard link.** A hard link shares the inode: a user's
``torch.save(state, path)`` into a pulled file (truncate + rewrite in place)
would rewrite the cache entry. A reflink or copy is a new inode, so no edit of a
pulled file reaches the cache. Blobs are read-only (0444) against accidents,
and every blob is hashed again when it is placed (from the fresh copy, which
then is what was checked): one read, never a wrong byte.

**Trust nothing after a crash.** An entry appears under its digest only by
rename after its bytes were verified and fsynced: a pull's fetched file is
written into its temp file from the very chunks the pull verified, as they
arrive (``cache_tee.py``; the pull then checks the whole file's digest), any
other is copied and hashed there (:meth:`BlobCache.store`); a crash leaves
at most a temp file (``asyncart cache prune`` removes those older than an hour)
or a blob without an index row (an orphan, seen as a miss and written again).
A blob whose size is not the indexed size, or whose bytes do not hash to its
name when used, is removed and the file fetched from the server.

**Budget.** ``ASYNCART_CACHE_MAX_SIZE``: ``auto`` (10% of the cache's file
system, at most 50 GiB: the default) or a size; ``0`` turns the cache off.
After a pull stores entries,
the least recently used ones are removed, in index batches, until the total is
within the budget; an entry whose lock another process holds (a pull using it)
is skipped, and so is one a lazy reader holds shared (``artifact.open``
reading from the blob: ``cached_chunk_source.py``). A file larger than the
budget is not stored.

**Locks held at once.** A pull locks the digests of its largest files (at most
:data:`MAX_LOCKS`), always in digest order (so two pulls never wait on each
other in a cycle); smaller files beyond that are looked up and stored without a
lock: a pull running at the same moment may fetch them too, which costs bytes,
never correctness (a rename of the same verified bytes).

Every method blocks; the pull hook (``cache_pull.py``) calls them off the loop.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from asyncart.client import side_files
from asyncart.client.cache_index import CacheIndex, Totals

# The pull lock's own discipline (open without following links, lock, check the inode,
# remove on release), add_file's kernel copy and the file digest: one implementation of each.
from asyncart.client.pull_lock import _open, _release, _still_there, _try_lock
from asyncart.client.scan import file_hasher
from asyncart.client.snapshot import FICLONE, _copy

log = logging.getLogger("asyncart.client.cache")

INDEX_NAME = "blobs-v1.sqlite3"
DEFAULT_SHARE = 0.10
DEFAULT_CAP = 50 << 30
MAX_LOCKS = 256
STALE_TEMP = 3600.0
_READ = 8 << 20
_SYNC_EACH_FROM = 1 << 20
_STORE_BATCH = 128  # temp files open at once while a batch is made durable
# Rows eviction reads, and deletes in one transaction (one commit, one fsync) at a time:
# a few hundred KiB of digests, and a write lock held for tens of milliseconds.
_EVICT_BATCH = 5000
_local = threading.local()
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)
if _syncfs is not None:
    _syncfs.argtypes = [ctypes.c_int]
    _syncfs.restype = ctypes.c_int


def default_budget(cache_dir: Path) -> int:
    """10% of the file system holding ``cache_dir`` (or its nearest existing parent),
    at most :data:`DEFAULT_CAP`."""
    probe = cache_dir
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    st = os.statvfs(probe)
    return min(int(st.f_frsize * st.f_blocks * DEFAULT_SHARE), DEFAULT_CAP)


def clone_or_copy(src: int, dst: int) -> bool:
    """Reflink ``src`` into ``dst`` where the file system can, else copy; True: a reflink."""
    try:
        fcntl.ioctl(dst, FICLONE, src)
    except OSError:
        _copy(src, dst)
        return False
    return True


def reflink_works(directory: Path) -> bool:
    """Whether the file system of ``directory`` clones files (``FICLONE``: btrfs, XFS
    with reflink, bcachefs…); probed with two empty temp files there."""
    a = directory / f".asyncart-reflink-probe.{os.getpid()}.{secrets.token_hex(4)}"
    b = a.with_suffix(".clone")
    try:
        src = os.open(a, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(src, b"asyncart")
            dst = os.open(b, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                fcntl.ioctl(dst, FICLONE, src)
            finally:
                os.close(dst)
        finally:
            os.close(src)
    except OSError:
        return False
    finally:
        a.unlink(missing_ok=True)
        b.unlink(missing_ok=True)
    return True


def _buffer() -> memoryview:
    """A read buffer per thread: allocating (and zeroing) 8 MiB per file would cost more
    than hashing a small file."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(bytearray(_READ))
    return buf


def hash_fd(fd: int, size: int) -> str:
    """The BLAKE3 of what ``fd`` holds (``size`` bytes expected), read from its start."""
    h = file_hasher(size)
    buf = _buffer()
    pos = 0
    while n := os.preadv(fd, [buf], pos):
        h.update(buf[:n])
        pos += n
    return h.hexdigest()


def _sync_all(files: list[tuple[int, int]]) -> None:
    """Make written temp files (descriptor, size) durable: a fsync each for files of
    1 MiB and more; one ``syncfs(2)`` for several small ones (a fsync costs
    milliseconds, more than copying a small file), else a fsync each."""
    small = [fd for fd, size in files if size < _SYNC_EACH_FROM]
    for fd, size in files:
        if size >= _SYNC_EACH_FROM:
            os.fsync(fd)
    if len(small) > 1 and _syncfs is not None and _syncfs(small[0]) == 0:
        return
    for fd in small:
        os.fsync(fd)


def _sync_paths(files: list[tuple[Path, int]], directory: Path) -> None:
    """:func:`_sync_all` for closed temp files (path, size) in ``directory``: a fsync
    each for files of 1 MiB and more; one ``syncfs(2)`` (through ``directory``) for
    several small ones, else a fsync each."""
    small = [path for path, size in files if size < _SYNC_EACH_FROM]
    if len(small) > 1 and _syncfs is not None:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if _syncfs(fd) == 0:
                small = []
        finally:
            os.close(fd)
    for path in [path for path, size in files if size >= _SYNC_EACH_FROM] + small:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Evicted:
    """What a prune or clear removed (and what it left because a pull was using it)."""

    entries: int
    bytes: int
    busy: int
    temps: int


class BlobCache:
    """One cache directory: lookups, placing, storing, locks and eviction."""

    def __init__(self, cache_dir: Path, max_size: int | None) -> None:
        self.dir = cache_dir
        self.blobs = cache_dir / "blobs"
        self.locks = cache_dir / "locks" / "blobs"
        self.tmp = self.blobs / "tmp"
        self._reflinks: dict[int, bool] = {}  # st_dev -> whether it clones
        self._reflink_dirs: dict[Path, bool] = {}  # directory -> reflinks_with's answer
        self._blobs_s, self._locks_s = str(self.blobs), str(self.locks)
        self.max_size = default_budget(cache_dir) if max_size is None else max_size
        self.index = CacheIndex(cache_dir / INDEX_NAME)

    def close(self) -> None:
        self.index.close()

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    def lock_path(self, digest: str) -> Path:
        return self.locks / digest[:2] / f"{digest}.lock"

    # -- locks -------------------------------------------------------------------------

    def try_lock(self, digest: str) -> int | None:
        """The locked descriptor of ``digest``'s lock file, or None if another holds it."""
        path = self.lock_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open(path)
        while True:
            if not _try_lock(fd):
                os.close(fd)
                return None
            if _still_there(fd, path):
                return fd
            os.close(fd)  # its holder finished and removed it: lock the current one
            fd = _open(path)

    def unlock(self, digest: str, fd: int) -> None:
        _release(fd, self.lock_path(digest))

    def try_share(self, digest: str) -> int | None:
        """A descriptor holding ``digest``'s lock *shared* (a reader of the blob: a lazy
        file, or a pull placing a hit while one reads), or None if a pull or eviction
        holds it exclusively. Eviction's exclusive try fails while any reader holds it."""
        path = self.lock_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open(path)
        while True:
            if not _try_lock_shared(fd):
                os.close(fd)
                return None
            if _still_there(fd, path):
                return fd
            os.close(fd)
            fd = _open(path)

    def unshare(self, digest: str, fd: int) -> None:
        """Let go of a shared lock: the lock file is removed only by the last holder
        (the one whose try to hold it exclusively succeeds), so no newcomer can lock
        a fresh file there while other readers still hold the old one."""
        if _try_lock(fd):
            _release(fd, self.lock_path(digest))
        else:  # other readers hold it; the failed conversion already dropped ours
            os.close(fd)

    # -- lookups and placing -----------------------------------------------------------

    def place(self, digest: str, size: int, part: Path, final: Path) -> bool:
        """Put the cached blob of ``digest`` at ``final`` (through ``part``), verified.

        False on a miss: no entry, or one that is torn or damaged (then removed).
        """
        if self.index.size_of(digest) != size:
            return False
        try:
            src = os.open(self.blob_path(digest), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            self.index.remove([digest])  # indexed, but gone (removed by hand): a miss
            return False
        try:
            if os.fstat(src).st_size != size:
                self._discard(digest, "its size is not the indexed size")
                return False
            dst = side_files.create(part, os.O_RDWR)
            try:
                clone_or_copy(src, dst)
                ok = hash_fd(dst, size) == digest
            except BaseException:
                os.close(dst)
                part.unlink(missing_ok=True)
                raise
            os.close(dst)
        finally:
            os.close(src)
        if not ok:
            part.unlink(missing_ok=True)
            self._discard(digest, "its bytes do not hash to its name")
            return False
        os.replace(part, final)
        return True

    def discard(self, digest: str, why: str) -> None:
        """Remove the damaged entry of ``digest`` (logged with ``why``)."""
        self._discard(digest, why)

    def _discard(self, digest: str, why: str) -> None:
        log.warning("cache entry %s is damaged (%s): removed, fetching the file", digest, why)
        self.blob_path(digest).unlink(missing_ok=True)
        self.index.remove([digest])

    # -- storing -----------------------------------------------------------------------

    def store(self, digest: str, size: int, source: Path) -> bool:
        """Add the verified file ``source`` under ``digest``; False if it does not fit
        the budget or does not hash to ``digest`` (changed since it was verified)."""
        return self.store_many([(digest, size, source)]) == 1

    def store_many(self, files: list[tuple[str, int, Path]], trust_clones: bool = False) -> int:
        """:meth:`store` for many files: each copied and hashed into a temp file, a batch
        at a time made durable (one ``syncfs`` where there are several), renamed, then
        indexed in one transaction; how many were stored.

        With ``trust_clones`` a file that could be reflinked is not hashed again: the
        caller verified it just before (a pull, moments after renaming it), and a blob
        is hashed again whenever it is placed and checked chunk by chunk when read
        lazily, so a file changed in that moment can only cost a wasted entry, never
        a wrong byte served.
        """
        return sum(
            self._store_batch(files[i : i + _STORE_BATCH], trust_clones)
            for i in range(0, len(files), _STORE_BATCH)
        )

    def reflinks_with(self, directory: Path) -> bool:
        """Whether files in ``directory`` can be reflinked into the cache: the same file
        system, and one that clones (probed once per file system)."""
        known = self._reflink_dirs.get(directory)
        if known is None:
            try:
                self.tmp.mkdir(parents=True, exist_ok=True)
                device = os.stat(directory).st_dev
                same = device == os.stat(self.tmp).st_dev
            except OSError:
                same = False
            if same and device not in self._reflinks:
                self._reflinks[device] = reflink_works(self.tmp)
            known = self._reflink_dirs[directory] = same and self._reflinks[device]
        return known

    def commit_temps(self, temps: list[tuple[str, int, Path]]) -> int:
        """Make temp files written elsewhere with a file's verified bytes (digest, size,
        path in :attr:`tmp`: ``cache_tee.py``) entries, as :meth:`store_many` does its
        copies: durable a batch at a time, 0444, renamed, indexed; nothing is read or
        hashed, and no descriptor is opened for the small ones. How many were stored;
        on an error, every temp not yet renamed is removed."""
        done = 0
        try:
            for done in range(0, len(temps), _STORE_BATCH):
                self._commit_batch(temps[done : done + _STORE_BATCH])
        except BaseException:
            for _, _, tmp in temps[done:]:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
            raise
        return len(temps)

    def temp_path(self, digest: str) -> Path:
        """A new, unique temp file name for an entry of ``digest`` (in :attr:`tmp`)."""
        return self.tmp / f"{digest}.{os.getpid()}.{secrets.token_hex(4)}"

    def _commit_batch(self, temps: list[tuple[str, int, Path]]) -> None:
        _sync_paths([(tmp, size) for _, size, tmp in temps], self.tmp)
        for digest, _, tmp in temps:
            os.chmod(tmp, 0o444)
            blob = self.blob_path(digest)
            blob.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, blob)
        self.index.add_many([(digest, size) for digest, size, _ in temps])

    def _store_batch(self, files: list[tuple[str, int, Path]], trust_clones: bool) -> int:
        written: list[tuple[str, int, Path, int]] = []
        try:
            for digest, size, source in files:
                if size <= self.max_size:
                    got = self._write_temp(digest, size, source, trust_clones)
                    if got is not None:
                        written.append((digest, size, *got))
            _sync_all([(fd, size) for _, size, _, fd in written])
            for digest, _, tmp, fd in written:
                os.fchmod(fd, 0o444)
                blob = self.blob_path(digest)
                blob.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, blob)
        except BaseException:
            for _, _, tmp, _ in written:
                tmp.unlink(missing_ok=True)
            raise
        finally:
            for *_, fd in written:
                os.close(fd)
        self.index.add_many([(digest, size) for digest, size, _, _ in written])
        return len(written)

    def _write_temp(
        self, digest: str, size: int, source: Path, trust_clone: bool = False
    ) -> tuple[Path, int] | None:
        """Clone or copy ``source`` into a temp file and hash it (not a clone, with
        ``trust_clone``); (its path, its open descriptor), or None if it does not hash
        to ``digest`` (changed since verified)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp = self.temp_path(digest)
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            dst = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                cloned = clone_or_copy(src, dst)
                if (cloned and trust_clone) or hash_fd(dst, size) == digest:
                    return tmp, dst
            except BaseException:
                os.close(dst)
                tmp.unlink(missing_ok=True)
                raise
            os.close(dst)
            tmp.unlink(missing_ok=True)
            return None
        finally:
            os.close(src)

    # -- eviction ----------------------------------------------------------------------

    def totals(self) -> Totals:
        return self.index.totals()

    def evict(self, max_size: int | None = None, older_than: float | None = None) -> Evicted:
        """Remove least recently used entries until at most ``max_size`` bytes remain
        (default: the budget) and, with ``older_than`` seconds, every entry unused for
        that long; entries a pull holds are left. Also removes stale temp files."""
        limit = self.max_size if max_size is None else max_size
        removed = freed = busy = 0
        excess = self.index.totals().bytes - limit
        if excess > 0:
            removed, freed, busy = self._evict_batches(None, excess)
        if older_than is not None:
            more, more_freed, more_busy = self._evict_batches(time.time() - older_than, None)
            removed, freed, busy = removed + more, freed + more_freed, busy + more_busy
        return Evicted(removed, freed, busy, self._remove_stale_temps(STALE_TEMP))

    def _evict_batches(self, before: float | None, need: int | None) -> tuple[int, int, int]:
        """Remove entries, oldest first (last used before ``before`` if given), until
        ``need`` bytes are freed (None: every such entry); skip those a pull holds."""
        removed = freed = busy = 0
        for batch in self.index.oldest(before, _EVICT_BATCH):
            gone: list[str] = []
            for digest, size in batch:
                if need is not None and freed >= need:
                    break
                if not self._remove_unheld(digest):
                    busy += 1
                    continue
                gone.append(digest)
                freed += size
            self.index.remove(gone)
            removed += len(gone)
            if need is not None and freed >= need:
                break
        return removed, freed, busy

    def _remove_unheld(self, digest: str) -> bool:
        """Unlink ``digest``'s blob unless another process holds its lock; False if one does.

        No lock file means nobody holds it (a holder creates the file before it locks
        and removes it, still holding, when done), so the blob is unlinked with one
        ``lstat`` and one ``unlink`` instead of creating, locking and removing a lock
        file. A process that creates the lock just after the ``lstat`` is safe:

        * if it opens the blob before the unlink, its descriptor keeps the inode, and
          the bytes under a digest's name are only ever that digest's verified bytes
          (entries appear by rename, never by writing in place), so a pull placing it
          or a lazy file reading it (which opens the blob once and keeps the
          descriptor) reads the right bytes, and still hashes them;
        * if it opens after the unlink, it gets ``ENOENT``: a miss (the row goes), and
          it fetches from the server.

        Either way it never sees wrong bytes; what is lost is only that the entry
        leaves the cache although it was used at that moment. If a lock file exists
        (held, or left by a crash), the lock is taken as before.
        """
        blob = f"{self._blobs_s}/{digest[:2]}/{digest}"
        try:
            os.lstat(f"{self._locks_s}/{digest[:2]}/{digest}.lock")
        except FileNotFoundError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(blob)
            return True
        fd = self.try_lock(digest)
        if fd is None:
            return False
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(blob)
        finally:
            self.unlock(digest, fd)
        return True

    def clear(self) -> Evicted:
        """Remove every entry no pull is using, and every blob the index lost track of."""
        out = self.evict(max_size=0)
        orphans = 0
        with contextlib.suppress(FileNotFoundError):
            for sub in self.blobs.iterdir():
                if sub.name == "tmp" or not sub.is_dir():
                    continue
                for blob in sub.iterdir():
                    if self.index.size_of(blob.name) is None:
                        fd = self.try_lock(blob.name) if len(blob.name) == 64 else None
                        if fd is None:
                            continue
                        try:
                            blob.unlink(missing_ok=True)
                            orphans += 1
                        finally:
                            self.unlock(blob.name, fd)
        temps = self._remove_stale_temps(STALE_TEMP) + out.temps
        return Evicted(out.entries + orphans, out.bytes, out.busy, temps)

    def _remove_stale_temps(self, age: float) -> int:
        """Temp files older than ``age`` seconds: what a crashed store left."""
        removed = 0
        cutoff = time.time() - age
        with contextlib.suppress(FileNotFoundError):
            for tmp in self.tmp.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if tmp.lstat().st_mtime < cutoff:
                        tmp.unlink()
                        removed += 1
        return removed


def _try_lock_shared(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def is_unusable(exc: BaseException) -> bool:
    """A cache failure that should not fail the pull (disk full, read-only, busy index)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                             errno.EIO, errno.ENOENT, errno.ENOTDIR)  # fmt: skip
    return isinstance(exc, sqlite3.Error)
