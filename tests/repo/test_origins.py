"""Origin records of synced versions in the repository (schema v14, ``core/origins.py``):
the upgrade, idempotent recording, no origin on a link, deletion takes them along."""

from __future__ import annotations

import pytest

from asyncart.core.origins import VersionOrigin
from asyncart.errors import ArtifactNotFound, ConfigError, VersionNotFound
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import migrations
from asyncart.repo.service import Repository
from tests.repo.metastore_support import schema_versions
from tests.support.stores import NAME, PROJECT, push, undo_version_origins
from tests.support.stores import data as d


def origin(index: int, store: str = "https://team.example") -> VersionOrigin:
    return VersionOrigin(store, "offline", "data", index, f"{index:064x}")


async def test_a_store_without_origins_upgrades_and_records_them(location: StoreLocation) -> None:
    repo = await Repository.open(location)
    try:
        await push(repo, {"f": d("one", 2000)})
    finally:
        await repo.close()
    await undo_version_origins(location.db)
    assert migrations.ORIGINS_STEP not in await schema_versions(location.db)
    repo = await Repository.open(location)
    try:
        done, added = await repo.meta.record_origin(PROJECT, NAME, "v0", origin(4), "me")
        assert added and (done.index, done.source_index, done.synced_by) == (0, 4, "me")
    finally:
        await repo.close()
    assert await schema_versions(location.db) == list(range(1, migrations.SCHEMA_VERSION + 1))


async def test_recording_is_idempotent_and_lists_by_destination_version(repo: Repository) -> None:
    await push(repo, {"f": d("one", 2000)})
    await push(repo, {"f": d("two", 2000)})
    first, added = await repo.meta.record_origin(PROJECT, NAME, "v1", origin(7))
    again, added_again = await repo.meta.record_origin(PROJECT, NAME, "latest", origin(7))
    assert added and not added_again and again == first
    await repo.meta.record_origin(PROJECT, NAME, "v0", origin(2, "/elsewhere"))
    await repo.meta.record_origin(PROJECT, NAME, "v0", origin(2))  # same content, two stores
    listed = await repo.meta.list_origins(PROJECT, NAME)
    assert [(o.index, o.source_store, o.source_index) for o in listed] == [
        (0, "/elsewhere", 2),
        (0, "https://team.example", 2),
        (1, "https://team.example", 7),
    ]
    assert listed[0].source_ref == "offline/data:v2"
    with pytest.raises(VersionNotFound):
        await repo.meta.record_origin(PROJECT, NAME, "v9", origin(1))
    with pytest.raises(ConfigError, match="1 to 1000 bytes"):
        await repo.meta.record_origin(PROJECT, NAME, "v0", origin(1, "é" * 501))


async def test_a_link_takes_no_origin_and_a_deletion_takes_them_along(repo: Repository) -> None:
    await push(repo, {"f": d("one", 2000)})
    await repo.link_version(PROJECT, NAME, "v0", (PROJECT, "portfolio"))
    with pytest.raises(ConfigError, match="is a link"):
        await repo.meta.record_origin(PROJECT, "portfolio", "v0", origin(1))
    await repo.meta.record_origin(PROJECT, NAME, "v0", origin(1))
    await repo.delete_version(PROJECT, NAME, "v0", delete_aliases=True)
    with pytest.raises(ArtifactNotFound):
        await repo.meta.list_origins(PROJECT, NAME)
    await push(repo, {"f": d("one", 2000)})  # the same content again: a new version, no origin
    assert await repo.meta.list_origins(PROJECT, NAME) == []
