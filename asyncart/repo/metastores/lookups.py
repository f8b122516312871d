"""Helpers of :class:`~asyncart.repo.metastores.sql.SqlMetaStore`: rows to models, lookups.

Everything here runs inside the caller's transaction (an ``AsyncConnection``
that :meth:`Database.run` opened): the dialect helpers (insert-or-ignore,
insert-or-replace, code-point ordering, per-object advisory locks), small
pure helpers, the row -> :mod:`asyncart.core.models` conversions, and the
project / collection / version / alias / run lookups whose not-found errors list
what does exist. The underscore names are private to this package.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Insert, Row, Select, String, Table, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from asyncart.core.models import RunInfo, SourceRef, VersionInfo
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
    version_tags,
    versions,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlalchemy.dialects import postgresql, sqlite
    from typing_extensions import Unpack

    # Rows and selects of any width (SQLAlchemy types them by their column tuple).
    AnyRow: TypeAlias = Row[Unpack[tuple[Any, ...]]]
    AnySelect: TypeAlias = Select[Unpack[tuple[Any, ...]]]

T = TypeVar("T")

BATCH = 500  # bound parameters per IN (...) statement
OFF_LOOP_ITEMS = 10_000  # see off_loop()
#: The largest version index the ``INTEGER`` column holds (32 bits on PostgreSQL), while
#: ``vN`` may name up to ten digits.
MAX_INDEX = 2**31 - 1
LIST_LIMIT = 20  # names shown in a not-found message before "…"


# -- dialect helpers (engine setup lives in engine.make_engine) -----------------


def _dialect_insert(conn: AsyncConnection, table: Table) -> sqlite.Insert | postgresql.Insert:
    # Each dialect's module is imported when first used: an SQLite store never loads
    # PostgreSQL's (~60 ms of every embedded command's start).
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    raise MetadataStoreError(f"no INSERT … ON CONFLICT for database {name!r}")


def insert_or_ignore(conn: AsyncConnection, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's dialect."""
    return _dialect_insert(conn, table).on_conflict_do_nothing()


