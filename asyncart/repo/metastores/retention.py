"""Retention policies in the SQL metadata store (schema v11), and applying them.

A policy belongs to a collection row (so a rename keeps it). Applying retention to a
collection is one write transaction: read its versions, decide
(:func:`asyncart.core.retention.decide`), delete the versions that go with the rules of
``deletion.py`` (their aliases with them; ``latest`` moves to the newest one left). A
link or alias made concurrently is ordered before (and protects) or after (and finds
the version gone).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.names import format_version
from asyncart.core.retention import Candidate, RetentionPolicy, decide
from asyncart.repo.metastores import deletion
from asyncart.repo.metastores.base_retention import CollectionRetention, RetentionStore
from asyncart.repo.metastores.lookups import HAS_VERSIONS, _batches, _collection
from asyncart.repo.metastores.schema import (
    aliases,
    collections,
    projects,
    retention_policies,
    versions,
)

T = TypeVar("T")


def _policy(row: object) -> RetentionPolicy:
    return RetentionPolicy(
        keep_last=row.keep_last,  # type: ignore[attr-defined]
        max_age=row.max_age_seconds,  # type: ignore[attr-defined]
        keep_aliased=bool(row.keep_aliased),  # type: ignore[attr-defined]
    )


async def get_policy(conn: AsyncConnection, project: str, name: str) -> RetentionPolicy | None:
    coll = await _collection(conn, project, name)
    row = (
        await conn.execute(
            select(retention_policies).where(retention_policies.c.collection_id == coll.id)
        )
    ).first()
    return None if row is None else _policy(row)


async def set_policy(
    conn: AsyncConnection, project: str, name: str, policy: RetentionPolicy, user: str | None
) -> RetentionPolicy:
    coll = await _collection(conn, project, name)
    t = retention_policies.c
    await conn.execute(delete(retention_policies).where(t.collection_id == coll.id))
    await conn.execute(
        retention_policies.insert().values(
            collection_id=coll.id,
            keep_last=policy.keep_last,
            max_age_seconds=policy.max_age,
            keep_aliased=int(policy.keep_aliased),
            updated_at=time.time(),
            updated_by=user,
        )
    )
    return policy


async def clear_policy(conn: AsyncConnection, project: str, name: str) -> RetentionPolicy | None:
    coll = await _collection(conn, project, name)
    old = await get_policy(conn, project, name)
    await conn.execute(
        delete(retention_policies).where(retention_policies.c.collection_id == coll.id)
    )
    return old


async def collections_to_review(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(project, name) of every collection with versions that has a policy or a version
    with a ttl, in name order."""
    with_policy = select(retention_policies.c.collection_id)
    with_ttl = select(versions.c.collection_id).where(versions.c.ttl_seconds.is_not(None))
    stmt = (
        select(projects.c.name, collections.c.name)
        .join(projects, collections.c.project_id == projects.c.id)
        .where(HAS_VERSIONS)
        .where(collections.c.id.in_(with_policy) | collections.c.id.in_(with_ttl))
        .order_by(projects.c.name, collections.c.name)
    )
    return [(p, n) for p, n in (await conn.execute(stmt)).all()]


async def _candidates(conn: AsyncConnection, collection_id: int, lock: bool) -> list[Candidate]:
    stmt = select(
        versions.c.id, versions.c.idx, versions.c.created_at, versions.c.ttl_seconds
    ).where(versions.c.collection_id == collection_id)
    rows = (await conn.execute(stmt.with_for_update() if lock else stmt)).all()
    ids = [r.id for r in rows]
    held: dict[int, list[str]] = {i: [] for i in ids}
    linked: set[int] = set()
    for batch in _batches(ids):
        for version_id, alias in await conn.execute(
            select(aliases.c.version_id, aliases.c.alias).where(aliases.c.version_id.in_(batch))
        ):
            held[version_id].append(alias)
        found = await conn.execute(
            select(versions.c.source_id).where(versions.c.source_id.in_(batch)).distinct()
        )
        linked.update(int(i) for i in found.scalars())
    return [
        Candidate(r.idx, r.created_at, r.ttl_seconds, tuple(sorted(held[r.id])), r.id in linked)
        for r in rows
    ]


async def apply(
    conn: AsyncConnection, project: str, name: str, now: float, dry_run: bool
) -> CollectionRetention:
    """Decide one collection's retention at ``now`` and, unless ``dry_run``, delete what goes."""
    coll = await _collection(conn, project, name)
    policy = await get_policy(conn, project, name)
    decisions = decide(policy, await _candidates(conn, coll.id, not dry_run), now)
    going = tuple(d.index for d in decisions if d.goes)
    if not dry_run:
        for index in going:
            await deletion.delete_version(conn, project, name, format_version(index), True, now)
    return CollectionRetention(project, name, policy, tuple(decisions), going)


class RetentionMethods(RetentionStore):
    """Retention transactions of :class:`SqlMetaStore`; the class mixing this in
    provides :meth:`_run`."""

    @abstractmethod
    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T: ...

    async def get_retention(self, project: str, name: str) -> RetentionPolicy | None:
        """The collection's retention policy, None when it has none (ArtifactNotFound:
        no such collection)."""

        async def work(conn: AsyncConnection) -> RetentionPolicy | None:
            return await get_policy(conn, project, name)

        return await self._run(f"read the retention of {project}/{name}", work, write=False)

    async def set_retention(
        self, project: str, name: str, policy: RetentionPolicy, user: str | None = None
    ) -> RetentionPolicy:
        """Give the collection ``policy`` (replacing its previous one)."""

        async def work(conn: AsyncConnection) -> RetentionPolicy:
            return await set_policy(conn, project, name, policy, user)

        return await self._run(f"set the retention of {project}/{name}", work, write=True)

    async def clear_retention(self, project: str, name: str) -> RetentionPolicy | None:
        """Remove the collection's policy; returns it (None: it had none)."""

        async def work(conn: AsyncConnection) -> RetentionPolicy | None:
            return await clear_policy(conn, project, name)

        return await self._run(f"clear the retention of {project}/{name}", work, write=True)

    async def retention_collections(self) -> list[tuple[str, str]]:
        """(project, name) of the collections retention must look at."""
        return await self._run(
            "list collections with retention", collections_to_review, write=False
        )

    async def apply_retention(
        self, project: str, name: str, *, now: float, dry_run: bool
    ) -> CollectionRetention:
        """Decide (and unless ``dry_run``, delete) one collection's expired versions, in
        one transaction (a dry run's is a write too: the same locks, the same answer)."""

        async def work(conn: AsyncConnection) -> CollectionRetention:
            return await apply(conn, project, name, now, dry_run)

        return await self._run(f"apply retention to {project}/{name}", work, write=not dry_run)
