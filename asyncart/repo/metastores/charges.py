"""Pack uploads charged to a project, for :class:`SqlMetaStore` (a mixin; schema 13,
docs/quotas.md "Pack uploads").

A pack upload names the project it is for. The bytes it stores count against that
project's quota from the moment they are accepted until a version of the project
references them (then they are its usage) or gc removes the pack:

    usage (committed, deduplicated) + charged (uploaded, not referenced) + this pack
        <= quota

Rows (``pack_charges``): one per project and pack, ``bytes`` what of the pack no version
of the project references yet. Where they are written:

* :func:`reserve` before a pack body is stored, for a project with a quota: it locks
  the quota row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer), so
  two concurrent uploads cannot both pass, and inserts the row;
* :func:`charge_recorded` in the transaction that records a new pack (every upload):
  inserts the row if no reservation did, re-checking the quota then (a quota set
  meanwhile, or a direct upload completed for another project than it began for);
* :func:`release_committed` in a commit: the packs holding its chunks are charged only
  for their bytes no version of the project references (a pack committed in full
  leaves the table; one whose other chunks nobody references stays charged for them,
  so a version cannot hide a pack of junk behind one small chunk);
* gc deletes the rows of the packs it removes, and reservations whose pack never
  arrived, once older than its grace period.

A failed upload keeps its reservation: a retry of the same pack finds it (no second
charge), and taking it back would let two uploads of one pack race a charge away.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.errors import QuotaExceeded
from asyncart.repo.metastores import quotas
from asyncart.repo.metastores.lookups import _batches, insert_or_ignore
from asyncart.repo.metastores.quotas import charged_bytes
from asyncart.repo.metastores.schema import (
    chunks,
    collections,
    pack_charges,
    packs,
    project_quotas,
    version_chunks,
    versions,
)

T = TypeVar("T")

#: How a refused pack upload is named in the quota message.
ADDING = "this pack upload adds"


async def _charged(conn: AsyncConnection, project: str, pack_id: str) -> bool:
    found = await conn.execute(
        select(pack_charges.c.bytes).where(
            pack_charges.c.project == project, pack_charges.c.pack_id == pack_id
        )
    )
    return found.first() is not None


async def _check_room(
    conn: AsyncConnection, project: str, quota: int, size: int, *, counted: bool = False
) -> None:
    """Refuse ``size`` more bytes unless usage + charged + ``size`` fit ``quota``
    (``counted``: the charged bytes include them already)."""
    usage = await quotas.stored_bytes(conn, project)
    pending = await charged_bytes(conn, project) - (size if counted else 0)
    if usage + pending + size > quota:
        raise QuotaExceeded(
            await quotas.refusal(conn, project, quota, usage, size, pending=pending, adding=ADDING)
        )


async def _insert(conn: AsyncConnection, project: str, pack_id: str, size: int) -> bool:
    done = await conn.execute(
        insert_or_ignore(conn, pack_charges).values(
            project=project, pack_id=pack_id, bytes=size, created_at=time.time()
        )
    )
    return bool(done.rowcount)


async def reserve(conn: AsyncConnection, project: str, pack_id: str, size: int) -> None:
    """Before a pack's body is stored: charge ``project`` for it if it fits (a no-op for
    a project without a quota, a pack already charged to it, or one already stored).

    Raises:
        QuotaExceeded: it does not fit.
    """
    quota = await quotas.quota_of(conn, project, lock=True)
    if quota is None or await _charged(conn, project, pack_id):
        return
    if (await conn.execute(select(packs.c.id).where(packs.c.id == pack_id))).first():
        return  # stored already: the upload adds no byte
    await _check_room(conn, project, quota, size)
    await _insert(conn, project, pack_id, size)


async def charge_recorded(conn: AsyncConnection, project: str, pack_id: str, size: int) -> None:
    """Inside the transaction recording a new pack: charge ``project`` for it, checking
    its quota unless a reservation did (see the module doc).

    Raises:
        QuotaExceeded: it does not fit (the transaction, and so the record, is undone).
    """
    # The quota row first, as a reservation locks it: the same order on both sides.
    quota = await quotas.quota_of(conn, project, lock=True)
    if not await _insert(conn, project, pack_id, size):
        return  # reserved before its body was stored
    if quota is not None:
        await _check_room(conn, project, quota, size, counted=True)


async def release_committed(
    conn: AsyncConnection, project: str, project_id: int, pack_ids: Iterable[str]
) -> None:
    """In a commit of ``project`` (after its chunk references are recorded): charge the
    packs ``pack_ids`` only for their bytes no version of the project references."""
    for batch in _batches(sorted(set(pack_ids))):
        rows = await conn.execute(
            select(pack_charges.c.pack_id, packs.c.size)
            .join(packs, packs.c.id == pack_charges.c.pack_id)
            .where(pack_charges.c.project == project, pack_charges.c.pack_id.in_(batch))
        )
        sizes = {pack_id: int(size) for pack_id, size in rows}
        if not sizes:
            continue
        held = (
            select(version_chunks.c.hash)
            .join(versions, versions.c.id == version_chunks.c.version_id)
            .join(collections, collections.c.id == versions.c.collection_id)
            .where(version_chunks.c.hash == chunks.c.hash, collections.c.project_id == project_id)
        )
        referenced = await conn.execute(
            select(chunks.c.pack_id, func.sum(chunks.c.length))
            .where(chunks.c.pack_id.in_(list(sizes)), exists(held))
            .group_by(chunks.c.pack_id)
        )
        used = {pack_id: int(total) for pack_id, total in referenced}
        for pack_id, size in sizes.items():
            left = size - used.get(pack_id, 0)
            where = (pack_charges.c.project == project) & (pack_charges.c.pack_id == pack_id)
            if left <= 0:
                await conn.execute(delete(pack_charges).where(where))
            else:
                await conn.execute(update(pack_charges).where(where).values(bytes=left))


async def forget_pack(conn: AsyncConnection, pack_id: str) -> None:
    """gc removed the pack: nobody is charged for it any more."""
    await conn.execute(delete(pack_charges).where(pack_charges.c.pack_id == pack_id))


async def drop_stale(conn: AsyncConnection, before: float) -> int:
    """Forget reservations older than ``before`` whose pack was never recorded."""
    recorded = select(packs.c.id).where(packs.c.id == pack_charges.c.pack_id)
    done = await conn.execute(
        delete(pack_charges).where(pack_charges.c.created_at < before, ~exists(recorded))
    )
    return int(done.rowcount)


class ChargeMethods(ABC):
    """Pack charge transactions; the class mixing this in provides :meth:`_run`."""

    @abstractmethod
    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T:
        """Run ``work`` in one transaction (see ``SqlMetaStore._run``)."""

    async def check_upload(self, project: str, size: int) -> bool:
        """Whether ``project`` has a quota, having checked ``size`` more uploaded bytes
        fit it (a read, to refuse a body before reading it; no charge is made).

        Raises:
            QuotaExceeded: they do not fit.
        """

        async def work(conn: AsyncConnection) -> bool:
            quota = await quotas.quota_of(conn, project)
            if quota is not None:
                await _check_room(conn, project, quota, size)
            return quota is not None

        return await self._run(f"check an upload to {project!r}", work, write=False)

    async def reserve_pack(self, project: str, pack_id: str, size: int) -> None:
        """Charge ``project`` for pack ``pack_id`` of ``size`` bytes before it is stored.

        Raises:
            QuotaExceeded: it does not fit the project's quota.
        """

        async def limited(conn: AsyncConnection) -> bool:
            return await quotas.quota_of(conn, project) is not None

        # A read first: without a quota (the common case) no write transaction is taken
        # (the pack's record charges it); a quota set meanwhile is checked there.
        if await self._run(f"read the quota of {project!r}", limited, write=False):
            await self._run(
                f"charge pack {pack_id} to {project!r}",
                lambda conn: reserve(conn, project, pack_id, size),
                write=True,
            )

    async def charged_bytes(self, project: str) -> int:
        """The uploaded bytes ``project`` is charged for that no version references."""
        return await self._run(
            f"read the pending uploads of {project!r}",
            lambda conn: charged_bytes(conn, project),
            write=False,
        )

    async def any_quota(self) -> bool:
        """Whether any project has a quota."""

        async def work(conn: AsyncConnection) -> bool:
            found = await conn.execute(select(project_quotas.c.project).limit(1))
            return found.first() is not None

        return await self._run("look for quotas", work, write=False)

    async def drop_stale_charges(self, before: float) -> int:
        """Forget charges older than ``before`` whose pack was never recorded."""
        return await self._run(
            "forget stale pack charges", lambda conn: drop_stale(conn, before), write=True
        )
