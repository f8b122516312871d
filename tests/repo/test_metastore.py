"""SqlMetaStore against a real SQLite file: versions, aliases, chunk index, runs, migrations,
and cross-process commits."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, inspect

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
from asyncart.repo.metastores import (
    MetaStore,
    NewVersion,
    PackChunk,
    SqlMetaStore,
    migrations,
    open_metastore,
    schema,
)
from asyncart.repo.metastores.base import PackRecord
from tests.repo.metastore_workers import commit_versions


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
    return tmp_path / "meta.db"


@pytest.fixture
async def meta(db_path: Path) -> AsyncIterator[MetaStore]:
    s = open_metastore(url_for(db_path))
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


def schema_versions(db_path: Path) -> list[int]:
    with closing(sqlite3.connect(db_path)) as raw:
        return [v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY version")]


async def test_reopen_is_a_noop_and_schema_matches(db_path: Path) -> None:
    first = SqlMetaStore(url_for(db_path))
    await first.open()
    await first.commit_version(new())
    await first.close()
    second = SqlMetaStore(url_for(db_path), busy_timeout=0.2)
    with write_lock_held(db_path):  # reopening an up-to-date store only reads
        await second.open()
        await second.open()  # idempotent
        assert (await second.get_version("p", "bike dataset", "latest")).index == 0
    await second.close()
    assert schema_versions(db_path) == list(range(1, migrations.SCHEMA_VERSION + 1))
    with closing(sqlite3.connect(db_path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            for table in schema.metadata.sorted_tables:
                columns = {c["name"] for c in found.get_columns(table.name)}
                assert columns == set(table.columns.keys()), table.name
    finally:
        engine.dispose()


async def test_missing_steps_are_applied_once(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = SqlMetaStore(url_for(db_path))
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
        s = SqlMetaStore(url_for(db_path))
        await s.open()
        assert (await s.get_version("p", "bike dataset", "v0")).index == 0
        await s.close()
    assert calls == [extra]
    assert schema_versions(db_path) == list(range(1, extra + 1))


async def test_a_version_1_store_upgrades_and_keeps_its_data(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before gc support (schema 1) opens, gains touched_at and the index."""
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 1)
    old = SqlMetaStore(url_for(db_path))
    await old.open()
    with closing(sqlite3.connect(db_path)) as raw, raw:  # what version 1 wrote
        raw.execute("INSERT INTO packs VALUES (?, 10, 123.5)", ("a" * 64,))
        raw.execute("INSERT INTO chunks VALUES (?, ?, 0, 10)", (bytes(32), "a" * 64))
    await old.commit_version(new())
    await old.close()
    monkeypatch.undo()

    upgraded = SqlMetaStore(url_for(db_path))
    await upgraded.open()
    try:
        assert await upgraded.list_packs() == [PackRecord("a" * 64, 10, 123.5, 123.5)]
        assert await upgraded.chunks_by_pack() == {"a" * 64: [PackChunk("00" * 32, 0, 10)]}
        assert (await upgraded.get_version("p", "bike dataset", "latest")).index == 0
    finally:
        await upgraded.close()
    assert schema_versions(db_path) == list(range(1, migrations.SCHEMA_VERSION + 1))
    with closing(sqlite3.connect(db_path)) as raw:
        indexes = {row[1] for row in raw.execute("PRAGMA index_list(chunks)")}
    assert "ix_chunks_pack_id" in indexes


async def test_newer_schema_is_refused(db_path: Path) -> None:
    s = SqlMetaStore(url_for(db_path))
    await s.open()
    await s.close()
    with closing(sqlite3.connect(db_path)) as raw, raw:
        raw.execute("INSERT INTO schema_version VALUES (?, 0)", (migrations.SCHEMA_VERSION + 1,))
    with pytest.raises(MetadataStoreError, match="upgrade asyncart"):
        await SqlMetaStore(url_for(db_path)).open()


async def test_driver_errors_are_wrapped(tmp_path: Path) -> None:
    missing_dir = SqlMetaStore(url_for(tmp_path / "no" / "such" / "dir" / "meta.db"))
    with pytest.raises(MetadataStoreError, match="does not exist"):
        await missing_dir.open()
    with pytest.raises(MetadataStoreError, match="not open"):
        await missing_dir.list_projects()


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


# -- several processes committing at once --------------------------------------------


def _commit_in_processes(
    db_path: Path, per_process: Sequence[Sequence[str]]
) -> list[tuple[int, bool]]:
    """Run one worker process per digest list; every worker must succeed."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start = ctx.Barrier(len(per_process), timeout=120)
    procs = [
        ctx.Process(
            target=commit_versions,
            args=(url_for(db_path), "p", "shared", list(digests), start, results),
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


def _versions(db_path: Path, name: str = "shared") -> list[Any]:
    async def read() -> list[Any]:
        s = SqlMetaStore(url_for(db_path))
        await s.open()
        try:
            return await s.list_versions("p", name)
        finally:
            await s.close()

    return asyncio.run(read())


def test_processes_committing_distinct_digests_get_contiguous_indexes(db_path: Path) -> None:
    per_process = [[digest(1000 * w + i) for i in range(5)] for w in range(8)]
    committed = _commit_in_processes(db_path, per_process)  # the database does not exist yet
    assert sorted(index for index, _ in committed) == list(range(40))
    assert all(created for _, created in committed)
    found = _versions(db_path)
    assert [v.index for v in found] == list(range(40))
    assert sorted(v.digest for v in found) == sorted(d for ds in per_process for d in ds)
    assert [v.aliases for v in found if v.aliases] == [("latest",)]
    assert len({v.created_by for v in found}) == 8  # each version names its process's run


def test_processes_committing_the_same_digest_get_one_version(db_path: Path) -> None:
    committed = _commit_in_processes(db_path, [[digest(7)] * 3 for _ in range(8)])
    assert {index for index, _ in committed} == {0}
    assert sum(created for _, created in committed) == 1
    [only] = _versions(db_path)
    assert (only.index, only.digest) == (0, digest(7))
    assert only.created_by is not None
