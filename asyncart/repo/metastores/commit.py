"""Recording a version, for :class:`SqlMetaStore` (inside its write transaction).

A commit claims the manifest's chunks (their packs are locked and touched, so gc keeps
them), orders itself with gc's decision on its manifest object, gets or creates the
collection and locks its row, records the project as a holder of the chunks, then
finds the version of the same digest or inserts the collection's next one (checking the
quota, recording what it costs, and charging the project's uploaded packs only for what
no version of it references now, ``charges.py``), and moves ``latest`` and the requested
aliases onto it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import VersionInfo
from asyncart.errors import StoreRetry, TypeConflict
from asyncart.repo.metastores import charges, links, packindex, quotas, storage, visibility
from asyncart.repo.metastores.base import NewVersion, StoredCheck, manifest_name
from asyncart.repo.metastores.lookups import (
    HAS_VERSIONS,
    MANIFEST_LOCK,
    _artifact,
    _hash_bytes,
    _project_id,
    _require_run,
    _version_infos,
    insert_or_ignore,
    lock_object,
)
from asyncart.repo.metastores.schema import (
    aliases,
    collections,
    run_outputs,
    version_view,
    versions,
)

if TYPE_CHECKING:
    from asyncart.repo.metastores.lookups import AnyRow


async def commit_version(
    conn: AsyncConnection,
    new: NewVersion,
    moved: tuple[str, ...],
    meta: str,
    manifest_stored: StoredCheck | None,
) -> VersionInfo:
    """Record ``new`` (its ``metadata`` already encoded as ``meta``) and move the aliases
    ``moved`` (``latest`` first) onto it; returns the version as recorded."""
    now = time.time()
    held = await packindex.claim_chunks(conn, new.chunks, now)
    # Ordered with gc's decision on this manifest object (manifest_unreferenced).
    await lock_object(conn, MANIFEST_LOCK, manifest_name(new.manifest_hash, new.digest))
    if manifest_stored is not None and not await manifest_stored():
        raise StoreRetry(
            f"the manifest of {_artifact(new.project, new.name)} was removed by a "
            "concurrent garbage collection before the commit; commit again"
        )
    if new.run_id is not None:
        await _require_run(conn, new.run_id)
    coll = await _lock_collection(conn, new, now)
    await links.refuse_links(conn, coll.id, _artifact(new.project, new.name))
    await visibility.record_holders(conn, coll.project_id, (_hash_bytes(h) for h in new.chunks))
    found = await conn.execute(
        select(versions.c.id).where(
            versions.c.collection_id == coll.id, versions.c.digest == new.digest
        )
    )
    version_id = found.scalar_one_or_none()
    created = version_id is None
    if version_id is None:
        await quotas.check_commit(conn, new.project, coll.project_id, new.chunks)
        version_id = await _insert_version(conn, coll, new, meta, now)
        await storage.commit_costs(conn, coll.project_id, version_id, new.chunks)
        await charges.release_committed(conn, new.project, coll.project_id, held)
    else:  # the aliases it gains are a change of it
        await conn.execute(
            update(versions).where(versions.c.id == version_id).values(updated_at=now)
        )
    await conn.execute(
        delete(aliases).where(aliases.c.collection_id == coll.id, aliases.c.alias.in_(moved))
    )
    await conn.execute(
        aliases.insert(),
        [{"collection_id": coll.id, "alias": a, "version_id": version_id} for a in moved],
    )
    await conn.execute(
        update(collections).where(collections.c.id == coll.id).values(updated_at=now)
    )
    if new.run_id is not None:
        await conn.execute(
            insert_or_ignore(conn, run_outputs).values(
                run_id=new.run_id, version_id=version_id, created_at=now
            )
        )
    stmt = version_view.where(versions.c.id == version_id)
    return (await _version_infos(conn, stmt, created=created))[0]


async def _lock_collection(conn: AsyncConnection, new: NewVersion, now: float) -> AnyRow:
    """Get or create the collection and lock its row (a no-op on SQLite: already locked)."""
    project_id = await _project_id(conn, new.project, now)
    await conn.execute(
        insert_or_ignore(conn, collections).values(
            project_id=project_id,
            name=new.name,
            type=new.type,
            next_index=0,
            created_at=now,
            updated_at=now,
        )
    )
    stmt = select(collections).where(
        collections.c.project_id == project_id, collections.c.name == new.name
    )
    coll = (await conn.execute(stmt.with_for_update())).one()
    if coll.type != new.type:
        emptied = (await conn.execute(stmt.where(HAS_VERSIONS))).first() is None
        if emptied:  # every version was deleted: the next one sets the type again
            await conn.execute(
                update(collections).where(collections.c.id == coll.id).values(type=new.type)
            )
            return (await conn.execute(stmt)).one()
        raise TypeConflict(
            f"{_artifact(new.project, new.name)} has type {coll.type!r}; cannot log a "
            f"version of type {new.type!r} to it (use another name or type {coll.type!r})"
        )
    return coll


async def _insert_version(
    conn: AsyncConnection, coll: AnyRow, new: NewVersion, meta: str, now: float
) -> int:
    """Insert the collection's next version and advance its counter; returns the id."""
    result = await conn.execute(
        versions.insert().values(
            collection_id=coll.id,
            idx=coll.next_index,
            digest=new.digest,
            size=new.size,
            file_count=new.file_count,
            metadata=meta,
            description=new.description,
            created_at=now,
            created_by=new.run_id,
            manifest_hash=new.manifest_hash,
            updated_at=now,
        )
    )
    await conn.execute(
        update(collections)
        .where(collections.c.id == coll.id)
        .values(next_index=coll.next_index + 1)
    )
    key = result.inserted_primary_key  # typed Optional; set for a single-row INSERT
    assert key is not None
    return int(key[0])
