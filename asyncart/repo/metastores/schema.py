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
    case,
    func,
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

# A collection's retention policy (schema v11, issue 21; core/retention.py): keep the
# newest ``keep_last`` versions and/or those younger than ``max_age_seconds``; versions
# holding aliases other than ``latest`` are kept while ``keep_aliased`` is 1.
retention_policies = Table(
    "retention_policies",
    metadata,
    Column("collection_id", Integer, ForeignKey("collections.id"), primary_key=True),
    Column("keep_last", Integer, nullable=True),
    Column("max_age_seconds", BigInteger, nullable=True),
    Column("keep_aliased", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(NAME), nullable=True),
)

# A project's quota on its deduplicated bytes (schema v12, issue 21; docs/quotas.md),
# by project name: it may be set before the project exists.
project_quotas = Table(
    "project_quotas",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("quota_bytes", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Uploaded pack bytes a project is charged for until a version of it references them
# or gc removes the pack (schema v13, issue 21; docs/quotas.md "Pack uploads"): one row
# per project and pack, ``bytes`` the pack's bytes no version of the project references
# yet. A row may name a pack not recorded yet (reserved before its body is stored).
pack_charges = Table(
    "pack_charges",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("pack_id", String(64), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "pack_id"),
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
    # schema v7: W&B's init(group=, tags=, notes=); tags a JSON list
    Column("run_group", String(NAME), nullable=True),
    Column("tags", Text, nullable=False, server_default="[]"),
    Column("notes", Text, nullable=True),
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
    # A link (schema v7, W&B's linked artifact): the version it points at, whose
    # manifest, digest and size it carries and whose metadata, description, tags and
    # lineage it shares. NULL for a version logged into its own collection.
    Column("source_id", Integer, ForeignKey("versions.id"), nullable=True),
    # Bytes of the version's distinct chunks that no version held when it was committed
    # (schema v10): what logging it added to the store. NULL for a version committed
    # before v10, and for a link (it adds nothing).
    Column("added_bytes", BigInteger, nullable=True),
    UniqueConstraint("collection_id", "idx"),
    UniqueConstraint("collection_id", "digest"),
    Index(None, "manifest_hash"),
    Index(None, "source_id"),
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


# Where a version came from when ``asyncart sync`` copied it (schema v14, issue 21): the
# source store (its URL or directory), the source version and its content digest; one
# row per source a version was copied from (the same content may come from two stores).
version_origins = Table(
    "version_origins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("versions.id"), nullable=False),
    Column("source_store", Text, nullable=False),
    Column("source_project", String(NAME), nullable=False),
    Column("source_name", String(NAME), nullable=False),
    Column("source_index", BigInteger, nullable=False),
    Column("source_digest", String(64), nullable=False),
    Column("synced_at", Float, nullable=False),
    Column("synced_by", String(NAME), nullable=True),
    UniqueConstraint(
        "version_id",
        "source_store",
        "source_project",
        "source_name",
        "source_index",
        name="uq_version_origins_source",  # the conventional name is past PostgreSQL's 63
    ),
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

# Which chunks each version's manifest names (schema v10): the chunk reference index
# behind "what deleting it would free" (storage.py), answered by SQL aggregates without
# reading a manifest. Written by the commit, deleted with the version; a link has none
# (its chunks are its source's). Versions from before v10 are filled in by
# ``backfill.complete_version_chunks`` when the store opens.
version_chunks = Table(
    "version_chunks",
    metadata,
    Column("version_id", Integer, ForeignKey("versions.id"), primary_key=True),
    Column("hash", LargeBinary(32), primary_key=True),
    Index(None, "hash"),
    sqlite_with_rowid=False,
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

# Distributed versions being written (schema v7; W&B's upsert_artifact/finish_artifact):
# one row per part a process sent under (project, name, distributed_id), and its entries,
# one per path of the version-to-be (``path_key``: the BLAKE3 of the path, so the unique
# key stays small whatever the path's length). ``entry`` is the manifest entry's JSON;
# ``chunks`` its chunk hashes, concatenated raw (garbage collection keeps them).
pending_parts = Table(
    "pending_parts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("distributed_id", String(NAME), nullable=False),
    Column("type", String(NAME), nullable=False),
    Column("run_id", String(NAME), nullable=True),
    Column("aliases", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("chunker", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "project_id", "name", "distributed_id"),
)

pending_entries = Table(
    "pending_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("part_id", Integer, ForeignKey("pending_parts.id"), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("distributed_id", String(NAME), nullable=False),
    Column("path_key", LargeBinary(32), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("entry", Text, nullable=False),
    Column("chunks", LargeBinary, nullable=False),
    UniqueConstraint("project_id", "name", "distributed_id", "path_key"),
    Index(None, "part_id"),
)

# Finishes done (schema v7): a finish retried after its answer was lost (same client
# token) answers the version it made instead of starting a new pending version.
pending_finishes = Table(
    "pending_finishes",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("version_id", Integer, nullable=False),  # no foreign key: versions may go
    Column("created_at", Float, nullable=False),
)

# Migration 1 builds its tables from the frozen copy in ``schema_v1.py``, not from here.


# -- read views: joins the store selects from, with columns named like the models' fields --

#: The version whose content a row of ``versions`` shows: itself, or a link's source.
content = versions.alias("content")
_content_collection = collections.alias("content_collection")
_content_project = projects.alias("content_project")

#: One row per version: the version's columns plus its project and collection names/type.
#: A link shows its source's content and changeable fields (``content_id``: the row
#: whose tags and lineage they are) and names the source (``source_*``).
version_view = select(
    versions.c.id,
    content.c.id.label("content_id"),
    projects.c.name.label("project"),
    collections.c.name.label("name"),
    collections.c.type,
    versions.c.idx.label("index"),
    content.c.digest,
    content.c.size,
    content.c.file_count,
    content.c.metadata,
    content.c.description,
    content.c.created_at,
    content.c.created_by,
    content.c.ttl_seconds.label("ttl"),
    case(
        (versions.c.updated_at > content.c.updated_at, versions.c.updated_at),
        else_=content.c.updated_at,
    ).label("updated_at"),
    _content_project.c.name.label("source_project"),
    _content_collection.c.name.label("source_name"),
    content.c.idx.label("source_index"),
).select_from(
    versions.join(collections, versions.c.collection_id == collections.c.id)
    .join(projects, collections.c.project_id == projects.c.id)
    .join(content, content.c.id == func.coalesce(versions.c.source_id, versions.c.id))
    .join(_content_collection, content.c.collection_id == _content_collection.c.id)
    .join(_content_project, _content_collection.c.project_id == _content_project.c.id)
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
    runs.c.run_group.label("group"),
    runs.c.tags,
    runs.c.notes,
).select_from(runs.join(projects, runs.c.project_id == projects.c.id))
