"""One metadata database: its engine and connection pool, its schema, its transaction runner.

A server's metastore, account store and audit log live in the same database; they
share one :class:`Database` (one engine, one pool) instead of each opening its own.
:meth:`Database.run` is the one place a transaction is run: it begins a read or write
transaction with the dialect's options (``engine.transaction_options``), retries a
write transaction that lost a race (:func:`is_race`, on tenacity like the client's
retries), and maps every driver error to :class:`~asyncart.errors.MetadataStoreError`.

Sharing is counted: every :meth:`Database.open` is matched by one :meth:`Database.close`,
the first open connects and migrates the schema, and the last close disposes of the pool.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from asyncart.errors import AsyncartError, MetadataStoreError
from asyncart.repo.metastores.engine import async_url, make_engine, transaction_options
from asyncart.repo.metastores.migrations import migrate

T = TypeVar("T")
#: A transaction's body: runs on a connection inside ``BEGIN`` … ``COMMIT``.
Work = Callable[[AsyncConnection], Awaitable[T]]

#: Whole-transaction attempts of a write that keeps losing races.
MAX_ATTEMPTS = 5
_RACE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_race(exc: BaseException) -> bool:
    """Whether running the failed write transaction again can succeed.

    A unique-constraint race (two transactions inserting the same key: the loser's
    second attempt finds the winner's row), a PostgreSQL deadlock or serialization
    failure. A SQLite "database is locked" is not one: it comes after the busy timeout
    has already been waited for, and waiting again would multiply that setting.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, IntegrityError):
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in _RACE_SQLSTATES


def _jitter(state: RetryCallState) -> float:
    """A short random pause, growing with the attempt: racing writers spread out."""
    return random.uniform(0, 0.02 * state.attempt_number)


class Database:
    """The metadata database at ``url``, shared by whoever opens it.

    Args:
        url: ``sqlite:///path/meta.db`` (aiosqlite) or ``postgresql://…`` (asyncpg); a
            driver named in the URL is replaced by the asyncio one.
        busy_timeout: seconds a SQLite connection waits for another writer's lock.

    Raises:
        ConfigError: the URL is malformed or names an unsupported database.
    """

    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        self.url = async_url(url)
        self.busy_timeout = busy_timeout
        self._engine: AsyncEngine | None = None
        self._users = 0
        self._opening = asyncio.Lock()

    def __repr__(self) -> str:
        return f"Database({self.where})"

    @property
    def where(self) -> str:
        """The URL for messages (no password)."""
        return self.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> AsyncEngine:
        """The engine (and its pool) while the database is open.

        Raises:
            MetadataStoreError: the database is not open.
        """
        if self._engine is None:
            raise MetadataStoreError(f"metadata store {self.where} is not open; await open()")
        return self._engine

    # -- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        """Join the database's users; the first connects and creates or migrates the
        schema (refusing a newer one).

        Raises:
            MetadataStoreError: the database cannot be reached or used.
        """
        async with self._opening:
            if self._engine is None:
                self._engine = await self._connect()
            self._users += 1

    async def _connect(self) -> AsyncEngine:
        self._check_sqlite_directory()
        try:
            engine = make_engine(self.url, busy_timeout=self.busy_timeout)
        except (ImportError, ArgumentError) as exc:
            raise MetadataStoreError(f"cannot use metadata store {self.where}: {exc}") from None
        try:
            await migrate(engine)
        except BaseException as exc:
            await engine.dispose()
            if isinstance(exc, (SQLAlchemyError, OSError)):
                raise self._wrap("open it", exc) from exc
            raise
        return engine

    def _check_sqlite_directory(self) -> None:
        """Fail early (and clearly) when a SQLite file's directory is missing.

        This also keeps away from an aiosqlite race: after a failed connect its worker
        thread may report to an event loop that has closed (omnilib/aiosqlite#389).
        """
        database = self.url.database or ""
        if self.url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return
        if database.startswith("file:"):
            return
        directory = Path(database).parent
        if not directory.is_dir():
            raise MetadataStoreError(
                f"cannot open metadata store {self.where}: directory {directory} does not exist"
            )

    async def close(self) -> None:
        """Leave the database's users; the last disposes of the pool (a close without an
        open does nothing)."""
        async with self._opening:
            if self._users == 0:
                return
            self._users -= 1
            if self._users > 0:
                return
            engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    # -- transactions -----------------------------------------------------------------

    async def run(self, what: str, work: Work[T], *, write: bool) -> T:
        """Run ``work`` in one read or write transaction and return its result.

        A write transaction that loses a race (:func:`is_race`) runs again, up to
        :data:`MAX_ATTEMPTS` times in all. Errors of ours raised by ``work`` pass
        through; driver errors become :class:`MetadataStoreError` naming ``what``.
        """
        engine = self.engine
        try:
            if not write:  # a read loses no race: one attempt
                return await self._transaction(engine, work, write=False)
            retrying = AsyncRetrying(
                retry=retry_if_exception(is_race),
                stop=stop_after_attempt(MAX_ATTEMPTS),
                wait=_jitter,
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    return await self._transaction(engine, work, write=True)
        except AsyncartError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise self._wrap(what, exc) from exc
        raise AssertionError("unreachable: tenacity returned without an outcome")

    @staticmethod
    async def _transaction(engine: AsyncEngine, work: Work[T], *, write: bool) -> T:
        async with engine.connect() as conn:
            options = transaction_options(conn.dialect.name, write=write)
            if options:
                conn = await conn.execution_options(**options)
            async with conn.begin():
                return await work(conn)

    def _wrap(self, what: str, exc: BaseException) -> MetadataStoreError:
        """The one mapping of a driver failure to our error (with a hint for a lock)."""
        detail = getattr(exc, "orig", None) or exc
        hint = ""
        if "locked" in str(detail):
            hint = f" (another connection is writing; busy timeout {self.busy_timeout:g}s)"
        return MetadataStoreError(f"metadata store {self.where}: could not {what}: {detail}{hint}")


class DatabaseUser:
    """Base of a store kept in a :class:`Database` (the metastore, accounts, audit log):
    it joins the database on :meth:`open` and leaves it on :meth:`close`, once each.

    Args:
        database: a :class:`Database` to share, or the URL of one of its own.
        busy_timeout: for a database of its own (see :class:`Database`).
    """

    def __init__(self, database: str | Database, *, busy_timeout: float = 30.0) -> None:
        if not isinstance(database, Database):
            database = Database(database, busy_timeout=busy_timeout)
        self.database = database
        self._joined = False

    async def open(self) -> None:
        """Open the database (connecting and migrating it if nobody has yet); idempotent."""
        if not self._joined:
            await self.database.open()
            self._joined = True

    async def close(self) -> None:
        """Leave the database (the last user disposes of its pool); idempotent."""
        if self._joined:
            self._joined = False
            await self.database.close()

    async def _run(self, what: str, work: Work[T], *, write: bool) -> T:
        """Run ``work`` in one transaction (see :meth:`Database.run`)."""
        if not self._joined:
            raise MetadataStoreError(
                f"metadata store {self.database.where} is not open; await open()"
            )
        return await self.database.run(what, work, write=write)
