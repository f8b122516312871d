"""What versions cost, for :class:`SqlMetaStore` (a mixin): the chunk reference index
(``version_chunks``, schema 10) and the SQL aggregates over it.

A commit records the version's distinct chunks and, before that, the bytes of those no
version of its project held yet (``versions.added_bytes``: what logging it added; per
project, so the figure never tells a project's readers what other projects hold). "What deleting it
would free" is asked of the index when wanted: the bytes of the version's chunks that no
other version references (for a collection: no version of another collection; for a
project: of another project). Chunk sizes come from the chunk index (``chunks.length``).

Cost: each figure is one aggregate query over the project's references, each checked
against the hash index of ``version_chunks``: O(R log N) for R references in the
project and N in the store, with no manifest read and no row per chunk sent to Python.
A gc also counts chunks of distributed versions still pending (``pending_entries``) as
live; these figures do not: a pending part holding a chunk can make gc free less.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.storage import CollectionStorage, ProjectStorage, VersionCost
from asyncart.repo.metastores.lookups import (
    _batches,
    _unique_hashes,
    _version_id,
    insert_or_ignore,
)
from asyncart.repo.metastores.migrations import CHUNK_REFS_STATE
from asyncart.repo.metastores.schema import (
    chunks,
    collections,
    projects,
    store_state,
    version_chunks,
    versions,
)

T = TypeVar("T")


async def added_bytes(conn: AsyncConnection, raws: Sequence[bytes], project_id: int) -> int:
    """Bytes of the distinct chunks ``raws`` that no version of the project references."""
    total = 0
    held = (
        select(version_chunks.c.hash)
        .join(versions, versions.c.id == version_chunks.c.version_id)
        .join(collections, collections.c.id == versions.c.collection_id)
        .where(version_chunks.c.hash == chunks.c.hash, collections.c.project_id == project_id)
        .exists()
    )
    for batch in _batches(raws):
        found = await conn.execute(
            select(func.coalesce(func.sum(chunks.c.length), 0)).where(
                chunks.c.hash.in_(batch), ~held
            )
        )
        total += int(found.scalar_one())
    return total


async def record_version_chunks(
    conn: AsyncConnection, version_id: int, raws: Sequence[bytes]
) -> None:
    """Record version ``version_id`` as referencing the distinct chunks ``raws``."""
    for batch in _batches(raws):
        await conn.execute(
            insert_or_ignore(conn, version_chunks),
            [{"version_id": version_id, "hash": raw} for raw in batch],
        )


async def commit_costs(
    conn: AsyncConnection, project_id: int, version_id: int, hashes: Sequence[str]
) -> None:
    """At a commit that created ``version_id``: record what it added, then its chunks."""
    raws = list(_unique_hashes(hashes))
    added = await added_bytes(conn, raws, project_id)
    await record_version_chunks(conn, version_id, raws)
    await conn.execute(
        update(versions).where(versions.c.id == version_id).values(added_bytes=added)
    )


def _bytes(rows: Any) -> dict[int, int]:
    return {int(key): int(total or 0) for key, total in rows}


async def project_storage(
    conn: AsyncConnection, project: str, *, store_wide: bool
) -> ProjectStorage:
    """The figures of ``project`` (see ``core/storage.py``), in one read transaction.

    ``store_wide``: "held by no other version" looks at every project (what gc frees);
    else at this project's versions only, for a caller who may not learn what other
    projects hold (docs/protocol.md, "Dedup without leaks"); the project's own
    ``exclusive_bytes`` is then None.
    """
    pid = (
        await conn.execute(select(projects.c.id).where(projects.c.name == project))
    ).scalar_one_or_none()
    scope = "store" if store_wide else "project"
    if pid is None:
        return ProjectStorage(project, 0, 0, 0 if store_wide else None, scope=scope)
    in_project = collections.c.project_id == pid
    rows = (
        await conn.execute(
            select(
                versions.c.id,
                versions.c.collection_id,
                versions.c.idx,
                versions.c.size,
                versions.c.added_bytes,
                versions.c.source_id,
                collections.c.name,
                collections.c.type,
            )
            .join(collections, collections.c.id == versions.c.collection_id)
            .where(in_project)
            .order_by(collections.c.name, versions.c.idx)
        )
    ).all()
    refs = (
        select(version_chunks.c.version_id, version_chunks.c.hash, versions.c.collection_id)
        .join(versions, versions.c.id == version_chunks.c.version_id)
        .join(collections, collections.c.id == versions.c.collection_id)
        .where(in_project)
        .subquery()
    )
    other = version_chunks.alias("other")
    other_version = versions.alias("other_version")
    other_collection = collections.alias("other_collection")

    def others(*where: Any, by_collection: bool = False) -> Any:
        """Chunk references of other versions: of any project, or this one's only (the
        joins only where a condition needs them: each is a probe per reference)."""
        stmt = select(other.c.hash).where(*where)
        if by_collection or not store_wide:
            stmt = stmt.join_from(other, other_version, other_version.c.id == other.c.version_id)
        if not store_wide:
            stmt = stmt.join(
                other_collection, other_collection.c.id == other_version.c.collection_id
            ).where(other_collection.c.project_id == pid)
        return stmt

    by_version = _bytes(
        await conn.execute(
            select(refs.c.version_id, func.sum(chunks.c.length))
            .join(chunks, chunks.c.hash == refs.c.hash)
            .where(
                ~others(
                    other.c.hash == refs.c.hash, other.c.version_id != refs.c.version_id
                ).exists()
            )
            .group_by(refs.c.version_id)
        )
    )
    held = select(refs.c.collection_id, refs.c.hash).distinct().subquery()
    stored = _bytes(
        await conn.execute(
            select(held.c.collection_id, func.sum(chunks.c.length))
            .join(chunks, chunks.c.hash == held.c.hash)
            .group_by(held.c.collection_id)
        )
    )
    held_elsewhere = others(
        other.c.hash == held.c.hash,
        other_version.c.collection_id != held.c.collection_id,
        by_collection=True,
    ).exists()
    by_collection = _bytes(
        await conn.execute(
            select(held.c.collection_id, func.sum(chunks.c.length))
            .join(chunks, chunks.c.hash == held.c.hash)
            .where(~held_elsewhere)
            .group_by(held.c.collection_id)
        )
    )
    hashes = select(refs.c.hash).distinct().subquery()
    outside = (
        select(other.c.hash)
        .join(other_version, other_version.c.id == other.c.version_id)
        .join(other_collection, other_collection.c.id == other_version.c.collection_id)
        .where(other.c.hash == hashes.c.hash, other_collection.c.project_id != pid)
        .exists()
    )  # asked only store-wide: it is about other projects
    project_stored, project_exclusive = (
        await conn.execute(
            select(
                func.coalesce(func.sum(chunks.c.length), 0),
                func.coalesce(func.sum(chunks.c.length).filter(~outside), 0),
            ).join_from(hashes, chunks, chunks.c.hash == hashes.c.hash)
        )
    ).one()
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.collection_id, []).append(row)
    cols = []
    for cid, members in grouped.items():
        costs = tuple(
            VersionCost(
                index=r.idx,
                size=r.size,
                added_bytes=None if r.source_id is not None else r.added_bytes,
                exclusive_bytes=by_version.get(r.id, 0),
                is_link=r.source_id is not None,
            )
            for r in members
        )
        cols.append(
            CollectionStorage(
                name=members[0].name,
                type=members[0].type,
                size=sum(v.size for v in costs),
                stored_bytes=stored.get(cid, 0),
                added_bytes=sum(v.added_bytes or 0 for v in costs),
                exclusive_bytes=by_collection.get(cid, 0),
                versions=costs,
            )
        )
    return ProjectStorage(
        project=project,
        size=sum(c.size for c in cols),
        stored_bytes=int(project_stored),
        exclusive_bytes=int(project_exclusive) if store_wide else None,
        collections=tuple(cols),
        scope=scope,
    )


class StorageMethods(ABC):
    """Cost transactions; the class mixing this in provides :meth:`_run`."""

    @abstractmethod
    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T:
        """Run ``work`` in one transaction (see ``SqlMetaStore._run``)."""

    async def project_storage(self, project: str, *, store_wide: bool) -> ProjectStorage:
        """What the versions of ``project`` cost (see :func:`project_storage`)."""

        async def work(conn: AsyncConnection) -> ProjectStorage:
            return await project_storage(conn, project, store_wide=store_wide)

        return await self._run(f"sum the storage of project {project!r}", work, write=False)

    async def chunk_refs_complete(self) -> bool:
        """Whether ``version_chunks`` covers every version (a store migrated from schema 9
        is not, until :meth:`record_chunk_refs` has filled it)."""

        async def work(conn: AsyncConnection) -> bool:
            found = await conn.execute(
                select(store_state.c.value).where(store_state.c.key == CHUNK_REFS_STATE)
            )
            return found.scalar_one_or_none() in (None, "complete")

        return await self._run("read the store state", work, write=False)

    async def record_chunk_refs(
        self, project: str, name: str, index: int, hashes: Sequence[str]
    ) -> None:
        """Record the chunks of version ``index`` of ``project/name`` (the backfill)."""
        raws = list(_unique_hashes(hashes))

        async def work(conn: AsyncConnection) -> None:
            version_id = await _version_id(conn, project, name, index)
            is_link = (
                await conn.execute(
                    select(versions.c.source_id).where(
                        and_(versions.c.id == version_id, versions.c.source_id.is_not(None))
                    )
                )
            ).first()
            if is_link is None:
                await record_version_chunks(conn, version_id, raws)

        await self._run(f"record the chunks of {project}/{name}", work, write=True)

    async def chunk_refs_done(self) -> None:
        """Mark ``version_chunks`` as covering every version."""

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(
                update(store_state)
                .where(store_state.c.key == CHUNK_REFS_STATE)
                .values(value="complete")
            )

        await self._run("mark the chunk references complete", work, write=True)
