"""The hash cache's SQLite file: its schema, and opening it (through
:mod:`asyncart.client.sqlite_files`, which also rebuilds a damaged one).

Every function here blocks; :mod:`asyncart.client.hashcache` calls them off the loop.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from asyncart.client.sqlite_files import Unusable, connect_schema

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 3.0
COLUMNS = ("path", "chunker", "size", "mtime_ns", "ctime_ns", "inode", "digest", "chunks",
           "seal", "used")  # fmt: skip
_CREATE = (
    """CREATE TABLE files (
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
)""",
    "CREATE INDEX files_used ON files (used)",
)


def connect(path: Path) -> sqlite3.Connection:
    """Open the database, creating the table if it is new; Unusable if it is not ours."""
    conn = connect_schema(
        path, _CREATE, SCHEMA_VERSION, what="a hash cache", busy_timeout=BUSY_TIMEOUT
    )
    columns = tuple(r[1] for r in conn.execute("PRAGMA table_info(files)"))
    if columns != COLUMNS:
        conn.close()
        raise Unusable(f"table 'files' has columns {columns}")
    return conn
