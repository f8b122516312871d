"""Which manifest object each version reads, for :class:`SqlMetaStore` (a mixin).

A version reads ``manifests/<versions.manifest_hash>``: the BLAKE3 of the encoded
manifest its commit stored (schema 5). Content-addressed, so a commit never writes to a
name another version reads with other bytes. A version committed before schema 5 has
NULL there and still reads ``manifests/<digest>`` until the repository copies that
object to its hash (:meth:`record_manifest_hash`). :func:`reads` is the one predicate
saying which versions read an object name; garbage collection's decision
(:meth:`manifest_unreferenced`) and the lookups use it alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import VersionInfo
from asyncart.core.names import parse_version
from asyncart.repo.metastores.base import StoredCheck, manifest_name
from asyncart.repo.metastores.lookups import (
    MANIFEST_LOCK,
    _alias_version_id,
    _artifact,
    _collection,
    _version_id,
    _version_infos,
    lock_object,
)
from asyncart.repo.metastores.schema import version_view, versions

T = TypeVar("T")


def reads(name: str) -> ColumnElement[bool]:
    """The versions that read the manifest object ``manifests/<name>``."""
    return or_(
        versions.c.manifest_hash == name,
        and_(versions.c.manifest_hash.is_(None), versions.c.digest == name),
    )


async def manifest_unreferenced(conn: AsyncConnection, name: str) -> bool:
    await lock_object(conn, MANIFEST_LOCK, name)  # waits for a commit inserting a reader
    found = await conn.execute(select(func.count()).select_from(versions).where(reads(name)))
    return int(found.scalar_one()) == 0


class ManifestRefMethods(ABC):
    """Manifest-reference transactions; the class mixing this in provides :meth:`_run`."""

    @abstractmethod
    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T:
        """Run ``work`` in one transaction (see ``SqlMetaStore._run``)."""

    async def manifest_unreferenced(self, name: str) -> bool:
        """Whether no version reads ``manifests/<name>`` (a write transaction: ordered
        with commits, see :func:`lookups.lock_object`)."""

        async def work(conn: AsyncConnection) -> bool:
            return await manifest_unreferenced(conn, name)

        return await self._run(f"look up the readers of manifest {name}", work, write=True)

    async def get_version_manifest(
        self, project: str, name: str, ref: str
    ) -> tuple[VersionInfo, str]:
        """A version and the name of the manifest object it reads, in one transaction."""

        async def work(conn: AsyncConnection) -> tuple[VersionInfo, str]:
            index = parse_version(ref)
            if index is None:
                version_id = await _alias_version_id(conn, project, name, ref)
            else:
                version_id = await _version_id(conn, project, name, index)
            found = await conn.execute(
                select(versions.c.manifest_hash).where(versions.c.id == version_id)
            )
            recorded = found.scalar_one()
            info = (await _version_infos(conn, version_view.where(versions.c.id == version_id)))[0]
            return info, manifest_name(recorded, info.digest)

        return await self._run(f"read {_artifact(project, name)}", work, write=False)

    async def legacy_manifest_digests(self) -> list[str]:
        """Digests of the versions that record no manifest hash (before schema 5)."""

        async def work(conn: AsyncConnection) -> list[str]:
            found = await conn.execute(
                select(versions.c.digest)
                .where(versions.c.manifest_hash.is_(None))
                .distinct()
                .order_by(versions.c.digest)
            )
            return list(found.scalars())

        return await self._run("list versions without a manifest hash", work, write=False)

    async def record_manifest_hash(
        self, digest: str, manifest_hash: str, *, stored: StoredCheck
    ) -> int:
        """Point the unhashed versions of ``digest`` at ``manifests/<manifest_hash>``."""

        async def work(conn: AsyncConnection) -> int:
            await lock_object(conn, MANIFEST_LOCK, manifest_hash)
            if not await stored():
                return 0  # gc removed the copy meanwhile: they keep reading the old name
            result = await conn.execute(
                update(versions)
                .where(versions.c.digest == digest, versions.c.manifest_hash.is_(None))
                .values(manifest_hash=manifest_hash)
            )
            return int(result.rowcount)

        return await self._run(f"record the manifest hash of {digest}", work, write=True)

    async def replace_lost_manifest(
        self,
        project: str,
        name: str,
        index: int,
        lost: str,
        manifest_hash: str,
        *,
        stored: StoredCheck,
    ) -> bool:
        """Point version ``index`` at ``manifests/<manifest_hash>`` if it reads ``lost``."""

        async def work(conn: AsyncConnection) -> bool:
            await lock_object(conn, MANIFEST_LOCK, manifest_hash)
            coll = await _collection(conn, project, name)
            if not await stored():
                return False
            target = select(versions.c.id).where(
                versions.c.collection_id == coll.id, versions.c.idx == index
            )
            version_id = (await conn.execute(target)).scalar_one_or_none()
            result = await conn.execute(
                update(versions)
                # the version, and its links (they read its manifest object)
                .where(
                    or_(versions.c.id == version_id, versions.c.source_id == version_id),
                    reads(lost),
                )
                .values(manifest_hash=manifest_hash)
            )
            return int(result.rowcount) > 0

        return await self._run(
            f"replace the lost manifest of {_artifact(project, name)}", work, write=True
        )
