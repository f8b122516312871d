"""Reading and changing collections, for :class:`SqlMetaStore` (inside its transactions).

What W&B's ``ArtifactCollection.save()`` changes: the collection's name, type,
description and tags (:func:`update_collection`). Its versions follow it: they belong
to the collection row, which keeps its id.

Renaming keeps the rule that a version number is never given out twice under a name:
the old name stays behind as an empty (hidden) row holding its version counter, as a
deleted collection's does, so logging the old name again continues its numbering.
Renaming onto the name of such a hidden row takes that row's place and the higher of
the two counters (so renaming back and forth works); a name that has versions is
refused.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import CollectionChanges, CollectionInfo
from asyncart.errors import ConfigError, ConflictError
from asyncart.repo.metastores.lookups import (
    HAS_VERSIONS,
    _artifact,
    _batches,
    _collection,
    bytewise,
    insert_or_ignore,
)
from asyncart.repo.metastores.schema import collection_tags, collections, projects, versions


async def collection_infos(
    conn: AsyncConnection, project: str, name: str | None = None
) -> list[CollectionInfo]:
    """Collections of ``project`` (just ``name`` if given) with their version counts,
    descriptions and tags; hidden (emptied) ones left out."""
    count = (
        select(func.count())
        .where(versions.c.collection_id == collections.c.id)
        .scalar_subquery()  # correlated: an index range scan per collection
    )
    stmt = (
        select(collections, count.label("n"))
        .join(projects, collections.c.project_id == projects.c.id)
        .where(projects.c.name == project, HAS_VERSIONS)
        .order_by(bytewise(collections.c.name))
    )
    if name is not None:
        stmt = stmt.where(collections.c.name == name)
    rows = (await conn.execute(stmt)).all()
    tags: dict[int, list[str]] = {row.id: [] for row in rows}
    for batch in _batches(list(tags)):
        found = await conn.execute(
            select(collection_tags.c.collection_id, collection_tags.c.tag).where(
                collection_tags.c.collection_id.in_(batch)
            )
        )
        for collection_id, tag in found:
            tags[collection_id].append(tag)
    return [
        CollectionInfo(
            project,
            row.name,
            row.type,
            row.n,
            row.created_at,
            row.updated_at,
            description=row.description,
            tags=tuple(sorted(tags[row.id])),
        )
        for row in rows
    ]


async def update_collection(
    conn: AsyncConnection, project: str, name: str, changes: CollectionChanges, now: float
) -> CollectionInfo:
    """Apply ``changes``; returns the collection as it is now (under its new name).

    Adding a tag it has, or removing one it lacks, is a no-op.

    Raises:
        ArtifactNotFound: no collection ``name`` with versions in ``project``.
        ConflictError: the new name is another collection's that has versions.
    """
    coll = await _collection(conn, project, name)
    values: dict[str, object] = {"updated_at": now}
    if changes.type is not None and changes.type != coll.type:
        await _refuse_retype_of_links(conn, project, name, coll.id)
        values["type"] = changes.type
    if changes.set_description:
        values["description"] = changes.description
    new_name = name
    if changes.name is not None and changes.name != name:
        new_name = changes.name
        values["name"] = new_name
        counter = await _take_name(conn, coll.project_id, project, new_name)
        values["next_index"] = max(int(coll.next_index), counter)
    await conn.execute(update(collections).where(collections.c.id == coll.id).values(**values))
    if new_name != name:  # the old name keeps its counter (see the module doc)
        await conn.execute(
            collections.insert().values(
                project_id=coll.project_id,
                name=name,
                type=coll.type,
                next_index=coll.next_index,
                created_at=now,
                updated_at=now,
            )
        )
    if changes.tags_remove:
        await conn.execute(
            delete(collection_tags).where(
                collection_tags.c.collection_id == coll.id,
                collection_tags.c.tag.in_(changes.tags_remove),
            )
        )
    for tag in dict.fromkeys(changes.tags_add):
        await conn.execute(
            insert_or_ignore(conn, collection_tags).values(collection_id=coll.id, tag=tag)
        )
    return (await collection_infos(conn, project, new_name))[0]


async def _refuse_retype_of_links(
    conn: AsyncConnection, project: str, name: str, collection_id: int
) -> None:
    """A collection of links (W&B's portfolio) has its sources' type; W&B changes the
    type of sequences only."""
    link = await conn.execute(
        select(versions.c.id).where(
            versions.c.collection_id == collection_id, versions.c.source_id.is_not(None)
        )
    )
    if link.first() is not None:
        raise ConfigError(
            f"cannot change the type of {_artifact(project, name)}: it holds links (a "
            "portfolio); only a collection of logged versions can change type"
        )


async def _take_name(conn: AsyncConnection, project_id: int, project: str, name: str) -> int:
    """Free ``name`` for a rename: remove the hidden row holding it (returning its version
    counter), or refuse if a collection with versions has it; 0 when nobody has it."""
    found = (
        await conn.execute(
            select(collections.c.id, collections.c.next_index).where(
                collections.c.project_id == project_id, collections.c.name == name
            )
        )
    ).first()
    if found is None:
        return 0
    in_use = await conn.execute(select(versions.c.id).where(versions.c.collection_id == found.id))
    if in_use.first() is not None:
        raise ConflictError(
            f"cannot rename to {name!r}: {_artifact(project, name)} exists; "
            "choose another name, or delete that artifact first"
        )
    await clear_collection(conn, found.id)
    await conn.execute(delete(collections).where(collections.c.id == found.id))
    return int(found.next_index)


async def clear_collection(conn: AsyncConnection, collection_id: int) -> None:
    """Forget the description and tags of a collection whose last version is gone (logging
    its name again starts afresh, but for the version counter)."""
    await conn.execute(
        delete(collection_tags).where(collection_tags.c.collection_id == collection_id)
    )
    await conn.execute(
        update(collections).where(collections.c.id == collection_id).values(description=None)
    )
