"""Retention on a real store (files + SQLite or PostgreSQL): policies stored and applied,
ttl enforced at an injected time (no waiting), protections, audit rows, a schema-9 store
upgrading, and a dry run that changes nothing and predicts what the real run frees."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncart.core.models import VersionChanges
from asyncart.core.retention import RetentionPolicy
from asyncart.errors import ArtifactNotFound
from asyncart.repo.audit import AuditLog
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import migrations
from asyncart.repo.retention import apply_retention, retain_and_collect
from asyncart.repo.service import Repository
from tests.repo.metastore_support import schema_versions
from tests.support.stores import NAME, PROJECT, age_store, back_to_schema_9, pack_files, push
from tests.support.stores import data as d

DAY = 86400.0


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in pack_files(root))


async def four_versions(repo: Repository) -> None:
    """v0..v3 of NAME, each with 2000 bytes of its own; v0 holds alias ``best``."""
    for i in range(4):
        await push(repo, {"f": d(f"v{i}", 2000)}, aliases=("best",) if i == 0 else ())


async def indexes(repo: Repository, name: str = NAME) -> list[int]:
    return [v.index for v in await repo.list_versions(PROJECT, name)]


async def test_a_schema_9_store_upgrades_and_takes_a_policy(location: StoreLocation) -> None:
    repo = await Repository.open(location)
    try:
        await four_versions(repo)
    finally:
        await repo.close()
    await back_to_schema_9(location.db)
    assert (await schema_versions(location.db))[-1] == 9
    repo = await Repository.open(location)
    try:
        assert await repo.get_retention(PROJECT, NAME) is None
        await repo.set_retention(PROJECT, NAME, RetentionPolicy(keep_last=2))
        assert await repo.get_retention(PROJECT, NAME) == RetentionPolicy(keep_last=2)
    finally:
        await repo.close()
    assert await schema_versions(location.db) == list(range(1, migrations.SCHEMA_VERSION + 1))
    assert migrations.SCHEMA_VERSION >= migrations.RETENTION_STEP


async def test_set_replace_clear_and_a_missing_collection(repo: Repository) -> None:
    await four_versions(repo)
    await repo.set_retention(PROJECT, NAME, RetentionPolicy(keep_last=2))
    loose = RetentionPolicy(max_age=3600, keep_aliased=False)
    await repo.set_retention(PROJECT, NAME, loose)
    assert await repo.get_retention(PROJECT, NAME) == loose
    assert await repo.clear_retention(PROJECT, NAME) == loose
    assert await repo.clear_retention(PROJECT, NAME) is None
    with pytest.raises(ArtifactNotFound):
        await repo.set_retention(PROJECT, "nothing here", loose)


async def test_a_dry_run_changes_nothing_and_frees_what_the_real_run_frees(
    repo: Repository, location: StoreLocation, root: Path
) -> None:
    await four_versions(repo)
    await push(repo, {"f": d("v1", 2000)}, name="other")  # shares v1's bytes
    await repo.set_retention(PROJECT, NAME, RetentionPolicy(keep_last=1))
    await age_store(location, 2 * DAY)
    before = disk_bytes(root)
    audit = AuditLog(repo.meta.database)  # type: ignore[attr-defined]
    await audit.open()

    kept, dry = await retain_and_collect(repo, grace=DAY, dry_run=True, audit=audit)

    assert kept is not None and kept.deleted == [f"{PROJECT}/{NAME}:v1", f"{PROJECT}/{NAME}:v2"]
    assert dry.unshared_bytes == {f"{PROJECT}/{NAME}:v1": 0, f"{PROJECT}/{NAME}:v2": 2000}
    assert await indexes(repo) == [0, 1, 2, 3] and disk_bytes(root) == before
    assert await audit.query(action="delete") == []

    kept, real = await retain_and_collect(repo, grace=DAY, audit=audit)

    assert await indexes(repo) == [0, 3]  # v0 holds "best"; v3 is the last one
    assert real.deleted_bytes == dry.deleted_bytes == before - disk_bytes(root) > 0
    assert real.deleted_packs == dry.deleted_packs == 1
    events = await audit.query(action="delete")
    assert sorted((e.artifact, e.version, e.detail["reason"]) for e in events) == [
        (NAME, 1, "retention"),
        (NAME, 2, "retention"),
    ]
    await audit.close()


async def test_ttl_expires_at_an_injected_time_and_links_protect(repo: Repository) -> None:
    await four_versions(repo)
    for ref in ("v1", "v2", "v0"):
        await repo.update_version(PROJECT, NAME, ref, VersionChanges(ttl=3600, set_ttl=True))
    await repo.link_version(PROJECT, NAME, "v2", (PROJECT, "registry"), [])
    first = (await repo.get_version(PROJECT, NAME, "v0")).created_at + 3600
    later = (await repo.get_version(PROJECT, NAME, "v2")).created_at + 3600

    early = await apply_retention(repo, now=first - 1)
    assert early.deleted == [] and await indexes(repo) == [0, 1, 2, 3]

    done = await apply_retention(repo, now=later)

    # v1 expired; v2 too, but a link points at it; v0 too, but it holds "best"
    assert done.deleted == [f"{PROJECT}/{NAME}:v1"]
    assert [(d.index, d.protected) for c in done.collections for d in c.decisions] == [
        (0, "aliased"),
        (1, None),
        (2, "linked"),
    ]
    assert await indexes(repo) == [0, 2, 3]
    assert await indexes(repo, "registry") == [0]


async def test_without_keep_aliased_an_alias_goes_with_its_version_and_latest_moves(
    repo: Repository,
) -> None:
    await four_versions(repo)
    await repo.set_retention(PROJECT, NAME, RetentionPolicy(max_age=60, keep_aliased=False))
    newest = (await repo.get_version(PROJECT, NAME, "v3")).created_at

    done = await apply_retention(repo, now=newest + 61)

    assert len(done.deleted) == 4 and await repo.list_collections(PROJECT) == []
