"""The download cache's SQLite index: one row per blob, totals kept by triggers.

``blobs(digest, size, last_used)`` with an index on ``(last_used, digest)``, so
eviction walks the least recently used entries in batches (keyset pagination)
without ever loading the table; ``totals`` holds the bytes and entries (kept
exact by triggers, in the same transaction as the row change) and the hit and
miss counters behind ``asyncart cache ls``. The file is the client's own
(``blobs-v1.sqlite3`` in the cache directory), never the store's: no migrations;
a damaged or foreign file is replaced (the blobs it indexed are then orphans,
re-indexed when a pull stores them again, removed by ``asyncart cache clear``).

Every function here blocks; callers run them off the event loop.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from asyncart.client import sqlite_files

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 30.0  # eight pulls at once take turns on writes: wait, do not fail
BATCH = 500
_CREATE = (
    "CREATE TABLE blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, last_used REAL NOT NULL)",
    "CREATE INDEX blobs_lru ON blobs (last_used, digest)",
    "CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL, "
    "entries INTEGER NOT NULL, hits INTEGER NOT NULL, misses INTEGER NOT NULL, "
    "hit_bytes INTEGER NOT NULL, miss_bytes INTEGER NOT NULL)",
    "INSERT INTO totals VALUES (0, 0, 0, 0, 0, 0, 0)",
    "CREATE TRIGGER blobs_in AFTER INSERT ON blobs BEGIN "
    "UPDATE totals SET bytes = bytes + new.size, entries = entries + 1; END",
    "CREATE TRIGGER blobs_out AFTER DELETE ON blobs BEGIN "
    "UPDATE totals SET bytes = bytes - old.size, entries = entries - 1; END",
    "CREATE TRIGGER blobs_resized AFTER UPDATE OF size ON blobs BEGIN "
    "UPDATE totals SET bytes = bytes + new.size - old.size; END",
)


@dataclass(frozen=True)
class Totals:
    """What ``asyncart cache ls`` reports."""

    bytes: int
    entries: int
    hits: int
    misses: int
    hit_bytes: int
    miss_bytes: int

    @property
    def hit_rate(self) -> float | None:
        """Files served from the cache over files looked up (None before any lookup)."""
        looked = self.hits + self.misses
        return self.hits / looked if looked else None


class CacheIndex:
    """The index of one cache directory (a connection; not shared between threads at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.conn = _connect(path)
        except (sqlite3.DatabaseError, sqlite_files.Unusable) as exc:
            if not sqlite_files.is_corruption(exc) or not sqlite_files.discard(path):
                raise
            self.conn = _connect(path)

    def close(self) -> None:
        self.conn.close()

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        sqlite_files.write_transaction(self.conn, sql, rows)

    def add_many(self, blobs: list[tuple[str, int]]) -> None:
        """Index blobs (digest, size) just renamed into place (or refresh indexed ones)."""
        now = time.time()
        self._write(
            "INSERT INTO blobs VALUES (?, ?, ?) ON CONFLICT (digest) DO UPDATE SET "
            "size = excluded.size, last_used = excluded.last_used",
            [(digest, size, now) for digest, size in blobs],
        )

    def size_of(self, digest: str) -> int | None:
        row = self.conn.execute("SELECT size FROM blobs WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else int(row[0])

    def used(self, hits: list[tuple[str, int]], misses: list[int]) -> None:
        """Note lookups: ``hits`` (digest, size) become the most recently used."""
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if hits:
                self.conn.executemany(
                    "UPDATE blobs SET last_used = ? WHERE digest = ?", [(now, d) for d, _ in hits]
                )
            self.conn.execute(
                "UPDATE totals SET hits = hits + ?, hit_bytes = hit_bytes + ?, "
                "misses = misses + ?, miss_bytes = miss_bytes + ?",
                (len(hits), sum(s for _, s in hits), len(misses), sum(misses)),
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def remove(self, digests: list[str]) -> None:
        self._write("DELETE FROM blobs WHERE digest = ?", [(d,) for d in digests])

    def totals(self) -> Totals:
        row = self.conn.execute(
            "SELECT bytes, entries, hits, misses, hit_bytes, miss_bytes FROM totals"
        ).fetchone()
        return Totals(*(int(v) for v in row))

    def oldest(
        self, before: float | None = None, batch: int = BATCH
    ) -> Iterator[list[tuple[str, int]]]:
        """Batches of up to ``batch`` (digest, size), least recently used first
        (``before``: only those last used earlier). Rows removed while iterating are
        simply not seen again."""
        cursor: tuple[float, str] = (float("-inf"), "")
        limit = float("inf") if before is None else before
        while True:
            rows = self.conn.execute(
                "SELECT last_used, digest, size FROM blobs WHERE (last_used, digest) > (?, ?) "
                "AND last_used < ? ORDER BY last_used, digest LIMIT ?",
                (*cursor, limit, batch),
            ).fetchall()
            if not rows:
                return
            cursor = (rows[-1][0], rows[-1][1])
            yield [(str(d), int(s)) for _, d, s in rows]


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    return sqlite_files.connect_schema(
        path, _CREATE, SCHEMA_VERSION, what="a cache index", busy_timeout=BUSY_TIMEOUT
    )
