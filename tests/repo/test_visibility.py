"""Chunk visibility in the repository: holders, uploaders, the schema-4 backfill, gc pruning.

The HTTP-level proofs are in tests/server/test_dedup_leak.py; these pin the rules at the
repository and metastore level, on a real store (SQLite and PostgreSQL).
"""

from __future__ import annotations

import pytest

from asyncart.errors import ChunkMissing
from asyncart.repo.accounts import AccountStore
from asyncart.repo.gc import collect_garbage
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores.base import ChunkScope
from asyncart.repo.service import Repository
from tests.support.stores import (
    HOUR,
    NAME,
    PROJECT,
    age_store,
    back_to_schema_4,
    commit_request,
    manifest_of,
    push,
    run_sql,
    upload,
)
from tests.support.stores import data as d


async def holders(location: StoreLocation) -> set[tuple[str, str]]:
    """(hex hash, project) of every chunk-holder record."""
    rows = await run_sql(
        location.db,
        "SELECT h.hash, p.name FROM chunk_holders h JOIN projects p ON p.id = h.project_id",
    )
    return {(bytes(raw).hex(), project) for raw, project in rows}


async def test_a_commit_records_its_project_as_holder(
    repo: Repository, location: StoreLocation
) -> None:
    files = {"a": d("a", 3000)}
    await push(repo, files)
    hashes = set(manifest_of(files)[1])
    assert await holders(location) == {(x, PROJECT) for x in hashes}
    reader = ChunkScope(projects=frozenset({PROJECT}), uploader="r")
    stranger = ChunkScope(projects=frozenset({"elsewhere"}), uploader="s")
    everyone = ChunkScope(projects=None, uploader="x")
    assert await repo.missing_chunks(sorted(hashes), scope=reader) == []
    assert await repo.missing_chunks(sorted(hashes), scope=everyone) == []
    assert set(await repo.missing_chunks(sorted(hashes), scope=stranger)) == hashes
    assert await repo.locate_chunks(sorted(hashes), scope=stranger) == {}


async def test_an_upload_makes_chunks_visible_to_its_uploader_only(repo: Repository) -> None:
    files = {"f": d("f", 2000)}
    manifest, pieces = manifest_of(files)
    uploader = ChunkScope(projects=frozenset(), uploader="u")
    other = ChunkScope(projects=frozenset(), uploader="o")
    await upload(repo, list(pieces.values()), scope=uploader)
    assert await repo.missing_chunks(list(pieces), scope=uploader) == []
    assert set(await repo.missing_chunks(list(pieces), scope=other)) == set(pieces)
    with pytest.raises(ChunkMissing):
        await repo.commit(commit_request(manifest), scope=other)
    info = await repo.commit(commit_request(manifest), scope=uploader)
    assert info.index == 0


async def test_holders_of_a_store_from_before_schema_4_are_filled_on_open(
    repo: Repository, location: StoreLocation
) -> None:
    files = {"a": d("a", 3000), "b": d("b", 1000)}
    await push(repo, files)
    expected = await holders(location)
    assert expected
    # As migration 4 leaves it:
    await run_sql(location.db, "DELETE FROM chunk_holders")
    await run_sql(
        location.db, "UPDATE store_state SET value = 'pending' WHERE key = 'chunk_holders'"
    )
    reopened = await Repository.open(location)
    try:
        assert await reopened.meta.holders_complete()
    finally:
        await reopened.close()
    assert await holders(location) == expected


async def test_users_from_before_roles_keep_full_access(location: StoreLocation) -> None:
    """A schema-3 store's users could do everything; after migration 4 they are '*' admins,
    and a store with versions has its holder backfill pending."""
    repo = await Repository.open(location)
    try:
        await push(repo, {"x": d("x", 500)})
    finally:
        await back_to_schema_4(repo, location)
    # Back to what schema 3 was:
    for table in ("grants", "chunk_holders", "chunk_uploads", "audit_events", "store_state"):
        await run_sql(location.db, f"DROP TABLE {table}")
    await run_sql(location.db, "DELETE FROM schema_version WHERE version > 3")
    await run_sql(location.db, "INSERT INTO users (name, created_at) VALUES ('veteran', 1.0)")

    accounts = await AccountStore.open_url(location.db)  # migrates to 4
    try:
        grants = await accounts.list_grants()
    finally:
        await accounts.close()
    assert [(g.user, g.project, g.role.label) for g in grants] == [("veteran", "*", "admin")]
    holders_state = "SELECT value FROM store_state WHERE key = 'chunk_holders'"
    assert await run_sql(location.db, holders_state) == [("pending",)]
    repo = await Repository.open(location)  # fills the holders
    await repo.close()
    assert {p for _, p in await holders(location)} == {PROJECT}


async def test_gc_forgets_holders_and_uploaders_of_the_chunks_it_removes(
    repo: Repository, location: StoreLocation
) -> None:
    files = {"gone": d("g", 2500)}
    _, pieces = manifest_of(files)
    await upload(repo, list(pieces.values()), scope=ChunkScope(frozenset(), "u"))
    await push(repo, files)
    await repo.delete_version(PROJECT, NAME, "latest")
    await age_store(location, 2 * HOUR)
    await collect_garbage(repo, grace=HOUR)
    for table in ("chunk_holders", "chunk_uploads"):
        assert await run_sql(location.db, f"SELECT count(*) FROM {table}") == [(0,)]
