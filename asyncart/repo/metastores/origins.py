"""Where synced versions came from, for :class:`SqlMetaStore` (a mixin; schema v14,
``core/origins.py``).

An origin belongs to a version row: it goes when the version is deleted
(``deletion.py``) and follows a rename of its collection. Recording one is idempotent
(one row per version and source version), so a re-run or a retried request adds none.
A link is never given one: sync records origins on the versions it commits.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.names import parse_version
from asyncart.core.origins import MAX_STORE_NAME, VersionOrigin
from asyncart.errors import ConfigError
from asyncart.repo.metastores.lookups import (
    _alias_version_id,
    _collection,
    _version_id,
    insert_or_ignore,
)
from asyncart.repo.metastores.schema import version_origins, versions

T = TypeVar("T")


def _origin(row: object, index: int) -> VersionOrigin:
    return VersionOrigin(
        source_store=row.source_store,  # type: ignore[attr-defined]
        source_project=row.source_project,  # type: ignore[attr-defined]
        source_name=row.source_name,  # type: ignore[attr-defined]
        source_index=int(row.source_index),  # type: ignore[attr-defined]
        source_digest=row.source_digest,  # type: ignore[attr-defined]
        index=index,
        synced_at=row.synced_at,  # type: ignore[attr-defined]
        synced_by=row.synced_by,  # type: ignore[attr-defined]
    )


async def record(
    conn: AsyncConnection,
    project: str,
    name: str,
    ref: str,
    origin: VersionOrigin,
    user: str | None,
) -> tuple[VersionOrigin, bool]:
    """Record ``origin`` for version ``ref``; the origin as stored and whether it is new."""
    # Bytes, not characters: the name is part of a unique index (PostgreSQL bounds entries).
    if not origin.source_store or len(origin.source_store.encode()) > MAX_STORE_NAME:
        raise ConfigError(f"a source store name is 1 to {MAX_STORE_NAME} bytes of UTF-8")
    index = parse_version(ref)
    if index is None:
        version_id = await _alias_version_id(conn, project, name, ref)
    else:
        version_id = await _version_id(conn, project, name, index)
    if (
        await conn.execute(select(versions.c.source_id).where(versions.c.id == version_id))
    ).scalar():
        raise ConfigError(f"{project}/{name}:{ref} is a link: an origin belongs to its source")
    t = version_origins.c
    done = await conn.execute(
        insert_or_ignore(conn, version_origins).values(
            version_id=version_id,
            source_store=origin.source_store,
            source_project=origin.source_project,
            source_name=origin.source_name,
            source_index=origin.source_index,
            source_digest=origin.source_digest,
            synced_at=time.time(),
            synced_by=user,
        )
    )
    row = (
        await conn.execute(
            select(version_origins, versions.c.idx)
            .join(versions, versions.c.id == t.version_id)
            .where(
                t.version_id == version_id,
                t.source_store == origin.source_store,
                t.source_project == origin.source_project,
                t.source_name == origin.source_name,
                t.source_index == origin.source_index,
            )
        )
    ).one()
    return _origin(row, row.idx), done.rowcount == 1


async def of_collection(conn: AsyncConnection, project: str, name: str) -> list[VersionOrigin]:
    """The origins of a collection's versions, by destination version, then as recorded."""
    coll = await _collection(conn, project, name)
    rows = await conn.execute(
        select(version_origins, versions.c.idx)
        .join(versions, versions.c.id == version_origins.c.version_id)
        .where(versions.c.collection_id == coll.id)
        .order_by(versions.c.idx, version_origins.c.id)
    )
    return [_origin(r, r.idx) for r in rows]


class OriginMethods(ABC):
    """Origin transactions of :class:`SqlMetaStore`; the class mixing this in provides
    :meth:`_run`."""

    @abstractmethod
    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T: ...

    async def record_origin(
        self, project: str, name: str, ref: str, origin: VersionOrigin, user: str | None = None
    ) -> tuple[VersionOrigin, bool]:
        """Record where version ``ref`` of ``project/name`` came from (idempotent); the
        origin as stored and whether this call added it.

        Raises:
            ArtifactNotFound / VersionNotFound / AliasNotFound: no such version.
            ConfigError: a link, or a source store name out of bounds.
        """

        async def work(conn: AsyncConnection) -> tuple[VersionOrigin, bool]:
            return await record(conn, project, name, ref, origin, user)

        return await self._run(f"record the origin of {project}/{name}:{ref}", work, write=True)

    async def list_origins(self, project: str, name: str) -> list[VersionOrigin]:
        """The origins of the versions of ``project/name`` (ArtifactNotFound: none such)."""

        async def work(conn: AsyncConnection) -> list[VersionOrigin]:
            return await of_collection(conn, project, name)

        return await self._run(f"list the origins of {project}/{name}", work, write=False)
