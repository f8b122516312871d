"""Helpers of the metadata-store tests (test_metastore*.py): digests, versions and runs to
commit, SQLite's write lock and the migration lock held from another connection, and the
schema as the database describes it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, make_url, text

from asyncart.core.models import RunInfo
from asyncart.repo.metastores import NewVersion, migrations
from asyncart.repo.metastores.engine import async_url, make_engine
from tests.support.stores import run_sql


def digest(n: int) -> str:
    """A distinct 64-character hex digest (artifact digests and chunk hashes alike)."""
    return f"{n:064x}"


h = digest


def new(name: str = "bike dataset", d: int = 1, **kw: Any) -> NewVersion:
    """A version of ``p/<name>`` with content digest number ``d``."""
    fields: dict[str, Any] = dict(project="p", name=name, type="dataset", digest=digest(d))
    fields.update(size=10 * d, file_count=d)
    return NewVersion(**{**fields, **kw})


def url_for(path: Path) -> str:
    return f"sqlite:///{path}"


def run(run_id: str, **kw: Any) -> RunInfo:
    return RunInfo(id=run_id, project=kw.pop("project", "p"), job_type="train", **kw)


@contextmanager
def write_lock_held(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock from another connection, as another process would."""
    with closing(sqlite3.connect(db_path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield holder
        finally:
            if holder.in_transaction:
                holder.execute("ROLLBACK")


@asynccontextmanager
async def migration_lock_held(url: str) -> AsyncIterator[None]:
    """Hold what a migrating opener waits for, from another connection: the write lock on
    SQLite, the migration advisory lock on PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        with write_lock_held(Path(parsed.database)):
            yield
        return
    engine = make_engine(async_url(url), busy_timeout=30.0)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT pg_advisory_lock({migrations._PG_MIGRATION_LOCK})"))
            try:
                yield
            finally:
                await conn.execute(
                    text(f"SELECT pg_advisory_unlock({migrations._PG_MIGRATION_LOCK})")
                )
    finally:
        await engine.dispose()


async def schema_versions(url: str) -> list[int]:
    rows = await run_sql(url, "SELECT version FROM schema_version ORDER BY version")
    return [v for (v,) in rows]


async def reflect(url: str) -> dict[str, tuple[set[str], set[str]]]:
    """Each table's column names and index names, as the database describes them."""

    def read(conn: Connection) -> dict[str, tuple[set[str], set[str]]]:
        found = inspect(conn)
        return {
            table: (
                {c["name"] for c in found.get_columns(table)},
                {str(i["name"]) for i in found.get_indexes(table)},
            )
            for table in found.get_table_names()
        }

    engine = make_engine(async_url(url), busy_timeout=30.0)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()
