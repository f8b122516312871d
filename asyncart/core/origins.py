"""Where a version copied by ``asyncart sync`` came from, and what a caller may do in a
project: the two records sync reads from a destination before and while it copies.

A :class:`VersionOrigin` is recorded at the destination for each version sync copied
(or found there already): the source store, the source version and its content digest,
beside the destination version it became. So a user sees which source version became
which destination version (``GET .../origins``, ``asyncart sync --json``), and a re-run
finds the mapping without deriving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncart.core.names import format_version

#: Bytes (UTF-8) of a source store's name (a URL or a directory) an origin may hold.
MAX_STORE_NAME = 1000


@dataclass(frozen=True)
class VersionOrigin:
    """Destination version ``index`` was copied from ``source_project/source_name:
    v{source_index}`` (content ``source_digest``) of the store named ``source_store``."""

    source_store: str
    source_project: str
    source_name: str
    source_index: int
    source_digest: str
    #: The destination version (its collection is the one the origin is listed under).
    index: int = -1
    synced_at: float = 0.0
    synced_by: str | None = None  #: the user whose key recorded it (None: no users)

    @property
    def source_ref(self) -> str:
        """``project/name:vN`` of the source version."""
        return f"{self.source_project}/{self.source_name}:{format_version(self.source_index)}"

    @property
    def key(self) -> tuple[str, str, str, int]:
        """What identifies the source version across stores."""
        return (self.source_store, self.source_project, self.source_name, self.source_index)

    def to_json(self) -> dict[str, Any]:
        return {
            "source_store": self.source_store,
            "source_project": self.source_project,
            "source_name": self.source_name,
            "source_index": self.source_index,
            "source_version": format_version(self.source_index),
            "source_digest": self.source_digest,
            "index": self.index,
            "version": format_version(self.index) if self.index >= 0 else None,
            "synced_at": self.synced_at,
            "synced_by": self.synced_by,
        }


@dataclass(frozen=True)
class ProjectAccess:
    """What the caller may do in ``project`` (``GET /v1/projects/{p}/access``)."""

    project: str
    user: str | None  #: None: a store without users (every caller may do everything)
    role: str  #: ``read``, ``write`` or ``admin``

    @property
    def read(self) -> bool:
        return self.role in ("read", "write", "admin")

    @property
    def write(self) -> bool:
        return self.role in ("write", "admin")

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "user": self.user,
            "role": self.role,
            "read": self.read,
            "write": self.write,
            "admin": self.admin,
        }
