"""Changing a logged version, for :class:`SqlMetaStore` (inside its write transactions).

What W&B's ``Artifact.save()`` changes on a committed version: its description,
metadata, ttl and tags (:func:`update_version`), and which version an alias names
(:func:`set_alias`, :func:`remove_alias`). The files of a version never change.
``latest`` is the store's: it always names the newest version, so it is neither moved
nor removed by hand (logging and deleting move it).
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import VersionChanges, VersionInfo
from asyncart.core.names import LATEST, parse_version
from asyncart.errors import AliasNotFound, ConfigError
from asyncart.repo.metastores import links
from asyncart.repo.metastores.lookups import (
    _alias_version_id,
    _artifact,
    _collection,
    _version_id,
    _version_infos,
    insert_or_ignore,
)
from asyncart.repo.metastores.schema import aliases, version_tags, version_view, versions


async def _resolve(conn: AsyncConnection, project: str, name: str, ref: str) -> int:
    """The id of version ``vN`` or of the one alias ``ref`` names."""
    index = parse_version(ref)
    if index is None:
        return await _alias_version_id(conn, project, name, ref)
    return await _version_id(conn, project, name, index)


async def _info(conn: AsyncConnection, version_id: int) -> VersionInfo:
    return (await _version_infos(conn, version_view.where(versions.c.id == version_id)))[0]


def _refuse_latest(alias: str, doing: str) -> None:
    if alias == LATEST:
        raise ConfigError(
            f"cannot {doing} alias {LATEST!r}: it always names the newest version "
            "(logging a version moves it; deleting the newest moves it back)"
        )


async def update_version(
    conn: AsyncConnection,
    project: str,
    name: str,
    ref: str,
    changes: VersionChanges,
    metadata_json: str | None,
    now: float,
) -> VersionInfo:
    """Apply ``changes`` (``metadata`` already encoded as ``metadata_json``); returns the
    version as it is now. Removing a tag it does not have, or adding one it has, is a no-op."""
    shown = await _resolve(conn, project, name, ref)
    # A link shares its source's description, metadata and tags (W&B: editing them on a
    # link edits the source and all its links); its ttl is its source's alone.
    version_id = await links.content_id(conn, shown)
    if changes.set_ttl and version_id != shown:
        raise ConfigError(
            f"cannot set the ttl of link {_artifact(project, name)}:{ref}; set it on its "
            "source version (unlink first, as W&B)"
        )
    values: dict[str, object] = {"updated_at": now}
    if changes.set_description:
        values["description"] = changes.description
    if metadata_json is not None:
        values["metadata"] = metadata_json
    if changes.set_ttl:
        values["ttl_seconds"] = changes.ttl
    await conn.execute(update(versions).where(versions.c.id == version_id).values(**values))
    if changes.tags_remove:
        await conn.execute(
            delete(version_tags).where(
                version_tags.c.version_id == version_id,
                version_tags.c.tag.in_(changes.tags_remove),
            )
        )
    for tag in dict.fromkeys(changes.tags_add):
        await conn.execute(
            insert_or_ignore(conn, version_tags).values(version_id=version_id, tag=tag)
        )
    return await _info(conn, shown)


async def set_alias(
    conn: AsyncConnection, project: str, name: str, alias: str, ref: str, now: float
) -> VersionInfo:
    """Point ``alias`` at version ``ref`` (moving it from the version it named, as a log
    with ``aliases=[alias]`` does); returns the version it names now."""
    _refuse_latest(alias, "move")
    coll = await _collection(conn, project, name)
    version_id = await _resolve(conn, project, name, ref)
    before = (
        await conn.execute(
            select(aliases.c.version_id).where(
                aliases.c.collection_id == coll.id, aliases.c.alias == alias
            )
        )
    ).scalar_one_or_none()
    if before != version_id:
        await conn.execute(
            delete(aliases).where(aliases.c.collection_id == coll.id, aliases.c.alias == alias)
        )
        await conn.execute(
            aliases.insert().values(collection_id=coll.id, alias=alias, version_id=version_id)
        )
        touched = [version_id] if before is None else [version_id, before]
        await conn.execute(
            update(versions).where(versions.c.id.in_(touched)).values(updated_at=now)
        )
    return await _info(conn, version_id)


async def remove_alias(
    conn: AsyncConnection, project: str, name: str, alias: str, now: float
) -> VersionInfo:
    """Remove ``alias`` from the collection; returns the version it named, without it.

    Raises:
        AliasNotFound: the collection has no such alias.
    """
    _refuse_latest(alias, "remove")
    coll = await _collection(conn, project, name)
    version_id = (
        await conn.execute(
            select(aliases.c.version_id).where(
                aliases.c.collection_id == coll.id, aliases.c.alias == alias
            )
        )
    ).scalar_one_or_none()
    if version_id is None:
        await _alias_version_id(conn, project, name, alias)  # raises, listing the aliases
        raise AliasNotFound(f"{_artifact(project, name)} has no alias {alias!r}")
    await conn.execute(
        delete(aliases).where(aliases.c.collection_id == coll.id, aliases.c.alias == alias)
    )
    await conn.execute(update(versions).where(versions.c.id == version_id).values(updated_at=now))
    return await _info(conn, version_id)
