"""The audit log: who pushed, pulled, moved aliases, deleted, granted what, and when.

The server records one event per successful operation of those kinds; the admin CLI
records grants, key changes and quotas. Project admins read their project's events over HTTP
(``GET /v1/projects/{project}/audit``); the store's operator reads all of them with
``asyncart server admin audit``. Events are never changed; nothing here prunes them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.repo.metastores.schema import audit_events
from asyncart.repo.sidestore import SideStore

#: Actions the log knows, with what each means.
ACTIONS = {
    "push": "a commit created a new version",
    "alias": "a commit of existing content moved aliases onto its version",
    "pull": "a manifest was downloaded (the start of every pull)",
    "use": "a run recorded a version as its input",
    "update": "a logged version's description, metadata, ttl or tags changed, an "
    "alias was moved or removed by hand, or a collection was renamed, retyped, "
    "described or tagged (version: none)",
    "delete": "a version or a whole artifact was deleted",
    "link": "a version was linked into a collection of links (the event's project: the link's)",
    "unlink": "a link was removed (its source stays)",
    "pack_read": "a key read a range of a pack that also holds chunks of projects it may "
    "not read (the event's project: one of those; once per user and pack per hour)",
    "grant": "a user's role on a project was set or taken away",
    "key": "an API key was created or revoked",
    "user": "a user was created",
    "quota": "a server admin set or cleared a project's quota (detail: quota_bytes, null "
    "when cleared)",
    "sync": "asyncart sync recorded where a version it copied came from (detail: "
    "source_store, source, source_digest)",
}
MAX_QUERY = 1000


@dataclass(frozen=True)
class AuditEvent:
    """One recorded action."""

    action: str
    user: str | None
    project: str | None = None
    artifact: str | None = None
    version: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    at: float = 0.0
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        """The event as the HTTP API and the CLI show it."""
        return {
            "id": self.id,
            "at": self.at,
            "user": self.user,
            "action": self.action,
            "project": self.project,
            "artifact": self.artifact,
            "version": None if self.version is None else f"v{self.version}",
            "detail": self.detail,
            "request_id": self.request_id,
        }


class AuditLog(SideStore):
    """Append and query audit events in a store's metadata database.

    Args:
        database: the shared :class:`Database`, or a URL such as ``sqlite:///store/meta.db``.
    """

    async def record(self, event: AuditEvent) -> None:
        """Append ``event`` (its ``at`` and ``id`` are assigned here)."""
        if event.action not in ACTIONS:
            raise ValueError(f"unknown audit action {event.action!r}")
        row = {
            "at": time.time(),
            "user_name": event.user,
            "action": event.action,
            "project": event.project,
            "artifact": event.artifact,
            "version": event.version,
            "detail": json.dumps(event.detail, sort_keys=True),
            "request_id": event.request_id,
        }

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(insert(audit_events).values(**row))

        await self._run(f"record a {event.action} event", work, write=True)

    async def query(
        self,
        *,
        project: str | None = None,
        user: str | None = None,
        action: str | None = None,
        since: float | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Events matching every given filter, newest first, at most ``limit``
        (capped at :data:`MAX_QUERY`); page back with ``before_id`` = the last id seen."""
        limit = max(1, min(limit, MAX_QUERY))
        t = audit_events.c
        stmt = select(audit_events).order_by(t.id.desc()).limit(limit)
        if project is not None:
            stmt = stmt.where(t.project == project)
        if user is not None:
            stmt = stmt.where(t.user_name == user)
        if action is not None:
            stmt = stmt.where(t.action == action)
        if since is not None:
            stmt = stmt.where(t.at >= since)
        if before_id is not None:
            stmt = stmt.where(t.id < before_id)

        async def work(conn: AsyncConnection) -> list[AuditEvent]:
            rows = await conn.execute(stmt)
            return [
                AuditEvent(
                    action=r.action,
                    user=r.user_name,
                    project=r.project,
                    artifact=r.artifact,
                    version=r.version,
                    detail=json.loads(r.detail),
                    request_id=r.request_id,
                    at=r.at,
                    id=r.id,
                )
                for r in rows
            ]

        return await self._run("read the audit log", work, write=False)
