"""The hash cache's SQLite file: its schema, opening it (WAL mode, a busy timeout), one
write transaction, and telling a corrupt or foreign file (rebuild it) from a busy or
unwritable one (carry on without it).

Every function here blocks; :mod:`asyncart.client.hashcache` calls them off the loop.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("asyncart.client.hashcache")

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 3.0
COLUMNS = ("path", "chunker", "size", "mtime_ns", "ctime_ns", "inode", "digest", "chunks",
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


class Unusable(Exception):
    """The database file is not ours (garbage, another schema): rebuild it."""


def connect(path: Path) -> sqlite3.Connection:
    """Open the database, creating the table if it is new; Unusable if it is not ours."""
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
                        raise Unusable("it holds tables that are not a hash cache")
                    for statement in _CREATE.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        if version not in (0, SCHEMA_VERSION):
            raise Unusable(f"schema version {version}, expected {SCHEMA_VERSION}")
        columns = tuple(r[1] for r in conn.execute("PRAGMA table_info(files)"))
        if columns != COLUMNS:
            raise Unusable(f"table 'files' has columns {columns}")
    except BaseException:
        conn.close()
        raise
    return conn


def is_corruption(exc: BaseException) -> bool:
    """A damaged or foreign file (rebuild it), as opposed to a busy or unwritable one."""
    if isinstance(exc, Unusable):
        return True
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
    text = str(exc)
    return "malformed" in text or "not a database" in text


def discard(path: Path) -> bool:
    """Delete the database and its side files; False if that failed."""
    try:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        log.info("hash cache %s cannot be rebuilt: %s", path, exc)
        return False
    return True


def write_transaction(
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
