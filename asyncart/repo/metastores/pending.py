"""Distributed versions being written, for :class:`SqlMetaStore` (W&B's
``upsert_artifact`` / ``finish_artifact``; a mixin, to keep ``sql.py`` small).

Processes of one job send parts under ``(project, name, distributed_id)``. Each part is
one write transaction: its chunks are claimed as a commit claims them (so gc keeps their
packs), the project is recorded as their holder, and its entries join the pending
version's, one row per path. A path already there with the same digest is skipped; with
another digest the whole part is refused (``ConflictError``): two processes never
silently overwrite each other's file. ``finish`` reads the parts, the repository commits
them as one version, and :meth:`PendingMethods.close_pending` drops the parts read (a
part sent in between is kept: it starts the next version, as W&B's "later upserts make a
new version").
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import blake3
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.manifest import ManifestEntry
from asyncart.core.models import PendingInfo, VersionInfo
from asyncart.errors import DistributedConflict, TypeConflict
from asyncart.repo.metastores import packindex, visibility
from asyncart.repo.metastores.lookups import (
    HAS_VERSIONS,
    _artifact,
    _batches,
    _dumps,
    _hash_bytes,
    _project_id,
    _version_id,
    _version_infos,
    insert_or_ignore,
)
from asyncart.repo.metastores.pending_records import NewPart, PendingContents
from asyncart.repo.metastores.schema import (
    collections,
    pending_entries,
    pending_finishes,
    pending_parts,
    projects,
    run_outputs,
    runs,
    version_view,
    versions,
)

T = TypeVar("T")
_LOOKUP_BATCH = 500  # paths per lookup of the entries already pending


def _key(table: Any, project_id: int, name: str, distributed_id: str) -> Any:
    return (
        (table.c.project_id == project_id)
        & (table.c.name == name)
        & (table.c.distributed_id == distributed_id)
    )


def _what(project: str, name: str, distributed_id: str) -> str:
    return f"the pending version of {_artifact(project, name)} (distributed_id {distributed_id!r})"


async def _check_type(conn: AsyncConnection, project_id: int, part: NewPart) -> None:
    """The collection's type (while it has versions) and the earlier parts' must match."""
    found = await conn.execute(
        select(collections.c.type).where(
            collections.c.project_id == project_id, collections.c.name == part.name, HAS_VERSIONS
        )
    )
    stored = found.scalar_one_or_none()
    if stored is None:
        earlier = await conn.execute(
            select(pending_parts.c.type)
            .where(_key(pending_parts, project_id, part.name, part.distributed_id))
            .limit(1)
        )
        stored = earlier.scalar_one_or_none()
    if stored is not None and stored != part.type:
        raise TypeConflict(
            f"{_artifact(part.project, part.name)} has type {stored!r}; cannot add a part of "
            f"type {part.type!r} to it (use another name or type {stored!r})"
        )


async def add_part(conn: AsyncConnection, part: NewPart, now: float) -> PendingInfo:
    """Record ``part`` (see the module doc); the pending version as it is now."""
    project_id = await _project_id(conn, part.project, now)
    await _check_type(conn, project_id, part)
    await packindex.claim_chunks(conn, part.chunks, now)
    await visibility.record_holders(conn, project_id, (_hash_bytes(h) for h in part.chunks))
    inserted = await conn.execute(
        pending_parts.insert().values(
            project_id=project_id,
            name=part.name,
            distributed_id=part.distributed_id,
            type=part.type,
            run_id=part.run_id,
            aliases=json.dumps(list(part.aliases)),
            metadata=_dumps(part.metadata, "version metadata"),
            description=part.description,
            chunker=json.dumps(part.chunker, sort_keys=True),
            created_at=now,
        )
    )
    key = inserted.inserted_primary_key
    assert key is not None
    part_id = int(key[0])
    where = _key(pending_entries, project_id, part.name, part.distributed_id)
    for batch in _batches(part.entries, _LOOKUP_BATCH):
        by_key = {blake3.blake3(e.path.encode()).digest(): e for e in batch}
        held = await conn.execute(
            select(pending_entries.c.path_key, pending_entries.c.digest).where(
                where, pending_entries.c.path_key.in_(list(by_key))
            )
        )
        for path_key, digest in held:
            entry = by_key.pop(path_key)
            if digest != entry.digest:
                raise DistributedConflict(
                    f"{entry.path!r} is in {_what(part.project, part.name, part.distributed_id)} "
                    "already, with other bytes (sent by another process); give each process "
                    "its own entry names, or add the same file"
                )
        if by_key:
            await conn.execute(
                pending_entries.insert(),
                [
                    {
                        "part_id": part_id,
                        "project_id": project_id,
                        "name": part.name,
                        "distributed_id": part.distributed_id,
                        "path_key": path_key,
                        "digest": e.digest,
                        "size": e.size,
                        "entry": json.dumps(e.to_json()),
                        "chunks": b"".join(_hash_bytes(c.hash) for c in e.chunks),
                    }
                    for path_key, e in by_key.items()
                ],
            )
    return await _summary(conn, project_id, part)


async def _summary(conn: AsyncConnection, project_id: int, part: NewPart) -> PendingInfo:
    parts_where = _key(pending_parts, project_id, part.name, part.distributed_id)
    row = (
        await conn.execute(
            select(
                func.count(),
                func.min(pending_parts.c.created_at),
                func.max(pending_parts.c.created_at),
            ).where(parts_where)
        )
    ).one()
    run_ids = await conn.execute(
        select(pending_parts.c.run_id).where(parts_where).order_by(pending_parts.c.id)
    )
    entries = (
        await conn.execute(
            select(func.count(), func.coalesce(func.sum(pending_entries.c.size), 0)).where(
                _key(pending_entries, project_id, part.name, part.distributed_id)
            )
        )
    ).one()
    return PendingInfo(
        project=part.project,
        name=part.name,
        type=part.type,
        distributed_id=part.distributed_id,
        file_count=int(entries[0]),
        size=int(entries[1]),
        parts=int(row[0]),
        runs=tuple(dict.fromkeys(r for (r,) in run_ids if r is not None)),
        created_at=float(row[1]),
        updated_at=float(row[2]),
    )


async def _existing_project(conn: AsyncConnection, project: str) -> int | None:
    found = await conn.execute(select(projects.c.id).where(projects.c.name == project))
    value = found.scalar_one_or_none()
    return None if value is None else int(value)


async def read_pending(
    conn: AsyncConnection, project: str, name: str, distributed_id: str
) -> PendingContents | None:
    """Every part of the pending version, merged (None when nothing is pending)."""
    project_id = await _existing_project(conn, project)
    if project_id is None:
        return None
    parts = (
        await conn.execute(
            select(pending_parts)
            .where(_key(pending_parts, project_id, name, distributed_id))
            .order_by(pending_parts.c.id)
        )
    ).all()
    if not parts:
        return None
    last = parts[-1].id
    rows = await conn.execute(
        select(pending_entries.c.entry).where(
            _key(pending_entries, project_id, name, distributed_id),
            pending_entries.c.part_id <= last,
        )
    )
    metadata: dict[str, Any] = {}
    aliases: dict[str, None] = {}
    description = None
    for p in parts:
        metadata.update(json.loads(p.metadata))
        aliases.update(dict.fromkeys(json.loads(p.aliases)))
        description = p.description if p.description is not None else description
    return PendingContents(
        type=parts[0].type,
        entries=tuple(ManifestEntry.from_json(json.loads(e)) for (e,) in rows),
        chunker=json.loads(parts[-1].chunker),
        aliases=tuple(aliases),
        metadata=metadata,
        description=description,
        runs=tuple(dict.fromkeys(p.run_id for p in parts if p.run_id is not None)),
        last_part=last,
    )


async def close_pending(
    conn: AsyncConnection,
    project: str,
    name: str,
    distributed_id: str,
    contents: PendingContents,
    index: int,
    token: str | None,
) -> None:
    """After the commit of version ``index``: every contributing run logged it; the
    parts read (up to ``contents.last_part``) are gone; ``token`` names the finish."""
    version_id = await _version_id(conn, project, name, index)
    now = time.time()
    if token is not None:
        await conn.execute(
            insert_or_ignore(conn, pending_finishes).values(
                token=token, version_id=version_id, created_at=now
            )
        )
    for run_id in contents.runs:
        exists = await conn.execute(select(runs.c.id).where(runs.c.id == run_id))
        if exists.first() is not None:
            await conn.execute(
                insert_or_ignore(conn, run_outputs).values(
                    run_id=run_id, version_id=version_id, created_at=now
                )
            )
    project_id = await _existing_project(conn, project)
    assert project_id is not None  # the version's project
    last = contents.last_part
    await conn.execute(
        delete(pending_entries).where(
            _key(pending_entries, project_id, name, distributed_id),
            pending_entries.c.part_id <= last,
        )
    )
    await conn.execute(
        delete(pending_parts).where(
            _key(pending_parts, project_id, name, distributed_id), pending_parts.c.id <= last
        )
    )


async def finished_version(
    conn: AsyncConnection, project: str, name: str, token: str
) -> VersionInfo | None:
    """The version the finish ``token`` made of ``project/name`` (None: not finished, or
    that version was deleted since)."""
    stmt = version_view.join(
        pending_finishes, pending_finishes.c.version_id == versions.c.id
    ).where(
        pending_finishes.c.token == token,
        projects.c.name == project,
        collections.c.name == name,
    )
    found = await _version_infos(conn, stmt)
    return found[0] if found else None


async def pending_chunks(conn: AsyncConnection) -> set[str]:
    """Every chunk a pending version names (garbage collection keeps them)."""
    out: set[str] = set()
    for (raw,) in await conn.execute(select(pending_entries.c.chunks)):
        out.update(raw[i : i + 32].hex() for i in range(0, len(raw), 32))
    return out


class PendingMethods(ABC):
    """Pending-version transactions; the class mixing this in provides :meth:`_run`."""

    @abstractmethod
    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T: ...

    async def add_pending_part(self, part: NewPart) -> PendingInfo:
        """Add one process's part to a pending version (see the module doc)."""

        async def work(conn: AsyncConnection) -> PendingInfo:
            return await add_part(conn, part, time.time())

        what = f"add to {_what(part.project, part.name, part.distributed_id)}"
        return await self._run(what, work, write=True)

    async def read_pending(
        self, project: str, name: str, distributed_id: str
    ) -> PendingContents | None:
        """The pending version's parts, merged; None when nothing is pending."""
        return await self._run(
            f"read {_what(project, name, distributed_id)}",
            lambda conn: read_pending(conn, project, name, distributed_id),
            write=False,
        )

    async def close_pending(
        self,
        project: str,
        name: str,
        distributed_id: str,
        contents: PendingContents,
        index: int,
        token: str | None = None,
    ) -> None:
        """Record the contributing runs as producers of version ``index``; drop the parts;
        remember the finish ``token``."""
        await self._run(
            f"close {_what(project, name, distributed_id)}",
            lambda conn: close_pending(conn, project, name, distributed_id, contents, index, token),
            write=True,
        )

    async def finished_version(self, project: str, name: str, token: str) -> VersionInfo | None:
        """The version finish ``token`` made, if it was made (a retried finish)."""
        return await self._run(
            f"look up finish {token[:12]!r}",
            lambda conn: finished_version(conn, project, name, token),
            write=False,
        )
