"""Working on a store directory the way a test needs: push content, age it, damage it.

``age_store`` moves a store back in time instead of making a test wait: the packs'
upload/touch times in its metadata database and the mtimes of every object and
unfinished write go back by the same amount, exactly as if that much time had passed
since. ``run_sql`` pokes a metadata database directly, through the same SQLAlchemy
layer as the store, so such tests run on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Row, text

from asyncart.core.chunking import ChunkerSpec, chunk_bytes
from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.core.models import CommitRequest, VersionInfo
from asyncart.repo.keys import manifest_hash, manifest_object_key
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import migrations
from asyncart.repo.metastores.base import ChunkScope
from asyncart.repo.metastores.engine import WRITE_OPTION, async_url, make_engine
from asyncart.repo.service import Repository
from tests.support.packs import h, pack_body, ref_of

SPEC = ChunkerSpec.fixed(1024)
HOUR = 3600.0
PROJECT = "proj"
NAME = "bike dataset"


def data(tag: str, size: int) -> bytes:
    """``size`` pseudo-random bytes determined by ``tag``: no two chunks alike."""
    return random.Random(tag).randbytes(size)


async def one_piece(body: bytes) -> AsyncIterator[bytes]:
    yield body


def manifest_of(files: dict[str, bytes]) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest of ``files`` (1 KiB fixed chunks) and its chunks by hash."""
    entries = []
    chunks: dict[str, bytes] = {}
    for path, data in files.items():
        pieces = chunk_bytes(data, SPEC)
        chunks.update((h(c), c) for c in pieces)
        entries.append(ManifestEntry.for_file(path, len(data), h(data), map(ref_of, pieces)))
    return Manifest(entries=tuple(entries), chunker=SPEC), chunks


async def upload(
    repo: Repository,
    chunks: Iterable[bytes],
    *,
    scope: ChunkScope | None = None,
    project: str | None = None,
) -> str:
    """Upload ``chunks`` as one pack (as ``scope``'s user, if given; charged to
    ``project``, if given); returns its id."""
    _, body = pack_body(list(chunks))
    return (await repo.put_pack(one_piece(body), scope=scope, project=project)).pack


async def push(
    repo: Repository, files: dict[str, bytes], *, name: str = NAME, aliases: tuple[str, ...] = ()
) -> VersionInfo:
    """What a client push does: ask what is missing, upload that as one pack, commit."""
    manifest, chunks = manifest_of(files)
    missing = await repo.missing_chunks(list(chunks))
    if missing:
        await upload(repo, [chunks[m] for m in missing])
    return await repo.commit(commit_request(manifest, name=name, aliases=aliases))


def stored_key(manifest: Manifest) -> str:
    """The key a commit of ``manifest`` stores it under (its encoded bytes' BLAKE3)."""
    return manifest_object_key(manifest_hash(manifest.encode()))


async def version_manifest_key(repo: Repository, info: VersionInfo) -> str:
    """The key of the manifest object version ``info`` reads."""
    _, name = await repo.meta.get_version_manifest(info.project, info.name, info.version)
    return manifest_object_key(name)


def commit_request(
    manifest: Manifest, *, name: str = NAME, aliases: tuple[str, ...] = ()
) -> CommitRequest:
    return CommitRequest(
        project=PROJECT, name=name, type="dataset", manifest=manifest, aliases=aliases
    )


async def run_sql(
    url: str, sql: str, params: Mapping[str, Any] | None = None
) -> list[Row[Any]]:
    """Run one SQL statement (``:name`` parameters) on the database at ``url`` in its own
    write transaction; the rows it returns (none for a statement without a result)."""
    engine = make_engine(async_url(url), busy_timeout=30.0)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                result = await conn.execute(text(sql), dict(params or {}))
                return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def age_store(location: StoreLocation, seconds: float) -> None:
    """Make everything in the store ``seconds`` older (see the module doc)."""
    await run_sql(
        location.db,
        "UPDATE packs SET touched_at = touched_at - :s, created_at = created_at - :s",
        {"s": seconds},
    )
    for path in Path(location.blobs).rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def pack_files(root: Path) -> list[Path]:
    """The pack files stored under their final names."""
    return sorted(p for p in (root / "blobs" / "packs").rglob("*") if p.is_file())


