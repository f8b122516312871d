"""Runs and lineage, for :class:`SqlMetaStore` (each function runs inside its transaction).

A run logs versions (``run_outputs``) and uses versions (``run_inputs``); the
version's creating run is listed first among its producers.
"""

from __future__ import annotations

import json
import time

from sqlalchemy import Table, case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.models import RunInfo, VersionInfo
from asyncart.errors import ConflictError
from asyncart.repo.metastores import links
from asyncart.repo.metastores.lookups import (
    _project_id,
    _require_run,
    _run_info,
    _version_id,
    _version_infos,
    insert_or_ignore,
)
from asyncart.repo.metastores.schema import run_inputs, run_view, runs, version_view, versions


async def insert_run(conn: AsyncConnection, run: RunInfo, config: str) -> RunInfo:
    """Insert ``run`` (``started_at`` 0 means now); ConflictError on a duplicate id."""
    exists = await conn.execute(select(runs.c.id).where(runs.c.id == run.id))
    if exists.first() is not None:
        raise ConflictError(f"a run with id {run.id!r} already exists")
    now = time.time()
    await conn.execute(
        runs.insert().values(
            id=run.id,
            project_id=await _project_id(conn, run.project, now),
            job_type=run.job_type,
            name=run.name,
            config=config,
            status=run.status,
            started_at=run.started_at or now,
            finished_at=run.finished_at,
            run_group=run.group,
            tags=json.dumps(list(run.tags)),
            notes=run.notes,
        )
    )
    return await _require_run(conn, run.id)


async def set_run_config(conn: AsyncConnection, run_id: str, config: str) -> RunInfo:
    """Replace a running run's config (``config``: its JSON); RunNotFound if unknown,
    ConflictError once it finished (checked in the same transaction as the change)."""
    run = await _require_run(conn, run_id)
    if run.status != "running":
        raise ConflictError(f"run {run_id!r} is {run.status}; its config can no longer change")
    await conn.execute(update(runs).where(runs.c.id == run_id).values(config=config))
    return await _require_run(conn, run_id)


async def finish_run(
    conn: AsyncConnection, run_id: str, status: str, finished_at: float
) -> RunInfo:
    """Set a run's final status and time; RunNotFound if unknown."""
    await _require_run(conn, run_id)
    await conn.execute(
        update(runs).where(runs.c.id == run_id).values(status=status, finished_at=finished_at)
    )
    return await _require_run(conn, run_id)


async def add_run_input(
    conn: AsyncConnection, run_id: str, project: str, name: str, index: int
) -> None:
    """Record that a run used a version (idempotent; the first use keeps its place)."""
    await _require_run(conn, run_id)
    # Using a link uses its source (the same artifact, as W&B's).
    version_id = await links.content_id(conn, await _version_id(conn, project, name, index))
    await conn.execute(
        insert_or_ignore(conn, run_inputs).values(
            run_id=run_id, version_id=version_id, created_at=time.time()
        )
    )


async def run_edges(conn: AsyncConnection, edges: Table, run_id: str) -> list[VersionInfo]:
    """The versions at the other end of a run's ``edges`` (inputs or outputs), in order."""
    await _require_run(conn, run_id)
    stmt = (
        version_view.join(edges, edges.c.version_id == versions.c.id)
        .where(edges.c.run_id == run_id)
        .order_by(edges.c.id)
    )
    return await _version_infos(conn, stmt)


async def version_runs(
    conn: AsyncConnection, edges: Table, project: str, name: str, index: int
) -> list[RunInfo]:
    """The runs at the other end of a version's ``edges``, its creating run first."""
    version_id = await links.content_id(conn, await _version_id(conn, project, name, index))
    creator = select(versions.c.created_by).where(versions.c.id == version_id)
    stmt = (
        run_view.join(edges, edges.c.run_id == runs.c.id)
        .where(edges.c.version_id == version_id)
        .order_by(case((runs.c.id == creator.scalar_subquery(), 0), else_=1), edges.c.id)
    )
    return [_run_info(row) for row in await conn.execute(stmt)]
