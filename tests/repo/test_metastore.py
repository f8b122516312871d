"""SqlMetaStore against a real SQLite file and a real PostgreSQL database: versions, aliases,
chunk index, runs, migrations, dialect differences, and cross-process commits.

Tests taking ``meta`` or ``db_url`` run on both (tests/repo/conftest.py); the few taking
``db_path`` or ``postgres_url`` pin one database's own mechanics.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import ChunkLocation, RunInfo
from asyncart.errors import (
    AliasNotFound,
    ArtifactNotFound,
    ConfigError,
    ConflictError,
    InvalidNameError,
    MetadataStoreError,
    RunNotFound,
    VersionNotFound,
)
from asyncart.repo.access import Role
from asyncart.repo.accounts import AccountStore
from asyncart.repo.audit import AuditEvent, AuditLog
from asyncart.repo.metastores import (
    MetaStore,
    NewVersion,
    PackChunk,
    SqlMetaStore,
    migrations,
    open_metastore,
    packindex,
    schema,
)
from asyncart.repo.metastores.base import PackRecord
from asyncart.repo.metastores.engine import async_url, make_engine
from tests.repo.metastore_workers import commit_versions
from tests.support.stores import insert_legacy_version, run_sql


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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A SQLite database file, for the tests of SQLite's own locking."""
    return tmp_path / "meta.db"