def flip_byte(path: Path, offset: int = 0) -> None:
    """Damage one byte of a stored file in place, as a failing disk would."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


async def insert_legacy_version(
    url: str, project: str, name: str, digest: str, size: int, file_count: int
) -> None:
    """Insert, with plain SQL, the next version of ``project/name`` (type ``dataset``, alias
    ``latest``) as every schema before 5 wrote it: no manifest hash, so it reads the
    object ``manifests/<digest>``. Works on a database at any schema version."""
    await run_sql(
        url,
        "INSERT INTO projects (name, created_at) VALUES (:p, 0) ON CONFLICT DO NOTHING",
        {"p": project},
    )
    pid = "(SELECT id FROM projects WHERE name = :p)"
    await run_sql(
        url,
        "INSERT INTO collections (project_id, name, type, next_index, created_at, updated_at) "
        f"VALUES ({pid}, :n, 'dataset', 0, 0, 0) ON CONFLICT DO NOTHING",
        {"p": project, "n": name},
    )
    cid = f"(SELECT id FROM collections WHERE project_id = {pid} AND name = :n)"
    await run_sql(
        url,
        "INSERT INTO versions (collection_id, idx, digest, size, file_count, metadata, "
        f"created_at) SELECT {cid}, next_index, :d, :s, :f, '{{}}', 0 FROM collections "
        f"WHERE id = {cid}",
        {"p": project, "n": name, "d": digest, "s": size, "f": file_count},
    )
    await run_sql(
        url, f"UPDATE collections SET next_index = next_index + 1 WHERE id = {cid}",
        {"p": project, "n": name},
    )
    await run_sql(url, f"DELETE FROM aliases WHERE collection_id = {cid} AND alias = 'latest'",
                  {"p": project, "n": name})
    await run_sql(
        url,
        "INSERT INTO aliases (collection_id, alias, version_id) "
        f"SELECT {cid}, 'latest', MAX(id) FROM versions WHERE collection_id = {cid}",
        {"p": project, "n": name},
    )


async def back_to_schema_4(repo: Repository, location: StoreLocation) -> None:
    """Make a store look as schema 4 left it: each version's manifest object under
    ``manifests/<digest>`` (the one it reads now moved there), no ``manifest_hash``
    column (nor schema 6's tags, ttl and updated_at), schema version 4. ``repo`` is
    closed after."""
    moved = set()
    for version in await repo.meta.all_versions():
        key = manifest_object_key(version.manifest_name)
        blob = await repo.blobs.get_bytes(key)
        await repo.blobs.put_bytes(manifest_object_key(version.digest), blob)
        moved.add(key)
    for key in moved:
        await repo.blobs.delete(key)
    await repo.close()
    await back_to_schema_5(location.db)
    await run_sql(location.db, "DROP INDEX ix_versions_manifest_hash")
    await run_sql(location.db, "ALTER TABLE versions DROP COLUMN manifest_hash")
    await run_sql(location.db, "DELETE FROM schema_version WHERE version > 4")


async def undo_version_origins(url: str) -> None:
    """Undo migration 14 (where synced versions came from), whatever number it has."""
    await run_sql(url, "DROP TABLE version_origins")
    await run_sql(url, f"DELETE FROM schema_version WHERE version >= {migrations.ORIGINS_STEP}")


async def back_to_schema_12(url: str) -> None:
    """Undo migrations 14 (origins) and 13 (pack charges): schema version 12."""
    await undo_version_origins(url)
    await run_sql(url, "DROP TABLE pack_charges")
    await run_sql(url, "DELETE FROM schema_version WHERE version > 12")


async def back_to_schema_11(url: str) -> None:
    """Undo migration 12 (project quotas) and those after it: schema version 11."""
    await back_to_schema_12(url)
    await run_sql(url, "DROP TABLE project_quotas")
    await run_sql(url, "DELETE FROM schema_version WHERE version > 11")


async def back_to_schema_9(url: str) -> None:
    """Undo migrations 12 (quotas), 11 (retention policies) and 10 (what versions cost:
    ``version_chunks``, ``added_bytes``): schema version 9."""
    await back_to_schema_11(url)
    await run_sql(url, "DROP TABLE retention_policies")
    await run_sql(url, "DROP TABLE version_chunks")
    await run_sql(url, "ALTER TABLE versions DROP COLUMN added_bytes")
    await run_sql(url, "DELETE FROM store_state WHERE key = 'version_chunks'")
    await run_sql(url, "DELETE FROM schema_version WHERE version > 9")


async def back_to_schema_8(url: str) -> None:
    """Undo migration 9 (collection descriptions and tags) and those after it: schema
    version 8."""
    await back_to_schema_9(url)
    await run_sql(url, "DROP TABLE collection_tags")
    await run_sql(url, "ALTER TABLE collections DROP COLUMN description")
    await run_sql(url, "DELETE FROM schema_version WHERE version > 8")


async def back_to_schema_7(url: str) -> None:
    """Undo migration 8 (links: ``versions.source_id``) and those after it: schema
    version 7."""
    await back_to_schema_8(url)
    await run_sql(url, "DROP INDEX ix_versions_source_id")
    await run_sql(url, "ALTER TABLE versions DROP COLUMN source_id")
    await run_sql(url, "DELETE FROM schema_version WHERE version > 7")


async def back_to_schema_6(url: str) -> None:
    """Undo migration 7 (run labels, pending distributed versions) and those after it:
    schema version 6."""
    await back_to_schema_7(url)
    for table in ("pending_entries", "pending_parts", "pending_finishes"):
        await run_sql(url, f"DROP TABLE {table}")
    for column in ("run_group", "tags", "notes"):
        await run_sql(url, f"ALTER TABLE runs DROP COLUMN {column}")
    await run_sql(url, "DELETE FROM schema_version WHERE version > 6")


async def back_to_schema_5(url: str) -> None:
    """Undo migrations 6 and after (tags, ttl, updated_at, ...) on a store's database: schema
    version 5."""
    await back_to_schema_6(url)
    await run_sql(url, "DROP TABLE version_tags")
    await run_sql(url, "ALTER TABLE versions DROP COLUMN ttl_seconds")
    await run_sql(url, "ALTER TABLE versions DROP COLUMN updated_at")
    await run_sql(url, "DELETE FROM schema_version WHERE version > 5")
