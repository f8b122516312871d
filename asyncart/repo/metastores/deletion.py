"""Deleting versions and collections, for :class:`SqlMetaStore` (inside its transactions).

Rules (docs/gc.md, "Deleting versions"):

* a version holding aliases other than ``latest`` is refused unless the caller asks to
  delete the aliases with it (as W&B's ``delete(delete_aliases=True)``);
* ``latest`` moves to the newest remaining version, or disappears with the last one;
* the version's lineage edges and its links (``links.py``) go with it; its chunks are
  freed by the next gc; deleting a link removes only that link (W&B's ``unlink``);
* the collection row stays (hidden once empty), so its ``next_index`` counter keeps
  growing and a version number is never given out twice; an emptied collection loses
  its description and tags.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import VersionInfo
from asyncart.core.names import LATEST, parse_version
from asyncart.errors import ConflictError
from asyncart.repo.metastores import links
from asyncart.repo.metastores.collection_changes import clear_collection
from asyncart.repo.metastores.lookups import (
    _alias_version_id,
    _artifact,
    _batches,
    _collection,
    _version_id,
    _version_infos,
)
from asyncart.repo.metastores.schema import (
    aliases,
    collections,
    run_inputs,
    run_outputs,
    version_chunks,
    version_origins,
    version_tags,
    version_view,
    versions,
)


def _refuse_aliases(infos: Sequence[VersionInfo], what: str) -> None:
    held = [f"{a} ({v.version})" for v in infos for a in v.aliases if a != LATEST]
    if held:
        raise ConflictError(
            f"{what} has alias(es) {', '.join(held)}; move them to another version first, "
            "or delete them with it (delete_aliases=True; CLI: --delete-aliases)"
        )


async def _drop(conn: AsyncConnection, version_ids: Sequence[int]) -> None:
    for batch in _batches(list(version_ids)):
        # A version's links go with it (as W&B's); deleting a link leaves its source. The
        # rows are locked first, so a link made concurrently (PostgreSQL) is ordered
        # before (and found here) or after (and finds no source), instead of failing
        # the deletion on the foreign key and having it retried.
        await conn.execute(select(versions.c.id).where(versions.c.id.in_(batch)).with_for_update())
        await links.drop_links(conn, await links.links_of(conn, batch))
        tables = (run_inputs, run_outputs, aliases, version_tags, version_chunks, version_origins)
        for table in tables:
            await conn.execute(delete(table).where(table.c.version_id.in_(batch)))
        await conn.execute(delete(versions).where(versions.c.id.in_(batch)))


async def delete_version(
    conn: AsyncConnection, project: str, name: str, ref: str, delete_aliases: bool, now: float
) -> VersionInfo:
    """Delete one version; returns it as it was."""
    coll = await _collection(conn, project, name)
    index = parse_version(ref)
    if index is None:
        version_id = await _alias_version_id(conn, project, name, ref)
    else:
        version_id = await _version_id(conn, project, name, index)
    info = (await _version_infos(conn, version_view.where(versions.c.id == version_id)))[0]
    if not delete_aliases:
        _refuse_aliases([info], info.qualified_name)
    await _drop(conn, [version_id])
    if LATEST in info.aliases:
        newest = await conn.execute(
            select(versions.c.id)
            .where(versions.c.collection_id == coll.id)
            .order_by(versions.c.idx.desc())
            .limit(1)
        )
        successor = newest.scalar_one_or_none()
        if successor is not None:
            await conn.execute(
                aliases.insert().values(collection_id=coll.id, alias=LATEST, version_id=successor)
            )
        else:  # the last version: the collection is gone but for its counter
            await clear_collection(conn, coll.id)
    await conn.execute(
        update(collections).where(collections.c.id == coll.id).values(updated_at=now)
    )
    return info


async def delete_collection(
    conn: AsyncConnection, project: str, name: str, delete_aliases: bool, now: float
) -> list[VersionInfo]:
    """Delete every version of a collection; returns them as they were, oldest first."""
    coll = await _collection(conn, project, name)
    stmt = version_view.where(versions.c.collection_id == coll.id).order_by(versions.c.idx)
    infos = await _version_infos(conn, stmt)
    if not delete_aliases:
        _refuse_aliases(infos, _artifact(project, name))
    ids = (
        (await conn.execute(select(versions.c.id).where(versions.c.collection_id == coll.id)))
        .scalars()
        .all()
    )
    await _drop(conn, list(ids))
    await clear_collection(conn, coll.id)
    await conn.execute(
        update(collections).where(collections.c.id == coll.id).values(updated_at=now)
    )
    return infos
