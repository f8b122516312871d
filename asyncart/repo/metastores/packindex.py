"""Pack and chunk-index work that keeps garbage collection safe, for :class:`SqlMetaStore`.

Every function runs inside the caller's transaction (an ``AsyncConnection`` that
``SqlMetaStore._run`` opened). The rule they implement together (docs/gc.md):

* whatever makes a client rely on a pack (an upload, a ``missing`` answer saying its
  chunks are present, a commit naming them) touches it: ``touched_at`` becomes now,
  and it changes on every touch even if the clock did not move (:func:`touch_packs`);
* garbage collection reads versions, packs and chunks in one snapshot
  (:func:`snapshot`) and forgets a pack only in a write transaction that finds its
  ``touched_at`` both older than the cutoff and unchanged since that snapshot
  (:func:`drop_pack`): a commit the snapshot missed has touched the pack since;
* a commit checks its chunks inside its own write transaction (:func:`claim_chunks`).

On SQLite write transactions are serialized (``BEGIN IMMEDIATE``); on PostgreSQL the
pack rows are locked (``FOR UPDATE``) by both sides, which orders them the same way, and
an upload and gc's decision on the same pack (or a commit and gc's decision on its
manifest) also take an advisory lock on its name (``lookups.lock_object``): a row being
inserted cannot be locked, nor seen, by the other side before it commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.errors import ChunkMissing
from asyncart.repo.metastores import charges, visibility
from asyncart.repo.metastores.base import PackChunk, PackRecord, StoredVersion, StoreSnapshot
from asyncart.repo.metastores.lookups import (
    PACK_LOCK,
    _batches,
    _hash_bytes,
    _unique_hashes,
    bytewise,
    insert_or_ignore,
    lock_object,
    off_loop,
)
from asyncart.repo.metastores.schema import chunks as chunk_index
from asyncart.repo.metastores.schema import packs, version_view, versions


async def present_chunks(
    conn: AsyncConnection, raws: Sequence[bytes], *, lock: bool = False
) -> dict[bytes, tuple[str, float]]:
    """Indexed chunks among ``raws``: raw hash -> (pack id, the pack's touched_at).

    With ``lock`` the pack rows are locked (``FOR UPDATE``; a no-op on SQLite, whose
    write transaction already excludes every other writer).
    """
    found: dict[bytes, tuple[str, float]] = {}
    for batch in _batches(list(raws)):
        stmt = (
            select(chunk_index.c.hash, chunk_index.c.pack_id, packs.c.touched_at)
            .join(packs, packs.c.id == chunk_index.c.pack_id)
            .where(chunk_index.c.hash.in_(batch))
        )
        if lock:
            stmt = stmt.with_for_update(of=packs)
        for raw, pack_id, touched_at in await conn.execute(stmt):
            found[raw] = (pack_id, touched_at)
    return found


#: The least step of a touch that finds ``touched_at`` at or after now (a clock that did
#: not move, or another process's clock ahead): the value still changes, so garbage
#: collection sees every touch. Epoch seconds in a double resolve ~0.24 µs.
TICK = 1e-6


async def touch_packs(conn: AsyncConnection, pack_ids: Iterable[str], now: float) -> None:
    """Touch the given packs: ``touched_at`` becomes ``now``, or moves on by :data:`TICK`."""
    for batch in _batches(sorted(set(pack_ids))):
        await conn.execute(
            update(packs)
            .where(packs.c.id.in_(batch))
            .values(
                touched_at=case((packs.c.touched_at < now, now), else_=packs.c.touched_at + TICK)
            )
        )


async def claim_chunks(conn: AsyncConnection, hashes: Sequence[str], now: float) -> set[str]:
    """Inside a commit: every chunk must be indexed; touch the packs that hold them (and
    return their ids).

    Raises:
        ChunkMissing: some chunk is not indexed (never uploaded, or removed by garbage
            collection since the client was told it was present).
    """
    n = len(hashes)
    wanted = await off_loop(lambda: _unique_hashes(hashes), n)
    found = await present_chunks(conn, list(wanted), lock=True)
    missing = await off_loop(lambda: [h for raw, h in wanted.items() if raw not in found], n)
    if missing:
        raise ChunkMissing(
            f"the manifest names {len(missing)} chunk(s) the store does not hold "
            f"(first: {missing[0]}); upload them before committing (pushing again "
            "uploads exactly what the store lacks)"
        )
    held = await off_loop(lambda: {pack_id for pack_id, _ in found.values()}, n)
    await touch_packs(conn, held, now)
    return held


async def add_pack_rows(
    conn: AsyncConnection, pack_id: str, size: int, rows: Sequence[dict[str, Any]], now: float
) -> tuple[int, bool]:
    """Record (or touch) a pack, index its new chunks, touch packs holding the others.

    ``rows`` are chunk-index rows (``hash`` as raw bytes). Returns the number of chunks
    newly indexed in this pack, and whether the pack was new (not uploaded before).
    """
    await lock_object(conn, PACK_LOCK, pack_id)  # ordered with gc's drop_pack
    added = await conn.execute(
        insert_or_ignore(conn, packs).values(id=pack_id, size=size, created_at=now, touched_at=now)
    )
    fresh = bool(added.rowcount)
    if not fresh:  # uploaded again (a retry, or content gc is removing)
        await touch_packs(conn, [pack_id], now)
    if not rows:
        return 0, fresh
    # RETURNING yields only the rows actually inserted (SQLite >= 3.35, PostgreSQL).
    # In batches: SQLAlchemy prepares every row's parameters on the event loop before
    # the first is sent, so one 65,536-row statement would stall the server for ~1 s.
    stmt = insert_or_ignore(conn, chunk_index).returning(chunk_index.c.hash)
    inserted: set[bytes] = set()
    for batch in _batches(rows):
        inserted.update(raw for (raw,) in (await conn.execute(stmt, list(batch))).all())
    elsewhere: list[bytes] = [r["hash"] for r in rows if r["hash"] not in inserted]
    if elsewhere:
        # Already indexed in another pack: the client now relies on that one.
        held = await present_chunks(conn, elsewhere)
        await touch_packs(conn, (p for p, _ in held.values() if p != pack_id), now)
    return len(inserted), fresh


async def snapshot(conn: AsyncConnection) -> StoreSnapshot:
    """Versions, packs and the chunk index as of one moment (call in one read transaction)."""
    return StoreSnapshot(
        versions=await all_versions(conn),
        packs=await list_packs(conn),
        chunks=await chunks_by_pack(conn),
    )


async def list_packs(conn: AsyncConnection) -> list[PackRecord]:
    rows = await conn.execute(
        select(packs.c.id, packs.c.size, packs.c.created_at, packs.c.touched_at)
    )
    return [PackRecord(*row) for row in rows]


async def chunks_by_pack(conn: AsyncConnection) -> dict[str, list[PackChunk]]:
    out: dict[str, list[PackChunk]] = {}
    rows = await conn.execute(
        select(
            chunk_index.c.pack_id, chunk_index.c.hash, chunk_index.c.offset, chunk_index.c.length
        )
    )
    for pack_id, raw, offset, length in rows:
        out.setdefault(pack_id, []).append(PackChunk(raw.hex(), offset, length))
    for members in out.values():
        members.sort(key=lambda c: c.offset)
    return out


async def all_versions(conn: AsyncConnection) -> list[StoredVersion]:
    view = version_view.subquery()
    rows = await conn.execute(
        select(
            view.c.project,
            view.c.name,
            view.c.index,
            view.c.digest,
            view.c.size,
            view.c.file_count,
            versions.c.manifest_hash,
        )
        .join(versions, versions.c.id == view.c.id)
        .order_by(bytewise(view.c.project), bytewise(view.c.name), view.c.index)
    )
    return [StoredVersion(*row) for row in rows]


async def drop_pack(
    conn: AsyncConnection, pack_id: str, touched_before: float, seen_touched_at: float | None
) -> bool:
    """Forget ``pack_id`` and its chunks if it is still as the caller saw it, and old.

    ``seen_touched_at`` is the pack's ``touched_at`` in the caller's snapshot, or None
    if the snapshot had no such pack (an unindexed file): then a recorded pack is kept.
    """
    await lock_object(conn, PACK_LOCK, pack_id)  # waits for an upload recording it
    found = await conn.execute(
        select(packs.c.touched_at).where(packs.c.id == pack_id).with_for_update()
    )
    touched_at = found.scalar_one_or_none()
    if touched_at is None:
        return True
    if seen_touched_at is None or touched_at != seen_touched_at:
        return False  # recorded or touched since the snapshot: someone relies on it
    if touched_at >= touched_before:
        return False
    await visibility.forget_pack_chunks(conn, pack_id)
    await charges.forget_pack(conn, pack_id)
    await conn.execute(delete(chunk_index).where(chunk_index.c.pack_id == pack_id))
    await conn.execute(delete(packs).where(packs.c.id == pack_id))
    return True


async def drop_chunks(conn: AsyncConnection, pack_id: str, hashes: Sequence[str]) -> int:
    dropped = 0
    for batch in _batches([_hash_bytes(h) for h in hashes]):
        result = await conn.execute(
            delete(chunk_index).where(
                chunk_index.c.hash.in_(batch), chunk_index.c.pack_id == pack_id
            )
        )
        dropped += result.rowcount
    return dropped
