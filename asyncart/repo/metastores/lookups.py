"""Helpers of :class:`~asyncart.repo.metastores.sql.SqlMetaStore`: rows to models, lookups.

Everything here runs inside the caller's transaction (an ``AsyncConnection``
that :meth:`SqlMetaStore._run` opened): the dialect's insert-or-ignore, small
pure helpers, the row -> :mod:`asyncart.core.models` conversions, and the
project / collection / version / alias / run lookups whose not-found errors list
what does exist. The underscore names are private to this package.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Insert, Row, Select, Table, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import RunInfo, VersionInfo
from asyncart.core.names import LATEST, format_version
from asyncart.errors import (
    AliasNotFound,
    ArtifactNotFound,
    ConfigError,
    MetadataStoreError,
    RunNotFound,
    VersionNotFound,
)
from asyncart.repo.metastores.schema import (
    aliases,
    collections,
    projects,
    run_view,
    runs,
    versions,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Unpack

    # Rows and selects of any width (SQLAlchemy types them by their column tuple).
    AnyRow: TypeAlias = Row[Unpack[tuple[Any, ...]]]
    AnySelect: TypeAlias = Select[Unpack[tuple[Any, ...]]]

T = TypeVar("T")

BATCH = 500  # bound parameters per IN (...) statement
LIST_LIMIT = 20  # names shown in a not-found message before "…"


# -- dialect helpers (engine setup lives in migrations.make_engine) -------------


def insert_or_ignore(conn: AsyncConnection, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's dialect."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    raise MetadataStoreError(f"no insert-or-ignore for database {name!r}")


# -- small pure helpers -------------------------------------------------------


def _hash_bytes(hex_hash: str) -> bytes:
    try:
        raw = bytes.fromhex(hex_hash)
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"chunk hash {hex_hash!r} is not a 64-character hex digest")
    return raw


def _unique_hashes(hashes: Iterable[str]) -> dict[bytes, str]:
    """Raw hash -> the caller's hex string, first occurrence wins, input order kept."""
    out: dict[bytes, str] = {}
    for h in hashes:
        out.setdefault(_hash_bytes(h), h)
    return out


def _batches(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _listing(names: Sequence[str]) -> str:
    if not names:
        return "(none)"
    shown = ", ".join(names[:LIST_LIMIT])
    return shown if len(names) <= LIST_LIMIT else f"{shown}, … ({len(names)} in all)"


def _alias_order(names: Iterable[str]) -> tuple[str, ...]:
    """``latest`` first, then alphabetical."""
    return tuple(sorted(set(names), key=lambda a: (a != LATEST, a)))


def _dumps(value: dict[str, Any], what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be JSON-serializable: {exc}") from None


def _artifact(project: str, name: str) -> str:
    return f"artifact {name!r} in project {project!r}"


# -- lookups shared by the methods (each runs inside the caller's transaction) ----


def _run_info(row: AnyRow) -> RunInfo:
    return RunInfo(**{**row._asdict(), "config": json.loads(row.config)})


async def _version_infos(
    conn: AsyncConnection, stmt: AnySelect, *, created: bool = False
) -> list[VersionInfo]:
    """Run a ``version_view`` query and attach each version's aliases."""
    rows = (await conn.execute(stmt)).all()
    names: dict[int, list[str]] = {row.id: [] for row in rows}
    for batch in _batches(list(names)):
        found = await conn.execute(
            select(aliases.c.version_id, aliases.c.alias).where(aliases.c.version_id.in_(batch))
        )
        for version_id, alias in found:
            names[version_id].append(alias)
    return [_version_info(row, names[row.id], created) for row in rows]


def _version_info(row: AnyRow, alias_names: Iterable[str], created: bool) -> VersionInfo:
    fields = row._asdict()
    del fields["id"]
    fields.update(metadata=json.loads(row.metadata), aliases=_alias_order(alias_names))
    return VersionInfo(**fields, created=created)


async def _project_id(conn: AsyncConnection, project: str, now: float) -> int:
    """The project's id, creating the project if absent."""
    await conn.execute(insert_or_ignore(conn, projects).values(name=project, created_at=now))
    found = await conn.execute(select(projects.c.id).where(projects.c.name == project))
    return int(found.scalar_one())


#: A collection is listed and resolvable only while it has versions: deleting them all
#: hides it, but its row (and so its version counter) stays, so indexes are never reused.
HAS_VERSIONS = exists().where(versions.c.collection_id == collections.c.id)


async def _collection(conn: AsyncConnection, project: str, name: str) -> AnyRow:
    """The collection row (id, type, next_index, times); ArtifactNotFound lists the others."""
    stmt = select(collections).join(projects, collections.c.project_id == projects.c.id)
    row = (
        await conn.execute(
            stmt.where(projects.c.name == project, collections.c.name == name, HAS_VERSIONS)
        )
    ).first()
    if row is not None:
        return row
    others = await conn.execute(
        select(collections.c.name)
        .join(projects, collections.c.project_id == projects.c.id)
        .where(projects.c.name == project, HAS_VERSIONS)
        .order_by(collections.c.name)
    )
    listing = _listing(others.scalars().all())
    raise ArtifactNotFound(f"project {project!r} has no artifact {name!r}; artifacts: {listing}")


async def _version_id(conn: AsyncConnection, project: str, name: str, index: int) -> int:
    """The id of version ``index``; ArtifactNotFound / VersionNotFound list what exists."""
    coll = await _collection(conn, project, name)
    found = await conn.execute(
        select(versions.c.id).where(versions.c.collection_id == coll.id, versions.c.idx == index)
    )
    version_id = found.scalar_one_or_none()
    if version_id is None:
        existing = await conn.execute(
            select(versions.c.idx)
            .where(versions.c.collection_id == coll.id)
            .order_by(versions.c.idx)
        )
        listing = _listing([format_version(i) for i in existing.scalars()])
        missing = f"{_artifact(project, name)} has no version {format_version(index)}"
        raise VersionNotFound(f"{missing}; versions: {listing}")
    return int(version_id)


async def _alias_version_id(conn: AsyncConnection, project: str, name: str, alias: str) -> int:
    """The id of the version ``alias`` points at; AliasNotFound lists the aliases."""
    coll = await _collection(conn, project, name)
    rows = (
        await conn.execute(
            select(aliases.c.alias, aliases.c.version_id, versions.c.idx)
            .join(versions, aliases.c.version_id == versions.c.id)
            .where(aliases.c.collection_id == coll.id)
        )
    ).all()
    for row in rows:
        if row.alias == alias:
            return int(row.version_id)
    where = {row.alias: row.idx for row in rows}
    listing = _listing([f"{a} ({format_version(where[a])})" for a in _alias_order(where)])
    raise AliasNotFound(f"{_artifact(project, name)} has no alias {alias!r}; aliases: {listing}")


async def _require_run(conn: AsyncConnection, run_id: str) -> RunInfo:
    row = (await conn.execute(run_view.where(runs.c.id == run_id))).first()
    if row is None:
        raise RunNotFound.for_id(run_id)
    return _run_info(row)
