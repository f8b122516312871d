"""First opens of a new SQLite store racing each other all succeed, and leave it in WAL mode.

Switching a new file to WAL needs it alone; SQLite answers "database is locked" at once
(no busy handler) to a connection that tries while another does. With 12 racing opens
this failed within 40 rounds in each of 3 tries before the switch was made tolerant
(``migrations._on_connect``) and checked (``migrations._ensure_wal``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from asyncart.repo.metastores.sql import SqlMetaStore


async def test_racing_first_opens_of_a_new_file_all_succeed(tmp_path: Path) -> None:
    for round_ in range(40):
        db = tmp_path / f"round-{round_}" / "meta.db"
        db.parent.mkdir()
        stores = [SqlMetaStore(f"sqlite:///{db}") for _ in range(12)]
        try:
            await asyncio.gather(*(s.open() for s in stores))
        finally:
            await asyncio.gather(*(s.close() for s in stores))
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
