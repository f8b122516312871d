"""Chunk visibility in the repository: holders, uploaders, the schema-4 backfill, gc pruning.

The HTTP-level proofs are in tests/server/test_dedup_leak.py; these pin the rules at the
repository and metastore level, on a real SQLite store.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from asyncart.errors import ChunkMissing
from asyncart.repo.accounts import AccountStore
from asyncart.repo.gc import collect_garbage
from asyncart.repo.metastores.base import ChunkScope
from asyncart.repo.service import Repository
from tests.support.stores import (
    HOUR,
    NAME,
    PROJECT,
    age_store,
    commit_request,
    manifest_of,
    push,
    upload,
)
from tests.support.stores import data as d


def holders(root: Path) -> set[tuple[str, str]]:
    with closing(sqlite3.connect(root / "meta.db")) as db:
        rows = db.execute(
            "SELECT lower(hex(h.hash)), p.name FROM chunk_holders h "
            "JOIN projects p ON p.id = h.project_id"
        )
        return {(row[0], row[1]) for row in rows}


async def test_a_commit_records_its_project_as_holder(repo: Repository, root: Path) -> None:
    files = {"a": d("a", 3000)}
    await push(repo, files)
    hashes = set(manifest_of(files)[1])
    assert holders(root) == {(x, PROJECT) for x in hashes}
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
    repo: Repository, root: Path
) -> None:
    files = {"a": d("a", 3000), "b": d("b", 1000)}
    await push(repo, files)
    expected = holders(root)
    assert expected
    with closing(sqlite3.connect(root / "meta.db")) as db, db:  # as migration 4 leaves it
        db.execute("DELETE FROM chunk_holders")
        db.execute("UPDATE store_state SET value = 'pending' WHERE key = 'chunk_holders'")
    reopened = await Repository.open_dir(root)
    try:
        assert await reopened.meta.holders_complete()
    finally:
        await reopened.close()
    assert holders(root) == expected


async def test_users_from_before_roles_keep_full_access(tmp_path: Path) -> None:
    """A schema-3 store's users could do everything; after migration 4 they are '*' admins,
    and a store with versions has its holder backfill pending."""
    root = tmp_path / "old"
    root.mkdir()
    repo = await Repository.open_dir(root)
    try:
        await push(repo, {"x": d("x", 500)})
    finally:
        await repo.close()
    with closing(sqlite3.connect(root / "meta.db")) as db, db:  # back to what schema 3 was
        for table in ("grants", "chunk_holders", "chunk_uploads", "audit_events", "store_state"):
            db.execute(f"DROP TABLE {table}")
        db.execute("DELETE FROM schema_version WHERE version > 3")
        db.execute("INSERT INTO users (name, created_at) VALUES ('veteran', 1.0)")

    accounts = await AccountStore.open_dir(root)  # migrates to 4
    try:
        grants = await accounts.list_grants()
    finally:
        await accounts.close()
    assert [(g.user, g.project, g.role.label) for g in grants] == [("veteran", "*", "admin")]
    with closing(sqlite3.connect(root / "meta.db")) as db:
        state = db.execute("SELECT value FROM store_state").fetchone()[0]
    assert state == "pending"
    repo = await Repository.open_dir(root)  # fills the holders
    await repo.close()
    assert {p for _, p in holders(root)} == {PROJECT}


async def test_gc_forgets_holders_and_uploaders_of_the_chunks_it_removes(
    repo: Repository, root: Path
) -> None:
    files = {"gone": d("g", 2500)}
    _, pieces = manifest_of(files)
    await upload(repo, list(pieces.values()), scope=ChunkScope(frozenset(), "u"))
    await push(repo, files)
    await repo.delete_version(PROJECT, NAME, "latest")
    age_store(root, 2 * HOUR)
    await collect_garbage(repo, grace=HOUR)
    with closing(sqlite3.connect(root / "meta.db")) as db:
        assert db.execute("SELECT count(*) FROM chunk_holders").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM chunk_uploads").fetchone()[0] == 0
