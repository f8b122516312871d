"""SqlMetaStore: the metadata-store port on async SQLAlchemy Core (SQLite and PostgreSQL).

The row conversions and the lookups its transactions share live in
:mod:`asyncart.repo.metastores.lookups`; the SQL of the pack index, deletions and
runs/lineage in :mod:`packindex`, :mod:`deletion` and :mod:`lineage`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from asyncart.core.models import CollectionInfo, RunInfo, VersionInfo
from asyncart.core.names import LATEST, format_version, parse_version, validate_alias, validate_name
from asyncart.errors import (
    AsyncartError,
    ConfigError,
    ConflictError,
    MetadataStoreError,
    StoreRetry,
)
from asyncart.repo.metastores import deletion, lineage, packindex, visibility
from asyncart.repo.metastores.base import (
    MetaStore,
    NewVersion,
    PackChunk,
    PackRecord,
    StoredCheck,
    StoredVersion,
    StoreSnapshot,
    manifest_name,
)
from asyncart.repo.metastores.chunkindex import ChunkIndexMethods
from asyncart.repo.metastores.lookups import (
    HAS_VERSIONS,
    MANIFEST_LOCK,
    _alias_order,
    _alias_version_id,
    _artifact,
    _collection,
    _dumps,
    _hash_bytes,
    _project_id,
    _require_run,
    _version_id,
    _version_infos,
    bytewise,
    insert_or_ignore,
    lock_object,
)
from asyncart.repo.metastores.manifestrefs import ManifestRefMethods
from asyncart.repo.metastores.migrations import (
    async_url,
    make_engine,
    migrate,
    transaction_options,
)
from asyncart.repo.metastores.schema import (
    aliases,
    collections,
    projects,
    run_inputs,
    run_outputs,
    version_view,
    versions,
)

if TYPE_CHECKING:
    from asyncart.repo.metastores.lookups import AnyRow

T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[T]]

MAX_ATTEMPTS = 5  # whole-transaction attempts on constraint races / deadlocks (PostgreSQL)
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


# -- transaction retries (engine setup lives in migrations.make_engine) ---------


def _retryable(exc: DBAPIError) -> bool:
    """A unique-constraint race or a deadlock: running the transaction again can succeed."""
    if isinstance(exc, IntegrityError):
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in _RETRY_SQLSTATES


# -- the store ----------------------------------------------------------------


class SqlMetaStore(ChunkIndexMethods, ManifestRefMethods, MetaStore):
    """:class:`MetaStore` on SQLAlchemy Core (async).

    Args:
        url: ``sqlite:///path/meta.db`` (aiosqlite) or ``postgresql://…`` (asyncpg);
            a driver named in the URL is replaced by the asyncio one.
        busy_timeout: seconds a SQLite connection waits for another writer's lock.
    """

    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        self.url = async_url(url)
        self.busy_timeout = busy_timeout
        self._engine: AsyncEngine | None = None

    def __repr__(self) -> str:
        return f"SqlMetaStore({self._where})"

    @property
    def _where(self) -> str:
        return self.url.render_as_string(hide_password=True)

    # -- lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        """Connect, then create or migrate the schema (refusing a newer schema)."""
        if self._engine is not None:
            return
        self._check_sqlite_directory()
        try:
            engine = make_engine(self.url, busy_timeout=self.busy_timeout)
        except (ImportError, ArgumentError) as exc:
            raise MetadataStoreError(f"cannot use metadata store {self._where}: {exc}") from None
        try:
            await migrate(engine)
        except BaseException as exc:
            await engine.dispose()
            if isinstance(exc, (SQLAlchemyError, OSError)):
                raise self._wrap("open it", exc) from exc
            raise
        self._engine = engine

    def _check_sqlite_directory(self) -> None:
        """Fail early (and clearly) when a SQLite file's directory is missing.

        This also keeps away from an aiosqlite race: after a failed connect its worker
        thread may report to an event loop that has closed (omnilib/aiosqlite#389).
        """
        database = self.url.database or ""
        if self.url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return
        if database.startswith("file:"):
            return
        directory = Path(database).parent
        if not directory.is_dir():
            raise MetadataStoreError(
                f"cannot open metadata store {self._where}: directory {directory} does not exist"
            )

    async def close(self) -> None:
        """Dispose of the connection pool (idempotent)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    # -- transactions ------------------------------------------------------------

    def _wrap(self, what: str, exc: BaseException) -> MetadataStoreError:
        detail = getattr(exc, "orig", None) or exc
        hint = ""
        if "locked" in str(detail):
            hint = f" (another connection is writing; busy timeout {self.busy_timeout:g}s)"
        return MetadataStoreError(f"metadata store {self._where}: could not {what}: {detail}{hint}")

    async def _run(self, what: str, work: Work[T], *, write: bool) -> T:
        """Run ``work`` in one transaction; retry races; map driver errors to ours."""
        if self._engine is None:
            raise MetadataStoreError(f"metadata store {self._where} is not open; await open()")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._engine.connect() as conn:
                    options = transaction_options(conn.dialect.name, write=write)
                    if options:
                        conn = await conn.execution_options(**options)
                    async with conn.begin():
                        return await work(conn)
            except AsyncartError:
                raise
            except DBAPIError as exc:
                if not (write and attempt < MAX_ATTEMPTS and _retryable(exc)):
                    raise self._wrap(what, exc) from exc
            except (SQLAlchemyError, OSError) as exc:
                raise self._wrap(what, exc) from exc
            await asyncio.sleep(random.uniform(0, 0.02 * attempt))
        raise AssertionError("unreachable")

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
            now = time.time()
            await packindex.claim_chunks(conn, new.chunks, now)
            # Ordered with gc's decision on this manifest object (manifest_unreferenced).
            await lock_object(conn, MANIFEST_LOCK, manifest_name(new.manifest_hash, new.digest))
            if manifest_stored is not None and not await manifest_stored():
                raise StoreRetry(
                    f"the manifest of {_artifact(new.project, new.name)} was removed by a "
                    "concurrent garbage collection before the commit; commit again"
                )
            if new.run_id is not None:
                await _require_run(conn, new.run_id)
            coll = await self._lock_collection(conn, new, now)
            await visibility.record_holders(
                conn, coll.project_id, (_hash_bytes(h) for h in new.chunks)
            )
            found = await conn.execute(
                select(versions.c.id).where(
                    versions.c.collection_id == coll.id, versions.c.digest == new.digest
                )
            )
            version_id = found.scalar_one_or_none()
            created = version_id is None
            if version_id is None:
                version_id = await self._insert_version(conn, coll, new, meta, now)
            await conn.execute(
                delete(aliases).where(
                    aliases.c.collection_id == coll.id, aliases.c.alias.in_(moved)
                )
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

        return await self._run(f"commit {_artifact(new.project, new.name)}", work, write=True)

    @staticmethod
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
            raise ConflictError(
                f"{_artifact(new.project, new.name)} has type {coll.type!r}; cannot log a "
                f"version of type {new.type!r} to it (use another name or type {coll.type!r})"
            )
        return coll

    @staticmethod
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
            return (await self._collections(conn, project, name))[0]

        return await self._run(f"read {_artifact(project, name)}", work, write=False)

    async def list_collections(self, project: str) -> list[CollectionInfo]:
        """A project's collections by name; empty for an unknown project."""
        return await self._run(
            f"list artifacts of project {project!r}",
            lambda conn: self._collections(conn, project),
            write=False,
        )

    @staticmethod
    async def _collections(
        conn: AsyncConnection, project: str, name: str | None = None
    ) -> list[CollectionInfo]:
        """Collections of ``project`` (just ``name`` if given) with their version counts."""
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
        return [
            CollectionInfo(project, row.name, row.type, row.n, row.created_at, row.updated_at)
            for row in await conn.execute(stmt)
        ]

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
        there, see ``migrations.transaction_options``)."""
        return await self._run("read the store's index", packindex.snapshot, write=False)

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
