"""Metadata stores: where projects, versions, aliases, runs, lineage and the chunk index live.

Design
------
:class:`MetaStore` (``base.py``) is the port the repository talks to; every method
is one transaction and raises only :mod:`asyncart.errors` classes.
:class:`SqlMetaStore` (``sql.py``, with its row conversions and lookups in
``lookups.py``, version deletion in ``deletion.py``, the pack-table work that
keeps garbage collection safe in ``packindex.py`` and which manifest object each
version reads in ``manifestrefs.py``) implements it once, with SQLAlchemy 2 Core on
its asyncio extension, for SQLite (aiosqlite) and PostgreSQL (asyncpg). The SQL is
portable; the few dialect-specific pieces are isolated helpers (``engine.make_engine``
and ``engine.transaction_options``; in ``lookups``: ``insert_or_ignore``,
``insert_or_replace``, ``bytewise`` and ``lock_object``; the advisory lock in
``migrations``):

* SQLite connections get ``journal_mode=WAL``, ``synchronous=NORMAL``,
  ``foreign_keys=ON`` and a busy timeout; the driver's own transaction handling
  is switched off so that write transactions start with ``BEGIN IMMEDIATE``
  (taking the write lock up front, so concurrent writers — even in other
  processes — queue on the busy timeout instead of failing on lock upgrade),
  while reads use a plain deferred ``BEGIN`` and never block writers (WAL).
* On PostgreSQL read transactions run read-only at REPEATABLE READ (one snapshot, as
  a SQLite read transaction has: gc's snapshot needs it); write transactions run at
  READ COMMITTED and lock what they decide on: ``commit_version`` the collection row
  (``SELECT … FOR UPDATE``, omitted by SQLAlchemy on SQLite where the database lock
  already serializes writers), commits and gc the pack rows, and an upload or commit
  and gc's decision about the same pack or manifest a transaction-scoped advisory lock
  on its name (a row still being inserted cannot be locked). Every write transaction
  is retried a few times on unique-constraint races, deadlocks and serialization
  failures (``database.py``: the one engine, pool and transaction runner the store
  shares with the accounts and the audit log on the same database).
* "insert or ignore" is ``INSERT … ON CONFLICT DO NOTHING`` from the dialect's
  own ``insert()`` construct; "insert or replace" its ``ON CONFLICT … DO UPDATE``.
* Text is listed in code-point order on both (``bytewise``: ``COLLATE "C"`` on
  PostgreSQL, whose databases usually collate by language rules).
* Timestamps are ``FLOAT`` (double precision on both); chunk hashes ``LargeBinary``
  (BLOB / BYTEA); names fit ``VARCHAR(128)`` in characters, which PostgreSQL
  enforces; text holding NUL is refused (PostgreSQL cannot store it).

Version indexes come from a per-collection counter (``collections.next_index``)
advanced in the same transaction as the insert, so they are contiguous from 0
and never reused. The schema is versioned (``migrations.py``): opening a store
applies missing steps and refuses a database written by a newer asyncart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asyncart.repo.metastores.base import MetaStore, NewVersion, PackChunk
from asyncart.repo.metastores.sql import SqlMetaStore

if TYPE_CHECKING:
    from asyncart.repo.metastores.database import Database

__all__ = ["MetaStore", "NewVersion", "PackChunk", "SqlMetaStore", "open_metastore"]


def open_metastore(url: str | Database) -> MetaStore:
    """The metadata store at ``url``, not yet opened: the caller awaits ``.open()``.

    ``sqlite:////abs/path/meta.db`` (i.e. ``f"sqlite:///{abs_path}"``) uses aiosqlite;
    ``postgresql://user:pass@host/db`` uses asyncpg. Given a :class:`Database`, the store
    shares it (its engine and pool) with the database's other users.

    Raises:
        ConfigError: the URL is malformed or names an unsupported database.
    """
    return SqlMetaStore(url)
