"""Metadata stores: where projects, versions, aliases, runs, lineage and the chunk index live.

Design
------
:class:`MetaStore` (``base.py``) is the port the repository talks to; every method
is one transaction and raises only :mod:`asyncart.errors` classes.
:class:`SqlMetaStore` (``sql.py``, with its row conversions and lookups in
``lookups.py``, version deletion in ``deletion.py`` and the pack-table work that
keeps garbage collection safe in ``packindex.py``) implements it once, with SQLAlchemy 2 Core on
its asyncio extension, for SQLite (aiosqlite) today and PostgreSQL (asyncpg)
later. The SQL is portable; the few dialect-specific pieces are isolated helpers
(``migrations.make_engine``, ``lookups.insert_or_ignore``, the PostgreSQL advisory
lock in ``migrations``):

* SQLite connections get ``journal_mode=WAL``, ``synchronous=NORMAL``,
  ``foreign_keys=ON`` and a busy timeout; the driver's own transaction handling
  is switched off so that write transactions start with ``BEGIN IMMEDIATE``
  (taking the write lock up front, so concurrent writers — even in other
  processes — queue on the busy timeout instead of failing on lock upgrade),
  while reads use a plain deferred ``BEGIN`` and never block writers (WAL).
* "insert or ignore" is ``INSERT … ON CONFLICT DO NOTHING`` from the dialect's
  own ``insert()`` construct.
* On PostgreSQL, ``commit_version`` locks the collection row
  (``SELECT … FOR UPDATE``, omitted by SQLAlchemy on SQLite where the database
  lock already serializes writers), and every write transaction is retried a few
  times on unique-constraint races, deadlocks and serialization failures.

Version indexes come from a per-collection counter (``collections.next_index``)
advanced in the same transaction as the insert, so they are contiguous from 0
and never reused. The schema is versioned (``migrations.py``): opening a store
applies missing steps and refuses a database written by a newer asyncart.
"""

from __future__ import annotations

from asyncart.repo.metastores.base import MetaStore, NewVersion, PackChunk
from asyncart.repo.metastores.sql import SqlMetaStore

__all__ = ["MetaStore", "NewVersion", "PackChunk", "SqlMetaStore", "open_metastore"]


def open_metastore(url: str) -> MetaStore:
    """The metadata store at ``url``, not yet opened: the caller awaits ``.open()``.

    ``sqlite:////abs/path/meta.db`` (i.e. ``f"sqlite:///{abs_path}"``) uses aiosqlite;
    ``postgresql://user:pass@host/db`` uses asyncpg (which must be installed).

    Raises:
        ConfigError: the URL is malformed or names an unsupported database.
    """
    return SqlMetaStore(url)
