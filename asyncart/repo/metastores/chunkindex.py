"""The chunk-index methods of :class:`SqlMetaStore` (a mixin, to keep ``sql.py`` small).

``missing`` answers, pack records, chunk locations, readable pack ranges and the
chunk-holder records behind "dedup without leaks" (``visibility.py``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import ChunkLocation
from asyncart.errors import StoreRetry
from asyncart.repo.metastores import charges, packindex, visibility
from asyncart.repo.metastores.base import TOUCH_INTERVAL, ChunkScope, PackChunk, StoredCheck
from asyncart.repo.metastores.lookups import (
    _batches,
    _hash_bytes,
    _project_id,
    _unique_hashes,
)
from asyncart.repo.metastores.migrations import HOLDERS_STATE
from asyncart.repo.metastores.schema import chunks as chunk_index
from asyncart.repo.metastores.schema import store_state

T = TypeVar("T")


class ChunkIndexMethods(ABC):
    """Chunk-index transactions; the class mixing this in provides :meth:`_run`."""

    @abstractmethod
    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T:
        """Run ``work`` in one transaction (see ``SqlMetaStore._run``)."""

    async def missing_chunks(
        self, hashes: Sequence[str], *, touch: bool = False, scope: ChunkScope | None = None
    ) -> list[str]:
        """The hashes not in the chunk index (or not visible to ``scope``), in input order,
        without duplicates.

        With ``touch``, packs of present chunks not touched for :data:`TOUCH_INTERVAL` are
        touched in a write transaction that re-checks their chunks (see the port).
        """
        wanted = _unique_hashes(hashes)

        async def read(conn: AsyncConnection) -> dict[bytes, tuple[str, float]]:
            present = await packindex.present_chunks(conn, list(wanted))
            if scope is not None and present:
                seen = await visibility.visible_hashes(conn, list(present), scope)
                present = {raw: found for raw, found in present.items() if raw in seen}
            return present

        present = await self._run("look up chunks", read, write=False)
        stale_before = time.time() - TOUCH_INTERVAL
        stale = [raw for raw, (_, touched_at) in present.items() if touched_at < stale_before]
        if touch and stale:

            async def refresh(conn: AsyncConnection) -> dict[bytes, tuple[str, float]]:
                # Locked and re-read: a chunk a gc removed meanwhile is answered as missing.
                again = await packindex.present_chunks(conn, stale, lock=True)
                await packindex.touch_packs(conn, (p for p, _ in again.values()), time.time())
                return again

            still = await self._run("refresh chunk packs", refresh, write=True)
            for raw in stale:
                if raw not in still:
                    del present[raw]
        return [h for raw, h in wanted.items() if raw not in present]

    async def add_pack(
        self,
        pack_id: str,
        size: int,
        chunks: Sequence[PackChunk],
        *,
        stored: StoredCheck | None = None,
        uploader: str | None = None,
        project: str | None = None,
    ) -> int:
        """Record a pack and index its chunks (existing entries win); returns newly indexed.
        A new pack is charged to ``project`` (``charges.py``)."""
        rows: dict[bytes, dict[str, Any]] = {}
        for c in chunks:
            raw = _hash_bytes(c.hash)
            rows.setdefault(
                raw, {"hash": raw, "pack_id": pack_id, "offset": c.offset, "length": c.length}
            )

        async def work(conn: AsyncConnection) -> int:
            new, fresh = await packindex.add_pack_rows(
                conn, pack_id, size, list(rows.values()), time.time()
            )
            if fresh and project is not None:
                await charges.charge_recorded(conn, project, pack_id, size)
            if uploader is not None:
                await visibility.record_uploads(conn, uploader, rows)
            if stored is not None and not await stored():
                raise StoreRetry(
                    f"pack {pack_id} was removed by a concurrent garbage collection while "
                    "it was being recorded; upload it again"
                )
            return new

        return await self._run(f"record pack {pack_id}", work, write=True)

    async def locate_chunks(
        self, hashes: Sequence[str], *, scope: ChunkScope | None = None
    ) -> dict[str, ChunkLocation]:
        """Where the indexed (and, with ``scope``, visible) chunks among ``hashes`` live."""
        wanted = _unique_hashes(hashes)

        async def work(conn: AsyncConnection) -> dict[str, ChunkLocation]:
            out: dict[str, ChunkLocation] = {}
            for batch in _batches(list(wanted)):
                found = await conn.execute(
                    select(chunk_index).where(
                        chunk_index.c.hash.in_(batch), visibility.scope_clause(scope)
                    )
                )
                for row in found:
                    out[wanted[row.hash]] = ChunkLocation(row.pack_id, row.offset, row.length)
            return out

        return await self._run("locate chunks", work, write=False)

    async def range_visible(
        self, pack_id: str, start: int, end: int, scope: ChunkScope | None
    ) -> bool:
        """Whether ``[start, end)`` of the pack is made of chunks ``scope`` may see."""

        async def work(conn: AsyncConnection) -> bool:
            return await visibility.range_visible(conn, pack_id, start, end, scope)

        return await self._run(f"check a range of pack {pack_id}", work, write=False)

    async def holders_complete(self) -> bool:
        """Whether ``chunk_holders`` covers every version (see the port)."""

        async def work(conn: AsyncConnection) -> bool:
            found = await conn.execute(
                select(store_state.c.value).where(store_state.c.key == HOLDERS_STATE)
            )
            return found.scalar_one_or_none() == "complete"

        return await self._run("read the store state", work, write=False)

    async def record_holders(
        self, project: str, hashes: Sequence[str], *, complete: bool = False
    ) -> None:
        """Record ``project`` as holding ``hashes``; ``complete`` marks the backfill done."""
        raws = list(_unique_hashes(hashes))

        async def work(conn: AsyncConnection) -> None:
            if raws:
                project_id = await _project_id(conn, project, time.time())
                await visibility.record_holders(conn, project_id, raws)
            if complete:
                await conn.execute(
                    update(store_state)
                    .where(store_state.c.key == HOLDERS_STATE)
                    .values(value="complete")
                )

        await self._run(f"record chunk holders of project {project!r}", work, write=True)

    async def pack_visible(self, pack_id: str, scope: ChunkScope) -> bool:
        """Whether the whole stored pack is made of chunks ``scope`` may see."""

        async def work(conn: AsyncConnection) -> bool:
            return await visibility.pack_visible(conn, pack_id, scope)

        return await self._run(f"check pack {pack_id}", work, write=False)

    async def foreign_holders(self, pack_id: str, scope: ChunkScope) -> list[str]:
        """Projects ``scope`` may not read holding chunks of the pack (see the port)."""

        async def work(conn: AsyncConnection) -> list[str]:
            return await visibility.foreign_holders(conn, pack_id, scope)

        return await self._run(f"read the holders of pack {pack_id}", work, write=False)
