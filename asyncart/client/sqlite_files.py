"""The client's own SQLite files (the hash cache, the download cache's index): opening
one with its schema (WAL mode, a busy timeout, created in one transaction when new),
one write transaction, and telling a corrupt or foreign file (rebuild it) from a busy
or unwritable one (carry on without it).

Every function here blocks; callers run them off the event loop.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("asyncart.client.sqlite_files")


class Unusable(Exception):
    """The database file is not ours (garbage, another schema): rebuild it."""


def connect_schema(
    path: Path, statements: Sequence[str], version: int, *, what: str, busy_timeout: float
) -> sqlite3.Connection:
    """Open ``path``, creating ``statements``' tables if the file is new and stamping it
    with ``version``; :class:`Unusable` if it holds another schema or other tables
    (``what`` names the file in that message, e.g. ``'a hash cache'``)."""
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # a lost row on power loss: a miss, an orphan
        (found,) = conn.execute("PRAGMA user_version").fetchone()
        if found == 0:
            conn.execute("BEGIN IMMEDIATE")
            try:
                (found,) = conn.execute("PRAGMA user_version").fetchone()
                if found == 0:  # still new once we hold the write lock: create it
                    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                        raise Unusable(f"it holds tables that are not {what}")
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {int(version)}")
                    found = version
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        if found != version:
            raise Unusable(f"schema version {found}, expected {version}")
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
    """Delete the database and its side files, leaving an empty private file; False if
    that failed."""
    try:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        log.info("%s cannot be rebuilt: %s", path, exc)
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
