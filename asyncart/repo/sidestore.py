"""A small SQL store beside the metastore, on the same database: its own connection pool.

The account store (users, keys, grants) and the audit log use it; each opens the store's
metadata database, migrates its schema if needed, and runs one transaction per call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from typing_extensions import Self

from asyncart.errors import MetadataStoreError
from asyncart.repo.metastores.migrations import (
    async_url,
    make_engine,
    migrate,
    transaction_options,
)

T = TypeVar("T")


class SideStore:
    """One transaction per call on a store's metadata database.

    Args:
        url: the metadata database, e.g. ``sqlite:///store/meta.db``.
    """

    #: Names the store in error messages.
    what = "side store"

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self._engine: AsyncEngine | None = None

    @classmethod
    async def open_dir(cls, root: Path) -> Self:
        """Open the store directory ``root``'s database (migrating its schema)."""
        store = cls(f"sqlite:///{root / 'meta.db'}")
        await store.open()
        return store

    @classmethod
    async def open_url(cls, url: str) -> Self:
        """Open the metadata database at ``url`` (migrating its schema)."""
        store = cls(url)
        await store.open()
        return store

    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        if self._engine is not None:
            return
        engine = make_engine(self.url, busy_timeout=30.0)
        try:
            await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        """Dispose of the connection pool (idempotent)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T:
        """Run ``work`` in one transaction; driver errors (but integrity ones, which the
        caller maps) become :class:`MetadataStoreError` naming ``what``."""
        if self._engine is None:
            raise MetadataStoreError(f"the {self.what} is not open")
        try:
            async with self._engine.connect() as conn:
                options = transaction_options(conn.dialect.name, write=write)
                if options:
                    conn = await conn.execution_options(**options)
                async with conn.begin():
                    return await work(conn)
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            raise MetadataStoreError(f"{self.what}: could not {what}: {detail}") from None
