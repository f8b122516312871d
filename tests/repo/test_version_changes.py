"""Changing a logged version in the metadata store and the repository (schema v6):
description, metadata, ttl and tags; aliases moved and removed by hand; and a schema-5
store migrating to 6. On SQLite and PostgreSQL (``db_url``/``meta``)."""

from __future__ import annotations

import pytest

from asyncart.core.models import VersionChanges
from asyncart.errors import AliasNotFound, ConfigError, InvalidNameError, VersionNotFound
from asyncart.repo.metastores import MetaStore, SqlMetaStore, migrations
from asyncart.repo.service import Repository
from tests.repo.metastore_support import digest, new, schema_versions
from tests.support.stores import insert_legacy_version, run_sql


async def test_a_schema_5_store_migrates_to_6(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store from before tags/ttl/updated_at opens: its versions have no tags, no ttl,
    and were last updated when created; then they can be changed."""
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 5)
    old = SqlMetaStore(db_url)
    await old.open()
    await old.close()
    await insert_legacy_version(db_url, "p", "bike dataset", digest(1), 10, 1)  # as v5 wrote it
    monkeypatch.undo()

    upgraded = SqlMetaStore(db_url)
    await upgraded.open()
    try:
        info = await upgraded.get_version("p", "bike dataset", "v0")
        assert (info.tags, info.ttl, info.updated_at) == ((), None, info.created_at)
        changed = await upgraded.update_version(
            "p", "bike dataset", "v0", VersionChanges(tags_add=("old",), ttl=60, set_ttl=True)
        )
        assert (changed.tags, changed.ttl) == (("old",), 60)
        assert changed.updated_at >= info.created_at
    finally:
        await upgraded.close()
    assert await schema_versions(db_url) == list(range(1, migrations.SCHEMA_VERSION + 1))


async def test_update_changes_only_what_it_names(meta: MetaStore) -> None:
    await meta.commit_version(new(metadata={"a": 1}, description="first"))
    info = await meta.update_version(
        "p", "bike dataset", "latest", VersionChanges(tags_add=("x", "y", "x"))
    )
    assert (info.tags, info.metadata, info.description) == (("x", "y"), {"a": 1}, "first")
    info = await meta.update_version(
        "p",
        "bike dataset",
        "v0",
        VersionChanges(
            description=None,
            set_description=True,
            metadata={"b": 2},
            tags_remove=("x", "never-there"),
        ),
    )
    assert (info.tags, info.metadata, info.description) == (("y",), {"b": 2}, None)
    with pytest.raises(VersionNotFound):
        await meta.update_version("p", "bike dataset", "v9", VersionChanges(tags_add=("z",)))


async def test_aliases_move_and_go_but_latest_stays(meta: MetaStore) -> None:
    await meta.commit_version(new(aliases=("best",)))
    await meta.commit_version(new(d=2))
    moved = await meta.set_alias("p", "bike dataset", "best", "v1")
    assert (moved.index, moved.aliases) == (1, ("latest", "best"))
    assert (await meta.get_version("p", "bike dataset", "v0")).aliases == ()
    again = await meta.set_alias("p", "bike dataset", "best", "latest")  # already there
    assert again.aliases == ("latest", "best")
    gone = await meta.remove_alias("p", "bike dataset", "best")
    assert (gone.index, gone.aliases) == (1, ("latest",))
    with pytest.raises(AliasNotFound, match="best"):
        await meta.remove_alias("p", "bike dataset", "best")
    for change in (
        meta.set_alias("p", "bike dataset", "latest", "v0"),
        meta.remove_alias("p", "bike dataset", "latest"),
    ):
        with pytest.raises(ConfigError, match="newest version"):
            await change
    assert (await meta.get_version("p", "bike dataset", "latest")).index == 1


async def test_deleting_a_tagged_version_drops_its_tags(db_url: str, meta: MetaStore) -> None:
    await meta.commit_version(new())
    await meta.update_version("p", "bike dataset", "v0", VersionChanges(tags_add=("t",)))
    deleted = await meta.delete_version("p", "bike dataset", "v0")
    assert deleted.tags == ("t",)
    assert await run_sql(db_url, "SELECT * FROM version_tags") == []


async def test_the_repository_checks_every_value(repo: Repository) -> None:
    """Tags by W&B's rule, ttl a positive whole number of seconds, metadata an object."""
    await repo.meta.commit_version(new())
    for bad in (
        VersionChanges(tags_add=("bad!",)),
        VersionChanges(tags_remove=(" lead",)),
    ):
        with pytest.raises(InvalidNameError, match="Invalid tag"):
            await repo.update_version("p", "bike dataset", "v0", bad)
    for ttl in (0, -5, 10**12, True, 1.5):
        with pytest.raises(ConfigError, match="ttl"):
            await repo.update_version(
                "p",
                "bike dataset",
                "v0",
                VersionChanges(ttl=ttl, set_ttl=True),  # type: ignore[arg-type]
            )
    with pytest.raises(ConfigError, match="JSON object"):
        await repo.update_version(
            "p",
            "bike dataset",
            "v0",
            VersionChanges(metadata=[1]),  # type: ignore[arg-type]
        )
    with pytest.raises(InvalidNameError, match="version number"):
        await repo.set_alias("p", "bike dataset", "v3", "v0")
    info = await repo.update_version(
        "p", "bike dataset", "v0", VersionChanges(tags_add=("ok tag",), ttl=3600, set_ttl=True)
    )
    assert (info.tags, info.ttl) == (("ok tag",), 3600)
