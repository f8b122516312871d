"""Which chunks a caller may learn about, for :class:`SqlMetaStore` (docs/protocol.md §6.4).

A content-addressed store must not answer "I hold chunk X" to anyone who asks: a caller
could then name X in a manifest it never had the bytes of, and download them. So once a
store has users, a chunk is *visible* to a caller only if

* a project the caller may read has held it (``chunk_holders``: every commit records
  its project as a holder of each chunk its manifest names), or
* the caller itself uploaded its bytes (``chunk_uploads``).

Everything here runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.repo.metastores.base import ChunkScope
from asyncart.repo.metastores.lookups import (
    OFF_LOOP_ITEMS,
    _batches,
    insert_or_ignore,
    off_loop,
    sorted_unique,
)
from asyncart.repo.metastores.schema import chunk_holders, chunk_uploads, packs, projects
from asyncart.repo.metastores.schema import chunks as chunk_index


def visible_clause(scope: ChunkScope) -> ColumnElement[bool]:
    """A condition on ``chunks`` rows: the chunk is visible to ``scope``'s caller."""
    held = select(chunk_holders.c.hash).where(chunk_holders.c.hash == chunk_index.c.hash)
    if scope.projects is not None:
        readable = select(projects.c.id).where(projects.c.name.in_(sorted(scope.projects)))
        held = held.where(chunk_holders.c.project_id.in_(readable))
    uploaded = select(chunk_uploads.c.hash).where(
        chunk_uploads.c.hash == chunk_index.c.hash,
        chunk_uploads.c.user_name == scope.uploader,
    )
    return or_(exists(held), exists(uploaded))


def scope_clause(scope: ChunkScope | None) -> ColumnElement[bool]:
    """:func:`visible_clause`, or no condition at all for an unrestricted caller."""
    return true() if scope is None else visible_clause(scope)


async def visible_hashes(
    conn: AsyncConnection, raws: Sequence[bytes], scope: ChunkScope
) -> set[bytes]:
    """The indexed chunks among ``raws`` that ``scope``'s caller may see."""
    found: set[bytes] = set()
    for batch in _batches(list(raws)):
        rows = await conn.execute(
            select(chunk_index.c.hash).where(chunk_index.c.hash.in_(batch), visible_clause(scope))
        )
        found.update(raw for (raw,) in rows)
    return found


async def record_holders(conn: AsyncConnection, project_id: int, raws: Iterable[bytes]) -> None:
    """Record ``project_id`` as a holder of each chunk (idempotent)."""
    ordered = await off_loop(lambda: sorted_unique(raws), OFF_LOOP_ITEMS + 1)  # size unknown
    for batch in _batches(ordered):
        rows = [{"hash": raw, "project_id": project_id} for raw in batch]
        await conn.execute(insert_or_ignore(conn, chunk_holders), rows)


async def record_uploads(conn: AsyncConnection, user: str, raws: Iterable[bytes]) -> None:
    """Record that ``user`` uploaded the bytes of each chunk (idempotent)."""
    ordered = await off_loop(lambda: sorted_unique(raws), OFF_LOOP_ITEMS + 1)  # size unknown
    for batch in _batches(ordered):
        rows = [{"hash": raw, "user_name": user} for raw in batch]
        await conn.execute(insert_or_ignore(conn, chunk_uploads), rows)


async def forget_pack_chunks(conn: AsyncConnection, pack_id: str) -> None:
    """Drop holder and uploader rows of the chunks indexed in ``pack_id`` (before the
    index entries themselves go): a forgotten chunk is visible to nobody."""
    in_pack = select(chunk_index.c.hash).where(chunk_index.c.pack_id == pack_id)
    await conn.execute(delete(chunk_holders).where(chunk_holders.c.hash.in_(in_pack)))
    await conn.execute(delete(chunk_uploads).where(chunk_uploads.c.hash.in_(in_pack)))


async def range_visible(
    conn: AsyncConnection, pack_id: str, start: int, end: int, scope: ChunkScope | None
) -> bool:
    """Whether bytes ``[start, end)`` of a pack are exactly covered by chunks indexed in
    it that ``scope``'s caller may see (no byte of anyone else's chunk, no header byte)."""
    if end <= start:
        return False
    rows = await conn.execute(
        select(chunk_index.c.offset, chunk_index.c.length, scope_clause(scope).label("ok"))
        .where(
            chunk_index.c.pack_id == pack_id,
            and_(chunk_index.c.offset < end, chunk_index.c.offset + chunk_index.c.length > start),
        )
        .order_by(chunk_index.c.offset)
    )
    covered = start
    for offset, length, ok in rows:
        if not ok or offset > covered:
            return False
        covered = max(covered, offset + length)
    return covered >= end


async def pack_visible(conn: AsyncConnection, pack_id: str, scope: ChunkScope) -> bool:
    """Whether every byte of the stored pack belongs to a chunk indexed in it that
    ``scope``'s caller may see (then a URL to the whole object leaks nothing)."""
    found = await conn.execute(select(packs.c.size).where(packs.c.id == pack_id))
    size = found.scalar_one_or_none()
    return size is not None and await range_visible(conn, pack_id, 0, int(size), scope)


async def foreign_holders(conn: AsyncConnection, pack_id: str, scope: ChunkScope) -> list[str]:
    """The projects ``scope``'s caller may not read that hold chunks indexed in ``pack_id``
    (whose bytes share the pack with what the caller reads), sorted."""
    if scope.projects is None:
        return []
    rows = await conn.execute(
        select(projects.c.name)
        .distinct()
        .select_from(
            chunk_holders.join(projects, projects.c.id == chunk_holders.c.project_id).join(
                chunk_index, chunk_index.c.hash == chunk_holders.c.hash
            )
        )
        .where(chunk_index.c.pack_id == pack_id, projects.c.name.not_in(sorted(scope.projects)))
        .order_by(projects.c.name)
    )
    return [name for (name,) in rows]