def insert_or_replace(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> Insert:
    """Insert the row ``values``, or update the row with the same primary key to it
    (``INSERT … ON CONFLICT (pk) DO UPDATE``): one statement, so concurrent writers of
    the same key never fail on the unique constraint (PostgreSQL does not serialize
    write transactions the way SQLite does)."""
    insert = _dialect_insert(conn, table).values(**values)
    keys = [c.name for c in table.primary_key.columns]
    return insert.on_conflict_do_update(
        index_elements=keys,
        set_={k: insert.excluded[k] for k in values if k not in keys},
    )


class _Bytewise(FunctionElement[str]):
    """See :func:`bytewise`."""

    name = "bytewise"
    type = String()
    inherit_cache = True


@compiles(_Bytewise)
def _bytewise_plain(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(column, **kw)


@compiles(_Bytewise, "postgresql")
def _bytewise_postgresql(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(column.collate("C"), **kw)


def bytewise(column: ColumnElement[str]) -> ColumnElement[str]:
    """An ``ORDER BY`` key sorting text by code point on every database, like Python's
    ``sorted``: SQLite's default (BINARY) collation does; a PostgreSQL database usually
    collates by language rules (``en_US``: case- and punctuation-blind), so there the
    column is ordered ``COLLATE "C"`` (UTF-8 bytes, i.e. code points)."""
    return _Bytewise(column)


#: First keys of the transaction-scoped PostgreSQL advisory locks of :func:`lock_object`
#: (the two-key lock space; the migration lock uses the one-key space).
PACK_LOCK = 0x61637401
MANIFEST_LOCK = 0x61637402


async def lock_object(conn: AsyncConnection, space: int, name: str) -> None:
    """Order this write transaction with every other one about the stored object ``name``
    (a pack id in :data:`PACK_LOCK`, a manifest digest in :data:`MANIFEST_LOCK`).

    Garbage collection decides to remove an object in a write transaction that must come
    entirely before or after any upload or commit relying on it (docs/gc.md). SQLite
    runs write transactions one at a time, so this is a no-op there. On PostgreSQL row
    locks cannot cover a row that is not committed yet (gc would find no pack row while
    an upload is recording it, or no version while a commit is inserting it), so both
    sides take a transaction-scoped advisory lock on the object's name.
    """
    if conn.dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big", signed=True)
    await conn.execute(select(func.pg_advisory_xact_lock(space, key)))


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


async def off_loop(work: Callable[[], T], items: int) -> T:
    """``work()``, in a thread when it walks more than ``OFF_LOOP_ITEMS`` items: a large
    commit's Python steps then share the GIL with the event loop instead of stalling it
    (docs/protocol.md §3.9)."""
    if items <= OFF_LOOP_ITEMS:
        return work()
    return await asyncio.to_thread(work)


_SORT_RUN = 4096  # items sorted by one C call (which holds the GIL throughout)


def sorted_unique(items: Iterable[bytes]) -> list[bytes]:
    """``sorted(set(items))``, in steps that let other threads run between them.

    Run in a thread (:func:`off_loop`): one ``sorted()`` of 262,144 hashes is a single
    C call that holds the GIL, and so the event loop, for 0.1-0.3 s. Sorting runs of
    :data:`_SORT_RUN` and merging them in Python shares the GIL every few milliseconds;
    input that is already sorted (a prepared commit's hashes are) costs linear time.
    """
    unique = list(dict.fromkeys(items))
    runs = [sorted(unique[i : i + _SORT_RUN]) for i in range(0, len(unique), _SORT_RUN)]
    if all(a[-1] < b[0] for a, b in pairwise(runs)):
        return [item for run in runs for item in run]  # already in order: no merge
    return list(heapq.merge(*runs))


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
    fields = row._asdict()
    fields.update(config=json.loads(row.config), tags=tuple(json.loads(row.tags)))
    return RunInfo(**fields)


async def _version_infos(
    conn: AsyncConnection, stmt: AnySelect, *, created: bool = False
) -> list[VersionInfo]:
    """Run a ``version_view`` query and attach each version's aliases and tags."""
    rows = (await conn.execute(stmt)).all()
    names: dict[int, list[str]] = {row.id: [] for row in rows}
    # A link's tags are its source's (``content_id``); its aliases are its own.
    tags: dict[int, list[str]] = {row.content_id: [] for row in rows}
    for batch in _batches(list(names)):
        found = await conn.execute(
            select(aliases.c.version_id, aliases.c.alias).where(aliases.c.version_id.in_(batch))
        )
        for version_id, alias in found:
            names[version_id].append(alias)
    for batch in _batches(list(tags)):
        found = await conn.execute(
            select(version_tags.c.version_id, version_tags.c.tag).where(
                version_tags.c.version_id.in_(batch)
            )
        )
        for version_id, tag in found:
            tags[version_id].append(tag)
    return [_version_info(row, names[row.id], tags[row.content_id], created) for row in rows]


def _version_info(
    row: AnyRow, alias_names: Iterable[str], tag_names: Iterable[str], created: bool
) -> VersionInfo:
    fields = row._asdict()
    for key in ("id", "content_id", "source_project", "source_name", "source_index"):
        del fields[key]
    source = None
    if row.content_id != row.id:
        source = SourceRef(row.source_project, row.source_name, row.source_index)
    fields.update(
        metadata=json.loads(row.metadata),
        aliases=_alias_order(alias_names),
        tags=tuple(sorted(tag_names)),
        source=source,
    )
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
        .order_by(bytewise(collections.c.name))
    )
    listing = _listing(others.scalars().all())
    raise ArtifactNotFound(f"project {project!r} has no artifact {name!r}; artifacts: {listing}")


async def _version_id(conn: AsyncConnection, project: str, name: str, index: int) -> int:
    """The id of version ``index``; ArtifactNotFound / VersionNotFound list what exists."""
    coll = await _collection(conn, project, name)
    version_id = None
    if 0 <= index <= MAX_INDEX:  # a larger number is no version (nor a valid INTEGER)
        found = await conn.execute(
            select(versions.c.id).where(
                versions.c.collection_id == coll.id, versions.c.idx == index
            )
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
