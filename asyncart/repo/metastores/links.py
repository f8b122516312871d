"""Links, for :class:`SqlMetaStore` (inside its transactions): W&B's ``artifact.link``.

A link is a row of ``versions`` in another collection (a *portfolio*: W&B's linked
collection, or a registry's collection) whose ``source_id`` names the version it links.
It carries the source's digest, size, file count and manifest object (no byte is copied
or moved) and has its own index (``v0``, ``v1``, … of the portfolio) and aliases, with
``latest`` on the newest link; its metadata, description, tags and lineage are its
source's (``schema.version_view`` shows them through the link).

Rules:

* a collection holds either logged versions or links, never both (ConflictError);
* linking a link links its source (as W&B's);
* a version already linked into the collection (the same content) is not linked again:
  the existing link is returned, with the requested aliases moved onto it;
* a link's project is recorded as a holder of the source's chunks, so a caller who may
  read the portfolio's project may pull through the link (docs/protocol.md §6.4);
* deleting a source deletes its links (``deletion.py``); unlinking deletes one link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Exists, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import VersionInfo
from asyncart.core.names import LATEST, parse_version
from asyncart.errors import ConfigError, ConflictError, TypeConflict, VersionNotFound
from asyncart.repo.metastores import visibility
from asyncart.repo.metastores.base import manifest_name
from asyncart.repo.metastores.lookups import (
    HAS_VERSIONS,
    MANIFEST_LOCK,
    _alias_version_id,
    _artifact,
    _hash_bytes,
    _project_id,
    _version_id,
    _version_infos,
    insert_or_ignore,
    lock_object,
)
from asyncart.repo.metastores.schema import aliases, collections, version_view, versions

if TYPE_CHECKING:
    from asyncart.repo.metastores.lookups import AnyRow


async def resolve(conn: AsyncConnection, project: str, name: str, ref: str) -> int:
    """The id of version ``vN`` or of the one alias ``ref`` names."""
    index = parse_version(ref)
    if index is None:
        return await _alias_version_id(conn, project, name, ref)
    return await _version_id(conn, project, name, index)


async def content_id(conn: AsyncConnection, version_id: int) -> int:
    """The version whose content and shared fields ``version_id`` shows: itself, or the
    source of a link."""
    found = await conn.execute(select(versions.c.source_id).where(versions.c.id == version_id))
    source = found.scalar_one_or_none()
    return version_id if source is None else int(source)


def _holds_links(collection_id: int, links: bool) -> Exists:
    """Whether the collection has versions that are links (``links``) or logged ones."""
    kind = versions.c.source_id.is_not(None) if links else versions.c.source_id.is_(None)
    return exists().where(versions.c.collection_id == collection_id, kind)


async def refuse_links(conn: AsyncConnection, collection_id: int, label: str) -> None:
    """Refuse logging a version into a collection of links (for a commit)."""
    if (await conn.execute(select(_holds_links(collection_id, True)))).scalar():
        raise ConflictError(
            f"{label} is a collection of links (a portfolio); log to the source "
            "artifact's own name and link that version (artifact.link(...)) instead"
        )


async def link_version(
    conn: AsyncConnection,
    source: tuple[str, str, str],
    target: tuple[str, str],
    moved: tuple[str, ...],
    chunks: Sequence[str],
    now: float,
) -> VersionInfo:
    """Link version ``source`` (project, name, ref) into collection ``target`` (project,
    name), moving ``moved`` (``latest`` first) onto the link; returns the link."""
    source_id = await content_id(conn, await resolve(conn, *source))
    # Locked: a concurrent deletion of the source (PostgreSQL) waits for this link, or
    # this link for it (and then finds no source), rather than racing on the foreign key.
    row = (
        await conn.execute(
            select(versions, collections.c.type, collections.c.project_id)
            .join(collections, versions.c.collection_id == collections.c.id)
            .where(versions.c.id == source_id)
            .with_for_update(of=versions)
        )
    ).first()
    if row is None:
        raise VersionNotFound(f"{source[0]}/{source[1]}:{source[2]} was deleted meanwhile")
    await lock_object(conn, MANIFEST_LOCK, manifest_name(row.manifest_hash, row.digest))
    coll = await _lock_portfolio(conn, target, row, now)
    found = await conn.execute(
        select(versions.c.id).where(
            versions.c.collection_id == coll.id, versions.c.digest == row.digest
        )
    )
    link_id = found.scalar_one_or_none()
    created = link_id is None
    if link_id is None:
        link_id = await _insert_link(conn, coll, row, now)
    await conn.execute(
        delete(aliases).where(aliases.c.collection_id == coll.id, aliases.c.alias.in_(moved))
    )
    await conn.execute(
        aliases.insert(),
        [{"collection_id": coll.id, "alias": a, "version_id": link_id} for a in moved],
    )
    await conn.execute(update(versions).where(versions.c.id == link_id).values(updated_at=now))
    await conn.execute(
        update(collections).where(collections.c.id == coll.id).values(updated_at=now)
    )
    await visibility.record_holders(conn, coll.project_id, (_hash_bytes(h) for h in chunks))
    stmt = version_view.where(versions.c.id == link_id)
    return (await _version_infos(conn, stmt, created=created))[0]


async def _lock_portfolio(
    conn: AsyncConnection, target: tuple[str, str], source: AnyRow, now: float
) -> AnyRow:
    """Get or create the target collection (with the source's type) and lock its row."""
    project, name = target
    project_id = await _project_id(conn, project, now)
    await conn.execute(
        insert_or_ignore(conn, collections).values(
            project_id=project_id,
            name=name,
            type=source.type,
            next_index=0,
            created_at=now,
            updated_at=now,
        )
    )
    stmt = select(collections).where(
        collections.c.project_id == project_id, collections.c.name == name
    )
    coll = (await conn.execute(stmt.with_for_update())).one()
    label = _artifact(project, name)
    if coll.id == source.collection_id:
        raise ConfigError(f"cannot link a version of {label} into its own collection")
    if (await conn.execute(select(_holds_links(coll.id, False)))).scalar():
        raise ConflictError(
            f"{label} holds logged versions, not links; link into another name "
            "(a portfolio or a registry collection)"
        )
    if coll.type != source.type:
        if (await conn.execute(stmt.where(HAS_VERSIONS))).first() is None:
            await conn.execute(
                update(collections).where(collections.c.id == coll.id).values(type=source.type)
            )
            return (await conn.execute(stmt)).one()
        raise TypeConflict(
            f"{label} links versions of type {coll.type!r}; cannot link a version of type "
            f"{source.type!r} to it (use another collection)"
        )
    return coll


async def _insert_link(conn: AsyncConnection, coll: AnyRow, source: AnyRow, now: float) -> int:
    """Insert the collection's next version as a link to ``source``; returns its id."""
    result = await conn.execute(
        versions.insert().values(
            collection_id=coll.id,
            idx=coll.next_index,
            digest=source.digest,
            size=source.size,
            file_count=source.file_count,
            metadata=source.metadata,  # shown from the source; kept for a reader of the row
            description=source.description,
            created_at=now,
            created_by=None,
            manifest_hash=source.manifest_hash,
            updated_at=now,
            source_id=source.id,
        )
    )
    await conn.execute(
        update(collections)
        .where(collections.c.id == coll.id)
        .values(next_index=coll.next_index + 1)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def list_links(conn: AsyncConnection, project: str, name: str, ref: str) -> list[VersionInfo]:
    """The links of a version (of its source, for a link), oldest first."""
    source_id = await content_id(conn, await resolve(conn, project, name, ref))
    stmt = version_view.where(versions.c.source_id == source_id).order_by(versions.c.id)
    return await _version_infos(conn, stmt)


async def require_link(conn: AsyncConnection, project: str, name: str, ref: str) -> int:
    """The id of link ``ref``; a logged version is refused (ConfigError, W&B's ValueError)."""
    version_id = await resolve(conn, project, name, ref)
    if await content_id(conn, version_id) == version_id:
        raise ConfigError(
            f"{project}/{name}:{ref} is not a linked artifact and cannot be unlinked; "
            "to delete it, use 'Artifact.delete' instead (CLI: asyncart delete)"
        )
    return version_id


async def unlink(
    conn: AsyncConnection, project: str, name: str, ref: str, now: float
) -> VersionInfo:
    """Delete link ``ref`` (its source stays); returns it as it was."""
    link_id = await require_link(conn, project, name, ref)
    info = (await _version_infos(conn, version_view.where(versions.c.id == link_id)))[0]
    coll_id = (
        await conn.execute(select(versions.c.collection_id).where(versions.c.id == link_id))
    ).scalar_one()
    await drop_links(conn, [link_id])
    await conn.execute(
        update(collections).where(collections.c.id == coll_id).values(updated_at=now)
    )
    return info


async def drop_links(conn: AsyncConnection, link_ids: Sequence[int]) -> None:
    """Delete links (their aliases with them); ``latest`` moves to each portfolio's newest."""
    for link_id in link_ids:
        coll_id = (
            await conn.execute(select(versions.c.collection_id).where(versions.c.id == link_id))
        ).scalar_one()
        had_latest = (
            await conn.execute(
                select(aliases.c.alias).where(
                    aliases.c.version_id == link_id, aliases.c.alias == LATEST
                )
            )
        ).first() is not None
        await conn.execute(delete(aliases).where(aliases.c.version_id == link_id))
        await conn.execute(delete(versions).where(versions.c.id == link_id))
        if had_latest:
            newest = await conn.execute(
                select(versions.c.id)
                .where(versions.c.collection_id == coll_id)
                .order_by(versions.c.idx.desc())
                .limit(1)
            )
            successor = newest.scalar_one_or_none()
            if successor is not None:
                await conn.execute(
                    aliases.insert().values(
                        collection_id=coll_id, alias=LATEST, version_id=successor
                    )
                )


async def links_of(conn: AsyncConnection, version_ids: Sequence[int]) -> list[int]:
    """The ids of the links of ``version_ids``."""
    found = await conn.execute(
        select(versions.c.id).where(versions.c.source_id.in_(list(version_ids)))
    )
    return [int(i) for i in found.scalars()]
