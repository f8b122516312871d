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

import blake3

from asyncart.client.scan import FileIdentity
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import HASH_ALGORITHM, ChunkRef
from asyncart.core.private_fs import create_private, private_dir, tighten

log = logging.getLogger(__name__)

FILE_NAME = "hashes-v1.sqlite3"
SCHEMA_VERSION = 1
MAX_ENTRIES = 500_000
BUSY_TIMEOUT = 3.0
_USED_REFRESH_S = 86_400
_PRUNE_TO = 0.9
_CHUNK_RECORD = 40  # 32-byte hash + 8-byte big-endian size
_SETTLE_FINE_NS = 100_000_000  # 100 ms: ten ticks of the coarsest kernel clock (HZ=100)
_SETTLE_COARSE_NS = 2_000_000_000  # 2 s: file systems with 1-2 s timestamps (FAT, some NFS/SMB)
_COLUMNS = ("path", "chunker", "size", "mtime_ns", "ctime_ns", "inode", "digest", "chunks",
            "seal", "used")  # fmt: skip
_CREATE = """
CREATE TABLE files (
    path BLOB NOT NULL,
    chunker TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest BLOB NOT NULL,
    chunks BLOB NOT NULL,
    seal BLOB NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (path, chunker)
);
CREATE INDEX files_used ON files (used);
"""


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


class _Unusable(Exception):
    """The database file is not ours (garbage, another schema): rebuild it."""


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


def chunker_key(spec: ChunkerSpec) -> str:
    """The text a row's chunker column holds: hash algorithm and every cut parameter."""
    return f"{HASH_ALGORITHM}/{spec.kind}:{spec.min_size}:{spec.avg_size}:{spec.max_size}"


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
                return cls(_connect(path), path, spec, max_entries)
            except (sqlite3.Error, _Unusable) as exc:
                if attempt == 1 and _is_corruption(exc):
                    log.info("hash cache %s is unusable (%s): rebuilding it", path, exc)
                    if _discard(path):
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
                    self._write(
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
        if (size, mtime_ns, ctime_ns, inode) != _stat_columns(identity):
            return None
        try:
            if FileIdentity.of(os.stat(local)) != identity:
                return None  # changed since it was added: the read will say so
        except OSError:
            return None
        try:
            if not isinstance(digest, bytes) or not isinstance(chunks, bytes):
                raise ValueError("wrong column types")
            if seal != _seal(key, self._chunker, identity, digest, chunks):
                raise ValueError("seal does not match")
            cached = CachedFile(digest.hex(), _decode_chunks(digest, chunks, identity.size))
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
            chunks = _encode_chunks(f.digest, f.chunks, f.identity.size)
            seal = _seal(key, self._chunker, f.identity, digest, chunks)
            rows.append(
                (key, self._chunker, *_stat_columns(f.identity), digest, chunks, seal, now_s)
            )
        if not rows:
            return 0
        with self._lock:
            conn = self._conn
            if conn is None:
                return 0
            try:
                self._write(
                    conn,
                    f"INSERT OR REPLACE INTO files ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_COLUMNS))})",
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
                self._write(
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
        self._write(
            conn,
            "DELETE FROM files WHERE rowid IN "
            "(SELECT rowid FROM files ORDER BY used, rowid LIMIT ?)",
            [(excess,)],
        )

    @staticmethod
    def _write(
        conn: sqlite3.Connection,
        sql: str,
        rows: Sequence[tuple[object, ...]],
        sql2: str | None = None,
        rows2: Sequence[tuple[object, ...]] = (),
    ) -> None:
        """One write transaction (``BEGIN IMMEDIATE``: wait for the lock, never upgrade)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                conn.executemany(sql, rows)
            if sql2 is not None and rows2:
                conn.executemany(sql2, rows2)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _failed(self, exc: sqlite3.Error) -> None:
        """Called with the lock held. Corruption: rebuild; anything else: carry on."""
        conn = self._conn
        if conn is not None and conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if not _is_corruption(exc):
            log.info("hash cache %s: %s (ignored)", self.path, exc)
            return
        log.info("hash cache %s is corrupt (%s): rebuilding it", self.path, exc)
        if conn is not None:
            conn.close()
        self._conn = None
        if _discard(self.path):
            try:
                self._conn = _connect(self.path)
            except (sqlite3.Error, _Unusable) as again:
                log.info("hash cache %s disabled for this push: %s", self.path, again)


def _connect(path: Path) -> sqlite3.Connection:
    """Open the database, creating the table if it is new; _Unusable if it is not ours."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # a lost row on power loss is only a miss
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version == 0:
            conn.execute("BEGIN IMMEDIATE")
            try:
                (version,) = conn.execute("PRAGMA user_version").fetchone()
                if version == 0:
                    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                        raise _Unusable("it holds tables that are not a hash cache")
                    for statement in _CREATE.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        if version not in (0, SCHEMA_VERSION):
            raise _Unusable(f"schema version {version}, expected {SCHEMA_VERSION}")
        columns = tuple(r[1] for r in conn.execute("PRAGMA table_info(files)"))
        if columns != _COLUMNS:
            raise _Unusable(f"table 'files' has columns {columns}")
    except BaseException:
        conn.close()
        raise
    return conn


def _is_corruption(exc: BaseException) -> bool:
    """A damaged or foreign file (rebuild it), as opposed to a busy or unwritable one."""
    if isinstance(exc, _Unusable):
        return True
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _discard(path: Path) -> bool:
    """Delete the database and its side files; False if that failed."""
    try:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        log.info("hash cache %s cannot be rebuilt: %s", path, exc)
        return False
    return True


def _stat_columns(identity: FileIdentity) -> tuple[int, int, int, int]:
    # SQLite integers are signed 64-bit; some file systems hand out inodes above 2**63.
    inode = identity.inode - (1 << 64) if identity.inode >= 1 << 63 else identity.inode
    return identity.size, identity.mtime_ns, identity.ctime_ns, inode


def _seal(key: bytes, chunker: str, identity: FileIdentity, digest: bytes, chunks: bytes) -> bytes:
    h = blake3.blake3(b"asyncart.hash-cache.v1\n")
    h.update(key + b"\0" + chunker.encode() + b"\0")
    h.update(",".join(map(str, _stat_columns(identity))).encode() + b"\0")
    h.update(digest + chunks)
    return h.digest(16)


def _encode_chunks(digest: str, chunks: Sequence[ChunkRef], size: int) -> bytes:
    """Packed ``hash || size`` records; empty when the file is one chunk (or none)."""
    if size == 0 or (len(chunks) == 1 and chunks[0].hash == digest):
        return b""
    return b"".join(bytes.fromhex(c.hash) + c.size.to_bytes(8, "big") for c in chunks)


def _decode_chunks(digest: bytes, blob: bytes, size: int) -> tuple[ChunkRef, ...]:
    if len(digest) != 32:
        raise ValueError("digest is not 32 bytes")
    if not blob:
        return (ChunkRef(digest.hex(), size),) if size else ()
    if len(blob) % _CHUNK_RECORD:
        raise ValueError("chunk list length is not a whole number of records")
    view = memoryview(blob)
    chunks = tuple(
        ChunkRef(
            view[i : i + 32].hex(),
            int.from_bytes(view[i + 32 : i + _CHUNK_RECORD], "big"),
        )
        for i in range(0, len(blob), _CHUNK_RECORD)
    )
    if sum(c.size for c in chunks) != size or any(c.size <= 0 for c in chunks):
        raise ValueError("chunk sizes do not add up to the file size")
    return chunks
