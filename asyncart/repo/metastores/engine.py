"""Engine setup for a metadata database: URL → asyncio driver, SQLite hooks, transaction options.

Every new SQLite connection gets ``busy_timeout``, ``journal_mode=WAL``,
``synchronous=NORMAL`` and ``foreign_keys=ON``, and the driver's own transaction
handling is switched off so that the engine's ``begin`` hook can emit
``BEGIN IMMEDIATE`` for connections carrying the :data:`WRITE_OPTION` execution
option (take the write lock up front: concurrent writers, even in other processes,
queue on the busy timeout instead of failing on lock upgrade) and a deferred
``BEGIN`` for reads (which never block writers under WAL).

On PostgreSQL read transactions run read-only at REPEATABLE READ (see
:data:`_PG_READ_OPTIONS`); write transactions at READ COMMITTED.

The engine itself is owned by :class:`~asyncart.repo.metastores.database.Database`;
these are its dialect-specific pieces.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from asyncart.errors import ConfigError

#: Execution option marking a connection whose transactions write; on SQLite the
#: engine's ``begin`` hook then emits ``BEGIN IMMEDIATE`` instead of ``BEGIN``.
WRITE_OPTION = "asyncart_write"

#: Execution options of a read-only transaction on PostgreSQL: one snapshot for the whole
#: transaction (REPEATABLE READ), as a deferred ``BEGIN`` gives on SQLite under WAL, so a
#: read of several statements (gc's snapshot of versions, packs and chunks; a version
#: and its aliases) never mixes states. Read-only REPEATABLE READ transactions never
#: fail with serialization errors. Write transactions stay at READ COMMITTED and lock the
#: rows they decide on (``SELECT … FOR UPDATE``) or an advisory lock
#: (``lookups.lock_object``).
_PG_READ_OPTIONS: dict[str, Any] = {
    "isolation_level": "REPEATABLE READ",
    "postgresql_readonly": True,
}


def async_url(url: str) -> URL:
    """Map ``sqlite:///…`` / ``postgresql://…`` to the aiosqlite / asyncpg drivers."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"metadata store URL {url!r} is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigError(
        f"metadata store URL {url!r}: unsupported database {backend!r}; "
        "use sqlite:///path/meta.db or postgresql://user@host/db"
    )


def _install_sqlite_hooks(engine: AsyncEngine, busy_timeout: float) -> None:
    """Pragmas on every new connection, and BEGIN IMMEDIATE for write transactions."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN; _on_begin does
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"PRAGMA busy_timeout={int(busy_timeout * 1000)}",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
        ):
            try:
                cursor.execute(pragma)
            except sqlite3.OperationalError as exc:
                # Switching a new file to WAL needs it alone, and SQLite answers "locked"
                # at once, without its busy handler, while another connection does the
                # same: that one will have switched it (the mode is stored in the file),
                # and migrate() checks it did.
                if pragma != "PRAGMA journal_mode=WAL" or "locked" not in str(exc):
                    raise
                continue
            cursor.fetchall()
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def transaction_options(dialect: str, *, write: bool) -> dict[str, Any]:
    """Execution options for a connection about to begin a read or write transaction.

    SQLite: :data:`WRITE_OPTION` for writes (``BEGIN IMMEDIATE``). PostgreSQL: reads run
    read-only at REPEATABLE READ (see :data:`_PG_READ_OPTIONS`).
    """
    if dialect == "sqlite":
        return {WRITE_OPTION: True} if write else {}
    if dialect == "postgresql":
        return {} if write else dict(_PG_READ_OPTIONS)
    return {}


def make_engine(url: URL, *, busy_timeout: float) -> AsyncEngine:
    """An engine for ``url`` (from :func:`async_url`); SQLite gets the hooks described above.

    Raises:
        ImportError / ArgumentError: the driver is not installed / the URL is unusable.
    """
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url)
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
    _install_sqlite_hooks(engine, busy_timeout)
    return engine
