"""What versions cost (schema 10): bytes added when logged, bytes deleting would free, per
version, collection and project, from the chunk reference index; the figure shown is
what gc then frees; a schema-9 store fills the index when it opens. SQLite and
PostgreSQL (the ``repo``/``location`` fixtures)."""

from __future__ import annotations

import dataclasses

from asyncart.core.storage import ProjectStorage, VersionCost
from asyncart.repo.gc import GcReport, collect_garbage
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import migrations
from asyncart.repo.service import Repository
from tests.repo.metastore_support import schema_versions
from tests.support.stores import (
    HOUR,
    NAME,
    PROJECT,
    age_store,
    back_to_schema_9,
    commit_request,
    manifest_of,
    push,
)
from tests.support.stores import data as d

SHARED, A, B, C = d("s", 3072), d("a", 2048), d("b", 2048), d("c", 1024)


def _versions(found: ProjectStorage, name: str = NAME) -> list[tuple[int | None, int]]:
    return [(v.added_bytes, v.exclusive_bytes) for v in found.collection(name).versions]


async def _gc(repo: Repository, location: StoreLocation) -> GcReport:
    await age_store(location, 2 * HOUR)
    return await collect_garbage(repo, grace=HOUR)


def _freed(before: GcReport | None, after: GcReport) -> int:
    """Bytes gc freed, and the bytes it found unused inside packs it keeps whole (a pack
    shared with a live chunk: ``reclaimable``), beyond what it found before."""
    kept = after.reclaimable_bytes - (before.reclaimable_bytes if before else 0)
    return after.deleted_bytes + kept


async def test_each_figure_is_what_deleting_then_gc_frees(
    repo: Repository, location: StoreLocation
) -> None:
    await push(repo, {"shared": SHARED, "a": A})  # v0: one pack, shared + a
    await push(repo, {"shared": SHARED, "b": B})  # v1: one pack, b
    await push(repo, {"c": C})  # v2: one pack, c
    await push(repo, {"a": A}, name="other")  # a, again: nothing added
    found = await repo.storage(PROJECT)
    assert _versions(found) == [(3072 + 2048, 0), (2048, 2048), (1024, 1024)]
    assert _versions(found, "other") == [(0, 0)]
    col = found.collection(NAME)
    assert (col.size, col.stored_bytes, col.added_bytes) == (2 * 5120 + 1024, 8192, 8192)
    assert col.exclusive_bytes == 3072 + 2048 + 1024  # all but a (held by "other")
    assert (found.stored_bytes, found.exclusive_bytes, found.scope) == (8192, 8192, "store")
    assert found.collection(NAME).versions[0] == VersionCost(0, 3072 + 2048, 5120, 0)

    await repo.delete_version(PROJECT, NAME, "v1")  # its pack holds only b
    first = await _gc(repo, location)
    assert first.deleted_bytes == _freed(None, first) == 2048

    now = await repo.storage(PROJECT)
    assert _versions(now) == [(5120, 3072), (1024, 1024)]  # v0 alone holds "shared" now
    await repo.delete_version(PROJECT, NAME, "v0")  # its pack: shared (dead) + a (live)
    second = await _gc(repo, location)
    assert second.deleted_bytes == 0 and _freed(first, second) == 3072  # kept whole

    last = await repo.storage(PROJECT)
    frees = [last.collection(n).exclusive_bytes for n in (NAME, "other")]
    assert frees == [1024, 2048] and last.exclusive_bytes == 3072
    await repo.delete_collection(PROJECT, "other")
    await repo.delete_collection(PROJECT, NAME)
    third = await _gc(repo, location)  # v2's pack, and v0's whole (its "a" is dead now)
    assert _freed(second, third) == sum(frees) and third.reclaimable_bytes == 0
    assert await repo.storage(PROJECT) == ProjectStorage(PROJECT, 0, 0, 0)


async def test_a_reader_of_one_project_learns_nothing_of_another(repo: Repository) -> None:
    """Scoped to the project: another project holding the same chunks changes no figure."""
    await push(repo, {"a": A, "b": B})
    alone = await repo.storage(PROJECT, store_wide=False)
    manifest, _ = manifest_of({"a": A})
    request = dataclasses.replace(commit_request(manifest), project="elsewhere")
    await repo.commit(request)  # every chunk is stored already
    assert await repo.storage(PROJECT, store_wide=False) == alone
    assert alone.exclusive_bytes is None and alone.scope == "project"
    assert _versions(alone) == [(4096, 4096)]
    assert _versions(await repo.storage(PROJECT)) == [(4096, 2048)]  # store-wide: a is shared
    assert _versions(await repo.storage("elsewhere"), NAME) == [(2048, 0)]  # new to its project


async def test_a_schema_9_store_fills_the_index_when_it_opens(
    repo: Repository, location: StoreLocation
) -> None:
    await push(repo, {"shared": SHARED, "a": A})
    await push(repo, {"shared": SHARED, "b": B})
    await repo.close()
    await back_to_schema_9(location.db)
    upgraded = await Repository.open(location)
    try:
        found = await upgraded.storage(PROJECT)
        assert _versions(found) == [(None, 2048), (None, 2048)]  # added: not known then
        await push(upgraded, {"c": C})
        assert _versions(await upgraded.storage(PROJECT))[-1] == (1024, 1024)
    finally:
        await upgraded.close()
    assert await schema_versions(location.db) == list(range(1, migrations.SCHEMA_VERSION + 1))
    assert migrations.SCHEMA_VERSION >= 10
