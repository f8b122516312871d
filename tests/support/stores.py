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
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores.base import ChunkScope
from asyncart.repo.metastores.migrations import WRITE_OPTION, async_url, make_engine
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
    repo: Repository, chunks: Iterable[bytes], *, scope: ChunkScope | None = None
) -> str:
    """Upload ``chunks`` as one pack (as ``scope``'s user, if given); returns its id."""
    _, body = pack_body(list(chunks))
    return (await repo.put_pack(one_piece(body), scope=scope)).pack


async def push(
    repo: Repository, files: dict[str, bytes], *, name: str = NAME, aliases: tuple[str, ...] = ()
) -> VersionInfo:
    """What a client push does: ask what is missing, upload that as one pack, commit."""
    manifest, chunks = manifest_of(files)
    missing = await repo.missing_chunks(list(chunks))
    if missing:
        await upload(repo, [chunks[m] for m in missing])
    return await repo.commit(commit_request(manifest, name=name, aliases=aliases))


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
