"""The hash cache: what a file hashed to, so an unchanged file is not read again.

One SQLite table (WAL mode) in ``<cache_dir>/hashes-v1.sqlite3`` maps a file,
as it stands on disk, to its blake3 digest and its ordered chunk list::

    key:   (absolute resolved path, chunker spec)        one row per file and spec
    check: (size, mtime_ns, ctime_ns, inode)             must all equal the file's stat
    value: (file digest, [(chunk hash, chunk size), ...])

Safety rules:

* A row is a hit only if every stat field equals the file's current stat, the
  spec equals the push's spec and the row's seal (blake3 over key, stat and
  value) checks out; anything else is a miss and the file is read.
* Rows are written only from a complete read whose identity was re-checked
  unchanged at its end, and only once the file's ctime is old enough that a
  later write could not carry the same timestamps (:func:`settled`: a write
  in the same clock tick as the read would otherwise go unnoticed).
* A database that cannot be used is never an error: a corrupt file or a wrong
  schema is deleted and recreated; a locked or unwritable one (another process
  holding the write lock past the busy timeout, a full disk) just means a miss
  or an unrecorded row for this push.

Size bound: at most ``max_entries`` rows (default :data:`MAX_ENTRIES`). Each
hit refreshes the row's ``used`` time (at most once a day); when a push that
wrote rows closes the cache with more than ``max_entries`` rows, the least
recently used are deleted down to 90 % of the bound.

Every method does blocking SQLite and ``stat`` calls: the push pipeline calls
them through ``anyio.to_thread``, one call per batch of files.

This module holds the cache's rules; the SQLite file (schema, opening, rebuilding) is
:mod:`.hashcache_db`, a row's encoding and seal :mod:`.hashcache_rows`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asyncart.client.hashcache_db import COLUMNS, connect
from asyncart.client.hashcache_rows import (
    chunker_key,
    decode_chunks,
    encode_chunks,
    row_seal,
    stat_columns,
)
from asyncart.client.scan import FileIdentity
from asyncart.client.sqlite_files import Unusable, discard, is_corruption, write_transaction
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import ChunkRef
from asyncart.core.private_fs import create_private, private_dir, tighten

log = logging.getLogger(__name__)

FILE_NAME = "hashes-v1.sqlite3"
MAX_ENTRIES = 500_000
_USED_REFRESH_S = 86_400
_PRUNE_TO = 0.9
_SETTLE_FINE_NS = 100_000_000  # 100 ms: ten ticks of the coarsest kernel clock (HZ=100)
_SETTLE_COARSE_NS = 2_000_000_000  # 2 s: file systems with 1-2 s timestamps (FAT, some NFS/SMB)


@dataclass(frozen=True)
class CachedFile:
    """What a file hashed to: its digest and its chunks in file order."""

    digest: str
    chunks: tuple[ChunkRef, ...]


@dataclass(frozen=True)
class HashedFile:
    """A file that was just read whole: what :meth:`HashCache.remember` records.

    ``checked_ns`` is the wall-clock time (``time.time_ns``) taken just before
    the identity check at the end of the read.
    """

    local: Path
    identity: FileIdentity
    digest: str
    chunks: Sequence[ChunkRef]
    checked_ns: int


def settled(identity: FileIdentity, checked_ns: int) -> bool:
    """Whether a read checked at ``checked_ns`` may be cached for a file with ``identity``.

    File timestamps come from a clock that advances in ticks (a few ms on
    Linux, 1-2 s on some file systems), so a write right after the read could
    leave size, mtime and ctime exactly as they were. Only a read checked at
    least a few ticks after the file's last change (its ctime, which no one can
    set back) is recorded: a later write then necessarily gets a newer ctime.
    """
    coarse = identity.ctime_ns % 1_000_000 == 0  # whole milliseconds: a coarse file system
    return checked_ns - identity.ctime_ns >= (_SETTLE_COARSE_NS if coarse else _SETTLE_FINE_NS)


class HashCache:
    """An open hash cache for one chunker spec (use :meth:`open`).

    Thread-safe (one lock around the connection); each method handles a whole
    batch in at most two short SQLite transactions.
    """

    def __init__(
        self, conn: sqlite3.Connection, path: Path, spec: ChunkerSpec, max_entries: int
    ) -> None:
        self.path = path
        self.max_entries = max_entries
        self._conn: sqlite3.Connection | None = conn
        self._chunker = chunker_key(spec)
        self._lock = threading.Lock()
        self._wrote = False

    @classmethod
    def open(
        cls, directory: Path, spec: ChunkerSpec, max_entries: int = MAX_ENTRIES
    ) -> HashCache | None:
        """Open (creating or rebuilding as needed) the cache in ``directory``.

        Returns None when no usable cache can be had (say, an unwritable
        directory): the push then reads every file, as without a cache.
        """
        path = directory / FILE_NAME
        try:
            private_dir(directory)  # 0700 down from the first directory it creates
            if not path.exists():
                os.close(create_private(path, os.O_RDWR | os.O_CREAT))  # private: it lists paths
            for suffix in ("", "-wal", "-shm"):  # SQLite gives these the database's mode
                tighten(Path(f"{path}{suffix}"))
        except OSError as exc:
            log.info("hash cache disabled: cannot create %s: %s", path, exc)
            return None
        for attempt in (1, 2):
            try:
                return cls(connect(path), path, spec, max_entries)
            except (sqlite3.Error, Unusable) as exc:
                if attempt == 1 and is_corruption(exc):
                    log.info("hash cache %s is unusable (%s): rebuilding it", path, exc)
                    if discard(path):
                        continue
                log.info("hash cache disabled for this push: %s: %s", path, exc)
                return None
        return None

    # -- reads ---------------------------------------------------------------------

    def lookup(self, items: Sequence[tuple[Path, FileIdentity]]) -> list[CachedFile | None]:
        """The cached hashes of each ``(resolved path, identity)``, or None per miss.

        A hit needs the file's stat *now* to equal ``identity`` (the identity
        it was added with) and the row to match both and its seal.
        """
        misses: list[CachedFile | None] = [None] * len(items)
        with self._lock:
            conn = self._conn
            if conn is None:
                return misses
            out: list[CachedFile | None] = []
            refresh: list[tuple[int, bytes]] = []
            damaged: list[bytes] = []
            now_s = int(time.time())
            try:
                conn.execute("BEGIN")  # one read snapshot for the batch
                try:
                    for local, identity in items:
                        out.append(self._lookup_one(conn, local, identity, now_s, refresh, damaged))
                finally:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._failed(exc)
                return misses
            if refresh or damaged:
                try:
                    write_transaction(
                        conn,
                        "UPDATE files SET used = ? WHERE path = ? AND chunker = ?",
                        [(used, p, self._chunker) for used, p in refresh],
                        "DELETE FROM files WHERE path = ? AND chunker = ?",
                        [(p, self._chunker) for p in damaged],
                    )
                except sqlite3.Error as exc:
                    self._failed(exc)  # the hits stand: they passed their seals
            return out

    def _lookup_one(
        self,
        conn: sqlite3.Connection,
        local: Path,
        identity: FileIdentity,
        now_s: int,
        refresh: list[tuple[int, bytes]],
        damaged: list[bytes],
    ) -> CachedFile | None:
        key = os.fsencode(local)
        row = conn.execute(
            "SELECT size, mtime_ns, ctime_ns, inode, digest, chunks, seal, used FROM files "
            "WHERE path = ? AND chunker = ?",
            (key, self._chunker),
        ).fetchone()
        if row is None:
            return None
        size, mtime_ns, ctime_ns, inode, digest, chunks, seal, used = row
        if (size, mtime_ns, ctime_ns, inode) != stat_columns(identity):
            return None
        try:
            if FileIdentity.of(os.stat(local)) != identity:
                return None  # changed since it was added: the read will say so
        except OSError:
            return None
        try:
            if not isinstance(digest, bytes) or not isinstance(chunks, bytes):
                raise ValueError("wrong column types")
            if seal != row_seal(key, self._chunker, identity, digest, chunks):
                raise ValueError("seal does not match")
            cached = CachedFile(digest.hex(), decode_chunks(digest, chunks, identity.size))
        except (TypeError, ValueError) as exc:
            log.info("hash cache row for %s is damaged (%s): dropping it", local, exc)
            damaged.append(key)
            return None
        if not isinstance(used, int) or now_s - used > _USED_REFRESH_S:
            refresh.append((now_s, key))
        return cached

    # -- writes --------------------------------------------------------------------

    def remember(self, files: Sequence[HashedFile]) -> int:
        """Record fully read files (only :func:`settled` ones); return how many were recorded.

        A failed write (locked past the busy timeout, disk full) records nothing
        and raises nothing.
        """
        rows = []
        now_s = int(time.time())
        for f in files:
            if not settled(f.identity, f.checked_ns):
                continue
            key = os.fsencode(f.local)
            digest = bytes.fromhex(f.digest)
            chunks = encode_chunks(f.digest, f.chunks, f.identity.size)
            seal = row_seal(key, self._chunker, f.identity, digest, chunks)
            rows.append(
                (key, self._chunker, *stat_columns(f.identity), digest, chunks, seal, now_s)
            )
        if not rows:
            return 0
        with self._lock:
            conn = self._conn
            if conn is None:
                return 0
            try:
                write_transaction(
                    conn,
                    f"INSERT OR REPLACE INTO files ({', '.join(COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(COLUMNS))})",
                    rows,
                )
            except sqlite3.Error as exc:
                self._failed(exc)
                return 0
            self._wrote = True
            return len(rows)

    def forget(self, local: Path) -> None:
        """Drop the row of ``local`` (its cached chunks did not match its bytes)."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                write_transaction(
                    conn,
                    "DELETE FROM files WHERE path = ? AND chunker = ?",
                    [(os.fsencode(local), self._chunker)],
                )
            except sqlite3.Error as exc:
                self._failed(exc)

    def close(self) -> None:
        """Prune to the size bound if this push wrote rows, then close the connection."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                if self._wrote:
                    self._prune(conn)
            except sqlite3.Error as exc:
                log.info("hash cache %s: pruning failed: %s", self.path, exc)
            finally:
                conn.close()

    def _prune(self, conn: sqlite3.Connection) -> None:
        (count,) = conn.execute("SELECT count(*) FROM files").fetchone()
        if count <= self.max_entries:
            return
        excess = count - int(self.max_entries * _PRUNE_TO)
        write_transaction(
            conn,
            "DELETE FROM files WHERE rowid IN "
            "(SELECT rowid FROM files ORDER BY used, rowid LIMIT ?)",
            [(excess,)],
        )

    def _failed(self, exc: sqlite3.Error) -> None:
        """Called with the lock held. Corruption: rebuild; anything else: carry on."""
        conn = self._conn
        if conn is not None and conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if not is_corruption(exc):
            log.info("hash cache %s: %s (ignored)", self.path, exc)
            return
        log.info("hash cache %s is corrupt (%s): rebuilding it", self.path, exc)
        if conn is not None:
            conn.close()
        self._conn = None
        if discard(self.path):
            try:
                self._conn = connect(self.path)
            except (sqlite3.Error, Unusable) as again:
                log.info("hash cache %s disabled for this push: %s", self.path, again)
