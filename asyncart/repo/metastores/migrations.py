"""Versioned schema migrations of the metadata database (engine setup: ``engine.py``).

The ``schema_version`` table holds one row per applied step (``version``,
``applied_at``); the store's version is the highest row, 0 for an empty database.
:data:`MIGRATIONS` is the ordered list of steps: step *n* (1-based) takes the
schema from version *n - 1* to *n*. Each step is a plain function of a sync
:class:`~sqlalchemy.engine.Connection` (run through ``run_sync``) and is applied
in its own write transaction together with its ``schema_version`` row, so a
crash leaves the database at a whole version. Concurrent openers serialize on
the write lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL)
and re-read the version under it, so each step runs exactly once.

Rules for adding a step: append a function, never edit or reorder released
ones, and update :mod:`~asyncart.repo.metastores.schema` in the same change.
Migration 1 builds the tables from the frozen version-1 definitions in
``schema_v1.py`` (never edited), so later steps always start from what
version 1 really built.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from asyncart.errors import MetadataStoreError
from asyncart.repo.metastores import schema, schema_v1
from asyncart.repo.metastores.engine import WRITE_OPTION

#: Arbitrary constant key of the PostgreSQL advisory lock held while migrating.
_PG_MIGRATION_LOCK = 0x61737963  # "asyc"

Step = Callable[[Connection], None]


def _m1_initial(conn: Connection) -> None:
    """Version 1: projects, collections, versions, aliases, runs, lineage, packs, chunks."""
    schema_v1.metadata.create_all(conn, tables=list(schema_v1.TABLES), checkfirst=False)


def _m2_gc_support(conn: Connection) -> None:
    """Version 2: what garbage collection and fsck need (docs/gc.md).

    * ``packs.touched_at``: the grace clock; existing packs start from their upload time.
    * an index on ``chunks.pack_id``: a pack's chunks without scanning the whole index.
    """
    conn.exec_driver_sql("ALTER TABLE packs ADD COLUMN touched_at FLOAT NOT NULL DEFAULT 0")
    conn.exec_driver_sql("UPDATE packs SET touched_at = created_at")
    conn.exec_driver_sql("CREATE INDEX ix_chunks_pack_id ON chunks (pack_id)")


def _m3_users_and_keys(conn: Connection) -> None:
    """Version 3: ``users`` and their ``api_keys`` (hashed) for server authentication.

    The tables are defined here, frozen, so later changes to ``schema.py`` never alter
    what this step builds.
    """
    frozen = MetaData()
    Table(
        "users",
        frozen,
        Column("id", Integer, primary_key=True),
        Column("name", String(schema.NAME), nullable=False),
        Column("created_at", Float, nullable=False),
        UniqueConstraint("name", name="uq_users_name"),
    )
    Table(
        "api_keys",
        frozen,
        Column("id", Integer, primary_key=True),
        Column(
            "user_id",
            Integer,
            ForeignKey("users.id", name="fk_api_keys_user_id_users"),
            nullable=False,
        ),
        Column("key_hash", LargeBinary(32), nullable=False),
        Column("label", String(schema.NAME), nullable=True),
        Column("created_at", Float, nullable=False),
        Column("revoked_at", Float, nullable=True),
        UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    frozen.create_all(conn, checkfirst=False)


#: ``store_state`` key: "complete" once ``chunk_holders`` covers every version.
HOLDERS_STATE = "chunk_holders"


def _m4_projects_access(conn: Connection) -> None:
    """Version 4: per-project grants, chunk holders and uploaders, the audit log.

    Users that exist already get admin on every project (before, any key could do
    anything). A store that already has versions gets its ``chunk_holders`` filled from their
    manifests when the repository next opens (manifests live in the blobstore, out of
    reach of a SQL step); an empty store starts complete.
    """
    frozen = MetaData()
    # Stand-ins for the existing tables the new ones refer to (not created here).
    Table("users", frozen, Column("id", Integer, primary_key=True))
    Table("projects", frozen, Column("id", Integer, primary_key=True))
    Table(
        "grants",
        frozen,
        Column(
            "user_id",
            Integer,
            ForeignKey("users.id", name="fk_grants_user_id_users"),
            primary_key=True,
        ),
        Column("project", String(schema.NAME), primary_key=True),
        Column("role", String(16), nullable=False),
        Column("granted_at", Float, nullable=False),
    )
    Table(
        "chunk_holders",
        frozen,
        Column("hash", LargeBinary(32), primary_key=True),
        Column(
            "project_id",
            Integer,
            ForeignKey("projects.id", name="fk_chunk_holders_project_id_projects"),
            primary_key=True,
        ),
        sqlite_with_rowid=False,
    )
    Table(
        "chunk_uploads",
        frozen,
        Column("hash", LargeBinary(32), primary_key=True),
        Column("user_name", String(schema.NAME), primary_key=True),
        sqlite_with_rowid=False,
    )
    Table(
        "audit_events",
        frozen,
        Column("id", Integer, primary_key=True),
        Column("at", Float, nullable=False),
        Column("user_name", String(schema.NAME), nullable=True),
        Column("action", String(32), nullable=False),
        Column("project", String(schema.NAME), nullable=True),
        Column("artifact", String(schema.NAME), nullable=True),
        Column("version", Integer, nullable=True),
        Column("detail", Text, nullable=False),
        Column("request_id", String(128), nullable=True),
        Index("ix_audit_events_project_id", "project", "id"),
    )
    state = Table(
        "store_state",
        frozen,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    new_tables = ("grants", "chunk_holders", "chunk_uploads", "audit_events", "store_state")
    frozen.create_all(conn, tables=[frozen.tables[t] for t in new_tables], checkfirst=False)
    # Users made before roles existed could do everything: they keep that ('*' admin).
    conn.exec_driver_sql(
        "INSERT INTO grants (user_id, project, role, granted_at) "
        "SELECT id, '*', 'admin', created_at FROM users"
    )
    has_versions = conn.exec_driver_sql("SELECT 1 FROM versions LIMIT 1").first() is not None
    conn.execute(
        insert(state).values(key=HOLDERS_STATE, value="pending" if has_versions else "complete")
    )


def _m5_manifest_hash(conn: Connection) -> None:
    """Version 5: ``versions.manifest_hash``, the name of the version's manifest object.

    Before, a manifest was stored as ``manifests/<artifact digest>``, a name any commit of
    the same (path, file digest) pairs overwrote, in any project (issue 15). Existing
    versions start with NULL (their object is still ``manifests/<digest>``); the
    repository copies each such object to its content address and records the hash when
    it next opens (``Repository.complete_manifest_hashes``: blobstores are out of reach
    of a SQL step).
    """
    conn.exec_driver_sql("ALTER TABLE versions ADD COLUMN manifest_hash VARCHAR(64)")
    conn.exec_driver_sql("CREATE INDEX ix_versions_manifest_hash ON versions (manifest_hash)")


def _m6_version_changes(conn: Connection) -> None:
    """Version 6: what changing a logged version needs (issue 17, W&B's ``save()``).

    * ``versions.ttl_seconds`` (NULL: no limit) and ``versions.updated_at`` (existing
      versions: their ``created_at``);
    * ``version_tags``: a version's tags.
    """
    conn.exec_driver_sql("ALTER TABLE versions ADD COLUMN ttl_seconds INTEGER")
    conn.exec_driver_sql("ALTER TABLE versions ADD COLUMN updated_at FLOAT NOT NULL DEFAULT 0")
    conn.exec_driver_sql("UPDATE versions SET updated_at = created_at")
    frozen = MetaData()
    Table("versions", frozen, Column("id", Integer, primary_key=True))  # referred to only
    Table(
        "version_tags",
        frozen,
        Column(
            "version_id",
            Integer,
            ForeignKey("versions.id", name="fk_version_tags_version_id_versions"),
            primary_key=True,
        ),
        Column("tag", String(schema.NAME), primary_key=True),
    )
    frozen.create_all(conn, tables=[frozen.tables["version_tags"]], checkfirst=False)


def _m7_run_labels_and_pending(conn: Connection) -> None:
    """Version 7: the run surface of issue 17.

    * ``runs.run_group``, ``runs.tags`` (a JSON list), ``runs.notes``: W&B's
      ``init(group=, tags=, notes=)``;
    * ``pending_parts`` and ``pending_entries``: distributed versions being written
      (``upsert_artifact`` / ``finish_artifact``), and ``pending_finishes`` (a retried
      finish answers the version it made), see ``schema.py``.
    """
    conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN run_group VARCHAR(128)")
    conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'")
    conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN notes TEXT")
    frozen = MetaData()
    Table("projects", frozen, Column("id", Integer, primary_key=True))  # referred to only
    Table(
        "pending_parts",
        frozen,
        Column("id", Integer, primary_key=True),
        Column(
            "project_id",
            Integer,
            ForeignKey("projects.id", name="fk_pending_parts_project_id_projects"),
            nullable=False,
        ),
        Column("name", String(schema.NAME), nullable=False),
        Column("distributed_id", String(schema.NAME), nullable=False),
        Column("type", String(schema.NAME), nullable=False),
        Column("run_id", String(schema.NAME), nullable=True),
        Column("aliases", Text, nullable=False),
        Column("metadata", Text, nullable=False),
        Column("description", Text, nullable=True),
        Column("chunker", Text, nullable=False),
        Column("created_at", Float, nullable=False),
        Index(
            "ix_pending_parts_project_id_name_distributed_id",
            "project_id",
            "name",
            "distributed_id",
        ),
    )
    Table(
        "pending_entries",
        frozen,
        Column("id", Integer, primary_key=True),
        Column(
            "part_id",
            Integer,
            ForeignKey("pending_parts.id", name="fk_pending_entries_part_id_pending_parts"),
            nullable=False,
        ),
        Column(
            "project_id",
            Integer,
            ForeignKey("projects.id", name="fk_pending_entries_project_id_projects"),
            nullable=False,
        ),
        Column("name", String(schema.NAME), nullable=False),
        Column("distributed_id", String(schema.NAME), nullable=False),
        Column("path_key", LargeBinary(32), nullable=False),
        Column("digest", String(64), nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("entry", Text, nullable=False),
        Column("chunks", LargeBinary, nullable=False),
        UniqueConstraint(
            "project_id",
            "name",
            "distributed_id",
            "path_key",
            name="uq_pending_entries_project_id_name_distributed_id_path_key",
        ),
        Index("ix_pending_entries_part_id", "part_id"),
    )
    Table(
        "pending_finishes",
        frozen,
        Column("token", String(64), primary_key=True),
        Column("version_id", Integer, nullable=False),
        Column("created_at", Float, nullable=False),
    )
    new_tables = ("pending_parts", "pending_entries", "pending_finishes")
    frozen.create_all(conn, tables=[frozen.tables[t] for t in new_tables], checkfirst=False)


def _m8_links(conn: Connection) -> None:
    """Version 8: links (issue 17, W&B's ``artifact.link``): ``versions.source_id``.

    A link is a version of another collection (a portfolio, or a registry's collection)
    that points at the version it links: NULL for every existing version.
    """
    conn.exec_driver_sql(
        "ALTER TABLE versions ADD COLUMN source_id INTEGER "
        "CONSTRAINT fk_versions_source_id_versions REFERENCES versions (id)"
    )
    conn.exec_driver_sql("CREATE INDEX ix_versions_source_id ON versions (source_id)")


def _m9_collection_changes(conn: Connection) -> None:
    """Version 9: editing collections (issue 17, W&B's ``ArtifactCollection.save()``).

    * ``collections.description`` (NULL: none);
    * ``collection_tags``: a collection's own tags.
    """
    conn.exec_driver_sql("ALTER TABLE collections ADD COLUMN description TEXT")
    frozen = MetaData()
    Table("collections", frozen, Column("id", Integer, primary_key=True))  # referred to only
    Table(
        "collection_tags",
        frozen,
        Column(
            "collection_id",
            Integer,
            ForeignKey("collections.id", name="fk_collection_tags_collection_id_collections"),
            primary_key=True,
        ),
        Column("tag", String(schema.NAME), primary_key=True),
    )
    frozen.create_all(conn, tables=[frozen.tables["collection_tags"]], checkfirst=False)


CHUNK_REFS_STATE = "version_chunks"


def _m10_version_chunks(conn: Connection) -> None:
    """Version 10: what a version costs (issue 21).

    * ``versions.added_bytes``: bytes a commit added to the store (NULL for every
      existing version: not known after the fact);
    * ``version_chunks``: each version's chunks, filled for existing versions from their
      manifests by ``backfill.complete_version_chunks`` (``store_state`` row
      ``version_chunks`` says when it is done).
    """
    conn.exec_driver_sql("ALTER TABLE versions ADD COLUMN added_bytes BIGINT")
    frozen = MetaData()
    Table("versions", frozen, Column("id", Integer, primary_key=True))  # referred to only
    Table(
        "version_chunks",
        frozen,
        Column(
            "version_id",
            Integer,
            ForeignKey("versions.id", name="fk_version_chunks_version_id_versions"),
            primary_key=True,
        ),
        Column("hash", LargeBinary(32), primary_key=True),
        Index("ix_version_chunks_hash", "hash"),
        sqlite_with_rowid=False,
    )
    frozen.create_all(conn, tables=[frozen.tables["version_chunks"]], checkfirst=False)
    has_versions = conn.exec_driver_sql("SELECT 1 FROM versions LIMIT 1").first() is not None
    state = "pending" if has_versions else "complete"
    conn.execute(insert(schema.store_state).values(key=CHUNK_REFS_STATE, value=state))


def _m11_retention(conn: Connection) -> None:
    """Version :data:`RETENTION_STEP`: per-collection retention policies (issue 21,
    ``core/retention.py``): the ``retention_policies`` table. Needs only schema 9's
    tables (``collections``)."""
    frozen = MetaData()
    Table("collections", frozen, Column("id", Integer, primary_key=True))  # referred to only
    Table(
        "retention_policies",
        frozen,
        Column(
            "collection_id",
            Integer,
            ForeignKey("collections.id", name="fk_retention_policies_collection_id_collections"),
            primary_key=True,
        ),
        Column("keep_last", Integer, nullable=True),
        Column("max_age_seconds", BigInteger, nullable=True),
        Column("keep_aliased", Integer, nullable=False),
        Column("updated_at", Float, nullable=False),
        Column("updated_by", String(schema.NAME), nullable=True),
    )
    frozen.create_all(conn, tables=[frozen.tables["retention_policies"]], checkfirst=False)


def _m12_quotas(conn: Connection) -> None:
    """Version :data:`QUOTA_STEP`: per-project quotas on deduplicated bytes (issue 21,
    docs/quotas.md): the ``project_quotas`` table, keyed by project name so a quota can
    be set before the project's first push. Needs no other table."""
    frozen = MetaData()
    Table(
        "project_quotas",
        frozen,
        Column("project", String(schema.NAME), primary_key=True),
        Column("quota_bytes", BigInteger, nullable=False),
        Column("updated_at", Float, nullable=False),
    )
    frozen.create_all(conn, tables=[frozen.tables["project_quotas"]], checkfirst=False)


def _m13_pack_charges(conn: Connection) -> None:
    """Version :data:`PACK_CHARGE_STEP`: uploaded-but-uncommitted pack bytes charged to
    the project the upload names (issue 21, docs/quotas.md "Pack uploads"): the
    ``pack_charges`` table. Starts empty: packs uploaded before it are charged to no
    one (commits still check the quota; gc removes them as before)."""
    frozen = MetaData()
    Table(
        "pack_charges",
        frozen,
        Column("project", String(schema.NAME), primary_key=True),
        Column("pack_id", String(64), primary_key=True),
        Column("bytes", BigInteger, nullable=False),
        Column("created_at", Float, nullable=False),
        Index("ix_pack_charges_pack_id", "pack_id"),
    )
    frozen.create_all(conn, tables=[frozen.tables["pack_charges"]], checkfirst=False)


#: The schema version the pack charge step brings.
PACK_CHARGE_STEP = 13

def _m14_version_origins(conn: Connection) -> None:
    """Version :data:`ORIGINS_STEP`: where a version synced from another store came from
    (issue 21, ``asyncart sync``): the ``version_origins`` table. Needs only the
    ``versions`` table (schema 1); self-contained, so it may follow any other step."""
    frozen = MetaData()
    Table("versions", frozen, Column("id", Integer, primary_key=True))  # referred to only
    Table(
        "version_origins",
        frozen,
        Column("id", Integer, primary_key=True),
        Column(
            "version_id",
            Integer,
            ForeignKey("versions.id", name="fk_version_origins_version_id_versions"),
            nullable=False,
        ),
        Column("source_store", Text, nullable=False),
        Column("source_project", String(schema.NAME), nullable=False),
        Column("source_name", String(schema.NAME), nullable=False),
        Column("source_index", BigInteger, nullable=False),
        Column("source_digest", String(64), nullable=False),
        Column("synced_at", Float, nullable=False),
        Column("synced_by", String(schema.NAME), nullable=True),
        UniqueConstraint(
            "version_id",
            "source_store",
            "source_project",
            "source_name",
            "source_index",
            name="uq_version_origins_source",
        ),
    )
    frozen.create_all(conn, tables=[frozen.tables["version_origins"]], checkfirst=False)


#: The schema version the quota step brings.
QUOTA_STEP = 12

#: The schema version the retention step brings (the one number to change when steps
#: are renumbered on a merge).
RETENTION_STEP = 11

#: Every migration step, oldest first; ``len(MIGRATIONS)`` is the current schema version.
MIGRATIONS: tuple[Step, ...] = (
    _m1_initial,
    _m2_gc_support,
    _m3_users_and_keys,
    _m4_projects_access,
    _m5_manifest_hash,
    _m6_version_changes,
    _m7_run_labels_and_pending,
    _m8_links,
    _m9_collection_changes,
    _m10_version_chunks,
    _m11_retention,
    _m12_quotas,
    _m13_pack_charges,
    _m14_version_origins,
)
assert MIGRATIONS[RETENTION_STEP - 1] is _m11_retention, "renumber RETENTION_STEP"
assert MIGRATIONS[QUOTA_STEP - 1] is _m12_quotas, "renumber QUOTA_STEP"
assert MIGRATIONS[PACK_CHARGE_STEP - 1] is _m13_pack_charges, "renumber PACK_CHARGE_STEP"

#: The schema version the origins step brings.
ORIGINS_STEP = MIGRATIONS.index(_m14_version_origins) + 1

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    """The schema version recorded in the database (0 when it has no ``schema_version``)."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return 0
    found = conn.execute(select(func.max(schema.schema_version.c.version))).scalar_one()
    return int(found or 0)


def check_supported(version: int) -> None:
    """Refuse a database written by a newer asyncart."""
    known = SCHEMA_VERSION
    if version > known:
        raise MetadataStoreError(
            f"the metadata store has schema version {version}, but this asyncart only knows "
            f"versions up to {known}; upgrade asyncart to open it"
        )


def _apply_next(conn: Connection) -> bool:
    """Apply the next missing step under the write lock; True when nothing was left to do."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    schema.schema_version.create(conn, checkfirst=True)
    version = current_version(conn)
    check_supported(version)
    if version >= SCHEMA_VERSION:
        return True
    MIGRATIONS[version](conn)
    conn.execute(insert(schema.schema_version).values(version=version + 1, applied_at=time.time()))
    return False


async def _ensure_wal(engine: AsyncEngine, attempts: int = 100) -> None:
    """Make sure a SQLite file is in WAL mode (connections racing to switch it may not)."""
    for _ in range(attempts):
        async with engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        if str(mode).lower() == "wal":
            return
        # New connections try to switch it (_on_connect), outside any transaction.
        await engine.dispose()
        await asyncio.sleep(0.05)
    raise MetadataStoreError(
        f"could not switch {engine.url.database} to WAL journaling (another process kept it "
        "locked); check no other program holds the database open"
    )


async def migrate(engine: AsyncEngine) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`, one transaction per step.

    An up-to-date database costs one read transaction and no write lock.

    Returns:
        The schema version now in the database.

    Raises:
        MetadataStoreError: the database is newer than this code (upgrade asyncart).
        sqlalchemy.exc.SQLAlchemyError: the database failed; the caller wraps it.
    """
    if engine.dialect.name == "sqlite":
        await _ensure_wal(engine)
    async with engine.connect() as conn, conn.begin():
        version = await conn.run_sync(current_version)
    check_supported(version)
    if version == SCHEMA_VERSION:
        return version
    while True:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                done = await conn.run_sync(_apply_next)
        if done:
            return SCHEMA_VERSION
