"""Project quotas on deduplicated bytes, for :class:`SqlMetaStore` (a mixin; schema 12,
docs/quotas.md).

A project's usage is its ``stored_bytes`` (core/storage.py): the bytes of the distinct
chunks its versions reference, one SQL aggregate over ``version_chunks`` (no manifest
is read). A commit that creates a version checks, in its write transaction, that the
bytes it adds (``added_bytes``: its chunks no version of the project held) fit; it
locks the quota row first, so commits to one project with a quota are serialised and
two concurrent pushes cannot both pass (the commit is the authority; see the doc).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.humanize import human_size
from asyncart.core.storage import QuotaUsage
from asyncart.errors import QuotaExceeded
from asyncart.repo.metastores import storage
from asyncart.repo.metastores.lookups import _unique_hashes
from asyncart.repo.metastores.schema import (
    chunks,
    collections,
    pack_charges,
    project_quotas,
    projects,
    version_chunks,
    versions,
)

T = TypeVar("T")

#: How many versions a refusal names as the ones to delete.
BIGGEST = 3


async def stored_bytes(conn: AsyncConnection, project: str) -> int:
    """The bytes of the distinct chunks the versions of ``project`` reference."""
    held = (
        select(version_chunks.c.hash)
        .join(versions, versions.c.id == version_chunks.c.version_id)
        .join(collections, collections.c.id == versions.c.collection_id)
        .join(projects, projects.c.id == collections.c.project_id)
        .where(projects.c.name == project)
        .distinct()
        .subquery()
    )
    found = await conn.execute(
        select(func.coalesce(func.sum(chunks.c.length), 0)).join_from(
            held, chunks, chunks.c.hash == held.c.hash
        )
    )
    return int(found.scalar_one())


async def charged_bytes(conn: AsyncConnection, project: str) -> int:
    """The uploaded pack bytes ``project`` is charged for that no version of it references
    (``charges.py``)."""
    found = await conn.execute(
        select(func.coalesce(func.sum(pack_charges.c.bytes), 0)).where(
            pack_charges.c.project == project
        )
    )
    return int(found.scalar_one())


async def quota_of(conn: AsyncConnection, project: str, *, lock: bool = False) -> int | None:
    """The quota of ``project`` in bytes, or None; ``lock``: lock its row (PostgreSQL)."""
    stmt = select(project_quotas.c.quota_bytes).where(project_quotas.c.project == project)
    if lock:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).scalar_one_or_none()


async def refusal(
    conn: AsyncConnection,
    project: str,
    quota: int,
    usage: int,
    new: int,
    *,
    pending: int = 0,
    adding: str = "this push adds",
) -> str:
    """The message of a refused push (or pack upload, ``adding`` says which): usage,
    pending uploads, quota, and the versions to delete."""
    costs = await storage.project_storage(conn, project, store_wide=False)
    biggest = sorted(
        (
            (v.exclusive_bytes, f"{c.name}:{v.version}")
            for c in costs.collections
            for v in c.versions
            if v.exclusive_bytes > 0
        ),
        reverse=True,
    )[:BIGGEST]
    hint = ", ".join(f"{name} ({human_size(freed)})" for freed, name in biggest)
    return (
        f"project {project!r} is over its quota: it stores {human_size(usage)} "
        f"(deduplicated) of its {human_size(quota)} quota"
        + (
            f", {human_size(pending)} more are uploaded but not committed yet (gc "
            "frees those of pushes that never commit, after its grace period)"
            if pending
            else ""
        )
        + f", and {adding} {human_size(new)}; delete versions (then run gc) or ask a "
        "server admin to raise the quota"
        + (f"; deleting these frees most: {hint}" if hint else "")
    )


async def check_fits(conn: AsyncConnection, project: str, new: int, *, lock: bool) -> QuotaUsage:
    """The project's quota and usage, having checked ``new`` more bytes fit.

    Raises:
        QuotaExceeded: usage + ``new`` is over the quota (``new`` > 0).
    """
    quota = await quota_of(conn, project, lock=lock)
    if quota is None:
        return QuotaUsage(project, None, 0)
    usage = await stored_bytes(conn, project)
    if new > 0 and usage + new > quota:
        raise QuotaExceeded(await refusal(conn, project, quota, usage, new))
    return QuotaUsage(project, quota, usage)


async def check_commit(
    conn: AsyncConnection, project: str, project_id: int, hashes: Sequence[str]
) -> None:
    """At a commit creating a version of ``project`` with chunks ``hashes``: refuse it if
    the bytes it adds to the project take it past its quota (locks the quota row).

    Raises:
        QuotaExceeded: they do.
    """
    if await quota_of(conn, project, lock=True) is None:
        return
    added = await storage.added_bytes(conn, list(_unique_hashes(hashes)), project_id)
    await check_fits(conn, project, added, lock=False)


class QuotaMethods(ABC):
    """Quota transactions; the class mixing this in provides :meth:`_run`."""

    @abstractmethod
    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T:
        """Run ``work`` in one transaction (see ``SqlMetaStore._run``)."""

    async def set_quota(self, project: str, quota_bytes: int) -> None:
        """Set the quota of ``project`` (which need not exist yet) to ``quota_bytes``."""

        async def work(conn: AsyncConnection) -> None:
            now = time.time()
            done = await conn.execute(
                update(project_quotas)
                .where(project_quotas.c.project == project)
                .values(quota_bytes=quota_bytes, updated_at=now)
            )
            if not done.rowcount:
                await conn.execute(
                    project_quotas.insert().values(
                        project=project, quota_bytes=quota_bytes, updated_at=now
                    )
                )

        await self._run(f"set the quota of {project!r}", work, write=True)

    async def clear_quota(self, project: str) -> bool:
        """Remove the quota of ``project``; whether it had one."""

        async def work(conn: AsyncConnection) -> bool:
            done = await conn.execute(
                delete(project_quotas).where(project_quotas.c.project == project)
            )
            return bool(done.rowcount)

        return await self._run(f"clear the quota of {project!r}", work, write=True)

    async def quota_usage(self, project: str, new_bytes: int = 0) -> QuotaUsage:
        """The quota and usage of ``project``, having checked ``new_bytes`` more fit (the
        push pre-flight).

        Raises:
            QuotaExceeded: they do not.
        """

        async def work(conn: AsyncConnection) -> QuotaUsage:
            found = await check_fits(conn, project, new_bytes, lock=False)
            usage = found.stored_bytes
            if found.quota_bytes is None:
                usage = await stored_bytes(conn, project)
            pending = await charged_bytes(conn, project)
            return QuotaUsage(project, found.quota_bytes, usage, pending)

        return await self._run(f"read the quota of {project!r}", work, write=False)
