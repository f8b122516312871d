"""The tables as schema version 1 created them: frozen, for migration 1 only.

Migration 1 must build exactly what version 1 built, whatever
:mod:`~asyncart.repo.metastores.schema` says today, so that every later step
finds the tables it expects. Never edit this module; change ``schema.py`` and
add a migration step instead.
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
)

NAME = 128

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
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
    Column("next_index", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("project_id", "name"),
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
    UniqueConstraint("collection_id", "idx"),
    UniqueConstraint("collection_id", "digest"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("collection_id", Integer, ForeignKey("collections.id"), primary_key=True),
    Column("alias", String(NAME), primary_key=True),
    Column("version_id", Integer, ForeignKey("versions.id"), nullable=False),
    Index(None, "version_id"),
)


def _edge_table(name: str) -> Table:
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
)

chunks = Table(
    "chunks",
    metadata,
    Column("hash", LargeBinary(32), primary_key=True),
    Column("pack_id", String(64), ForeignKey("packs.id"), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", Integer, nullable=False),
    sqlite_with_rowid=False,
)

#: The tables migration 1 creates (everything but the migration bookkeeping).
TABLES: tuple[Table, ...] = (
    projects,
    collections,
    runs,
    versions,
    aliases,
    run_outputs,
    run_inputs,
    packs,
    chunks,
)
