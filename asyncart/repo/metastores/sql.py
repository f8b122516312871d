"""SqlMetaStore: the metadata-store port on async SQLAlchemy Core (SQLite and PostgreSQL).

Each method is one transaction run by the store's
:class:`~asyncart.repo.metastores.database.Database` (which owns the engine, the schema
migrations, the retry of lost races and the mapping of driver errors). The row
conversions and the lookups its transactions share live in
:mod:`asyncart.repo.metastores.lookups`; the SQL of a commit, the pack index, deletions
and runs/lineage in :mod:`commit`, :mod:`packindex`, :mod:`deletion` and :mod:`lineage`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.artifact_uris import version_id_for
from asyncart.core.models import (
    CollectionChanges,
    CollectionInfo,
    RunInfo,
    VersionChanges,
    VersionInfo,
)
from asyncart.core.names import LATEST, format_version, parse_version, validate_alias, validate_name
from asyncart.errors import ConfigError, VersionNotFound
from asyncart.repo.metastores import changes as version_changes
from asyncart.repo.metastores import collection_changes, commit, deletion, lineage, links, packindex
from asyncart.repo.metastores.base import (
    MetaStore,
    NewVersion,
    PackChunk,
    PackRecord,
    StoredCheck,
    StoredVersion,
    StoreSnapshot,
)
from asyncart.repo.metastores.charges import ChargeMethods
from asyncart.repo.metastores.chunkindex import ChunkIndexMethods
from asyncart.repo.metastores.database import Database, DatabaseUser
from asyncart.repo.metastores.lookups import (
    _alias_order,
    _alias_version_id,
    _artifact,
    _collection,
    _dumps,
    _require_run,
    _version_id,
    _version_infos,
    bytewise,
)
from asyncart.repo.metastores.manifestrefs import ManifestRefMethods
from asyncart.repo.metastores.origins import OriginMethods
from asyncart.repo.metastores.pending import PendingMethods, pending_chunks
from asyncart.repo.metastores.quotas import QuotaMethods
from asyncart.repo.metastores.retention import RetentionMethods
from asyncart.repo.metastores.schema import (
    collections,
    projects,
    run_inputs,
    run_outputs,
    version_view,
    versions,
)
from asyncart.repo.metastores.storage import StorageMethods


class SqlMetaStore(
    DatabaseUser,
    ChargeMethods,
    ChunkIndexMethods,
    ManifestRefMethods,
    PendingMethods,
    OriginMethods,
    QuotaMethods,
    RetentionMethods,
    StorageMethods,
    MetaStore,
):
    """:class:`MetaStore` on SQLAlchemy Core (async).

    Args:
        database: a :class:`Database` shared with the store's other users (accounts,
            audit log), or the URL of one of its own: ``sqlite:///path/meta.db``
            (aiosqlite) or ``postgresql://…`` (asyncpg).
        busy_timeout: for a database of its own: seconds a SQLite connection waits for
            another writer's lock.
    """

    def __init__(self, database: str | Database, *, busy_timeout: float = 30.0) -> None:
        super().__init__(database, busy_timeout=busy_timeout)

    def __repr__(self) -> str:
        return f"SqlMetaStore({self.database.where})"

    @property
    def url(self) -> URL:
        """The database URL (with its asyncio driver)."""
        return self.database.url

    # -- versions -----------------------------------------------------------------

    async def commit_version(
        self, new: NewVersion, *, manifest_stored: StoredCheck | None = None
    ) -> VersionInfo:
        """Record a version (see :meth:`MetaStore.commit_version`)."""
        validate_name(new.project, what="project name")
        validate_name(new.name)
        validate_name(new.type, what="artifact type")
        moved = _alias_order([LATEST, *(validate_alias(a) for a in new.aliases)])
        meta = _dumps(new.metadata, "version metadata")
        if new.description is not None and "\x00" in new.description:
            # PostgreSQL text cannot hold NUL; refused on every database alike.
            raise ConfigError("a version description must not contain NUL characters")

        async def work(conn: AsyncConnection) -> VersionInfo:
            return await commit.commit_version(conn, new, moved, meta, manifest_stored)

        return await self._run(f"commit {_artifact(new.project, new.name)}", work, write=True)

    async def delete_version(
        self, project: str, name: str, ref: str, *, delete_aliases: bool = False
    ) -> VersionInfo:
        """Delete one version (see :meth:`MetaStore.delete_version`)."""

        async def work(conn: AsyncConnection) -> VersionInfo:
            return await deletion.delete_version(
                conn, project, name, ref, delete_aliases, time.time()
            )

        return await self._run(f"delete {_artifact(project, name)}:{ref}", work, write=True)

    async def delete_collection(
        self, project: str, name: str, *, delete_aliases: bool = False
    ) -> list[VersionInfo]:
        """Delete every version of a collection (see :meth:`MetaStore.delete_collection`)."""

        async def work(conn: AsyncConnection) -> list[VersionInfo]:
            return await deletion.delete_collection(
                conn, project, name, delete_aliases, time.time()
            )

        return await self._run(f"delete {_artifact(project, name)}", work, write=True)

    async def update_collection(
        self, project: str, name: str, changes: CollectionChanges
    ) -> CollectionInfo:
        """Rename, retype, describe or tag a collection (see the port's method)."""
        for value, what in ((changes.name, "artifact name"), (changes.type, "artifact type")):
            if value is not None:
                validate_name(value, what=what)
        if changes.description is not None and "\x00" in changes.description:
            raise ConfigError("a collection description must not contain NUL characters")

        async def work(conn: AsyncConnection) -> CollectionInfo:
            return await collection_changes.update_collection(
                conn, project, name, changes, time.time()
            )

        return await self._run(f"update {_artifact(project, name)}", work, write=True)

    async def update_version(
        self, project: str, name: str, ref: str, changes: VersionChanges
    ) -> VersionInfo:
        """Change a logged version (see :meth:`MetaStore.update_version`)."""
        meta = None if changes.metadata is None else _dumps(changes.metadata, "version metadata")
        if changes.description is not None and "\x00" in changes.description:
            raise ConfigError("a version description must not contain NUL characters")

        async def work(conn: AsyncConnection) -> VersionInfo:
            return await version_changes.update_version(
                conn, project, name, ref, changes, meta, time.time()
            )

        return await self._run(f"update {_artifact(project, name)}:{ref}", work, write=True)

    async def link_version(
        self,
        source: tuple[str, str, str],
        target: tuple[str, str],
        aliases: Sequence[str],
        chunks: Sequence[str],
    ) -> VersionInfo:
        """Link a version into another collection (see :meth:`MetaStore.link_version`)."""
        validate_name(target[0], what="project name")
        validate_name(target[1])
        moved = _alias_order([LATEST, *(validate_alias(a) for a in aliases)])

        async def work(conn: AsyncConnection) -> VersionInfo:
            return await links.link_version(conn, source, target, moved, chunks, time.time())

        label = f"link {_artifact(source[0], source[1])}:{source[2]}"
        return await self._run(label, work, write=True)

    async def unlink_version(self, project: str, name: str, ref: str) -> VersionInfo:
        """Delete one link (see :meth:`MetaStore.unlink_version`)."""

        async def work(conn: AsyncConnection) -> VersionInfo:
            return await links.unlink(conn, project, name, ref, time.time())

        return await self._run(f"unlink {_artifact(project, name)}:{ref}", work, write=True)

    async def list_links(self, project: str, name: str, ref: str) -> list[VersionInfo]:
        """The links of a version (see :meth:`MetaStore.list_links`)."""

        async def work(conn: AsyncConnection) -> list[VersionInfo]:
            return await links.list_links(conn, project, name, ref)

        return await self._run(f"list links of {_artifact(project, name)}", work, write=False)

    async def set_alias(self, project: str, name: str, alias: str, ref: str) -> VersionInfo:
        """Move ``alias`` onto version ``ref`` (see :meth:`MetaStore.set_alias`)."""
        validate_alias(alias)

        async def work(conn: AsyncConnection) -> VersionInfo:
            return await version_changes.set_alias(conn, project, name, alias, ref, time.time())

        return await self._run(f"alias {_artifact(project, name)}:{ref}", work, write=True)

    async def remove_alias(self, project: str, name: str, alias: str) -> VersionInfo:
        """Remove ``alias`` (see :meth:`MetaStore.remove_alias`)."""

        async def work(conn: AsyncConnection) -> VersionInfo:
            return await version_changes.remove_alias(conn, project, name, alias, time.time())

        return await self._run(
            f"remove alias {alias!r} of {_artifact(project, name)}", work, write=True
        )

    async def version_by_id(
        self, version_id: str, among: Collection[str] | None = None
    ) -> VersionInfo:
        """The logged version (a link has its source's id) whose ``artifact.id`` is
        ``version_id``, in a project of ``among`` (None: any); VersionNotFound if none.

        Ids are hashes of names, not stored: this reads the names of every version
        (one query; fine for the config URIs that ask, not for a hot path).
        """

        async def work(conn: AsyncConnection) -> tuple[str, str, int] | None:
            stmt = (
                select(projects.c.name, collections.c.name, versions.c.idx)
                .select_from(
                    versions.join(collections, versions.c.collection_id == collections.c.id).join(
                        projects, collections.c.project_id == projects.c.id
                    )
                )
                .where(versions.c.source_id.is_(None))
            )
            if among is not None:
                stmt = stmt.where(projects.c.name.in_(sorted(among)))
            for project, name, index in await conn.execute(stmt):
                if version_id_for(project, name, index) == version_id:
                    return project, name, index
            return None

        found = await self._run(f"find version id {version_id!r}", work, write=False)
        if found is None:
            raise VersionNotFound(
                f"no version has id {version_id!r} (or none you may read); "
                "an id is artifact.id of a logged version"
            )
        return await self.get_version(found[0], found[1], format_version(found[2]))

    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        """Resolve ``vN`` or an alias; the not-found errors list what exists."""

        async def work(conn: AsyncConnection) -> VersionInfo:
            index = parse_version(ref)
            if index is None:
                version_id = await _alias_version_id(conn, project, name, ref)
            else:
                version_id = await _version_id(conn, project, name, index)
            return (await _version_infos(conn, version_view.where(versions.c.id == version_id)))[0]

        return await self._run(f"read {_artifact(project, name)}", work, write=False)

    async def list_versions(
        self, project: str, name: str, *, after: int | None = None, limit: int | None = None
    ) -> list[VersionInfo]:
        """Versions of a collection, oldest first (a page: see the port)."""

        async def work(conn: AsyncConnection) -> list[VersionInfo]:
            coll = await _collection(conn, project, name)
            stmt = version_view.where(versions.c.collection_id == coll.id)
            if after is not None:
                stmt = stmt.where(versions.c.idx > after)
            return await _version_infos(conn, stmt.order_by(versions.c.idx).limit(limit))

        return await self._run(f"list versions of {_artifact(project, name)}", work, write=False)

    async def get_collection(self, project: str, name: str) -> CollectionInfo:
        """One collection; ArtifactNotFound lists the project's collections."""

        async def work(conn: AsyncConnection) -> CollectionInfo:
            await _collection(conn, project, name)
            return (await collection_changes.collection_infos(conn, project, name))[0]

        return await self._run(f"read {_artifact(project, name)}", work, write=False)

    async def list_collections(self, project: str) -> list[CollectionInfo]:
        """A project's collections by name; empty for an unknown project."""
        return await self._run(
            f"list artifacts of project {project!r}",
            lambda conn: collection_changes.collection_infos(conn, project),
            write=False,
        )

    async def list_projects(self) -> list[str]:
        """Every project name, sorted."""

        async def work(conn: AsyncConnection) -> list[str]:
            found = await conn.execute(select(projects.c.name).order_by(bytewise(projects.c.name)))
            return list(found.scalars())

        return await self._run("list projects", work, write=False)

    # -- runs and lineage (SQL in lineage.py) ---------------------------------------

    async def create_run(self, run: RunInfo) -> RunInfo:
        """Insert a run (``started_at`` 0 means now); ConflictError on a duplicate id."""
        validate_name(run.project, what="project name")
        config = _dumps(run.config, "run config")
        return await self._run(
            f"create run {run.id!r}",
            lambda conn: lineage.insert_run(conn, run, config),
            write=True,
        )

    async def get_run(self, run_id: str) -> RunInfo:
        """One run; RunNotFound if unknown."""
        return await self._run(
            f"read run {run_id!r}", lambda conn: _require_run(conn, run_id), write=False
        )

    async def set_run_config(self, run_id: str, config: dict[str, Any]) -> RunInfo:
        """Replace a running run's config; RunNotFound if unknown, ConflictError once it
        is not running."""
        encoded = _dumps(config, "run config")
        return await self._run(
            f"set the config of run {run_id!r}",
            lambda conn: lineage.set_run_config(conn, run_id, encoded),
            write=True,
        )

    async def finish_run(self, run_id: str, status: str, finished_at: float) -> RunInfo:
        """Set a run's final status and time; RunNotFound if unknown."""
        return await self._run(
            f"finish run {run_id!r}",
            lambda conn: lineage.finish_run(conn, run_id, status, finished_at),
            write=True,
        )

    async def add_run_input(self, run_id: str, project: str, name: str, index: int) -> None:
        """Record that a run used a version (idempotent; the first use keeps its place)."""
        await self._run(
            f"record an input of run {run_id!r}",
            lambda conn: lineage.add_run_input(conn, run_id, project, name, index),
            write=True,
        )

    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        """Versions the run logged, in logging order; RunNotFound if unknown."""
        return await self._run(
            f"list outputs of run {run_id!r}",
            lambda conn: lineage.run_edges(conn, run_outputs, run_id),
            write=False,
        )

    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        """Versions the run used, in use order; RunNotFound if unknown."""
        return await self._run(
            f"list inputs of run {run_id!r}",
            lambda conn: lineage.run_edges(conn, run_inputs, run_id),
            write=False,
        )

    async def version_consumers(self, project: str, name: str, index: int) -> list[RunInfo]:
        """Runs that used a version, first use first."""
        return await self._version_runs(run_inputs, project, name, index)

    async def version_producers(self, project: str, name: str, index: int) -> list[RunInfo]:
        """Runs that logged a version, the creating run first."""
        return await self._version_runs(run_outputs, project, name, index)

    async def _version_runs(
        self, edges: Table, project: str, name: str, index: int
    ) -> list[RunInfo]:
        label = f"{_artifact(project, name)} {format_version(index)}"
        return await self._run(
            f"list runs of {label}",
            lambda conn: lineage.version_runs(conn, edges, project, name, index),
            write=False,
        )

    # -- maintenance (gc, fsck) -----------------------------------------------------

    async def snapshot(self) -> StoreSnapshot:
        """Versions, packs and chunk index in one read transaction: one snapshot (a WAL
        read snapshot on SQLite; REPEATABLE READ on PostgreSQL, as every read transaction
        there, see ``engine.transaction_options``)."""

        async def work(conn: AsyncConnection) -> StoreSnapshot:
            found = await packindex.snapshot(conn)
            return replace(found, pending_chunks=frozenset(await pending_chunks(conn)))

        return await self._run("read the store's index", work, write=False)

    async def list_packs(self) -> list[PackRecord]:
        """Every recorded pack."""
        return await self._run("list packs", packindex.list_packs, write=False)

    async def chunks_by_pack(self) -> dict[str, list[PackChunk]]:
        """The chunk index grouped by pack, each pack's chunks by offset."""
        return await self._run("read the chunk index", packindex.chunks_by_pack, write=False)

    async def all_versions(self) -> list[StoredVersion]:
        """Every version of every collection."""
        return await self._run("list all versions", packindex.all_versions, write=False)

    async def drop_pack(
        self, pack_id: str, *, touched_before: float, seen_touched_at: float | None
    ) -> bool:
        """Forget a pack and its chunks if unchanged since the caller's snapshot, and old."""

        async def work(conn: AsyncConnection) -> bool:
            return await packindex.drop_pack(conn, pack_id, touched_before, seen_touched_at)

        return await self._run(f"drop pack {pack_id}", work, write=True)

    async def drop_chunks(self, pack_id: str, hashes: Sequence[str]) -> int:
        """Remove the index entries of ``hashes`` that point into ``pack_id``."""

        async def work(conn: AsyncConnection) -> int:
            return await packindex.drop_chunks(conn, pack_id, hashes)

        return await self._run(f"drop chunks of pack {pack_id}", work, write=True)
