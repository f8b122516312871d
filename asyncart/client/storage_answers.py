"""The typed record of a ``GET /v1/projects/{project}/storage`` answer (``core/storage.py``).

Parsed as every answer is (``answers.py``): each field with its type and range, names
by the name rules; whatever does not fit is a ``ProtocolError`` naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from asyncart.client.answers import Answer, Index, Name, Size, _names
from asyncart.core.storage import CollectionStorage, ProjectStorage, VersionCost

#: Bytes of a whole project: sizes of many versions added up, each at most MAX_SIZE.
Total = Annotated[int, Meta(ge=0, le=(1 << 63) - 1)]
MAX_LISTED = 10_000_000  # collections, or versions of one, in one answer


class VersionCostAnswer(Answer):
    index: Index
    size: Size
    added_bytes: Size | None
    exclusive_bytes: Size
    is_link: bool = False

    def cost(self) -> VersionCost:
        return VersionCost(
            self.index, self.size, self.added_bytes, self.exclusive_bytes, self.is_link
        )


class CollectionStorageAnswer(Answer):
    name: Name
    type: Name
    size: Total
    stored_bytes: Total
    added_bytes: Total
    exclusive_bytes: Total
    versions: Annotated[list[VersionCostAnswer], Meta(max_length=MAX_LISTED)]

    def __post_init__(self) -> None:
        _names(self, "name", "type")

    def storage(self) -> CollectionStorage:
        return CollectionStorage(
            self.name,
            self.type,
            self.size,
            self.stored_bytes,
            self.added_bytes,
            self.exclusive_bytes,
            tuple(v.cost() for v in self.versions),
        )


class QuotaAnswer(Answer):
    """``GET /v1/projects/{p}/quota``: its quota (None: none) and deduplicated bytes."""

    project: Name
    quota_bytes: Total | None
    stored_bytes: Total
    pending_bytes: Total = 0  # absent from servers before pack charges (schema 13)


class ProjectStorageAnswer(Answer):
    project: Name
    size: Total
    stored_bytes: Total
    exclusive_bytes: Total | None
    scope: Literal["store", "project"]
    collections: Annotated[list[CollectionStorageAnswer], Meta(max_length=MAX_LISTED)]

    def __post_init__(self) -> None:
        _names(self, "project")

    def storage(self) -> ProjectStorage:
        return ProjectStorage(
            self.project,
            self.size,
            self.stored_bytes,
            self.exclusive_bytes,
            tuple(c.storage() for c in self.collections),
            scope=self.scope,
        )