@pytest.fixture
async def meta(db_url: str) -> AsyncIterator[MetaStore]:
    s = open_metastore(db_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


# -- versions and aliases -----------------------------------------------------------


async def test_new_digests_get_consecutive_versions(meta: MetaStore) -> None:
    v0 = await meta.commit_version(new(d=1, metadata={"rows": 3, "cols": ["a"]}, description="x"))
    v1 = await meta.commit_version(new(d=2))
    assert (v0.index, v0.created, v0.aliases) == (0, True, ("latest",))
    assert (v0.metadata, v0.description) == ({"rows": 3, "cols": ["a"]}, "x")
    assert (v0.size, v0.file_count, v0.created_by) == (10, 1, None)
    assert (v1.index, v1.version, v1.created, v1.aliases) == (1, "v1", True, ("latest",))
    assert v1.created_at >= v0.created_at > 0
    assert (await meta.get_version("p", "bike dataset", "v0")).aliases == ()


async def test_same_digest_reuses_version_and_moves_aliases(meta: MetaStore) -> None:
    await meta.commit_version(new(d=1))
    await meta.commit_version(new(d=2, aliases=("staging",)))
    again = await meta.commit_version(new(d=1, aliases=("production",)))
    assert (again.index, again.created) == (0, False)
    assert again.aliases == ("latest", "production")
    assert (await meta.get_version("p", "bike dataset", "v1")).aliases == ("staging",)
    assert len(await meta.list_versions("p", "bike dataset")) == 2


async def test_custom_alias_is_unique_and_moves(meta: MetaStore) -> None:
    await meta.commit_version(new(d=1, aliases=("prod", "best")))
    v1 = await meta.commit_version(new(d=2, aliases=("prod",)))
    assert v1.aliases == ("latest", "prod")
    assert (await meta.get_version("p", "bike dataset", "v0")).aliases == ("best",)
    assert (await meta.get_version("p", "bike dataset", "prod")).index == 1
    assert (await meta.get_version("p", "bike dataset", "latest")).index == 1


async def test_aliases_sorted_latest_first(meta: MetaStore) -> None:
    info = await meta.commit_version(new(aliases=("zeta", "alpha", "latest", "alpha")))
    assert info.aliases == ("latest", "alpha", "zeta")


async def test_type_conflict_names_both_types(meta: MetaStore) -> None:
    await meta.commit_version(new())
    with pytest.raises(ConflictError, match=r"'dataset'.*'model'"):
        await meta.commit_version(new(d=2, type="model"))
    assert len(await meta.list_versions("p", "bike dataset")) == 1


async def test_invalid_names_are_refused(meta: MetaStore) -> None:
    with pytest.raises(InvalidNameError):
        await meta.commit_version(new(aliases=("v3",)))
    with pytest.raises(InvalidNameError):
        await meta.commit_version(new(name="a/b"))
    with pytest.raises(ConfigError, match="JSON"):
        await meta.commit_version(new(metadata={"x": object()}))
    assert await meta.list_projects() == []


async def test_get_version_errors_list_what_exists(meta: MetaStore) -> None:
    for d in (1, 2, 3):
        await meta.commit_version(new(d=d, aliases=("production",) if d == 2 else ()))
    await meta.commit_version(new("bike model", d=9))
    with pytest.raises(VersionNotFound) as err:
        await meta.get_version("p", "bike dataset", "v7")
    assert str(err.value) == (
        "artifact 'bike dataset' in project 'p' has no version v7; versions: v0, v1, v2"
    )
    with pytest.raises(AliasNotFound) as err2:
        await meta.get_version("p", "bike dataset", "prod")
    assert str(err2.value) == (
        "artifact 'bike dataset' in project 'p' has no alias 'prod'; "
        "aliases: latest (v2), production (v1)"
    )
    with pytest.raises(ArtifactNotFound) as err3:
        await meta.get_version("p", "bikes", "latest")
    assert str(err3.value) == (
        "project 'p' has no artifact 'bikes'; artifacts: bike dataset, bike model"
    )
    with pytest.raises(ArtifactNotFound, match=r"artifacts: \(none\)$"):
        await meta.get_version("elsewhere", "bikes", "v0")


async def test_long_listings_are_truncated(meta: MetaStore) -> None:
    for i in range(25):
        await meta.commit_version(new(f"a{i:02d}"))
    with pytest.raises(ArtifactNotFound) as err:
        await meta.get_collection("p", "nope")
    assert "a00, a01" in str(err.value)
    assert str(err.value).endswith("a19, … (25 in all)")


async def test_list_versions_collections_projects(meta: MetaStore) -> None:
    await meta.commit_version(new("b", d=1))
    await meta.commit_version(new("b", d=2))
    await meta.commit_version(new("a", d=1, type="model"))
    await meta.commit_version(new("c", d=1, project="other"))
    assert [v.index for v in await meta.list_versions("p", "b")] == [0, 1]
    colls = await meta.list_collections("p")
    assert [(c.name, c.type, c.version_count) for c in colls] == [
        ("a", "model", 1),
        ("b", "dataset", 2),
    ]
    assert colls[1].updated_at >= colls[1].created_at > 0
    assert await meta.get_collection("p", "b") == colls[1]
    assert await meta.list_collections("nobody") == []
    assert await meta.list_projects() == ["other", "p"]
    with pytest.raises(ArtifactNotFound):
        await meta.list_versions("p", "zzz")


# -- chunk index ----------------------------------------------------------------------


async def test_chunk_index_roundtrip(meta: MetaStore) -> None:
    assert await meta.missing_chunks([h(1), h(2), h(1), h(3)]) == [h(1), h(2), h(3)]
    added = await meta.add_pack("pack-a", 300, [PackChunk(h(1), 0, 100), PackChunk(h(2), 100, 50),
                                                 PackChunk(h(1), 150, 100)])
    assert added == 2
    assert await meta.missing_chunks([h(3), h(2), h(1), h(3)]) == [h(3)]
    # an already indexed chunk keeps its first location; re-adding is a no-op
    pack_b = [PackChunk(h(2), 0, 50), PackChunk(h(3), 50, 40)]
    assert await meta.add_pack("pack-b", 90, pack_b) == 1
    assert await meta.add_pack("pack-b", 90, pack_b) == 0
    assert await meta.locate_chunks([h(1), h(2), h(3), h(4), h(2)]) == {
        h(1): ChunkLocation("pack-a", 0, 100),
        h(2): ChunkLocation("pack-a", 100, 50),
        h(3): ChunkLocation("pack-b", 50, 40),
    }
    assert await meta.add_pack("empty", 0, []) == 0
    assert await meta.missing_chunks([]) == [] and await meta.locate_chunks([]) == {}


async def test_bad_chunk_hash_is_config_error(meta: MetaStore) -> None:
    with pytest.raises(ConfigError, match="hex"):
        await meta.missing_chunks(["xyz"])
    with pytest.raises(ConfigError):
        await meta.add_pack("p", 1, [PackChunk("ab" * 31, 0, 1)])


async def test_twenty_thousand_hashes(meta: MetaStore) -> None:
    hashes = [h(i) for i in range(20_000)]
    started = time.perf_counter()
    assert await meta.missing_chunks(hashes) == hashes
    for p in range(5):
        part = hashes[p * 4000 : (p + 1) * 4000]
        chunks = [PackChunk(x, i * 10, 10) for i, x in enumerate(part)]
        assert await meta.add_pack(f"pack{p}", 40_000, chunks) == 4000
    assert await meta.missing_chunks(hashes) == []
    mixed = [h(i) for i in range(19_000, 21_000)]
    assert await meta.missing_chunks(mixed) == mixed[1000:]
    located = await meta.locate_chunks(hashes)
    assert len(located) == 20_000
    assert located[h(4001)] == ChunkLocation("pack1", 10, 10)
    assert time.perf_counter() - started < 15  # typically well under a second


# -- runs and lineage -----------------------------------------------------------------


def run(run_id: str, **kw: Any) -> RunInfo:
    return RunInfo(id=run_id, project=kw.pop("project", "p"), job_type="train", **kw)


async def test_create_get_finish_run(meta: MetaStore) -> None:
    created = await meta.create_run(run("r1", name="first", config={"lr": 0.1}, started_at=5.0))
    assert created == run("r1", name="first", config={"lr": 0.1}, started_at=5.0)
    assert await meta.get_run("r1") == created
    assert await meta.list_projects() == ["p"]
    finished = await meta.finish_run("r1", "finished", 9.5)
    assert (finished.status, finished.finished_at) == ("finished", 9.5)
    assert await meta.get_run("r1") == finished
    assert (await meta.create_run(run("r2"))).started_at > 0  # 0 means "now"
    with pytest.raises(ConflictError, match="r1"):
        await meta.create_run(run("r1"))


async def test_unknown_runs(meta: MetaStore) -> None:
    await meta.commit_version(new())
    with pytest.raises(RunNotFound, match="nope"):
        await meta.get_run("nope")
    with pytest.raises(RunNotFound):
        await meta.finish_run("nope", "failed", 1.0)
    with pytest.raises(RunNotFound):
        await meta.add_run_input("nope", "p", "bike dataset", 0)
    with pytest.raises(RunNotFound):
        await meta.run_outputs("nope")
    with pytest.raises(RunNotFound):
        await meta.run_inputs("nope")
    with pytest.raises(RunNotFound):
        await meta.commit_version(new(d=2, run_id="nope"))
    assert len(await meta.list_versions("p", "bike dataset")) == 1


async def test_lineage(meta: MetaStore) -> None:
    for r in ("maker", "other", "user"):
        await meta.create_run(run(r))
    v0 = await meta.commit_version(new(d=1, run_id="maker"))
    v1 = await meta.commit_version(new("model", d=2, type="model", run_id="maker"))
    again = await meta.commit_version(new(d=1, run_id="other"))
    assert (v0.created_by, again.created_by, again.created) == ("maker", "maker", False)
    assert [v.qualified_name for v in await meta.run_outputs("maker")] == [
        v0.qualified_name, v1.qualified_name]
    producers = await meta.version_producers("p", "bike dataset", 0)
    assert [r.id for r in producers] == ["maker", "other"]

    await meta.add_run_input("user", "p", "model", 0)
    await meta.add_run_input("user", "p", "bike dataset", 0)
    await meta.add_run_input("user", "p", "model", 0)  # idempotent, keeps its first place
    await meta.add_run_input("other", "p", "bike dataset", 0)
    inputs = await meta.run_inputs("user")
    assert [(v.name, v.index) for v in inputs] == [("model", 0), ("bike dataset", 0)]
    assert inputs[1].aliases == ("latest",)
    consumers = await meta.version_consumers("p", "bike dataset", 0)
    assert [r.id for r in consumers] == ["user", "other"]
    assert await meta.version_consumers("p", "model", 0) == [await meta.get_run("user")]
    assert await meta.run_inputs("maker") == []
    with pytest.raises(VersionNotFound, match=r"versions: v0$"):
        await meta.add_run_input("user", "p", "model", 3)
    with pytest.raises(ArtifactNotFound):
        await meta.version_consumers("p", "nothing", 0)


# -- opening, migrations, locking ------------------------------------------------------


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


# -- what the databases do differently ---------------------------------------------------


async def test_names_sort_by_code_point_on_every_database(meta: MetaStore) -> None:
    """PostgreSQL collates by language rules (the test cluster: ICU en-US); listings
    still come in Python's ``sorted`` order, as on SQLite."""
    names = ["beta", "Zeta", "alpha", "ärger", "beta-b", "beta a", "Alpha", "_x", "10", "9"]
    for name in names:
        await meta.commit_version(new(name, project=name))
        await meta.commit_version(new(name))
    assert await meta.list_projects() == sorted([*names, "p"])
    assert [c.name for c in await meta.list_collections("p")] == sorted(names)
    with pytest.raises(ArtifactNotFound) as err:
        await meta.get_collection("p", "nope")
    assert str(err.value).endswith("artifacts: " + ", ".join(sorted(names)))
    stored = await meta.all_versions()
    assert [(v.project, v.name) for v in stored] == sorted(
        [(n, n) for n in names] + [("p", n) for n in names]
    )


async def test_the_longest_names_fit_and_unicode_survives(meta: MetaStore) -> None:
    longest = "é" * 128  # characters, not bytes: VARCHAR(128) on PostgreSQL counts these
    info = await meta.commit_version(
        new(longest, project=longest, aliases=("ü" * 128,), description="ß ✓ 𝄞")
    )
    again = await meta.get_version(longest, longest, "ü" * 128)
    assert (again.name, again.project, again.description) == (longest, longest, "ß ✓ 𝄞")
    assert again.aliases == info.aliases == ("latest", "ü" * 128)


async def test_a_version_number_beyond_any_index_is_not_found(meta: MetaStore) -> None:
    await meta.commit_version(new())
    await meta.create_run(run("r1"))
    huge = 9_999_999_999  # 'v9999999999' is a well-formed version name; no INTEGER holds it
    with pytest.raises(VersionNotFound, match=r"versions: v0$"):
        await meta.get_version("p", "bike dataset", f"v{huge}")
    with pytest.raises(VersionNotFound):
        await meta.add_run_input("r1", "p", "bike dataset", huge)
    with pytest.raises(VersionNotFound):
        await meta.version_consumers("p", "bike dataset", huge)
    with pytest.raises(VersionNotFound):
        await meta.delete_version("p", "bike dataset", f"v{huge}")


async def test_a_nul_character_is_refused_everywhere(meta: MetaStore) -> None:
    with pytest.raises(ConfigError, match="NUL"):
        await meta.commit_version(new(description="a\x00b"))
    assert await meta.list_projects() == []


async def test_timestamps_keep_full_precision(meta: MetaStore) -> None:
    started = 1_700_000_000.123456  # needs a double: a 4-byte float would lose the seconds
    created = await meta.create_run(run("r1", started_at=started))
    assert created.started_at == started
    await meta.add_pack("a" * 64, 10, [PackChunk(h(1), 0, 10)])
    [pack] = await meta.list_packs()
    assert pack.touched_at == pack.created_at > 1_700_000_000


async def test_snapshot_is_one_moment(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc's snapshot reads versions, packs and chunks in one transaction; a commit landing
    between its statements is entirely out of it (REPEATABLE READ on PostgreSQL)."""
    reader, writer = SqlMetaStore(db_url), SqlMetaStore(db_url)
    await reader.open()
    await writer.open()
    try:
        await writer.add_pack("early", 10, [PackChunk(h(1), 0, 10)])
        await writer.commit_version(new(d=1, chunks=(h(1),)))
        real_list_packs = packindex.list_packs

        async def list_packs_then_commit(conn: AsyncConnection) -> list[PackRecord]:
            found = await real_list_packs(conn)
            await writer.add_pack("late", 10, [PackChunk(h(2), 0, 10)])
            await writer.commit_version(new(d=2, chunks=(h(2),)))
            return found

        monkeypatch.setattr(packindex, "list_packs", list_packs_then_commit)
        snapshot = await reader.snapshot()
        monkeypatch.undo()
        assert [v.index for v in snapshot.versions] == [0]
        assert [p.id for p in snapshot.packs] == ["early"]
        assert set(snapshot.chunks) == {"early"}
        assert len((await reader.snapshot()).versions) == 2
    finally:
        await reader.close()
        await writer.close()


async def test_accounts_and_audit_on_every_database(db_url: str) -> None:
    accounts = await AccountStore.open_url(db_url)
    audit = await AuditLog.open_url(db_url)
    try:
        for name in ("zoe", "Bob", "alice"):
            await accounts.create_user(name)
        with pytest.raises(ConflictError):
            await accounts.create_user("zoe")
        assert [u.name for u in await accounts.list_users()] == ["Bob", "alice", "zoe"]
        info, key = await accounts.create_key("alice", label="laptop")
        await accounts.grant("alice", "proj", Role.READ)
        await accounts.grant("alice", "proj", Role.WRITE)  # replaces the role
        await accounts.grant("alice", "*", Role.READ)
        await accounts.grant("Bob", "proj", Role.ADMIN)
        grants = [(g.user, g.project, g.role) for g in await accounts.list_grants()]
        assert grants == [
            ("Bob", "proj", Role.ADMIN), ("alice", "*", Role.READ), ("alice", "proj", Role.WRITE)
        ]
        principal = await accounts.principal(key)
        assert principal is not None and principal.user == "alice"
        assert principal.grants == {"*": Role.READ, "proj": Role.WRITE}
        assert await accounts.revoke_grant("alice", "*")
        assert not await accounts.revoke_grant("alice", "*")
        assert (await accounts.revoke_key(info.id)).revoked
        assert await accounts.principal(key) is None

        for n in range(3):
            await audit.record(
                AuditEvent("push", "alice", project="proj", artifact="a", version=n,
                           detail={"n": n}, request_id=f"req-{n}")
            )
        events = await audit.query(project="proj", limit=2)
        assert [(e.version, e.detail, e.request_id) for e in events] == [
            (2, {"n": 2}, "req-2"), (1, {"n": 1}, "req-1")
        ]
        assert [e.version for e in await audit.query(before_id=events[-1].id)] == [0]
    finally:
        await accounts.close()
        await audit.close()


# -- races PostgreSQL must order the way SQLite's single writer does ----------------------
#
# SQLite runs one write transaction at a time, so an upload (or commit) and gc's decision
# about the same object cannot overlap there. On PostgreSQL they can: gc's transaction
# must wait for one still recording the object, which it cannot see yet.


async def blocked_or_done(url: str, task: asyncio.Task[Any]) -> None:
    """Return once ``task`` has finished or waits for an advisory lock in ``url``'s database."""
    deadline = time.monotonic() + 120
    query = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    while not task.done():
        if (await run_sql(url, query))[0][0]:
            return
        assert time.monotonic() < deadline, "the task neither finished nor waited for a lock"


async def test_gc_waits_for_an_upload_recording_the_pack(postgres_url: str) -> None:
    uploader, gc = SqlMetaStore(postgres_url), SqlMetaStore(postgres_url)
    await uploader.open()
    await gc.open()
    decisions: list[asyncio.Task[bool]] = []

    async def stored() -> bool:
        # The upload checked its file, then gc hid it and decides while the upload's
        # transaction is still open: gc sees no recorded pack yet.
        decisions.append(
            asyncio.create_task(
                gc.drop_pack("pack-x", touched_before=float("inf"), seen_touched_at=None)
            )
        )
        await blocked_or_done(postgres_url, decisions[0])
        return True

    try:
        await uploader.add_pack("pack-x", 10, [PackChunk(h(1), 0, 10)], stored=stored)
        assert await decisions[0] is False  # gc waited, saw the pack recorded, keeps it
        assert [p.id for p in await gc.list_packs()] == ["pack-x"]
    finally:
        await uploader.close()
        await gc.close()


async def test_gc_waits_for_a_commit_inserting_the_manifests_version(postgres_url: str) -> None:
    committer, gc = SqlMetaStore(postgres_url), SqlMetaStore(postgres_url)
    await committer.open()
    await gc.open()
    decisions: list[asyncio.Task[bool]] = []

    async def manifest_stored() -> bool:
        decisions.append(asyncio.create_task(gc.manifest_unreferenced(digest(5))))
        await blocked_or_done(postgres_url, decisions[0])
        return True

    try:
        await committer.commit_version(new(d=5), manifest_stored=manifest_stored)
        assert await decisions[0] is False  # gc waited and saw the version: keeps the manifest
    finally:
        await committer.close()
        await gc.close()


# -- several processes (and stores) committing at once -------------------------------------


def _commit_in_processes(url: str, per_process: Sequence[Sequence[str]]) -> list[tuple[int, bool]]:
    """Run one worker process per digest list; every worker must succeed."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start = ctx.Barrier(len(per_process), timeout=120)
    procs = [
        ctx.Process(
            target=commit_versions,
            args=(url, "p", "shared", list(digests), start, results),
        )
        for digests in per_process
    ]
    try:
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=180) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        errors = [detail for status, detail in outcomes if status != "ok"]
        assert not errors, "\n".join(errors)
        assert [proc.exitcode for proc in procs] == [0] * len(procs)
        return [item for _, detail in outcomes for item in detail]
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=10)
        results.close()
        results.join_thread()


def _versions(url: str, name: str = "shared") -> list[Any]:
    async def read() -> list[Any]:
        s = SqlMetaStore(url)
        await s.open()
        try:
            return await s.list_versions("p", name)
        finally:
            await s.close()

    return asyncio.run(read())


def test_processes_committing_distinct_digests_get_contiguous_indexes(db_url: str) -> None:
    per_process = [[digest(1000 * w + i) for i in range(5)] for w in range(8)]
    committed = _commit_in_processes(db_url, per_process)  # the schema does not exist yet
    assert sorted(index for index, _ in committed) == list(range(40))
    assert all(created for _, created in committed)
    found = _versions(db_url)
    assert [v.index for v in found] == list(range(40))
    assert sorted(v.digest for v in found) == sorted(d for ds in per_process for d in ds)
    assert [v.aliases for v in found if v.aliases] == [("latest",)]
    assert found[-1].aliases == ("latest",)  # on the last version committed
    assert len({v.created_by for v in found}) == 8  # each version names its process's run


def test_processes_committing_the_same_digest_get_one_version(db_url: str) -> None:
    committed = _commit_in_processes(db_url, [[digest(7)] * 3 for _ in range(8)])
    assert {index for index, _ in committed} == {0}
    assert sum(created for _, created in committed) == 1
    [only] = _versions(db_url)
    assert (only.index, only.digest) == (0, digest(7))
    assert only.created_by is not None


async def test_stores_committing_at_once_in_one_process(db_url: str) -> None:
    """Separate stores (engines, connection pools) on one database, committing new and
    repeated content to one collection concurrently, with custom aliases."""
    stores = [SqlMetaStore(db_url) for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))  # concurrent first opens migrate once
    try:
        work = [
            s.commit_version(new("shared", d=d, aliases=(f"from-{n}",)))
            for n, s in enumerate(stores)
            for d in (100 * n + 1, 100 * n + 2, 100 * n + 3, 7)
        ]
        committed = await asyncio.gather(*work)
        found = await stores[0].list_versions("p", "shared")
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert [v.index for v in found] == list(range(6 * 3 + 1))
    assert len({v.digest for v in found}) == len(found)
    assert sum(info.created for info in committed) == len(found)
    assert {info.index for info in committed if info.digest == digest(7)} == {
        v.index for v in found if v.digest == digest(7)
    }
    holders = {a: v.index for v in found for a in v.aliases}
    assert set(holders) == {"latest", *(f"from-{n}" for n in range(6))}
    assert await schema_versions(db_url) == list(range(1, migrations.SCHEMA_VERSION + 1))


async def test_concurrent_grants_to_one_user_and_project(db_url: str) -> None:
    """Each grant replaces the role in one statement, so racing grants never collide on
    the key (PostgreSQL runs them at once; SQLite one after another)."""
    stores = [await AccountStore.open_url(db_url) for _ in range(4)]
    try:
        await stores[0].create_user("u")
        await asyncio.gather(*(s.grant("u", "proj", role) for s in stores for role in Role))
        [only] = await stores[0].list_grants()
        assert (only.user, only.project) == ("u", "proj")
    finally:
        await asyncio.gather(*(s.close() for s in stores))
