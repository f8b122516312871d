"""Changing collections in the metadata store (schema v9): rename, retype, describe, tag;
the old name keeps its version counter; deleting the last version forgets description
and tags; a schema-8 store migrating to 9. On SQLite and PostgreSQL (``db_url``/``meta``)."""

from __future__ import annotations

import pytest

from asyncart.core.models import CollectionChanges
from asyncart.errors import ArtifactNotFound, ConflictError
from asyncart.repo.metastores import MetaStore, SqlMetaStore, migrations
from tests.repo.metastore_support import digest, new, schema_versions
from tests.support.stores import back_to_schema_8, insert_legacy_version


async def test_a_schema_8_store_migrates_to_9(db_url: str) -> None:
    """A store from before collection descriptions and tags opens: its collections have
    none; then they can be set."""
    store = SqlMetaStore(db_url)
    await store.open()
    await store.close()
    await back_to_schema_8(db_url)
    await insert_legacy_version(db_url, "p", "bike dataset", digest(1), 10, 1)
    upgraded = SqlMetaStore(db_url)
    await upgraded.open()
    try:
        [info] = await upgraded.list_collections("p")
        assert (info.description, info.tags) == (None, ())
        changes = CollectionChanges(description="d", set_description=True, tags_add=("t",))
        changed = await upgraded.update_collection("p", "bike dataset", changes)
        assert (changed.description, changed.tags) == ("d", ("t",))
    finally:
        await upgraded.close()
    assert await schema_versions(db_url) == list(range(1, migrations.SCHEMA_VERSION + 1))


async def test_update_changes_only_what_it_names(meta: MetaStore) -> None:
    await meta.commit_version(new())
    first = await meta.update_collection(
        "p",
        "bike dataset",
        CollectionChanges(description="first", set_description=True, tags_add=("b", "a", "a")),
    )
    assert (first.description, first.tags, first.type) == ("first", ("a", "b"), "dataset")
    second = await meta.update_collection(
        "p", "bike dataset", CollectionChanges(type="model", tags_remove=("b", "never-there"))
    )
    assert (second.description, second.tags, second.type) == ("first", ("a",), "model")
    assert second.updated_at >= first.updated_at
    assert (await meta.get_version("p", "bike dataset", "v0")).type == "model"


async def test_rename_moves_versions_and_aliases_and_keeps_the_old_counter(
    meta: MetaStore,
) -> None:
    await meta.commit_version(new(d=1, aliases=("best",)))
    await meta.commit_version(new(d=2))
    await meta.update_collection("p", "bike dataset", CollectionChanges(tags_add=("t",)))
    renamed = await meta.update_collection("p", "bike dataset", CollectionChanges(name="bikes"))
    assert (renamed.name, renamed.version_count, renamed.tags) == ("bikes", 2, ("t",))
    assert (await meta.get_version("p", "bikes", "best")).index == 0
    assert [c.name for c in await meta.list_collections("p")] == ["bikes"]
    with pytest.raises(ArtifactNotFound):
        await meta.get_version("p", "bike dataset", "v0")
    again = await meta.commit_version(new(d=3))  # the old name continues its numbering
    assert (again.name, again.index) == ("bike dataset", 2)


async def test_rename_onto_a_name_with_versions_is_refused_and_onto_an_emptied_one_works(
    meta: MetaStore,
) -> None:
    await meta.commit_version(new("a", d=1))
    await meta.commit_version(new("b", d=2))
    with pytest.raises(ConflictError, match="'b'"):
        await meta.update_collection("p", "a", CollectionChanges(name="b"))
    await meta.commit_version(new("b", d=3))
    await meta.delete_collection("p", "b")  # b's counter: 2
    moved = await meta.update_collection("p", "a", CollectionChanges(name="b"))
    assert (moved.name, moved.version_count) == ("b", 1)
    assert (await meta.commit_version(new("b", d=4))).index == 2  # the higher counter


async def test_deleting_every_version_forgets_description_and_tags(meta: MetaStore) -> None:
    await meta.commit_version(new(d=1))
    await meta.commit_version(new(d=2))
    changes = CollectionChanges(description="gone", set_description=True, tags_add=("t",))
    await meta.update_collection("p", "bike dataset", changes)
    await meta.delete_version("p", "bike dataset", "v0")
    [kept] = await meta.list_collections("p")
    assert (kept.description, kept.tags) == ("gone", ("t",))  # one version left
    await meta.delete_version("p", "bike dataset", "v1")
    await meta.commit_version(new(d=3))
    [fresh] = await meta.list_collections("p")
    assert (fresh.description, fresh.tags, fresh.version_count) == (None, (), 1)


async def test_updating_a_missing_collection_names_it(meta: MetaStore) -> None:
    with pytest.raises(ArtifactNotFound, match="nope"):
        await meta.update_collection("p", "nope", CollectionChanges(description="x"))
