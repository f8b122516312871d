"""The typed records of the answers ``asyncart sync`` reads besides the usual ones: a
caller's access on a project and where synced versions came from (``core/origins.py``).

Parsed as every answer is (``answers.py``): each field with its type and range, names by
the name rules; whatever does not fit is a ``ProtocolError`` naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from asyncart.client.answers import Answer, Digest, Index, Name, Page, Timestamp, _names
from asyncart.core.origins import MAX_STORE_NAME, ProjectAccess, VersionOrigin

MAX_ORIGINS = 10_000  # origins in one page of the list


class AccessAnswer(Answer):
    """``GET /v1/projects/{p}/access``."""

    project: Name
    role: Literal["read", "write", "admin"]
    user: Name | None = None

    def __post_init__(self) -> None:
        _names(self, "project")

    def access(self) -> ProjectAccess:
        return ProjectAccess(self.project, self.user, self.role)


class OriginAnswer(Answer):
    """One origin (``PUT .../origin``, and each item of ``GET .../origins``)."""

    source_store: Annotated[str, Meta(min_length=1, max_length=MAX_STORE_NAME)]
    source_project: Name
    source_name: Name
    source_index: Index
    source_digest: Digest
    index: Index
    synced_at: Timestamp = 0.0
    synced_by: Name | None = None

    def __post_init__(self) -> None:
        _names(self, "source_project", "source_name")

    def origin(self) -> VersionOrigin:
        return VersionOrigin(
            self.source_store,
            self.source_project,
            self.source_name,
            self.source_index,
            self.source_digest,
            self.index,
            self.synced_at,
            self.synced_by,
        )


class OriginList(Page, kw_only=True):
    """``{"origins": [origin, …], "next": …}``."""

    origins: Annotated[list[OriginAnswer], Meta(max_length=MAX_ORIGINS)]
