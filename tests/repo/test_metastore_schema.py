"""Opening a SqlMetaStore: URLs, schema migrations, driver errors, SQLite's write lock.

Tests taking ``db_url`` run on SQLite and PostgreSQL (tests/repo/conftest.py); those
taking ``db_path`` or ``postgres_url`` pin one database's own mechanics.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import Connection, make_url

from asyncart.errors import (
    ConfigError,
    MetadataStoreError,
)
from asyncart.repo.metastores import (
    PackChunk,
    SqlMetaStore,
    migrations,
    open_metastore,
    schema,
)
from asyncart.repo.metastores.base import PackRecord
from tests.repo.metastore_support import (
    digest,
    migration_lock_held,
    new,
    reflect,
    schema_versions,
    url_for,
    write_lock_held,
)
from tests.support.stores import insert_legacy_version, run_sql


def test_urls_map_to_async_drivers(tmp_path: Path) -> None:
    assert SqlMetaStore(url_for(tmp_path / "m.db")).url.drivername == "sqlite+aiosqlite"
    assert SqlMetaStore(url_for(tmp_path / "m.db")).url.database == str(tmp_path / "m.db")
    pg = SqlMetaStore("postgresql://u:secret@db.example/meta")
    assert pg.url.drivername == "postgresql+asyncpg"
    assert "secret" not in repr(pg)
    with pytest.raises(ConfigError, match="unsupported"):
        open_metastore("mysql://x/y")
    with pytest.raises(ConfigError):
        open_metastore("not a url")


async def test_reopen_is_a_noop_and_schema_matches(db_url: str, dialect: str) -> None:
    first = SqlMetaStore(db_url)
    await first.open()
    await first.commit_version(new())
    await first.close()
    second = SqlMetaStore(db_url, busy_timeout=0.2)
    async with migration_lock_held(db_url):  # reopening an up-to-date store only reads
        await second.open()
        await second.open()  # idempotent
        assert (await second.get_version("p", "bike dataset", "latest")).index == 0
    await second.close()
    assert await schema_versions(db_url) == list(range(1, migrations.SCHEMA_VERSION + 1))
    if dialect == "sqlite":
        assert await run_sql(db_url, "PRAGMA journal_mode") == [("wal",)]
    found = await reflect(db_url)
    for table in schema.metadata.sorted_tables:
        columns, indexes = found[table.name]
        assert columns == set(table.columns.keys()), table.name
        assert {str(i.name) for i in table.indexes} <= indexes, table.name


async def test_missing_steps_are_applied_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = SqlMetaStore(db_url)
    await s.open()
    await s.commit_version(new())
    await s.close()
    calls: list[int] = []
    extra = migrations.SCHEMA_VERSION + 1

    def step_extra(conn: Connection) -> None:
        calls.append(extra)
        conn.exec_driver_sql("CREATE TABLE extra (x INTEGER)")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, step_extra))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", extra)
    for _ in range(2):
        s = SqlMetaStore(db_url)
        await s.open()
        assert (await s.get_version("p", "bike dataset", "v0")).index == 0
        await s.close()
    assert calls == [extra]
    assert await schema_versions(db_url) == list(range(1, extra + 1))


async def test_a_version_1_store_upgrades_and_keeps_its_data(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before gc support (schema 1) opens, gains touched_at and the index."""
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 1)
    old = SqlMetaStore(db_url)
    await old.open()
    # What version 1 wrote:
    await run_sql(db_url, "INSERT INTO packs VALUES (:id, 10, 123.5)", {"id": "a" * 64})
    await run_sql(
        db_url, "INSERT INTO chunks VALUES (:hash, :pack, 0, 10)",
        {"hash": bytes(32), "pack": "a" * 64},
    )
    await old.close()
    await insert_legacy_version(db_url, "p", "bike dataset", digest(1), 10, 1)
    monkeypatch.undo()

    upgraded = SqlMetaStore(db_url)
    await upgraded.open()
    try:
        assert await upgraded.list_packs() == [PackRecord("a" * 64, 10, 123.5, 123.5)]
        assert await upgraded.chunks_by_pack() == {"a" * 64: [PackChunk("00" * 32, 0, 10)]}
        assert (await upgraded.get_version("p", "bike dataset", "latest")).index == 0
        [version] = await upgraded.all_versions()
        assert (version.manifest_hash, version.manifest_name) == (None, digest(1))
    finally:
        await upgraded.close()
    assert await schema_versions(db_url) == list(range(1, migrations.SCHEMA_VERSION + 1))
    assert "ix_chunks_pack_id" in (await reflect(db_url))["chunks"][1]


async def test_newer_schema_is_refused(db_url: str) -> None:
    s = SqlMetaStore(db_url)
    await s.open()
    await s.close()
    await run_sql(
        db_url, "INSERT INTO schema_version VALUES (:v, 0)", {"v": migrations.SCHEMA_VERSION + 1}
    )
    with pytest.raises(MetadataStoreError, match="upgrade asyncart"):
        await SqlMetaStore(db_url).open()


async def test_driver_errors_are_wrapped(tmp_path: Path) -> None:
    missing_dir = SqlMetaStore(url_for(tmp_path / "no" / "such" / "dir" / "meta.db"))
    with pytest.raises(MetadataStoreError, match="does not exist"):
        await missing_dir.open()
    with pytest.raises(MetadataStoreError, match="not open"):
        await missing_dir.list_projects()


async def test_postgresql_connection_errors_are_wrapped(postgres_url: str) -> None:
    no_database = make_url(postgres_url).set(database="no_such_database")
    with pytest.raises(MetadataStoreError, match="no_such_database"):
        await SqlMetaStore(no_database.render_as_string(hide_password=False)).open()
    with socket.socket() as s:  # a port nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        closed = make_url(postgres_url).set(port=s.getsockname()[1])
        with pytest.raises(MetadataStoreError, match="could not open it"):
            await SqlMetaStore(closed.render_as_string(hide_password=False)).open()


# SQLite only: its write lock and busy timeout. On PostgreSQL readers never wait for
# writers (MVCC) and writers wait on the row locks of what they change, without a timeout.
async def test_reads_skip_the_write_lock_and_writes_wait_for_it(db_path: Path) -> None:
    impatient = SqlMetaStore(url_for(db_path), busy_timeout=0.2)
    await impatient.open()
    await impatient.commit_version(new())  # its pooled connection has written before
    try:
        with write_lock_held(db_path):
            assert (await impatient.get_version("p", "bike dataset", "v0")).index == 0
            assert await impatient.list_projects() == ["p"]
            with pytest.raises(MetadataStoreError, match="locked"):
                await impatient.commit_version(new(d=2))
        assert (await impatient.commit_version(new(d=2))).index == 1
    finally:
        await impatient.close()
