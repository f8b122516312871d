"""Tables of the SQL metadata store (SQLAlchemy Core), portable across SQLite and PostgreSQL.

Conventions:

* surrogate ``Integer`` keys for projects, collections, versions and lineage edges
  (``INTEGER PRIMARY KEY`` is the rowid on SQLite, ``SERIAL`` on PostgreSQL);
* chunk hashes are stored as 32 raw bytes (half the size of hex, and a cheaper index);
* JSON documents (version metadata, run config) are ``Text`` holding ``json.dumps``;
* timestamps are ``Float`` epoch seconds (double precision on PostgreSQL);
* lineage edges carry their own increasing ``id`` so "the order first recorded" is
  simply ``ORDER BY id``, while ``UNIQUE(run_id, version_id)`` keeps them idempotent.

Changing a table here is a schema change: add a step to
:mod:`asyncart.repo.metastores.migrations` in the same change.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
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
    select,
)

NAME = 128  # asyncart.core.names.MAX_NAME_LENGTH

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", Float, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("type", String(NAME), nullable=False),
    # Next version index to assign; only ever grows, so indexes are never reused.
    Column("next_index", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # W&B's collection description (schema v7; NULL: none).
    Column("description", Text, nullable=True),
    UniqueConstraint("project_id", "name"),
)

# A collection's own tags (schema v7), W&B's ``ArtifactCollection.tags``; distinct from
# the tags of its versions.
collection_tags = Table(
    "collection_tags",
    metadata,
    Column("collection_id", Integer, ForeignKey("collections.id"), primary_key=True),
    Column("tag", String(NAME), primary_key=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(NAME), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("job_type", String(NAME), nullable=False),
    Column("name", String(NAME), nullable=True),
    Column("config", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("collection_id", Integer, ForeignKey("collections.id"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(NAME), ForeignKey("runs.id"), nullable=True),
    # BLAKE3 of the stored (encoded) manifest: the object is ``manifests/<manifest_hash>``
    # (schema v5). NULL only for a version committed before v5 whose object
    # ``manifests/<digest>`` the repository could not copy yet (``Repository.open``).
    Column("manifest_hash", String(64), nullable=True),
    # Seconds to live after ``created_at`` (NULL: no limit), and the last change of its
    # aliases, tags, description, metadata or ttl (schema v6; older rows: created_at).
    Column("ttl_seconds", Integer, nullable=True),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("collection_id", "idx"),
    UniqueConstraint("collection_id", "digest"),
    Index(None, "manifest_hash"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("collection_id", Integer, ForeignKey("collections.id"), primary_key=True),
    Column("alias", String(NAME), primary_key=True),
    Column("version_id", Integer, ForeignKey("versions.id"), nullable=False),
    Index(None, "version_id"),
)


# A version's tags (schema v6), W&B's ``Artifact.tags``: set at log time or by an update.
version_tags = Table(
    "version_tags",
    metadata,
    Column("version_id", Integer, ForeignKey("versions.id"), primary_key=True),
    Column("tag", String(NAME), primary_key=True),
)


def _edge_table(name: str) -> Table:
    """A run -> version lineage edge, ordered by ``id`` (first recorded first)."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("run_id", String(NAME), ForeignKey("runs.id"), nullable=False),
        Column("version_id", Integer, ForeignKey("versions.id"), nullable=False),
        Column("created_at", Float, nullable=False),
        UniqueConstraint("run_id", "version_id"),
        Index(None, "version_id"),
    )


run_outputs = _edge_table("run_outputs")
run_inputs = _edge_table("run_inputs")

packs = Table(
    "packs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    # Last time an upload, a 'missing' answer or a commit relied on this pack (schema v2).
    # Garbage collection keeps a pack touched within its grace period (docs/gc.md).
    Column("touched_at", Float, nullable=False),
)

chunks = Table(
    "chunks",
    metadata,
    Column("hash", LargeBinary(32), primary_key=True),
    Column("pack_id", String(64), ForeignKey("packs.id"), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", Integer, nullable=False),
    # A pack's chunks, for garbage collection and fsck (schema v2).
    Index("ix_chunks_pack_id", "pack_id"),
    sqlite_with_rowid=False,  # the hash is the clustered key; no hidden rowid b-tree
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

# API keys (schema v3): only a hash of each key is stored; ``revoked_at`` is set once.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("key_hash", LargeBinary(32), nullable=False, unique=True),
    Column("label", String(NAME), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

# Per-project roles (schema v4): ``project`` is a project name (a grant may precede the
# project) or ``*`` for every project; ``role`` is read, write or admin.
grants = Table(
    "grants",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("project", String(NAME), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("granted_at", Float, nullable=False),
)

# Which projects have held a chunk (schema v4): recorded by every commit, kept when the
# version is deleted, pruned when garbage collection forgets the chunk. A chunk is
# visible to a caller only through a project it may read, or its own upload
# (docs/protocol.md, "Dedup without leaks").
chunk_holders = Table(
    "chunk_holders",
    metadata,
    Column("hash", LargeBinary(32), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    sqlite_with_rowid=False,
)

# Which users uploaded a chunk's bytes (schema v4): proof of possession.
chunk_uploads = Table(
    "chunk_uploads",
    metadata,
    Column("hash", LargeBinary(32), primary_key=True),
    Column("user_name", String(NAME), primary_key=True),
    sqlite_with_rowid=False,
)

# Who did what, when (schema v4): pushes, pulls, alias moves, deletions, grants, keys.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("user_name", String(NAME), nullable=True),
    Column("action", String(32), nullable=False),
    Column("project", String(NAME), nullable=True),
    Column("artifact", String(NAME), nullable=True),
    Column("version", Integer, nullable=True),
    Column("detail", Text, nullable=False),
    Column("request_id", String(128), nullable=True),
    Index(None, "project", "id"),
)

# Small store-wide facts (schema v4), e.g. whether ``chunk_holders`` covers every version.
store_state = Table(
    "store_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Migration 1 builds its tables from the frozen copy in ``schema_v1.py``, not from here.


# -- read views: joins the store selects from, with columns named like the models' fields --

#: One row per version: the version's columns plus its project and collection names/type.
version_view = select(
    versions.c.id,
    projects.c.name.label("project"),
    collections.c.name.label("name"),
    collections.c.type,
    versions.c.idx.label("index"),
    versions.c.digest,
    versions.c.size,
    versions.c.file_count,
    versions.c.metadata,
    versions.c.description,
    versions.c.created_at,
    versions.c.created_by,
    versions.c.ttl_seconds.label("ttl"),
    versions.c.updated_at,
).select_from(
    versions.join(collections, versions.c.collection_id == collections.c.id).join(
        projects, collections.c.project_id == projects.c.id
    )
)

#: One row per run, with its project name.
run_view = select(
    runs.c.id,
    projects.c.name.label("project"),
    runs.c.job_type,
    runs.c.name,
    runs.c.config,
    runs.c.status,
    runs.c.started_at,
    runs.c.finished_at,
).select_from(runs.join(projects, runs.c.project_id == projects.c.id))
