"""SqlMetaStores writing at once: gc's one-moment snapshot, the races PostgreSQL must order
the way SQLite's single writer does, and several processes (and stores) committing.

Tests taking ``db_url`` run on SQLite and PostgreSQL (tests/repo/conftest.py); those taking
``postgres_url`` pin PostgreSQL's concurrent writers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.repo.metastores import (
    PackChunk,
    SqlMetaStore,
    migrations,
    packindex,
)
from asyncart.repo.metastores.base import PackRecord
from tests.repo.metastore_support import (
    digest,
    h,
    new,
    schema_versions,
)
from tests.repo.metastore_workers import commit_versions
from tests.support.stores import run_sql


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
